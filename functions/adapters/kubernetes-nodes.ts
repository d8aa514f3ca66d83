import http from "node:http";
import https from "node:https";
// Types only: @kubernetes/client-node 2.0.1 cannot be *loaded* on Node 20 (its undici 8 needs Node ≥ 22.19),
// so the few calls the controller makes go through the small client below.
import type { V1Node, V1NodeList, V1Pod, V1PodList } from "@kubernetes/client-node";
import { KARPENTER_NODEPOOL_LABEL, RECLAIM_TAINT, type CapacityType, type NodeInfo, type PodInfo } from "../controller/snapshot.js";

/** Marks that *we* cordoned the node, so releasing it never uncordons a node an operator cordoned. */
export const CORDONED_BY_US = "gpu-billing.io/cordoned-by-reclaim";
const NODEGROUP_LABEL = "eks.amazonaws.com/nodegroup";

/** The Kubernetes API as the controller uses it: JSON in, JSON out, errors carry the HTTP status. */
export interface KubeApi {
  request<T>(
    method: "GET" | "PATCH",
    path: string,
    opts?: { query?: Record<string, string | undefined>; body?: unknown; contentType?: string },
  ): Promise<T>;
}

export class KubeApiError extends Error {
  constructor(
    message: string,
    readonly status: number,
  ) {
    super(message);
    this.name = "KubeApiError";
  }
}

/** A client for an API server URL with a bearer token and (for https) the cluster CA; `tokenProvider` is called per request (EKS tokens expire in 15 min). */
export function kubeApi(server: string, tokenProvider: () => Promise<string> | string, caData?: string, timeoutMs = 20_000): KubeApi {
  const base = new URL(server);
  return {
    async request<T>(
      method: "GET" | "PATCH",
      path: string,
      opts: { query?: Record<string, string | undefined>; body?: unknown; contentType?: string } = {},
    ) {
      const url = new URL(path, base);
      for (const [k, v] of Object.entries(opts.query ?? {})) if (v !== undefined) url.searchParams.set(k, v);
      const token = await tokenProvider();
      const body = opts.body === undefined ? undefined : JSON.stringify(opts.body);
      const headers: Record<string, string> = { accept: "application/json", authorization: `Bearer ${token}` };
      if (body) headers["content-type"] = opts.contentType ?? "application/json";
      const lib = url.protocol === "https:" ? https : http;
      const { status, text } = await new Promise<{ status: number; text: string }>((resolve, reject) => {
        const req = lib.request(
          url,
          {
            method,
            headers,
            timeout: timeoutMs,
            ...(url.protocol === "https:" && caData ? { ca: Buffer.from(caData, "base64").toString("utf8") } : {}),
          },
          (res) => {
            let t = "";
            res.setEncoding("utf8");
            res.on("data", (c) => (t += c));
            res.on("end", () => resolve({ status: res.statusCode ?? 0, text: t }));
          },
        );
        req.on("timeout", () => req.destroy(new Error(`Kubernetes API ${method} ${url.pathname} timed out after ${timeoutMs} ms`)));
        req.on("error", reject);
        if (body) req.write(body);
        req.end();
      });
      if (status < 200 || status >= 300)
        throw new KubeApiError(`Kubernetes API ${method} ${url.pathname}: HTTP ${status}: ${text.slice(0, 300)}`, status);
      return JSON.parse(text) as T;
    },
  };
}

const gpuOf = (res: Record<string, string> | undefined) => Number(res?.["nvidia.com/gpu"] ?? 0) || 0;

function capacityTypeOf(labels: Record<string, string>): CapacityType | undefined {
  const v = (labels["eks.amazonaws.com/capacityType"] ?? labels["karpenter.sh/capacity-type"] ?? "").toLowerCase();
  return v === "spot" ? "spot" : v === "on_demand" || v === "on-demand" ? "on-demand" : undefined;
}

/** `aws:///us-east-1a/i-0abc` → `i-0abc`. */
export const instanceIdOf = (providerId: string | undefined) => providerId?.match(/(i-[0-9a-f]+)$/)?.[1];

export function toNodeInfo(n: V1Node): NodeInfo {
  const labels = n.metadata?.labels ?? {};
  return {
    name: n.metadata!.name!,
    instanceId: instanceIdOf(n.spec?.providerID),
    nodeGroup: labels[NODEGROUP_LABEL],
    capacityType: capacityTypeOf(labels),
    createdAtMs: new Date(n.metadata?.creationTimestamp ?? 0).getTime(),
    ready: (n.status?.conditions ?? []).some((c) => c.type === "Ready" && c.status === "True"),
    unschedulable: n.spec?.unschedulable === true,
    gpuCapacity: gpuOf(n.status?.capacity),
    gpuAllocatable: gpuOf(n.status?.allocatable),
    labels,
    annotations: n.metadata?.annotations ?? {},
    reclaimTainted: (n.spec?.taints ?? []).some((t) => t.key === RECLAIM_TAINT.key),
  };
}

/** GPUs a pod holds: the larger of the sum over containers and the largest init container (Kubernetes' effective request). */
export function podGpuRequest(p: V1Pod): number {
  const sum = (p.spec?.containers ?? []).reduce(
    (a, c) => a + gpuOf((c.resources?.limits ?? c.resources?.requests) as Record<string, string>),
    0,
  );
  const init = Math.max(
    0,
    ...(p.spec?.initContainers ?? []).map((c) => gpuOf((c.resources?.limits ?? c.resources?.requests) as Record<string, string>)),
  );
  return Math.max(sum, init);
}

