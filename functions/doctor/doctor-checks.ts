/**
 * `gpu-billing doctor`: the cluster prerequisites of metering, quotas and the controller, checked
 * on what Prometheus holds. Pure: raw observations (fetched by functions/adapters/doctor-observations.ts,
 * one query per queries/doctor-*.promql) + config in, typed findings out, each naming what was seen
 * and the exact fix. Every exporter fact a fix relies on is cited in the README's "Cluster prerequisites".
 */
import type { BaseConfig } from "../core/config.js";
import { priceSourceOf, UNALLOCATED } from "../core/config.js";
import { makeTenantResolver, normaliseCapacityType } from "../core/attribution.js";

export type DoctorStatus = "ok" | "info" | "warn" | "fail";

export interface DoctorFinding {
  check: string;
  status: DoctorStatus;
  seen: string;
  fix: string;
}

export const METRIC_FAMILIES = [
  "kube_pod_container_resource_requests",
  "kube_pod_status_phase",
  "kube_node_labels",
  "kube_node_status_capacity",
  "kube_namespace_labels",
  "DCGM_FI_DEV_GPU_UTIL",
  "DCGM_FI_PROF_GR_ENGINE_ACTIVE",
] as const;
export type MetricFamily = (typeof METRIC_FAMILIES)[number];

/** Tags of queries/doctor-dcgm-labels.promql: series counts of DCGM_FI_DEV_GPU_UTIL by the labels they carry. */
export const DCGM_LABEL_STATS = [
  "all",
  "pod",
  "exported_pod",
  "configured",
  "Hostname",
  "hostname",
  "controller_node",
  "mig_util",
  "mig_engine_active",
] as const;
export type DcgmLabelStat = (typeof DCGM_LABEL_STATS)[number];

export const SCRAPE_SOURCES = ["kube-state-metrics", "dcgm-exporter"] as const;
export type ScrapeSource = (typeof SCRAPE_SOURCES)[number];

/** One GPU node's kube_node_labels (the label values the queries read; absent = not exported). */
export interface GpuNodeLabels {
  node: string;
  instanceType?: string;
  karpenterCapacityType?: string;
  eksCapacityType?: string;
  gpuReplicas?: string;
  eksNodegroup?: string;
  karpenterNodepool?: string;
  /** `label_topology_kubernetes_io_zone`: the zone a Spot node is priced in under `prices.source: aws`. */
  zone?: string;
}

export interface DoctorObservations {
  /** Series per metric family in the window (absent = none). */
  families: Partial<Record<MetricFamily, number>>;
  /** Nodes with GPU or MIG capacity: largest capacity per resource. */
  gpuNodeCapacity: { node: string; resource: string; capacity: number }[];
  /** kube_node_labels of the GPU nodes (a GPU node missing here has no kube_node_labels series). */
  gpuNodeLabels: GpuNodeLabels[];
  /** GPU request series per namespace, node and resource (node absent: pod not bound yet). */
  gpuRequests: { namespace?: string; exportedNamespace?: string; node?: string; resource: string; series: number }[];
  /** Namespaces with their tenant label, per kube-state-metrics target ("instance job"). */
  namespaces: { namespace?: string; exportedNamespace?: string; tenantLabel?: string; target: string }[];
  /** DCGM_FI_DEV_GPU_UTIL series counts by label (see DCGM_LABEL_STATS). */
  dcgm: Partial<Record<DcgmLabelStat, number>>;
  /** Pods with GPU requests; of those, Running at some point; of those, with utilization under the configured labels. */
  gpuPods: { requested: number; running: number; attributed: number };
  /** Median sample spacing in seconds per exporter (absent: not measurable). */
  sampleSpacingSeconds: Partial<Record<ScrapeSource, number>>;
}

/**
 * How the doctor sees a cluster over a window: the port its checks run on, defined here where it
 * is used; functions/adapters/doctor-observations.ts implements it over Prometheus.
 */
export type ObserveCluster = (window: { startMs: number; endMs: number }, settings: DoctorSettings) => Promise<DoctorObservations>;

export interface DoctorSettings {
  /** prometheus.labels of the checked cluster. */
  dcgmNamespaceLabel: string;
  dcgmPodLabel: string;
  /** dcgm-exporter's node label as the controller reads it (DCGM_NODE_LABEL, default Hostname). */
  controllerNodeLabel: string;
}

