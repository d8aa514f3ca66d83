/**
 * A small local stand-in for the Kubernetes API (no real cluster runs here):
 * namespaces, pods and ResourceQuotas in memory, the core/v1 routes the quota
 * enforcer uses, and a log of every request so tests can check what was asked.
 */
import http from "node:http";

export interface RecordedRequest {
  method: string;
  path: string;
  authorization?: string;
  body?: unknown;
}

interface Pod {
  name: string;
  phase: "Running" | "Pending" | "Succeeded";
  gpus: number;
}

export interface KubeState {
  namespaces: { name: string; labels?: Record<string, string> }[];
  pods: Record<string, Pod[]>;
  quotas: Record<string, Record<string, { metadata: Record<string, unknown>; spec: unknown }>>;
}

export async function startKubeApi(state: KubeState): Promise<{ url: string; requests: RecordedRequest[]; state: KubeState; stop(): Promise<void> }> {
  const requests: RecordedRequest[] = [];
  let rv = 100;
  const server = http.createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const text = Buffer.concat(chunks).toString("utf8");
    const body = text ? JSON.parse(text) : undefined;
    const url = new URL(req.url!, "http://x");
    requests.push({ method: req.method!, path: url.pathname + url.search, authorization: req.headers.authorization, body });
    const json = (code: number, v: unknown) => {
      res.writeHead(code, { "content-type": "application/json" });
      res.end(JSON.stringify(v));
    };
    const notFound = () => json(404, { kind: "Status", apiVersion: "v1", status: "Failure", reason: "NotFound", code: 404 });
    const p = url.pathname.split("/").filter(Boolean); // api v1 namespaces <ns> <kind> <name>
    if (p[0] !== "api" || p[1] !== "v1" || p[2] !== "namespaces") return notFound();
    if (p.length === 3 && req.method === "GET")
      return json(200, { kind: "NamespaceList", apiVersion: "v1", metadata: {}, items: state.namespaces.map((n) => ({ metadata: { name: n.name, labels: n.labels ?? {} } })) });
    const ns = p[3]!;
    if (p[4] === "pods" && req.method === "GET") {
      const phase = /status\.phase=(\w+)/.exec(url.searchParams.get("fieldSelector") ?? "")?.[1];
      const pods = (state.pods[ns] ?? []).filter((x) => !phase || x.phase === phase);
      return json(200, {
        kind: "PodList",
        apiVersion: "v1",
        metadata: {},
        items: pods.map((x) => ({ metadata: { name: x.name, namespace: ns }, spec: { containers: [{ name: "main", resources: { requests: { "nvidia.com/gpu": String(x.gpus), cpu: "4" } } }] }, status: { phase: x.phase } })),
      });
    }
    if (p[4] === "resourcequotas") {
      const quotas = (state.quotas[ns] ??= {});
      const name = p[5];
      const stored = (b: { metadata: Record<string, unknown>; spec: unknown }) => ({ ...b, metadata: { ...b.metadata, resourceVersion: String(++rv) } });
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
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return {
    url: `http://127.0.0.1:${(server.address() as { port: number }).port}`,
    requests,
    state,
    stop: () => new Promise((r) => server.close(() => r())),
  };
}
