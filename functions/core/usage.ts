/**
 * The measured inputs of the metering model, as the Prometheus adapter (or the
 * generator's exact answer) hands them to the pure core. Minute counts come
 * from 1-minute subquery ticks, so they are whole numbers for allocation.
 */

/** GPU requests of Running pods on one node, for one billing day and namespace. */
export interface UsageRecord {
  /** Cluster the record was metered in (absent: the default cluster). Node names are unique only within a cluster. */
  cluster?: string;
  /** Billing day, YYYY-MM-DD in the billing time zone. */
  day: string;
  namespace: string;
  node: string;
  /** Extended resource name as kube-state-metrics spells it: `nvidia_com_gpu`, `nvidia_com_mig_3g_40gb`. */
  resource: string;
  /** Σ over Running minutes of the requested units (GPUs or MIG slices). */
  requestMinutes: number;
  /** Σ over Running minutes of requested units × utilization (0–1). */
  usedMinutes: number;
}

/**
 * One pod's GPU requests on one node, summed over the month (or over whatever window the
 * records cover): the per-pod detail behind the namespace records. Summed per
 * (cluster, namespace, node, resource), a month's pod records give exactly the namespace
 * records' request minutes (used minutes up to float noise and quantisation).
 */
export interface PodUsageRecord {
  cluster?: string;
  namespace: string;
  pod: string;
  node: string;
  resource: string;
  requestMinutes: number;
  usedMinutes: number;
}

/** A pod's record for one billing day, as the metering reads it before summing the month. */
export interface PodDayRecord extends PodUsageRecord {
  day: string;
}

/** How long one GPU node existed on one billing day, with the labels that price it. */
export interface NodeRecord {
  cluster?: string;
  day: string;
  node: string;
  instanceType: string;
  /** Raw capacity-type label value (`spot`, `on-demand`, `SPOT`, `ON_DEMAND`); normalised by the core. */
  capacityLabel: string;
  /** `nvidia.com/gpu.replicas` node label: time-slicing replicas per GPU (1 when absent). */
  gpuReplicas: number;
  nodeMinutes: number;
  /** `topology.kubernetes.io/zone` (kube-state-metrics `label_topology_kubernetes_io_zone`), when allowlisted: prices Spot nodes under `prices.source: aws`. */
  zone?: string;
  /** Node group (EKS `eks.amazonaws.com/nodegroup` or Karpenter `karpenter.sh/nodepool`), when labelled. */
  nodeGroup?: string;
  /**
   * The cloud provider id(s) of the node (kube_node_info `provider_id`, "aws:///ap-northeast-2a/i-0abc…"),
   * space-separated and sorted when the node name stood for more than one instance that day.
   * Absent when kube-state-metrics exported none (then the node cannot be matched to the AWS bill).
   */
  providerId?: string;
}

/** The `tenant` label of a namespace, when kube-state-metrics exports one. */
export interface NamespaceRecord {
  cluster?: string;
  namespace: string;
  tenantLabel: string;
}

/** Everything the core needs to bill one month. */
export interface MonthUsage {
  usage: UsageRecord[];
  nodes: NodeRecord[];
  namespaces: NamespaceRecord[];
  /**
   * Per-pod detail (summed over the month). Absent when the source has none (a stage or
   * caller from before pod detail); then the chargeback has no pod rows either.
   */
  pods?: PodUsageRecord[];
}