/** The meter's tick (1 minute) and Prometheus' default lookback (--query.lookback-delta 5m). */
export const METER_TICK_SECONDS = 60;
export const LOOKBACK_SECONDS = 300;

/*
 * Upstream facts the fixes rely on (details and more in the README's "Cluster prerequisites"):
 * - kubernetes/kube-state-metrics docs/developer/cli-arguments.md: --metric-labels-allowlist;
 *   internal/store/utils.go: label keys become label_<snake_case key>.
 * - prometheus-community/helm-charts charts/kube-state-metrics/values.yaml (metricLabelsAllowlist,
 *   prometheus.monitor.http.honorLabels/interval), charts/kube-prometheus-stack/values.yaml
 *   (kube-state-metrics.prometheus.monitor.http.honorLabels: true, prometheus.prometheusSpec.scrapeInterval).
 * - NVIDIA/dcgm-exporter pkg/cmd/app.go (DCGM_EXPORTER_KUBERNETES, pod-resources socket),
 *   deployment/values.yaml (serviceMonitor.honorLabels: false, interval 15s, kubeletPath),
 *   internal/pkg/transformation/const.go (pod/namespace/container labels),
 *   internal/pkg/rendermetrics/render_metrics.go (Hostname renamed hostname after 4.5.3-4.8.2).
 * - prometheus/prometheus docs/configuration/configuration.md (honor_labels → exported_*),
 *   cmd/prometheus/main.go (--query.lookback-delta 5m).
 */

/** Kubernetes node labels the queries read, as kube-state-metrics' allowlist names them. */
const KSM_NODE_LABELS = [
  "node.kubernetes.io/instance-type",
  "karpenter.sh/capacity-type",
  "eks.amazonaws.com/capacityType",
  "eks.amazonaws.com/nodegroup",
  "karpenter.sh/nodepool",
  "nvidia.com/gpu.replicas",
  "topology.kubernetes.io/zone",
];
export const KSM_ALLOWLIST_FLAG = `--metric-labels-allowlist=nodes=[${KSM_NODE_LABELS.join(",")}],namespaces=[tenant]`;
export const KSM_ALLOWLIST_HELM = `kube-prometheus-stack value kube-state-metrics.metricLabelsAllowlist: ["nodes=[${KSM_NODE_LABELS.join(",")}]", "namespaces=[tenant]"]`;
const ALLOWLIST_FIX = `kube-state-metrics flag ${KSM_ALLOWLIST_FLAG} (${KSM_ALLOWLIST_HELM})`;
const KSM_SCRAPE_FIX =
  "scrape kube-state-metrics: kube-prometheus-stack kubeStateMetrics.enabled: true and kube-state-metrics.prometheus.monitor.enabled: true (both defaults); a standalone kube-state-metrics needs the pods, nodes and namespaces resources (--resources); on AMP a managed-collector scrape job for it";
const DCGM_SCRAPE_FIX =
  "run NVIDIA dcgm-exporter on every GPU node and scrape it (its chart's serviceMonitor.enabled: true, the default); its counters file must list the field (etc/default-counters.csv does)";
const INTERVAL_FIX =
  "scrape every 60 s or faster: kube-prometheus-stack prometheus.prometheusSpec.scrapeInterval (default 30s) or kube-state-metrics.prometheus.monitor.http.interval; dcgm-exporter chart serviceMonitor.interval (default 15s); AMP managed collector: scrape_interval in the scraper configuration";

const LIST_MAX = 10;
function listed(xs: Iterable<string>, max = LIST_MAX): string {
  const all = [...new Set(xs)].sort();
  return all.length <= max ? all.join(", ") : `${all.slice(0, max).join(", ")} … and ${all.length - max} more`;
}
const plural = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;

type DoctorConfig = Pick<BaseConfig, "prices" | "tenants" | "migSlicesPerGpu" | "priceFeed">;

/** The observations as the checks look things up in them, built once per run. */
interface DoctorView {
  obs: DoctorObservations;
  cfg: DoctorConfig;
  settings: DoctorSettings;
  /** Series of a metric family (0 when absent). */
  fam: (f: MetricFamily) => number;
  /** DCGM_FI_DEV_GPU_UTIL series carrying a label (0 when absent). */
  dcgm: (s: DcgmLabelStat) => number;
  /** GPU node → resource → largest capacity. */
  gpuNodes: Map<string, Map<string, number>>;
  labelsByNode: Map<string, GpuNodeLabels>;
  /** The GPU nodes that have kube_node_labels, their labels merged. */
  labelled: GpuNodeLabels[];
  migNodes: string[];
  hasGpuWork: boolean;
}

