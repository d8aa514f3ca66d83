/**
 * The one stand-in for the Kubernetes API server in the tests — no API server runs here. A
 * local HTTP server keeps a small cluster in memory and serves it in the real object shapes
 * (NodeList/Node, PodList/Pod, NamespaceList, ResourceQuota, Kueue LocalQueue/ClusterQueue),
 * checking requests the way the API server does where the product depends on it:
 *
 * - PATCH bodies are read by their Content-Type alone (Kubernetes API conventions, "Patch
 *   operations"; kubernetes/kubernetes staging/src/k8s.io/apiserver/pkg/endpoints/installer.go
 *   lists the accepted types): `application/json-patch+json` (RFC 6902 add/remove/replace/test)
 *   and `application/merge-patch+json` (RFC 7386) are applied; anything else is a 415
 *   UnsupportedMediaType with the API server's message (handlers/negotiation/errors.go). Custom
 *   resources never accept strategic merge patch (apiextensions-apiserver decodes them as
 *   unstructured, without the patch strategy metadata it needs).
 * - A JSON Patch whose `test` op fails is a 422 (apiserver handlers/patch.go `applyJSPatch`
 *   answers StatusUnprocessableEntity); a `metadata.resourceVersion` in a merge patch or a PUT
 *   that is not the stored one is a 409 Conflict; every write bumps the resourceVersion.
 * - A missing object is a 404 Status `NotFound`; an API group the server does not serve (Kueue
 *   not installed) is a plain-text `404 page not found`, as the API server's mux answers.
 * - Kueue's kueue.x-k8s.io/v1beta1 LocalQueues (namespaced) and ClusterQueues (cluster-scoped)
 *   in Kueue's shape (kubernetes-sigs/kueue apis/kueue/v1beta1/localqueue_types.go,
 *   clusterqueue_types.go): the CRD's enum on `spec.stopPolicy` (422) and its default `None`;
 *   `status` is a subresource, so a patch of the main resource leaves it alone.
 * - Pod lists honour the field selectors the product sends (`status.phase=`, `status.phase!=`,
 *   `spec.nodeName=`), the way the API server filters pods server-side.
 *
 * Every request is recorded so tests can check what was asked, and with which token.
 */
import http from "node:http";
import type { AddressInfo } from "node:net";

