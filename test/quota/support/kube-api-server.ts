/**
 * A small local stand-in for the Kubernetes API (no real cluster runs here):
 * namespaces, pods and ResourceQuotas in memory, the core/v1 routes the quota
 * enforcer uses, and a log of every request so tests can check what was asked.
 *
 * With `kueue` in the state it also serves Kueue's API group as a cluster with
 * Kueue's CRDs installed does: kueue.x-k8s.io/v1beta1 LocalQueues (namespaced)
 * and ClusterQueues (cluster-scoped) in Kueue's object shape (kubernetes-sigs/kueue
 * apis/kueue/v1beta1/localqueue_types.go, clusterqueue_types.go), PATCH only as
 * `application/merge-patch+json` (RFC 7386: objects merge, null deletes a field),
 * a `metadata.resourceVersion` in the patch as a precondition (409 when stale), the
 * CRD's enum on `spec.stopPolicy` (422) and its default `None` when the field is
 * absent. Without `kueue` the group is not served: every path under it is a 404,
 * as on a cluster where Kueue is not installed.
 */
import http from "node:http";

export interface RecordedRequest {
  method: string;
  path: string;
  authorization?: string;
  contentType?: string;
  body?: unknown;
}

interface Pod {
  name: string;
  phase: "Running" | "Pending" | "Succeeded";
  gpus: number;
}

/** A Kueue object as stored: `metadata`, `spec`, `status` (apiVersion and kind are added when served). */
export interface KueueObject {
  metadata: {
    name: string;
    namespace?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    resourceVersion?: string;
    [k: string]: unknown;
  };
  spec: { clusterQueue?: string; stopPolicy?: string; [k: string]: unknown };
  status?: { pendingWorkloads?: number; reservingWorkloads?: number; admittedWorkloads?: number; [k: string]: unknown };
}

export interface KubeState {
  namespaces: { name: string; labels?: Record<string, string> }[];
  pods: Record<string, Pod[]>;
  quotas: Record<string, Record<string, { metadata: Record<string, unknown>; spec: unknown }>>;
  /** Kueue installed, with these queues; absent = Kueue not installed. */
  kueue?: { localQueues: KueueObject[]; clusterQueues: KueueObject[] };
}

/** RFC 7386 JSON Merge Patch: objects merge member by member, null removes a member, anything else replaces. */
export function mergePatch(target: unknown, patch: unknown): unknown {
  if (patch === null || typeof patch !== "object" || Array.isArray(patch)) return patch;
  const out: Record<string, unknown> =
    target && typeof target === "object" && !Array.isArray(target) ? { ...(target as Record<string, unknown>) } : {};
  for (const [k, v] of Object.entries(patch as Record<string, unknown>)) {
    if (v === null) delete out[k];
    else out[k] = mergePatch(out[k], v);
  }
  return out;
}

const KUEUE_PREFIX = "/apis/kueue.x-k8s.io/v1beta1";
const STOP_POLICIES = ["None", "Hold", "HoldAndDrain"];
/** What the CRD's structural schema defaults (`+kubebuilder:default="None"` on spec.stopPolicy). */
const withDefaults = (o: KueueObject): KueueObject => ({
  ...o,
  metadata: { ...o.metadata, resourceVersion: o.metadata.resourceVersion ?? "1" },
  spec: { ...o.spec, stopPolicy: o.spec.stopPolicy ?? "None" },
});

export async function startKubeApi(
  state: KubeState,
): Promise<{ url: string; requests: RecordedRequest[]; state: KubeState; stop(): Promise<void> }> {
  const requests: RecordedRequest[] = [];
  let rv = 100;
  const server = http.createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const text = Buffer.concat(chunks).toString("utf8");
    const body = text ? JSON.parse(text) : undefined;
    const url = new URL(req.url!, "http://x");
    requests.push({
      method: req.method!,
      path: url.pathname + url.search,
      authorization: req.headers.authorization,
      contentType: req.headers["content-type"],
      body,
    });
    const json = (code: number, v: unknown) => {
      res.writeHead(code, { "content-type": "application/json" });
      res.end(JSON.stringify(v));
    };
    const notFound = () => json(404, { kind: "Status", apiVersion: "v1", status: "Failure", reason: "NotFound", code: 404 });
    if (url.pathname === KUEUE_PREFIX || url.pathname.startsWith(`${KUEUE_PREFIX}/`)) {
      if (!state.kueue) {
        // What an API server answers for a group it does not serve.
        res.writeHead(404, { "content-type": "text/plain; charset=utf-8" });
        return res.end("404 page not found\n");
      }
      return kueueRoute(state.kueue, req.method!, url.pathname.slice(KUEUE_PREFIX.length), req.headers["content-type"], body, json, () =>
        String(++rv),
      );
    }
    const p = url.pathname.split("/").filter(Boolean); // api v1 namespaces <ns> <kind> <name>
    if (p[0] !== "api" || p[1] !== "v1" || p[2] !== "namespaces") return notFound();
    if (p.length === 3 && req.method === "GET")
      return json(200, {
        kind: "NamespaceList",
        apiVersion: "v1",
        metadata: {},
        items: state.namespaces.map((n) => ({ metadata: { name: n.name, labels: n.labels ?? {} } })),
      });
    const ns = p[3]!;
    if (p[4] === "pods" && req.method === "GET") {
      const phase = /status\.phase=(\w+)/.exec(url.searchParams.get("fieldSelector") ?? "")?.[1];
      const pods = (state.pods[ns] ?? []).filter((x) => !phase || x.phase === phase);
      return json(200, {
        kind: "PodList",
        apiVersion: "v1",
        metadata: {},
        items: pods.map((x) => ({
          metadata: { name: x.name, namespace: ns },
          spec: { containers: [{ name: "main", resources: { requests: { "nvidia.com/gpu": String(x.gpus), cpu: "4" } } }] },
          status: { phase: x.phase },
        })),
      });
    }
    if (p[4] === "resourcequotas") {
      const quotas = (state.quotas[ns] ??= {});
      const name = p[5];
      const stored = (b: { metadata: Record<string, unknown>; spec: unknown }) => ({
        ...b,
        metadata: { ...b.metadata, resourceVersion: String(++rv) },
      });
      if (req.method === "POST") {
        if (quotas[body.metadata.name]) return json(409, { kind: "Status", reason: "AlreadyExists", code: 409 });
        quotas[body.metadata.name] = stored(body);
        return json(201, { apiVersion: "v1", kind: "ResourceQuota", ...quotas[body.metadata.name] });
      }
      if (!name || !quotas[name]) return notFound();
      if (req.method === "GET") return json(200, { apiVersion: "v1", kind: "ResourceQuota", ...quotas[name] });
      if (req.method === "PUT") {
        quotas[name] = stored(body);
        return json(200, { apiVersion: "v1", kind: "ResourceQuota", ...quotas[name] });
      }
      if (req.method === "DELETE") {
        delete quotas[name];
        return json(200, { kind: "Status", status: "Success" });
      }
    }
    return notFound();
  });
  if (state.kueue) {
    state.kueue.localQueues = state.kueue.localQueues.map(withDefaults);
    state.kueue.clusterQueues = state.kueue.clusterQueues.map(withDefaults);
  }
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return {
    url: `http://127.0.0.1:${(server.address() as { port: number }).port}`,
    requests,
    state,
    stop: () => new Promise((r) => server.close(() => r())),
  };
}

