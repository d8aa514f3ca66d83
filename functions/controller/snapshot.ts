/**
 * What the controller sees in one run. Adapters fill it from Auto Scaling,
 * Kubernetes and Prometheus; the simulation fills it from a generated cluster;
 * the CLI reads it from a recorded JSON file. Decisions are pure functions of
 * (snapshot, policy, state), the snapshot carrying its `now`, so any recorded run can be replayed.
 */
import type { CapacityType } from "../core/attribution.js";
import { BadInputError } from "../core/errors.js";

export type { CapacityType };

export interface AsgInstance {
  instanceId: string;
  /** Auto Scaling lifecycle state: Pending, InService, Terminating, ... */
  lifecycleState: string;
}

export interface GroupInfo {
  /** Policy / EKS node group name. */
  name: string;
  autoScalingGroupName: string;
  minSize: number;
  maxSize: number;
  desiredCapacity: number;
  instances: AsgInstance[];
  tags: Record<string, string>;
  /** Newest failed launch activity that looks like "no capacity" (e.g. InsufficientInstanceCapacity). */
  capacityErrorAtMs?: number;
  capacityError?: string;
}

export interface NodeInfo {
  name: string;
  instanceId?: string;
  nodeGroup?: string;
  capacityType?: CapacityType;
  createdAtMs: number;
  ready: boolean;
  unschedulable: boolean;
  gpuCapacity: number;
  gpuAllocatable: number;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  /** Our reclaim taint is on the node (a reclaim is in progress or was interrupted). */
  reclaimTainted: boolean;
}

export interface PodInfo {
  namespace: string;
  name: string;
  nodeName?: string;
  phase: string;
  gpuRequest: number;
  /** Owner kind, e.g. DaemonSet: DaemonSet pods never keep a node alive. */
  ownerKind?: string;
  annotations: Record<string, string>;
  createdAtMs: number;
  /** Pool the pod can run in (from its node-group selector); undefined means the policy's default pool. */
  pool?: string;
  /** The Karpenter NodePool the pod selects (nodeSelector or required node affinity on `karpenter.sh/nodepool`): Karpenter provisions for it, not us. */
  karpenterNodePool?: string;
}

/** One GPU over the idle window, summarised by Prometheus (see queries/node-gpu-*.promql). */
export interface GpuWindow {
  node: string;
  gpu: string;
  samples: number;
  maxUtil: number;
  meanUtil: number;
  lastSampleMs: number;
}

/** A node group over the scale-out window: per 1-minute step, the mean utilization of its GPUs. */
export interface GroupUtilWindow {
  nodeGroup: string;
  /** Steps with data. */
  steps: number;
  /** Lowest per-step group mean over the window (the "stayed at or above" test). */
  minUtil: number;
  meanUtil: number;
  lastSampleMs: number;
}

export interface MetricsSnapshot {
  gpus: GpuWindow[];
  groups: GroupUtilWindow[];
}

export interface SourceError {
  source: "prometheus" | "kubernetes" | "autoscaling";
  message: string;
}

export interface Snapshot {
  /** The instant the snapshot was taken: every age and window is measured from it. */
  now: Date;
  groups: GroupInfo[];
  nodes: NodeInfo[];
  pods: PodInfo[];
  metrics: MetricsSnapshot;
  /** Any source that failed: the controller halts rather than act on half a picture. */
  errors: SourceError[];
}

/** What the controller remembers between runs (S3, written under the lease). */
export interface ControllerState {
  version: 1;
  scaleOuts: Record<string, { atMs: number; fromDesired: number; toDesired: number }>;
  reclaims: Record<string, { atMs: number; instanceId: string; node: string }[]>;
  spotUnavailable: Record<string, { sinceMs: number; untilMs: number; reason: string }>;
  /** Nodes added by our scale-outs (for the savings estimate: reclaimed capacity later given back is not saved). */
  additions: Record<string, { atMs: number; nodes: number }[]>;
  /** Last time each pool had a GPU pod pending (demand): no reclaim in a pool for a while after. */
  lastDemandAtMs: Record<string, number>;
  /** GPUs requested in each pool (running + pending) at each run over the stabilization window. */
  demandHistory: Record<string, { atMs: number; gpus: number; largestPod?: number }[]>;
}