export interface RecordedRequest {
  method: string;
  /** The URL path, without the query. */
  path: string;
  query: Record<string, string>;
  authorization?: string;
  contentType?: string;
  body?: unknown;
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

/** A stored ResourceQuota, without apiVersion and kind (added when served). */
export interface StoredQuota {
  metadata: Record<string, unknown>;
  spec: unknown;
}

/** What the fake cluster holds; tests may change it between requests. */
export interface FakeCluster {
  namespaces: { name: string; labels?: Record<string, string> }[];
  /** Nodes by name, in the shape `kubectl get node -o json` prints. */
  nodes: Map<string, any>;
  /** Pods of every namespace, in the shape `kubectl get pod -o json` prints. */
  pods: any[];
  /** ResourceQuotas by namespace, then name. */
  quotas: Record<string, Record<string, StoredQuota>>;
  /** Kueue installed, with these queues; absent = Kueue not installed. */
  kueue?: { localQueues: KueueObject[]; clusterQueues: KueueObject[] };
}

export interface FakeClusterInput {
  namespaces?: FakeCluster["namespaces"];
  nodes?: any[];
  pods?: any[];
  quotas?: FakeCluster["quotas"];
  kueue?: FakeCluster["kueue"];
}

export interface FakeKubeApi {
  url: string;
  requests: RecordedRequest[];
  state: FakeCluster;
  /** Runs before each write is applied: a way to let "someone else" change the object in between. */
  beforeWrite(hook: (req: RecordedRequest) => void): void;
  stop(): Promise<void>;
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

/** RFC 6902 JSON Patch (add, remove, replace, test) on a copy; a failed test or a missing path is an error. */
function jsonPatch(doc: any, ops: any[]): { ok: true; doc: any } | { ok: false; message: string } {
  const out = structuredClone(doc);
  for (const op of ops) {
    // RFC 6901 pointer: "~1" is "/", "~0" is "~".
    const parts = String(op.path)
      .split("/")
      .slice(1)
      .map((p: string) => p.replace(/~1/g, "/").replace(/~0/g, "~"));
    const last = parts.pop()!;
    let parent = out;
    for (const p of parts) {
      if (parent?.[p] === undefined) return { ok: false, message: `doc is missing path: "${op.path}"` };
      parent = parent[p];
    }
    if (op.op === "test") {
      if (JSON.stringify(parent[last]) !== JSON.stringify(op.value)) return { ok: false, message: `testing value ${op.path} failed` };
    } else if (op.op === "add") parent[last] = op.value;
    else if (op.op === "replace") {
      // RFC 6902 §4.3: the target location must exist.
      if (!(last in parent) || parent[last] === undefined)
        return { ok: false, message: `replace operation does not apply: doc is missing key: ${op.path}` };
      parent[last] = op.value;
    } else if (op.op === "remove") {
      if (!(last in parent)) return { ok: false, message: `remove operation does not apply: doc is missing path: "${op.path}"` };
      delete parent[last];
    } else return { ok: false, message: `unsupported op ${op.op}` };
  }
  return { ok: true, doc: out };
}

const JSON_PATCH = "application/json-patch+json";
const MERGE_PATCH = "application/merge-patch+json";
const STRATEGIC_MERGE_PATCH = "application/strategic-merge-patch+json";
const APPLY_PATCH = "application/apply-patch+yaml";
const BUILT_IN_PATCH_TYPES = [JSON_PATCH, MERGE_PATCH, STRATEGIC_MERGE_PATCH, APPLY_PATCH];
const CUSTOM_RESOURCE_PATCH_TYPES = [JSON_PATCH, MERGE_PATCH, APPLY_PATCH];

const KUEUE_GROUP_VERSION = "kueue.x-k8s.io/v1beta1";
const KUEUE_PREFIX = `/apis/${KUEUE_GROUP_VERSION}`;
const STOP_POLICIES = ["None", "Hold", "HoldAndDrain"];
/** What the CRD's structural schema defaults (`+kubebuilder:default="None"` on spec.stopPolicy). */
const withKueueDefaults = (o: KueueObject): KueueObject => ({
  ...o,
  metadata: { ...o.metadata, resourceVersion: o.metadata.resourceVersion ?? "1" },
  spec: { ...o.spec, stopPolicy: o.spec.stopPolicy ?? "None" },
});

type Reply = (code: number, body: unknown) => void;

const statusBody = (code: number, reason: string, message: string, details?: object) => ({
  kind: "Status",
  apiVersion: "v1",
  metadata: {},
  status: "Failure",
  message,
  reason,
  ...(details ? { details } : {}),
  code,
});

/** `status.phase!=Succeeded,spec.nodeName=n1` → a predicate over pods, for the fields the API server lets pods be selected by. */
function podFieldSelector(selector: string | null): (pod: any) => boolean {
  const terms = (selector ?? "")
    .split(",")
    .filter(Boolean)
    .map((t) => /^([\w.]+)(!=|==|=)(.*)$/.exec(t)!)
    .map(([, field, op, value]) => ({ field: field!, negate: op === "!=", value: value! }));
  const fieldOf = (pod: any, field: string) =>
    field === "status.phase"
      ? pod.status?.phase
      : field === "spec.nodeName"
        ? (pod.spec?.nodeName ?? "")
        : field === "metadata.namespace"
          ? pod.metadata?.namespace
          : field === "metadata.name"
            ? pod.metadata?.name
            : undefined;
  return (pod) => terms.every((t) => (fieldOf(pod, t.field) === t.value) !== t.negate);
}

/** What the API server answers to a PATCH with a body it will not read. */
function unsupportedPatch(reply: Reply, contentType: string | undefined, accepted: string[]): void {
  reply(
    415,
    statusBody(
      415,
      "UnsupportedMediaType",
      `the body of the request was in an unknown format - accepted media types include: ${accepted.join(", ")} (got ${contentType})`,
    ),
  );
}

export async function startFakeKubeApi(input: FakeClusterInput): Promise<FakeKubeApi> {
  const state: FakeCluster = {
    namespaces: structuredClone(input.namespaces ?? []),
    nodes: new Map((input.nodes ?? []).map((n) => [n.metadata.name, structuredClone(n)])),
    pods: structuredClone(input.pods ?? []),
    quotas: structuredClone(input.quotas ?? {}),
    ...(input.kueue
      ? {
          kueue: {
            localQueues: input.kueue.localQueues.map((q) => withKueueDefaults(structuredClone(q))),
            clusterQueues: input.kueue.clusterQueues.map((q) => withKueueDefaults(structuredClone(q))),
          },
        }
      : {}),
  };
  const requests: RecordedRequest[] = [];
  let beforeWrite: ((req: RecordedRequest) => void) | undefined;
  let rv = 100;
  const nextRv = () => String(++rv);

  const server = http.createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const text = Buffer.concat(chunks).toString("utf8");
    const url = new URL(req.url!, "http://x");
    const recorded: RecordedRequest = {
      method: req.method!,
      path: url.pathname,
      query: Object.fromEntries(url.searchParams),
      authorization: req.headers.authorization,
      contentType: req.headers["content-type"],
      body: text ? JSON.parse(text) : undefined,
    };
    requests.push(recorded);
    if (req.method !== "GET") beforeWrite?.(recorded);
    const reply: Reply = (code, body) => {
      res.writeHead(code, { "content-type": "application/json" });
      res.end(JSON.stringify(body));
    };
    const route = { method: req.method!, url, contentType: req.headers["content-type"]?.split(";")[0]?.trim(), body: recorded.body };
    if (url.pathname === KUEUE_PREFIX || url.pathname.startsWith(`${KUEUE_PREFIX}/`)) {
      if (!state.kueue) {
        // The API server's answer for a group it does not serve: its mux's plain 404, not a Status.
        res.writeHead(404, { "content-type": "text/plain; charset=utf-8" });
        return res.end("404 page not found\n");
      }
      return kueueRoute(state.kueue, route, url.pathname.slice(KUEUE_PREFIX.length), reply, nextRv);
    }
    if (url.pathname.startsWith("/api/v1/")) return coreRoute(state, route, reply, nextRv);
    reply(404, statusBody(404, "NotFound", "the server could not find the requested resource"));
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    requests,
    state,
    beforeWrite(hook) {
      beforeWrite = hook;
    },
    stop: () => new Promise<void>((r) => server.close(() => r())),
  };
}

interface Route {
  method: string;
  url: URL;
  contentType: string | undefined;
  body: any;
}

const notFound = (reply: Reply, resource: string, name?: string) =>
  reply(
    404,
    statusBody(404, "NotFound", name ? `${resource} "${name}" not found` : "the server could not find the requested resource", {
      ...(name ? { name } : {}),
      kind: resource,
    }),
  );

const conflict = (reply: Reply, resource: string, name: string) =>
  reply(
    409,
    statusBody(
      409,
      "Conflict",
      `Operation cannot be fulfilled on ${resource} "${name}": the object has been modified; please apply your changes to the latest version and try again`,
    ),
  );

/** core/v1: nodes, pods, namespaces, resourcequotas. */
function coreRoute(state: FakeCluster, r: Route, reply: Reply, nextRv: () => string): void {
  const p = r.url.pathname.split("/").filter(Boolean).slice(2); // after api/v1
  const list = (kind: string, items: unknown[]) => reply(200, { kind, apiVersion: "v1", metadata: { resourceVersion: "1" }, items });
  const served = (kind: string, o: object) => ({ apiVersion: "v1", kind, ...o });
  const pods = (namespace?: string) =>
    state.pods.filter(
      (x) => (!namespace || x.metadata?.namespace === namespace) && podFieldSelector(r.url.searchParams.get("fieldSelector"))(x),
    );

  if (p[0] === "nodes" && p.length === 1 && r.method === "GET")
    return list(
      "NodeList",
      [...state.nodes.values()].map((n) => served("Node", n)),
    );
  if (p[0] === "nodes" && p.length === 2) {
    const name = p[1]!;
    const node = state.nodes.get(name);
    if (!node) return notFound(reply, "nodes", name);
    if (r.method === "GET") return reply(200, served("Node", node));
    if (r.method !== "PATCH") return reply(405, statusBody(405, "MethodNotAllowed", `${r.method} is not served here`));
    const patched = applyPatch(node, r, BUILT_IN_PATCH_TYPES, reply, "nodes", name);
    if (!patched) return;
    patched.metadata = { ...patched.metadata, name, resourceVersion: nextRv() };
    state.nodes.set(name, patched);
    return reply(200, served("Node", patched));
  }
  if (p[0] === "pods" && p.length === 1 && r.method === "GET")
    return list(
      "PodList",
      pods().map((x) => served("Pod", x)),
    );
  if (p[0] !== "namespaces") return notFound(reply, p[0] ?? "");
  if (p.length === 1 && r.method === "GET")
    return list(
      "NamespaceList",
      state.namespaces.map((n) => served("Namespace", { metadata: { name: n.name, labels: n.labels ?? {} }, status: { phase: "Active" } })),
    );
  const ns = p[1]!;
  if (p[2] === "pods" && p.length === 3 && r.method === "GET")
    return list(
      "PodList",
      pods(ns).map((x) => served("Pod", x)),
    );
  if (p[2] === "resourcequotas") return quotaRoute((state.quotas[ns] ??= {}), p[3], r, reply, nextRv);
  notFound(reply, p[2] ?? "namespaces");
}

function quotaRoute(quotas: Record<string, StoredQuota>, name: string | undefined, r: Route, reply: Reply, nextRv: () => string): void {
  const served = (o: StoredQuota) => ({ apiVersion: "v1", kind: "ResourceQuota", ...o });
  const stored = (b: StoredQuota): StoredQuota => ({ metadata: { ...b.metadata, resourceVersion: nextRv() }, spec: b.spec });
  if (!name) {
    if (r.method !== "POST") return reply(405, statusBody(405, "MethodNotAllowed", `${r.method} on the collection is not served here`));
    const created = String(r.body.metadata.name);
    if (quotas[created]) return reply(409, statusBody(409, "AlreadyExists", `resourcequotas "${created}" already exists`));
    quotas[created] = stored(r.body);
    return reply(201, served(quotas[created]));
  }
  const cur = quotas[name];
  if (!cur) return notFound(reply, "resourcequotas", name);
  if (r.method === "GET") return reply(200, served(cur));
  if (r.method === "PUT") {
    const want = r.body?.metadata?.resourceVersion;
    if (want !== undefined && want !== cur.metadata.resourceVersion) return conflict(reply, "resourcequotas", name);
    quotas[name] = stored(r.body);
    return reply(200, served(quotas[name]));
  }
  if (r.method === "DELETE") {
    delete quotas[name];
    return reply(200, { kind: "Status", apiVersion: "v1", metadata: {}, status: "Success", details: { name, kind: "resourcequotas" } });
  }
  reply(405, statusBody(405, "MethodNotAllowed", `${r.method} is not served here`));
}

/**
 * Applies a PATCH by its Content-Type, or replies with the API server's error and returns
 * undefined. The types the real server accepts but this fake does not implement (strategic
 * merge, server-side apply) are refused loudly, so a test never passes on a patch nobody applied.
 */
function applyPatch(cur: any, r: Route, accepted: string[], reply: Reply, resource: string, name: string): any {
  if (!accepted.includes(r.contentType ?? "")) return unsupportedPatch(reply, r.contentType, accepted);
  if (r.contentType === JSON_PATCH) {
    if (!Array.isArray(r.body))
      return reply(400, statusBody(400, "BadRequest", "json: cannot unmarshal object into Go value of type jsonpatch.Patch"));
    const out = jsonPatch(cur, r.body);
    if (!out.ok) return reply(422, statusBody(422, "", out.message));
    return out.doc;
  }
  if (r.contentType === MERGE_PATCH) {
    const want = r.body?.metadata?.resourceVersion;
    if (want !== undefined && want !== cur.metadata?.resourceVersion) return conflict(reply, resource, name);
    return mergePatch(cur, r.body);
  }
  return unsupportedPatch(reply, r.contentType, [JSON_PATCH, MERGE_PATCH]);
}

/** kueue.x-k8s.io/v1beta1: localqueues | namespaces/<ns>/localqueues[/<name>] | clusterqueues[/<name>]. */
function kueueRoute(kueue: NonNullable<FakeCluster["kueue"]>, r: Route, path: string, reply: Reply, nextRv: () => string): void {
  const p = path.split("/").filter(Boolean);
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
  } else return notFound(reply, p[0] ?? "");
  const served = (o: KueueObject) => ({ apiVersion: KUEUE_GROUP_VERSION, kind, ...o });
  if (!name) {
    if (r.method !== "GET") return reply(405, statusBody(405, "MethodNotAllowed", `${r.method} on a collection is not served here`));
    return reply(200, {
      apiVersion: KUEUE_GROUP_VERSION,
      kind: `${kind}List`,
      metadata: { resourceVersion: "1" },
      items: list.map(served),
    });
  }
  const store = kind === "LocalQueue" ? kueue.localQueues : kueue.clusterQueues;
  const at = store.findIndex((q) => q.metadata.name === name && q.metadata.namespace === namespace);
  const resource = `${kind === "LocalQueue" ? "localqueues" : "clusterqueues"}.kueue.x-k8s.io`;
  if (at < 0) return notFound(reply, resource, name);
  const cur = store[at]!;
  if (r.method === "GET") return reply(200, served(cur));
  if (r.method !== "PATCH") return reply(405, statusBody(405, "MethodNotAllowed", `${r.method} is not served here`));
  const patched = applyPatch(cur, r, CUSTOM_RESOURCE_PATCH_TYPES, reply, resource, name);
  if (!patched) return;
  const next = withKueueDefaults(patched as KueueObject);
  if (!STOP_POLICIES.includes(String(next.spec.stopPolicy)))
    return reply(
      422,
      statusBody(
        422,
        "Invalid",
        `${kind}.kueue.x-k8s.io "${name}" is invalid: spec.stopPolicy: Unsupported value: "${next.spec.stopPolicy}": supported values: "None", "Hold", "HoldAndDrain"`,
      ),
    );
  // status is a subresource: a patch of the main resource does not change it.
  next.status = cur.status;
  next.metadata = { ...next.metadata, name: cur.metadata.name, ...(namespace ? { namespace } : {}), resourceVersion: nextRv() };
  store[at] = next;
  reply(200, served(next));
}