/** The NodePool a pod asks for: nodeSelector, else the first required node-affinity term `karpenter.sh/nodepool In [...]`. */
export function karpenterNodePoolOfPod(p: V1Pod): string | undefined {
  const sel = p.spec?.nodeSelector?.[KARPENTER_NODEPOOL_LABEL];
  if (sel) return sel;
  for (const term of p.spec?.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution?.nodeSelectorTerms ?? [])
    for (const e of term.matchExpressions ?? [])
      if (e.key === KARPENTER_NODEPOOL_LABEL && e.operator === "In" && e.values?.length) return e.values[0];
  return undefined;
}

export function toPodInfo(p: V1Pod, poolOfNodeGroup: (nodeGroup: string) => string | undefined): PodInfo {
  const ng = p.spec?.nodeSelector?.[NODEGROUP_LABEL];
  const karpenterNodePool = karpenterNodePoolOfPod(p);
  return {
    namespace: p.metadata!.namespace!,
    name: p.metadata!.name!,
    nodeName: p.spec?.nodeName || undefined,
    phase: p.status?.phase ?? "Unknown",
    gpuRequest: podGpuRequest(p),
    ownerKind: p.metadata?.ownerReferences?.find((o) => o.controller)?.kind,
    annotations: p.metadata?.annotations ?? {},
    createdAtMs: new Date(p.metadata?.creationTimestamp ?? 0).getTime(),
    pool: ng ? poolOfNodeGroup(ng) : undefined,
    ...(karpenterNodePool ? { karpenterNodePool } : {}),
  };
}

/** Every node (GPU ones are picked by the plan), paged. */
export async function listNodes(api: KubeApi): Promise<NodeInfo[]> {
  const out: NodeInfo[] = [];
  let cont: string | undefined;
  do {
    const r = await api.request<V1NodeList>("GET", "/api/v1/nodes", { query: { limit: "500", continue: cont } });
    out.push(...r.items.map(toNodeInfo));
    cont = r.metadata?._continue || undefined;
  } while (cont);
  return out;
}

/** Pods that can hold a node or wait for one: finished pods are left out server-side. `nodeName` narrows to one node (the re-check). */
export async function listPods(api: KubeApi, poolOfNodeGroup: (ng: string) => string | undefined, nodeName?: string): Promise<PodInfo[]> {
  const out: PodInfo[] = [];
  let cont: string | undefined;
  const fieldSelector = ["status.phase!=Succeeded", "status.phase!=Failed", ...(nodeName ? [`spec.nodeName=${nodeName}`] : [])].join(",");
  do {
    const r = await api.request<V1PodList>("GET", "/api/v1/pods", { query: { fieldSelector, limit: "500", continue: cont } });
    out.push(...r.items.map((p) => toPodInfo(p, poolOfNodeGroup)));
    cont = r.metadata?._continue || undefined;
  } while (cont);
  return out;
}

/**
 * Cordons the node and adds the reclaim taint in one JSON Patch guarded by
 * the node's resourceVersion: if anything changed the node since we read it,
 * the API server rejects the patch (409/422) and nothing is half-applied.
 */
const nodePath = (name: string) => `/api/v1/nodes/${encodeURIComponent(name)}`;
const readNode = (api: KubeApi, name: string) => api.request<V1Node>("GET", nodePath(name));
const patchNode = (api: KubeApi, name: string, ops: object[]) =>
  api.request<V1Node>("PATCH", nodePath(name), { body: ops, contentType: "application/json-patch+json" });

export async function cordonAndTaint(api: KubeApi, nodeName: string): Promise<NodeInfo> {
  const n = await readNode(api, nodeName);
  const taints = n.spec?.taints ?? [];
  if (taints.some((t) => t.key === RECLAIM_TAINT.key)) return toNodeInfo(n); // already done by an earlier run
  const wasCordoned = n.spec?.unschedulable === true;
  const patch: object[] = [
    { op: "test", path: "/metadata/resourceVersion", value: n.metadata!.resourceVersion },
    { op: "add", path: "/spec/taints", value: [...taints, { ...RECLAIM_TAINT }] },
  ];
  if (!wasCordoned) {
    patch.push({ op: "add", path: "/spec/unschedulable", value: true });
    patch.push({
      op: "add",
      path: n.metadata?.annotations ? `/metadata/annotations/${CORDONED_BY_US.replace(/\//g, "~1")}` : "/metadata/annotations",
      value: n.metadata?.annotations ? "true" : { [CORDONED_BY_US]: "true" },
    });
  }
  return toNodeInfo(await patchNode(api, nodeName, patch));
}

/** Undoes cordonAndTaint: removes our taint, and uncordons only if we were the ones who cordoned. */
export async function releaseNode(api: KubeApi, nodeName: string): Promise<NodeInfo> {
  const n = await readNode(api, nodeName);
  const taints = n.spec?.taints ?? [];
  const ours = n.metadata?.annotations?.[CORDONED_BY_US] === "true";
  if (!taints.some((t) => t.key === RECLAIM_TAINT.key) && !ours) return toNodeInfo(n);
  const patch: object[] = [
    { op: "test", path: "/metadata/resourceVersion", value: n.metadata!.resourceVersion },
    { op: "replace", path: "/spec/taints", value: taints.filter((t) => t.key !== RECLAIM_TAINT.key) },
  ];
  if (ours) {
    patch.push({ op: "replace", path: "/spec/unschedulable", value: false });
    patch.push({ op: "remove", path: `/metadata/annotations/${CORDONED_BY_US.replace(/\//g, "~1")}` });
  }
  return toNodeInfo(await patchNode(api, nodeName, patch));
}