type AddFinding = (check: string, status: DoctorStatus, seen: string, fix?: string) => void;
/** One check (or a group that reads the same facts): adds its findings, or none when it does not apply. */
type DoctorCheck = (v: DoctorView, add: AddFinding) => void;

/** In the order the findings are reported. */
const DOCTOR_CHECKS: readonly DoctorCheck[] = [
  checkMetricFamilies,
  checkKsmHonorLabels,
  checkKsmReplicas,
  checkGpuNodesLabelled,
  checkNodeLabels,
  checkSpotZones,
  checkGpuReplicas,
  checkInstanceTypePrices,
  checkCapacityTypeValues,
  checkMigSlices,
  checkTenants,
  checkUnscheduledRequests,
  checkDcgmPodLabels,
  checkDcgmPodAttribution,
  checkDcgmNodeLabel,
  checkScrapeIntervals,
];

/**
 * Runs every check. Findings come in a fixed order (families, kube-state-metrics, nodes, prices,
 * tenants, dcgm-exporter, scrape interval), one per check, so a table of them reads the same each time.
 */
export function runDoctorChecks(obs: DoctorObservations, cfg: DoctorConfig, settings: DoctorSettings): DoctorFinding[] {
  const out: DoctorFinding[] = [];
  const add: AddFinding = (check, status, seen, fix = "") => {
    out.push({ check, status, seen, fix });
  };
  const view = doctorView(obs, cfg, settings);
  for (const check of DOCTOR_CHECKS) check(view, add);
  return out;
}

function doctorView(obs: DoctorObservations, cfg: DoctorConfig, settings: DoctorSettings): DoctorView {
  const gpuNodes = new Map<string, Map<string, number>>();
  for (const c of obs.gpuNodeCapacity) (gpuNodes.get(c.node) ?? gpuNodes.set(c.node, new Map()).get(c.node)!).set(c.resource, c.capacity);
  const labelsByNode = new Map<string, GpuNodeLabels>();
  // A node whose labels changed in the window has several series: merged, a later non-empty value wins.
  for (const l of obs.gpuNodeLabels)
    labelsByNode.set(l.node, {
      ...labelsByNode.get(l.node),
      ...Object.fromEntries(Object.entries(l).filter(([, v]) => v)),
    } as GpuNodeLabels);
  return {
    obs,
    cfg,
    settings,
    fam: (f) => obs.families[f] ?? 0,
    dcgm: (s) => obs.dcgm[s] ?? 0,
    gpuNodes,
    labelsByNode,
    labelled: [...labelsByNode.values()],
    migNodes: [...gpuNodes].filter(([, r]) => [...r.keys()].some((k) => k.startsWith("nvidia_com_mig_"))).map(([n]) => n),
    hasGpuWork: obs.gpuRequests.length > 0 || gpuNodes.size > 0,
  };
}

/** One finding per metric family: present, or absent with what that costs the bill. */
function checkMetricFamilies({ fam, dcgm, migNodes, hasGpuWork }: DoctorView, add: AddFinding): void {
  for (const f of METRIC_FAMILIES) {
    const n = fam(f);
    const check = `metric:${f}`;
    if (f === "DCGM_FI_PROF_GR_ENGINE_ACTIVE") {
      const migSeen = migNodes.length > 0 || dcgm("mig_util") > 0;
      if (!migSeen) add(check, "ok", n ? plural(n, "series", "series") : "absent; not needed: no MIG nodes");
      else if (dcgm("mig_engine_active") > 0)
        add(check, "ok", `${plural(dcgm("mig_engine_active"), "MIG instance series", "MIG instance series")}`);
      else
        add(
          check,
          "fail",
          `no MIG instance series (GPU_I_PROFILE) although MIG is in use (${migNodes.length ? `nodes ${listed(migNodes)}` : "dcgm reports MIG instances"}): MIG usage would meter as 0 % utilized`,
          `${DCGM_SCRAPE_FIX.replace("the field", "DCGM_FI_PROF_GR_ENGINE_ACTIVE")}; a customMetrics list replaces the default one and must keep it`,
        );
      continue;
    }
    if (n > 0) {
      add(check, "ok", plural(n, "series", "series"));
      continue;
    }
    if (f === "DCGM_FI_DEV_GPU_UTIL")
      add(
        check,
        hasGpuWork ? "fail" : "warn",
        `absent${hasGpuWork ? " although GPU nodes or requests exist: used GPU-hours would be 0 and every namespace get the lowest correction factor" : ""}`,
        DCGM_SCRAPE_FIX.replace("the field", "DCGM_FI_DEV_GPU_UTIL"),
      );
    else if (f === "kube_namespace_labels")
      add(check, "warn", "absent: tenant labels cannot be read, only the config's namespace globs apply", KSM_SCRAPE_FIX);
    else add(check, "fail", "absent", KSM_SCRAPE_FIX);
  }
}