/** A GPU node as EKS managed node groups label it. */
export function k8sNode(
  name: string,
  over: {
    group?: string;
    capacityType?: string;
    gpus?: number;
    created?: string;
    taints?: any[];
    unschedulable?: boolean;
    annotations?: Record<string, string>;
  } = {},
) {
  return {
    metadata: {
      name,
      resourceVersion: "1",
      creationTimestamp: over.created ?? "2026-11-23T00:00:00Z",
      labels: {
        "eks.amazonaws.com/nodegroup": over.group ?? "g5-spot",
        "eks.amazonaws.com/capacityType": over.capacityType ?? "SPOT",
        "node.kubernetes.io/instance-type": "g5.12xlarge",
      },
      annotations: over.annotations ?? {},
    },
    spec: { providerID: `aws:///ap-northeast-2a/${instanceIdFor(name)}`, taints: over.taints, unschedulable: over.unschedulable },
    status: {
      capacity: { "nvidia.com/gpu": String(over.gpus ?? 4) },
      allocatable: { "nvidia.com/gpu": String(over.gpus ?? 4) },
      conditions: [{ type: "Ready", status: "True" }],
    },
  };
}

/** A pod asking for `gpus` GPUs (as a limit, which the scheduler copies to the request), bound to `node` or pending. */
export function k8sPod(
  name: string,
  node: string | undefined,
  gpus: number,
  over: {
    namespace?: string;
    phase?: string;
    owner?: string;
    nodeSelector?: Record<string, string>;
    annotations?: Record<string, string>;
  } = {},
) {
  return {
    metadata: {
      name,
      namespace: over.namespace ?? "team-ai",
      creationTimestamp: "2026-11-23T02:00:00Z",
      annotations: over.annotations,
      ownerReferences: over.owner ? [{ kind: over.owner, name: "x", uid: "u", apiVersion: "apps/v1", controller: true }] : undefined,
    },
    spec: {
      nodeName: node,
      nodeSelector: over.nodeSelector,
      containers: [{ name: "c", resources: gpus ? { limits: { "nvidia.com/gpu": String(gpus) } } : {} }],
    },
    status: { phase: over.phase ?? (node ? "Running" : "Pending") },
  };
}

/** A pod of `namespace` requesting `gpus` GPUs and 4 CPUs, in `phase` (the quota enforcer sums the requests of Running ones). */
export function gpuRequestPod(namespace: string, name: string, phase: "Running" | "Pending" | "Succeeded", gpus: number) {
  return {
    metadata: { name, namespace },
    spec: { containers: [{ name: "main", resources: { requests: { "nvidia.com/gpu": String(gpus), cpu: "4" } } }] },
    status: { phase },
  };
}

/** A valid-looking EC2 instance id derived from a node name. */
export const instanceIdFor = (name: string) => `i-0${Buffer.from(name).toString("hex")}`;
