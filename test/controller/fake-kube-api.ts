import http from "node:http";
import type { AddressInfo } from "node:net";

/**
 * A small local HTTP server standing in for the Kubernetes API (no real API
 * server runs here): it serves nodes and pods from memory, applies JSON
 * Patches to nodes (add/replace/remove/test, with resourceVersion bumps and
 * 409 on a failed test, as the API server does) and records every request.
 */
export interface Recorded {
  method: string;
  path: string;
  query: Record<string, string>;
  contentType?: string;
  headers: http.IncomingHttpHeaders;
  body?: unknown;
}

export async function startFakeKubeApi(initial: { nodes: any[]; pods: any[] }) {
  const nodes = new Map<string, any>(initial.nodes.map((n) => [n.metadata.name, structuredClone(n)]));
  const pods = structuredClone(initial.pods) as any[];
  const requests: Recorded[] = [];
  let rv = 100;
  /** Hook to change the world between requests (e.g. a pod lands right after the taint). */
  let afterPatch: ((name: string) => void) | undefined;

  const applyPatch = (doc: any, ops: any[]) => {
    for (const op of ops) {
      const parts = String(op.path)
        .split("/")
        .slice(1)
        .map((p: string) => p.replace(/~1/g, "/").replace(/~0/g, "~"));
      const last = parts.pop()!;
      let parent = doc;
      for (const p of parts) parent = parent[p] ??= {};
      if (op.op === "test") {
        if (JSON.stringify(parent[last]) !== JSON.stringify(op.value)) return { code: 409, message: `test failed at ${op.path}` };
      } else if (op.op === "add" || op.op === "replace") parent[last] = op.value;
      else if (op.op === "remove") delete parent[last];
    }
    return undefined;
  };

  const server = http.createServer((req, res) => {
    let raw = "";
    req.on("data", (c) => (raw += c));
    req.on("end", () => {
      const url = new URL(req.url!, "http://x");
      const body = raw ? JSON.parse(raw) : undefined;
      requests.push({
        method: req.method!,
        path: url.pathname,
        query: Object.fromEntries(url.searchParams),
        contentType: req.headers["content-type"],
        headers: req.headers,
        body,
      });
      const send = (code: number, obj: unknown) => {
        res.writeHead(code, { "content-type": "application/json" });
        res.end(JSON.stringify(obj));
      };
      const m = url.pathname.match(/^\/api\/v1\/nodes\/([^/]+)$/);
      if (req.method === "GET" && url.pathname === "/api/v1/nodes")
        return send(200, { kind: "NodeList", apiVersion: "v1", metadata: {}, items: [...nodes.values()] });
      if (req.method === "GET" && url.pathname === "/api/v1/pods") {
        const fs = url.searchParams.get("fieldSelector") ?? "";
        const onNode = fs.match(/spec\.nodeName=([^,]+)/)?.[1];
        const items = pods.filter((p) => !["Succeeded", "Failed"].includes(p.status?.phase) && (!onNode || p.spec?.nodeName === onNode));
        return send(200, { kind: "PodList", apiVersion: "v1", metadata: {}, items });
      }
      if (m && req.method === "GET") return nodes.has(m[1]!) ? send(200, nodes.get(m[1]!)) : send(404, { kind: "Status", code: 404 });
      if (m && req.method === "PATCH") {
        const n = structuredClone(nodes.get(m[1]!));
        const err = applyPatch(n, body);
        if (err) return send(err.code, { kind: "Status", code: err.code, message: err.message });
        n.metadata.resourceVersion = String(++rv);
        nodes.set(m[1]!, n);
        afterPatch?.(m[1]!);
        return send(200, n);
      }
      send(404, { kind: "Status", code: 404 });
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    nodes,
    pods,
    onAfterPatch(f: (name: string) => void) {
      afterPatch = f;
    },
    stop: () => new Promise<void>((r) => server.close(() => r())),
  };
}

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

export function k8sPod(
  name: string,
  node: string | undefined,
  gpus: number,
  over: { phase?: string; owner?: string; nodeSelector?: Record<string, string>; annotations?: Record<string, string> } = {},
) {
  return {
    metadata: {
      name,
      namespace: "team-ai",
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

/** A valid-looking EC2 instance id derived from a node name. */
export const instanceIdFor = (name: string) => `i-0${Buffer.from(name).toString("hex")}`;