export const emptyState = (): ControllerState => ({
  version: 1,
  scaleOuts: {},
  reclaims: {},
  spotUnavailable: {},
  additions: {},
  lastDemandAtMs: {},
  demandHistory: {},
});

/**
 * A snapshot as recorded in JSON (`gpu-billing controller plan --state FILE`): `now` is the ISO
 * instant JSON.stringify writes for a Date; recordings made before the snapshot carried a Date
 * have `nowMs` (epoch milliseconds) instead, and still replay.
 */
export function snapshotFromJson(raw: Omit<Snapshot, "now"> & { now?: string; nowMs?: number }): Snapshot {
  const { now, nowMs, ...rest } = raw;
  const at = now !== undefined ? new Date(now) : nowMs !== undefined ? new Date(nowMs) : undefined;
  if (at === undefined || Number.isNaN(at.getTime()))
    throw new BadInputError("the recorded snapshot has no valid now (ISO instant) or nowMs");
  return { ...rest, now: at };
}

/** A stored state from an older version gets the fields it lacks. */
export const normalizeState = (s: Partial<ControllerState> | undefined): ControllerState => ({ ...emptyState(), ...(s ?? {}) });

/**
 * A group's utilization is as fresh as its stalest Ready GPU: the subquery
 * alone would be bridged by Prometheus' 5-minute lookback.
 */
export function withGroupFreshness(metrics: MetricsSnapshot, nodes: NodeInfo[]): MetricsSnapshot {
  return {
    ...metrics,
    groups: metrics.groups.map((g) => {
      const names = new Set(nodes.filter((n) => n.nodeGroup === g.nodeGroup && n.ready).map((n) => n.name));
      const lasts = metrics.gpus.filter((x) => names.has(x.node)).map((x) => x.lastSampleMs);
      return { ...g, lastSampleMs: lasts.length ? Math.min(...lasts) : 0 };
    }),
  };
}

/** Opt-outs honoured by the controller (the cluster-autoscaler and Karpenter conventions, plus our own label). */
export const OPT_OUT = {
  /** Karpenter's opt-out, on a node (pkg/apis/v1/labels.go DoNotDisruptAnnotationKey: node or pod). */
  nodeDoNotDisrupt: "karpenter.sh/do-not-disrupt",
  nodeScaleDownDisabled: "cluster-autoscaler.kubernetes.io/scale-down-disabled",
  nodeLabel: "gpu-billing.io/reclaim-disabled",
  podDoNotDisrupt: "karpenter.sh/do-not-disrupt",
  podSafeToEvict: "cluster-autoscaler.kubernetes.io/safe-to-evict",
} as const;

/** The taint put on a node before it is terminated, so nothing new schedules there. */
export const RECLAIM_TAINT = { key: "gpu-billing.io/reclaiming", value: "true", effect: "NoSchedule" } as const;

/** Signs that another autoscaler owns a group: we then leave it alone. */
export const FOREIGN_OWNER_TAGS = ["k8s.io/cluster-autoscaler/enabled"] as const;
export const FOREIGN_OWNER_NODE_LABELS = ["karpenter.sh/nodepool", "karpenter.sh/provisioner-name"] as const;

/** The label Karpenter puts on every node it launches for a NodePool (pkg/apis/v1/labels.go NodePoolLabelKey); v1alpha5 used provisioner-name. */
export const KARPENTER_NODEPOOL_LABEL = "karpenter.sh/nodepool";

/** The Karpenter NodePool that owns a node, if any: such a node is Karpenter's to scale and disrupt, never ours. */
export const karpenterNodePoolOf = (n: Pick<NodeInfo, "labels">): string | undefined =>
  n.labels[KARPENTER_NODEPOOL_LABEL] ?? n.labels["karpenter.sh/provisioner-name"];
