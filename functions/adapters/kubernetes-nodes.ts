import type { CoreV1Api, V1Node, V1Pod } from "@kubernetes/client-node";
import { JSON_PATCH, kubernetesCall } from "./kubernetes-client.js";
import { KARPENTER_NODEPOOL_LABEL, RECLAIM_TAINT, type CapacityType, type NodeInfo, type PodInfo } from "../controller/snapshot.js";
import { instanceIdOf } from "../core/reconciliation.js";

/** Marks that *we* cordoned the node, so releasing it never uncordons a node an operator cordoned. */
export const CORDONED_BY_US = "gpu-billing.io/cordoned-by-reclaim";
const NODEGROUP_LABEL = "eks.amazonaws.com/nodegroup";
const PAGE_SIZE = 500;

const gpuOf = (res: Record<string, string> | undefined) => Number(res?.["nvidia.com/gpu"] ?? 0) || 0;

function capacityTypeOf(labels: Record<string, string>): CapacityType | undefined {
  const v = (labels["eks.amazonaws.com/capacityType"] ?? labels["karpenter.sh/capacity-type"] ?? "").toLowerCase();
  return v === "spot" ? "spot" : v === "on_demand" || v === "on-demand" ? "on-demand" : undefined;
}

export function toNodeInfo(n: V1Node): NodeInfo {
  const labels = n.metadata?.labels ?? {};
  return {
    name: n.metadata!.name!,
    instanceId: n.spec?.providerID ? instanceIdOf(n.spec.providerID) : undefined,
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
export async function listNodes(api: CoreV1Api): Promise<NodeInfo[]> {
  const out: NodeInfo[] = [];
  let cont: string | undefined;
  do {
    const r = await kubernetesCall("GET /api/v1/nodes", () => api.listNode({ limit: PAGE_SIZE, _continue: cont }));
    out.push(...r.items.map(toNodeInfo));
    cont = r.metadata?._continue || undefined;
  } while (cont);
  return out;
}

/** Pods that can hold a node or wait for one: finished pods are left out server-side. `nodeName` narrows to one node (the re-check). */
export async function listPods(api: CoreV1Api, poolOfNodeGroup: (ng: string) => string | undefined, nodeName?: string): Promise<PodInfo[]> {
  const out: PodInfo[] = [];
  let cont: string | undefined;
  const fieldSelector = ["status.phase!=Succeeded", "status.phase!=Failed", ...(nodeName ? [`spec.nodeName=${nodeName}`] : [])].join(",");
  do {
    const r = await kubernetesCall("GET /api/v1/pods", () =>
      api.listPodForAllNamespaces({ fieldSelector, limit: PAGE_SIZE, _continue: cont }),
    );
    out.push(...r.items.map((p) => toPodInfo(p, poolOfNodeGroup)));
    cont = r.metadata?._continue || undefined;
  } while (cont);
  return out;
}

const readNode = (api: CoreV1Api, name: string) => kubernetesCall(`GET node ${name}`, () => api.readNode({ name }));
/**
 * Cordon and release are one JSON Patch each, guarded by a `test` of the node's resourceVersion:
 * if anything changed the node since we read it, the API server rejects the patch (422) and
 * nothing is half-applied.
 */
const patchNode = (api: CoreV1Api, name: string, ops: object[]) =>
  kubernetesCall(`PATCH node ${name}`, () => api.patchNode({ name, body: ops }, JSON_PATCH));

/** Cordons the node and adds the reclaim taint. */
export async function cordonAndTaint(api: CoreV1Api, nodeName: string): Promise<NodeInfo> {
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
export async function releaseNode(api: CoreV1Api, nodeName: string): Promise<NodeInfo> {
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