function checkKsmHonorLabels({ obs, fam }: DoctorView, add: AddFinding): void {
  const exported = [
    ...obs.gpuRequests.filter((r) => r.exportedNamespace).map((r) => r.exportedNamespace!),
    ...obs.namespaces.filter((n) => n.exportedNamespace).map((n) => n.exportedNamespace!),
  ];
  if (exported.length)
    add(
      "ksm:honor-labels",
      "fail",
      `kube-state-metrics series carry exported_namespace (${listed(exported)}): scraped with honor_labels: false, so their namespace label is kube-state-metrics' own`,
      "kube-prometheus-stack kube-state-metrics.prometheus.monitor.http.honorLabels: true (the stack's default; the standalone chart's is false); a plain scrape job: honor_labels: true",
    );
  else if (fam("kube_namespace_labels") || fam("kube_pod_container_resource_requests"))
    add("ksm:honor-labels", "ok", "namespace and pod labels arrive as kube-state-metrics writes them");
}

function checkKsmReplicas({ obs }: DoctorView, add: AddFinding): void {
  const targetsByNs = new Map<string, Set<string>>();
  for (const n of obs.namespaces)
    if (n.namespace) (targetsByNs.get(n.namespace) ?? targetsByNs.set(n.namespace, new Set()).get(n.namespace)!).add(n.target);
  const maxTargets = Math.max(0, ...[...targetsByNs.values()].map((s) => s.size));
  if (maxTargets > 1) {
    const targets = new Set(obs.namespaces.map((n) => n.target));
    add(
      "ksm:replicas",
      "info",
      `${maxTargets} kube-state-metrics targets report the same namespaces (${listed(targets)})`,
      "none: duplicated replicas are merged (max by) in every query",
    );
  } else if (maxTargets === 1) add("ksm:replicas", "ok", "one kube-state-metrics target per namespace");
}

function checkGpuNodesLabelled({ obs, gpuNodes, labelsByNode }: DoctorView, add: AddFinding): void {
  const unlabelled = [...gpuNodes.keys()].filter((n) => !labelsByNode.has(n));
  const requestNodes = new Set(obs.gpuRequests.filter((r) => r.node).map((r) => r.node!));
  const requestsOffGpuNodes = [...requestNodes].filter((n) => !labelsByNode.has(n));
  if (unlabelled.length || requestsOffGpuNodes.length)
    add(
      "node-labels:gpu-nodes",
      "fail",
      [
        unlabelled.length ? `GPU nodes with no kube_node_labels series: ${listed(unlabelled)}` : "",
        requestsOffGpuNodes.length
          ? `GPU requests on nodes with no kube_node_labels or GPU capacity series: ${listed(requestsOffGpuNodes)}`
          : "",
      ]
        .filter(Boolean)
        .join("; "),
      `${KSM_SCRAPE_FIX}; the node resource must be enabled (kube_node_labels, kube_node_status_capacity)`,
    );
  else if (gpuNodes.size) add("node-labels:gpu-nodes", "ok", `${plural(gpuNodes.size, "GPU node")}, each with kube_node_labels`);
}