function kueueRoute(
  kueue: NonNullable<KubeState["kueue"]>,
  method: string,
  path: string,
  contentType: string | undefined,
  body: any,
  json: (code: number, v: unknown) => void,
  nextRv: () => string,
): void {
  const status = (code: number, reason: string, message: string) =>
    json(code, { kind: "Status", apiVersion: "v1", metadata: {}, status: "Failure", reason, message, code });
  const p = path.split("/").filter(Boolean); // localqueues | namespaces <ns> localqueues [<name>] | clusterqueues [<name>]
  let kind: "LocalQueue" | "ClusterQueue";
  let list: KueueObject[];
  let name: string | undefined;
  let namespace: string | undefined;
  if (p[0] === "localqueues" && p.length === 1) {
    kind = "LocalQueue";
    list = kueue.localQueues;
  } else if (p[0] === "namespaces" && p[2] === "localqueues" && p.length <= 4) {
    kind = "LocalQueue";
    [namespace, name] = [p[1], p[3]];
    list = kueue.localQueues.filter((q) => q.metadata.namespace === namespace);
  } else if (p[0] === "clusterqueues" && p.length <= 2) {
    kind = "ClusterQueue";
    name = p[1];
    list = kueue.clusterQueues;
  } else return status(404, "NotFound", "the server could not find the requested resource");
  const served = (o: KueueObject) => ({ apiVersion: "kueue.x-k8s.io/v1beta1", kind, ...o });
  if (!name) {
    if (method !== "GET") return status(405, "MethodNotAllowed", `${method} on a collection is not served here`);
    return json(200, {
      apiVersion: "kueue.x-k8s.io/v1beta1",
      kind: `${kind}List`,
      metadata: { resourceVersion: "1" },
      items: list.map(served),
    });
  }
  const store = kind === "LocalQueue" ? kueue.localQueues : kueue.clusterQueues;
  const at = store.findIndex((q) => q.metadata.name === name && q.metadata.namespace === namespace);
  const plural = kind === "LocalQueue" ? "localqueues" : "clusterqueues";
  if (at < 0)
    return json(404, {
      kind: "Status",
      apiVersion: "v1",
      metadata: {},
      status: "Failure",
      reason: "NotFound",
      message: `${plural}.kueue.x-k8s.io "${name}" not found`,
      details: { name, group: "kueue.x-k8s.io", kind: plural },
      code: 404,
    });
  const cur = store[at]!;
  if (method === "GET") return json(200, served(cur));
  if (method !== "PATCH") return status(405, "MethodNotAllowed", `${method} is not served here`);
  if (contentType?.split(";")[0] !== "application/merge-patch+json")
    return status(
      415,
      "UnsupportedMediaType",
      `the body of the request was in an unknown format - accepted media types: application/merge-patch+json (got ${contentType})`,
    );
  const wantRv = body?.metadata?.resourceVersion;
  if (wantRv !== undefined && wantRv !== cur.metadata.resourceVersion)
    return status(
      409,
      "Conflict",
      `Operation cannot be fulfilled on ${plural}.kueue.x-k8s.io "${name}": the object has been modified; please apply your changes to the latest version and try again`,
    );
  const next = withDefaults(mergePatch(cur, body) as KueueObject);
  if (!STOP_POLICIES.includes(String(next.spec.stopPolicy)))
    return status(
      422,
      "Invalid",
      `${kind}.kueue.x-k8s.io "${name}" is invalid: spec.stopPolicy: Unsupported value: "${next.spec.stopPolicy}": supported values: "None", "Hold", "HoldAndDrain"`,
    );
  // status is a subresource: a patch of the main resource does not change it.
  next.status = cur.status;
  next.metadata = { ...next.metadata, name: cur.metadata.name, ...(namespace ? { namespace } : {}), resourceVersion: nextRv() };
  store[at] = next;
  return json(200, served(next));
}
