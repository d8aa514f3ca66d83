import type { InstantSample, PrometheusClient } from "./prometheus-client.js";
import { defaultQueriesDir, loadQueryFiles, renderQuery } from "./query-files.js";
import {
  DCGM_LABEL_STATS,
  METRIC_FAMILIES,
  SCRAPE_SOURCES,
  type DoctorObservations,
  type ObserveCluster,
} from "../doctor/doctor-checks.js";

/** The doctor's queries, one per file (queries/doctor-*.promql). */
export const DOCTOR_QUERY_NAMES = [
  "doctor-metric-families",
  "doctor-gpu-node-capacity",
  "doctor-gpu-node-labels",
  "doctor-gpu-requests",
  "doctor-namespaces",
  "doctor-dcgm-labels",
  "doctor-gpu-pod-join",
  "doctor-sample-spacing",
] as const;
export type DoctorQueryName = (typeof DOCTOR_QUERY_NAMES)[number];

export const loadDoctorQueries = (dir = defaultQueriesDir()): Record<DoctorQueryName, string> => loadQueryFiles(DOCTOR_QUERY_NAMES, dir);

/** The span the scrape interval is measured over: the window's last hours (the subquery is per series and per minute). */
const SPACING_SPAN_SECONDS = 6 * 3600;

export interface DoctorQueryOptions {
  queries: Record<DoctorQueryName, string>;
  dcgmNamespaceLabel: string;
  dcgmPodLabel: string;
  /** dcgm-exporter's node label the controller reads. */
  controllerNodeLabel: string;
}

const opt = (s: InstantSample, l: string) => s.metric[l] || undefined;

/**
 * Fetches what the doctor checks, for the window [startMs, endMs): a handful of instant
 * queries evaluated at the window's last second, each summarising the window inside
 * Prometheus. Errors propagate (PrometheusUnavailableError after the client's retries).
 */
/** The doctor's ObserveCluster port over one Prometheus and the doctor's query files. */
export function prometheusDoctorObserver(client: PrometheusClient, queries: Record<DoctorQueryName, string>): ObserveCluster {
  return (window, settings) => fetchDoctorObservations(client, window, { queries, ...settings });
}

export async function fetchDoctorObservations(
  client: PrometheusClient,
  window: { startMs: number; endMs: number },
  o: DoctorQueryOptions,
): Promise<DoctorObservations> {
  const windowSeconds = Math.max(60, Math.round((window.endMs - window.startMs) / 1000));
  const values = {
    windowSeconds,
    spanSeconds: Math.min(windowSeconds, SPACING_SPAN_SECONDS),
    dcgmNamespaceLabel: o.dcgmNamespaceLabel,
    dcgmPodLabel: o.dcgmPodLabel,
    nodeLabel: o.controllerNodeLabel,
  };
  const at = window.endMs / 1000 - 1;
  const q = (name: DoctorQueryName) => client.query(renderQuery(o.queries[name], values, `${name}.promql`), at);
  const [families, capacity, nodeLabels, requests, namespaces, dcgm, join, spacing] = await Promise.all(DOCTOR_QUERY_NAMES.map(q));
  const tagged = <K extends string>(rows: InstantSample[], tag: string, keys: readonly K[]) => {
    const out: Partial<Record<K, number>> = {};
    for (const s of rows) if ((keys as readonly string[]).includes(s.metric[tag] ?? "")) out[s.metric[tag] as K] = s.value;
    return out;
  };
  const joined = tagged(join!, "stat", ["requested", "running", "attributed"] as const);
  return {
    families: tagged(families!, "family", METRIC_FAMILIES),
    gpuNodeCapacity: capacity!
      .filter((s) => s.metric.node)
      .map((s) => ({ node: s.metric.node!, resource: s.metric.resource ?? "", capacity: s.value })),
    gpuNodeLabels: nodeLabels!
      .filter((s) => s.metric.node)
      .map((s) => ({
        node: s.metric.node!,
        instanceType: opt(s, "label_node_kubernetes_io_instance_type"),
        karpenterCapacityType: opt(s, "label_karpenter_sh_capacity_type"),
        eksCapacityType: opt(s, "label_eks_amazonaws_com_capacity_type"),
        gpuReplicas: opt(s, "label_nvidia_com_gpu_replicas"),
        eksNodegroup: opt(s, "label_eks_amazonaws_com_nodegroup"),
        karpenterNodepool: opt(s, "label_karpenter_sh_nodepool"),
        zone: opt(s, "label_topology_kubernetes_io_zone"),
      })),
    gpuRequests: requests!.map((s) => ({
      namespace: opt(s, "namespace"),
      exportedNamespace: opt(s, "exported_namespace"),
      node: opt(s, "node"),
      resource: s.metric.resource ?? "",
      series: s.value,
    })),
    namespaces: namespaces!.map((s) => ({
      namespace: opt(s, "namespace"),
      exportedNamespace: opt(s, "exported_namespace"),
      tenantLabel: opt(s, "label_tenant"),
      target: [s.metric.job, s.metric.instance].filter(Boolean).join(" ") || "(no job/instance)",
    })),
    dcgm: tagged(dcgm!, "has", DCGM_LABEL_STATS),
    gpuPods: { requested: joined.requested ?? 0, running: joined.running ?? 0, attributed: joined.attributed ?? 0 },
    sampleSpacingSeconds: tagged(spacing!, "source", SCRAPE_SOURCES),
  };
}