/** The node labels the meter prices and groups by, each on every GPU node. */
function checkNodeLabels({ labelled }: DoctorView, add: AddFinding): void {
  const checkLabel = (
    check: string,
    what: string,
    has: (l: GpuNodeLabels) => boolean,
    k8sLabel: string,
    status: DoctorStatus,
    consequence: string,
  ) => {
    if (!labelled.length) return;
    const missing = labelled.filter((l) => !has(l)).map((l) => l.node);
    if (!missing.length) return add(check, "ok", `every GPU node (${labelled.length}) carries ${what}`);
    const none = missing.length === labelled.length;
    add(
      check,
      status,
      `${none ? "no" : `${missing.length} of ${labelled.length}`} GPU nodes carry ${what}${none ? "" : ` (missing: ${listed(missing)})`}: ${consequence}`,
      none ? ALLOWLIST_FIX : `label the nodes with ${k8sLabel} (kube-state-metrics already exports it: ${KSM_ALLOWLIST_FLAG})`,
    );
  };
  checkLabel(
    "node-label:instance-type",
    "label_node_kubernetes_io_instance_type",
    (l) => !!l.instanceType,
    "node.kubernetes.io/instance-type",
    "fail",
    "they cannot be priced",
  );
  checkLabel(
    "node-label:capacity-type",
    "label_karpenter_sh_capacity_type or label_eks_amazonaws_com_capacity_type",
    (l) => !!(l.karpenterCapacityType || l.eksCapacityType),
    "karpenter.sh/capacity-type or eks.amazonaws.com/capacityType",
    "fail",
    "Spot and On-Demand cannot be told apart",
  );
  checkLabel(
    "node-label:node-group",
    "label_eks_amazonaws_com_nodegroup or label_karpenter_sh_nodepool",
    (l) => !!(l.eksNodegroup || l.karpenterNodepool),
    "eks.amazonaws.com/nodegroup or karpenter.sh/nodepool",
    "warn",
    "capacity.csv groups them by instance type/capacity type instead, and the controller's scale-out (label_eks_amazonaws_com_nodegroup) does not see them",
  );
}

// Spot prices differ by zone: under prices.source aws a Spot node without its zone cannot be priced (the meter refuses it).
function checkSpotZones({ cfg, labelled }: DoctorView, add: AddFinding): void {
  if (priceSourceOf(cfg) === "aws") {
    const spot = labelled.filter((l) => normaliseCapacityType(l.karpenterCapacityType || l.eksCapacityType || "") === "spot");
    const noZone = spot.filter((l) => !l.zone).map((l) => l.node);
    if (noZone.length)
      add(
        "node-label:zone",
        "warn",
        `${noZone.length} of ${spot.length} Spot GPU nodes carry no label_topology_kubernetes_io_zone (${listed(noZone)}): with prices.source aws the meter refuses to bill a Spot node it cannot price in its zone`,
        noZone.length === spot.length
          ? ALLOWLIST_FIX
          : `label the nodes with topology.kubernetes.io/zone (the kubelet sets it on cloud nodes; kube-state-metrics already exports it: ${KSM_ALLOWLIST_FLAG})`,
      );
    else if (spot.length) add("node-label:zone", "ok", `every Spot GPU node (${spot.length}) carries label_topology_kubernetes_io_zone`);
  }
}

// Time-slicing: a time-sliced node reports GPUs × replicas of nvidia.com/gpu capacity.
function checkGpuReplicas({ cfg, gpuNodes, labelsByNode, labelled }: DoctorView, add: AddFinding): void {
  const sliced: string[] = [];
  const mismatched: string[] = [];
  let slicedOk = 0;
  for (const [node, res] of gpuNodes) {
    const cap = res.get("nvidia_com_gpu");
    const l = labelsByNode.get(node);
    const price = l?.instanceType ? cfg.prices[l.instanceType] : undefined;
    if (cap === undefined || !price) continue;
    const replicas = l?.gpuReplicas ? Number(l.gpuReplicas) : undefined;
    if (cap > price.gpus && (replicas === undefined || replicas <= 1))
      sliced.push(`${node} (${cap} nvidia.com/gpu on ${l!.instanceType}, ${price.gpus} GPUs)`);
    else if (replicas !== undefined && replicas > 1 && cap !== price.gpus * replicas)
      mismatched.push(`${node} (${cap} nvidia.com/gpu, ${price.gpus} GPUs × replicas ${replicas})`);
    else if (replicas !== undefined && replicas > 1) slicedOk++;
  }
  if (sliced.length)
    add(
      "node-label:gpu-replicas",
      "fail",
      `time-sliced nodes without label_nvidia_com_gpu_replicas: ${listed(sliced)}: each request would bill a whole GPU`,
      `GPU feature discovery labels time-sliced nodes nvidia.com/gpu.replicas; export it: ${ALLOWLIST_FIX}`,
    );
  else if (mismatched.length)
    add(
      "node-label:gpu-replicas",
      "warn",
      `nvidia.com/gpu capacity ≠ GPUs × replicas on ${listed(mismatched)}`,
      "check the price table's gpus for the instance type and the device plugin's time-slicing replicas",
    );
  else if (labelled.length)
    add(
      "node-label:gpu-replicas",
      "ok",
      slicedOk ? `${plural(slicedOk, "time-sliced node")}, each labelled with its replicas` : "no time-sliced GPU nodes",
    );
}

/** Every GPU node's instance type has a price in the config. */
function checkInstanceTypePrices({ cfg, labelled }: DoctorView, add: AddFinding): void {
  const unpriced = new Map<string, string[]>();
  for (const l of labelled)
    if (l.instanceType && !cfg.prices[l.instanceType])
      (unpriced.get(l.instanceType) ?? unpriced.set(l.instanceType, []).get(l.instanceType)!).push(l.node);
  if (unpriced.size)
    add(
      "prices:instance-types",
      "fail",
      `instance types with no price in the config: ${[...unpriced.keys()]
        .sort()
        .map((t) => `${t} (nodes ${listed(unpriced.get(t)!, 3)})`)
        .join(", ")}`,
      `add to the config's prices: ${[...unpriced.keys()]
        .sort()
        .map((t) => `${t}: { gpus, gpuModel, onDemandHourly, spotHourly }`)
        .join("; ")}`,
    );
  else if (labelled.some((l) => l.instanceType))
    add(
      "prices:instance-types",
      "ok",
      `every GPU instance type is priced (${listed(labelled.filter((l) => l.instanceType).map((l) => l.instanceType!))})`,
    );
}

/** Every capacity-type label value maps to a price (Spot or On-Demand). */
function checkCapacityTypeValues({ labelled }: DoctorView, add: AddFinding): void {
  const badCapacity = new Map<string, string[]>();
  for (const l of labelled) {
    const cap = l.karpenterCapacityType || l.eksCapacityType;
    if (cap && !normaliseCapacityType(cap)) (badCapacity.get(cap) ?? badCapacity.set(cap, []).get(cap)!).push(l.node);
  }
  if (badCapacity.size)
    add(
      "prices:capacity-types",
      "fail",
      `capacity-type values the meter cannot map: ${[...badCapacity.keys()]
        .sort()
        .map((v) => `"${v}" (nodes ${listed(badCapacity.get(v)!, 3)})`)
        .join(", ")}`,
      "the meter prices spot / on-demand (karpenter.sh/capacity-type) and SPOT / ON_DEMAND (eks.amazonaws.com/capacityType) only (functions/core/attribution.ts); relabel those nodes or run them on Spot/On-Demand capacity",
    );
  else if (labelled.some((l) => l.karpenterCapacityType || l.eksCapacityType))
    add("prices:capacity-types", "ok", "every capacity-type value maps to spot or on-demand");
}

function checkMigSlices({ cfg, labelsByNode, migNodes }: DoctorView, add: AddFinding): void {
  const noSlices = migNodes
    .map((n) => ({ n, model: cfg.prices[labelsByNode.get(n)?.instanceType ?? ""]?.gpuModel }))
    .filter((x) => x.model && !cfg.migSlicesPerGpu[x.model]);
  if (noSlices.length)
    add(
      "mig:slices-per-gpu",
      "fail",
      `MIG nodes whose GPU model has no migSlicesPerGpu entry: ${listed(noSlices.map((x) => `${x.n} (${x.model})`))}`,
      `add to the config's migSlicesPerGpu: ${[...new Set(noSlices.map((x) => `${x.model}: <compute slices per GPU>`))].join(", ")}`,
    );
  else if (migNodes.length) add("mig:slices-per-gpu", "ok", `${plural(migNodes.length, "MIG node")}, GPU models with slices configured`);
}

/** Every namespace with GPU requests bills to a configured tenant. */
function checkTenants({ obs, cfg }: DoctorView, add: AddFinding): void {
  const tenantLabels = new Map<string, string>();
  for (const n of obs.namespaces) if (n.namespace && n.tenantLabel) tenantLabels.set(n.namespace, n.tenantLabel);
  const resolve = makeTenantResolver(cfg.tenants);
  const gpuNamespaces = [...new Set(obs.gpuRequests.map((r) => r.namespace).filter((n): n is string => !!n))].sort();
  const noTenant: string[] = [];
  const unknownTenant: string[] = [];
  for (const ns of gpuNamespaces) {
    const label = tenantLabels.get(ns);
    const t = resolve(ns, label);
    if (t.tenantId !== UNALLOCATED) continue;
    if (label) unknownTenant.push(`${ns} (tenant="${label}")`);
    else noTenant.push(ns);
  }
  if (noTenant.length || unknownTenant.length) {
    const anyLabel = obs.namespaces.some((n) => n.tenantLabel);
    // A warning, not a failure: the meter bills such a namespace to `unallocated`, a row the
    // chargeback reports (never drops), so the month can be billed; ops decide who pays it.
    add(
      "tenants:gpu-namespaces",
      "warn",
      [
        noTenant.length ? `namespaces with GPU requests and no tenant (no tenant label, no glob matches): ${noTenant.join(", ")}` : "",
        unknownTenant.length ? `tenant labels naming no configured tenant: ${unknownTenant.join(", ")}` : "",
      ]
        .filter(Boolean)
        .join("; ") + ` — billed as ${UNALLOCATED}`,
      [
        noTenant.length
          ? `label each namespace tenant=<tenant id> (kubectl label namespace <ns> tenant=<id>) or add a glob to tenants[].namespaces`
          : "",
        noTenant.length && !anyLabel ? `no namespace carries label_tenant at all: ${ALLOWLIST_FIX}` : "",
        unknownTenant.length ? "fix the label or add the tenant to the config's tenants" : "",
      ]
        .filter(Boolean)
        .join("; "),
    );
  } else if (gpuNamespaces.length)
    add("tenants:gpu-namespaces", "ok", `${plural(gpuNamespaces.length, "namespace")} with GPU requests, each with a tenant`);
}

function checkUnscheduledRequests({ obs }: DoctorView, add: AddFinding): void {
  const unbound = obs.gpuRequests.filter((r) => !r.node).reduce((a, r) => a + r.series, 0);
  if (unbound)
    add(
      "requests:unscheduled",
      "info",
      `${plural(unbound, "GPU request series", "GPU request series")} without a node (pods not bound yet)`,
      "none: a pod bills only while Running on a node",
    );
}

/** The dcgm-exporter checks run only when it exports GPU series at all (metric:DCGM_FI_DEV_GPU_UTIL reports when it does not). */
const exportsGpuSeries = ({ dcgm }: DoctorView) => dcgm("all") > 0;

/** How the configured dcgm pod labels read, e.g. `namespace/pod`. */
const configuredDcgmLabels = (settings: DoctorSettings) => `${settings.dcgmNamespaceLabel}/${settings.dcgmPodLabel}`;

/** Where the pod attribution arrives under other labels than the config reads (undefined: where the config reads it). */
function dcgmPodLabelMismatch({ dcgm, settings }: DoctorView): "exported" | "plain" | undefined {
  if (dcgm("exported_pod") > 0 && settings.dcgmPodLabel !== "exported_pod") return "exported";
  if (dcgm("configured") === 0 && dcgm("pod") > 0) return "plain";
  return undefined;
}

function checkDcgmPodLabels(v: DoctorView, add: AddFinding): void {
  if (!exportsGpuSeries(v)) return;
  const { dcgm } = v;
  const cfgLabels = configuredDcgmLabels(v.settings);
  const arrive = [
    `pod on ${dcgm("pod")}`,
    `exported_pod on ${dcgm("exported_pod")}`,
    `the configured ${cfgLabels} on ${dcgm("configured")}`,
  ].join(", ");
  const seen = `of ${plural(dcgm("all"), "GPU series", "GPU series")}: ${arrive}`;
  const toExported =
    "set the config's prometheus.labels: { dcgmNamespace: exported_namespace, dcgmPod: exported_pod }, or scrape dcgm-exporter with honor_labels: true (its chart's serviceMonitor.honorLabels: true; the default false renames its pod labels to exported_*)";
  const mismatch = dcgmPodLabelMismatch(v);
  if (mismatch === "exported")
    add(
      "dcgm:pod-labels",
      "fail",
      `${seen}: the pod attribution arrives as exported_namespace/exported_pod (honor_labels: false) and the config reads ${cfgLabels}`,
      toExported,
    );
  else if (mismatch === "plain")
    add(
      "dcgm:pod-labels",
      "fail",
      `${seen}: the pod attribution arrives as namespace/pod and the config reads ${cfgLabels}`,
      "set the config's prometheus.labels: { dcgmNamespace: namespace, dcgmPod: pod }",
    );
  else
    add(
      "dcgm:pod-labels",
      dcgm("configured") > 0 ? "ok" : "warn",
      seen,
      dcgm("configured") > 0 ? "" : "no GPU was attributed to a pod in the window (see dcgm:pod-attribution)",
    );
}

function checkDcgmPodAttribution(v: DoctorView, add: AddFinding): void {
  if (!exportsGpuSeries(v)) return;
  const { requested, running, attributed } = v.obs.gpuPods;
  const attr = `Running GPU pods with utilization under ${configuredDcgmLabels(v.settings)}: ${attributed} of ${running}`;
  const kubernetesMode =
    "turn on dcgm-exporter's Kubernetes mode: DCGM_EXPORTER_KUBERNETES=true (the chart sets it) with the kubelet's pod-resources directory mounted (chart value kubeletPath, default /var/lib/kubelet/pod-resources); on MIG nodes keep DCGM_FI_PROF_GR_ENGINE_ACTIVE";
  if (running === 0)
    add(
      "dcgm:pod-attribution",
      requested ? "warn" : "info",
      `no Running GPU pod in the window (${plural(requested, "pod")} with GPU requests): attribution cannot be verified`,
      "check again over a window with GPU work (--month)",
    );
  else if (attributed === 0)
    add(
      "dcgm:pod-attribution",
      "fail",
      `${attr}: used GPU-hours would be 0`,
      dcgmPodLabelMismatch(v) ? "fix the label names (dcgm:pod-labels)" : kubernetesMode,
    );
  else if (attributed < running / 2)
    add(
      "dcgm:pod-attribution",
      "warn",
      `${attr}`,
      `is dcgm-exporter running on every GPU node (its DaemonSet's nodeSelector/tolerations)? ${kubernetesMode}`,
    );
  else add("dcgm:pod-attribution", "ok", attr);
}

function checkDcgmNodeLabel(v: DoctorView, add: AddFinding): void {
  if (!exportsGpuSeries(v)) return;
  const { dcgm, settings } = v;
  const nl = settings.controllerNodeLabel;
  if (dcgm("controller_node") > 0) return add("dcgm:node-label", "ok", `GPU series carry ${nl}, the controller's node label`);
  const other = (["Hostname", "hostname"] as const).find((l) => l !== nl && dcgm(l) > 0);
  add(
    "dcgm:node-label",
    "warn",
    other
      ? `GPU series name the node in ${other}, the controller reads ${nl}`
      : `GPU series carry no node label (${nl}): the controller cannot tell idle nodes`,
    other
      ? `set the controller's DCGM_NODE_LABEL=${other} (dcgm-exporter renamed Hostname to hostname after 4.5.3-4.8.2)`
      : "remove -n from dcgm-exporter's arguments (it drops the hostname label), or set DCGM_NODE_LABEL to the label your relabelling writes",
  );
}

/** Each exporter's sample spacing against the meter's 1-minute ticks and the 5-minute lookback. */
function checkScrapeIntervals({ obs, fam, dcgm }: DoctorView, add: AddFinding): void {
  for (const src of SCRAPE_SOURCES) {
    const s = obs.sampleSpacingSeconds[src];
    const check = `scrape-interval:${src}`;
    const present = src === "dcgm-exporter" ? dcgm("all") > 0 : fam("kube_namespace_labels") > 0;
    if (!present) continue;
    if (s === undefined || !Number.isFinite(s))
      add(check, "info", "not measurable (no series with 3 samples in the last hours of the window)");
    else if (s <= METER_TICK_SECONDS * 1.05) add(check, "ok", `samples every ${fmtSeconds(s)} (meter ticks every 60 s)`);
    else if (s < LOOKBACK_SECONDS)
      add(
        check,
        "warn",
        `samples every ${fmtSeconds(s)}, slower than the meter's 1-minute ticks: starts and ends are placed within one interval, gaps bridged by the 5-minute lookback`,
        INTERVAL_FIX,
      );
    else
      add(
        check,
        "fail",
        `samples every ${fmtSeconds(s)}, not within Prometheus' 5-minute lookback: most 1-minute ticks see no sample and GPU time is lost`,
        INTERVAL_FIX,
      );
  }
}

const fmtSeconds = (s: number) => `${Math.round(s)} s`;

/** A month can be billed when no check failed. */
export function canBill(findings: readonly DoctorFinding[]): boolean {
  return !findings.some((f) => f.status === "fail");
}
