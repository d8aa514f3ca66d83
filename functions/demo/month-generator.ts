/**
 * A deterministic synthetic GPU cluster month for the reference customer, in the shapes
 * kube-state-metrics and dcgm-exporter really export, with the exact answer the meter must
 * reproduce. Job sizes, lifetimes and scheduling waits are drawn from the Alibaba GPU pod
 * trace, utilization curves from the real per-pod duty cycles (functions/demo/trace/,
 * shipped with the product; see its README for the source and terms).
 *
 * Every state change happens on a whole minute and every sample is taken on a whole minute,
 * so the exact answer is well defined: a tick t counts the state of the sample at t.
 *
 * The exporters' shapes, from their source (see "Cluster prerequisites" in the README):
 * - kube-state-metrics v2 (internal/store/pod.go): every pod family carries `namespace`,
 *   `pod`, `uid`; `kube_pod_container_resource_requests` and
 *   `kube_pod_init_container_resource_requests` add `container`, `node` (the pod's
 *   `spec.nodeName`, empty — so absent in Prometheus — until the scheduler binds the pod),
 *   `resource` (`nvidia_com_gpu`, `nvidia_com_mig_3g_40gb`) and `unit`;
 *   `kube_pod_status_phase` has one series per phase (Pending, Succeeded, Failed, Unknown,
 *   Running), 1 for the current one. `kube_node_labels` / `kube_namespace_labels` carry
 *   only the labels named in `--metric-labels-allowlist`.
 * - Scraped through kube-prometheus-stack's ServiceMonitor (honorLabels: true): Prometheus
 *   adds `instance`, `job`, `endpoint`, `service`, and — on families that lack them — the
 *   kube-state-metrics pod's own `namespace`, `pod`, `container`. A restarted replica is a
 *   new pod with a new `instance`: its series are new series.
 * - dcgm-exporter v3/v4 (internal/pkg/transformation/kubernetes.go): one series per GPU
 *   (or MIG instance) with `gpu`, `UUID`, `pci_bus_id`, `device`, `modelName`, `Hostname`,
 *   `DCGM_FI_DRIVER_VERSION`; `pod`, `namespace`, `container` while a pod holds the device
 *   (kubelet pod-resources API). A time-shared GPU is attributed to one of its pods
 *   (toDeviceToPod keeps one pod per device), or, with `KUBERNETES_VIRTUAL_GPUS`, copied to
 *   every sharing pod with a `vgpu` label (toDeviceToSharingPods). Scraped with
 *   `honor_labels: false` (the GPU Operator's ServiceMonitor default), the exporter's own
 *   pod labels win and the workload's arrive as `exported_pod`, `exported_namespace`.
 * - MIG under the mixed strategy: `nvidia.com/gpu` capacity 0 and one extended resource per
 *   profile (`nvidia_com_mig_3g_40gb`).
 */
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { mkdir, open, type FileHandle } from "node:fs/promises";
import { gunzipSync } from "node:zlib";
import path from "node:path";
import { billingMonth } from "../core/month.js";
import type { MonthUsage, NodeRecord, PodUsageRecord, UsageRecord } from "../core/usage.js";
import { packageFile } from "../package-files.js";

const MIN = 60_000;
/** The real trace extract the generator draws from; shipped inside the repository (see trace/README.md). */
export const TRACE_DIR = packageFile("functions/demo/trace");

export type Scale = "demo" | "small" | "medium" | "large";

interface NodeSpec {
  name: string;
  instanceType: string;
  gpus: number;
  gpuModel: string;
  capacity: "spot" | "on-demand";
  /** Karpenter's labels (capacity type, NodePool) or an EKS managed node group's. */
  labelStyle: "karpenter" | "eks";
  /** The node group or NodePool label value. */
  group: string;
  zone: string;
  replicas?: number;
  mig?: { profile: string; resource: string; slices: number };
  startMs: number;
  endMs: number;
  /** Lane widths: each lane runs one job after another, each requesting that many units. */
  lanes: number[];
  namespaces: string[];
  /** A node label that is changed mid-month (a new kube_node_labels series from then on). */
  relabel?: { label: string; before: string; after: string; atMs: number };
}

interface Job {
  pod: string;
  uid: string;
  namespace: string;
  /** The node the pod is bound to; "" for a pod that never gets one. */
  node: string;
  units: number;
  containers: number[];
  /** GPUs an init container requests (0: none). Init containers run while the pod is Pending. */
  initGpus: number;
  /** First GPU (or MIG instance) index of the node the pod holds. */
  device: number;
  createdMs: number;
  /** When the scheduler bound the pod to its node: until then its request series have no `node`. */
  boundMs: number;
  runStartMs: number;
  runEndMs: number;
  /** Phase after running: Succeeded/Failed, or "Pending" for a pod that never started. */
  endPhase: "Succeeded" | "Failed" | "Pending";
  deletedMs: number;
  /** Phase Unknown for a while during the run (the node stopped reporting): neither Running nor measured. */
  unknown?: { startMs: number; endMs: number };
  utilLevel: number;
  trace: number;
  gpuOffset: number;
}

/** How dcgm-exporter is deployed and scraped (see the header). */
export interface DcgmShape {
  /** `honor` — the workload's pod labels arrive as `pod`/`namespace`; `exported` — as `exported_pod`/`exported_namespace`. */
  labels: "honor" | "exported";
  /** `single` — a time-shared GPU is attributed to one of its pods (dcgm-exporter's default); `virtual` — copied to each (KUBERNETES_VIRTUAL_GPUS). */
  sharing: "single" | "virtual";
}

export interface GeneratedMonth {
  month: string;
  timeZone: string;
  scale: Scale;
  seed: number;
  dataStartMs: number;
  dataEndMs: number;
  nodes: NodeSpec[];
  jobs: Job[];
  namespaces: { name: string; tenantLabel?: string }[];
  gaps: { startMs: number; endMs: number }[];
  /** Every kube-state-metrics replica gone (a rollout): no KSM series in [startMs, endMs), new `instance` labels after. */
  ksmOutage: { startMs: number; endMs: number };
  ksmReplicas: 1 | 2;
  dcgm: DcgmShape;
  facts: {
    gpus: number;
    spotInterruption: { node: string; atMs: number; replacementNode: string; interruptedPods: string[] };
    migNode: string;
    timeSlicedNode: string;
    unlabelledNamespaces: string[];
    unallocatedNamespace: string;
    stuckPendingPods: string[];
    /** Pods that never got a node (request series without `node` for their whole life). */
    neverBoundPods: string[];
    /** Pods that waited unbound before the scheduler placed them. */
    waitedPods: string[];
    unknownPhasePod: string;
    relabelledNode: string;
    dataStartMs: number;
    dataEndMs: number;
  };
}

/** Small deterministic PRNG (mulberry32): the same month on every run and machine. */
export function mulberry32(seed: number) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Real per-pod GPU duty cycles (0–100), one array per container, minute by minute. */
let dutyCache: number[][] | undefined;
export function dutyCycles(): number[][] {
  if (dutyCache) return dutyCache;
  const tgz = readFileSync(path.join(TRACE_DIR, "pod_gpu_duty_cycle_anon.tar.gz"));
  const tar = gunzipSync(tgz);
  const size = parseInt(tar.subarray(124, 136).toString("ascii").replace(/\0.*$/, "").trim(), 8);
  const csv = tar.subarray(512, 512 + size).toString("utf8");
  const byIp = new Map<string, [number, number][]>();
  for (const line of csv.split("\n").slice(1)) {
    const [v, ts, ip] = line.split(",");
    if (!ip) continue;
    (byIp.get(ip) ?? byIp.set(ip, []).get(ip)!).push([Number(ts), Number(v)]);
  }
  dutyCache = [...byIp.keys()].sort().map((ip) =>
    byIp
      .get(ip)!
      .sort((a, b) => a[0] - b[0])
      .map(([, v]) => v),
  );
  return dutyCache;
}

/** Real job lifetimes (minutes) of GPU pods that ran, and the minutes GPU pods waited to be scheduled, from the Alibaba pod trace. */
let traceCache: { lifetimes: { minutes: number; gpus: number }[]; waits: number[] } | undefined;
function podTrace() {
  if (traceCache) return traceCache;
  const lines = readFileSync(path.join(TRACE_DIR, "openb_pod_list_default.csv"), "utf8").split("\n").slice(1);
  const lifetimes: { minutes: number; gpus: number }[] = [];
  const waits: number[] = [];
  for (const l of lines) {
    const c = l.split(",");
    const gpus = Number(c[3]);
    const sched = c[10];
    if (!gpus || !sched) continue;
    const minutes = Math.round((Number(c[9]) - Number(sched)) / 60);
    if (minutes > 0) lifetimes.push({ minutes, gpus });
    // creation → scheduled: how long the pod waited for capacity (18 % of GPU pods waited a minute or more)
    const wait = Math.round((Number(sched) - Number(c[8])) / 60);
    if (wait >= 1) waits.push(wait);
  }
  return (traceCache = { lifetimes, waits });
}
export const podLifetimes = () => podTrace().lifetimes;

/** Namespaces of the reference customer, with the average utilization each one's jobs run at. */
const NAMESPACES: { name: string; tenantLabel?: string; level: number }[] = [
  { name: "suwon-traffic", tenantLabel: "suwon", level: 0.86 },
  { name: "suwon-vision", level: 0.55 }, // no label: resolves by glob suwon-*
  { name: "seongnam-chatbot", tenantLabel: "seongnam", level: 0.3 },
  { name: "seongnam-analytics", tenantLabel: "seongnam", level: 0.56 },
  { name: "yongin-cctv", tenantLabel: "yongin", level: 0.09 },
  { name: "team-ai", level: 0.85 }, // no label: glob
  { name: "team-data", tenantLabel: "team-data", level: 0.3 },
  { name: "project-llm-finetune", tenantLabel: "project-llm", level: 0.87 },
  { name: "project-llm-serving", level: 0.1 }, // no label: glob project-llm-*
  { name: "sandbox-misc", level: 0.31 }, // no label, no glob: unallocated
];
const LEVEL = new Map(NAMESPACES.map((n) => [n.name, n.level]));

/**
 * Allocated GPU-hours the municipalities' namespaces may use in the month (their quotas are
 * 100 / 100 / 50): 수원시 stays comfortably under (62 %), 성남시 crosses the 80 % warning (87 %),
 * 용인시 crosses 100 % and is held. Jobs beyond a budget go to an HQ team on the same node.
 */
const MUNICIPAL_BUDGET_GPU_HOURS = new Map([
  ["suwon-traffic", 40],
  ["suwon-vision", 22],
  ["seongnam-chatbot", 37],
  ["seongnam-analytics", 50],
  ["yongin-cctv", 56],
]);

const TYPES: Record<string, { gpus: number; model: string; dcgmModel: string }> = {
  "g4dn.xlarge": { gpus: 1, model: "T4", dcgmModel: "Tesla T4" },
  "g4dn.12xlarge": { gpus: 4, model: "T4", dcgmModel: "Tesla T4" },
  "g5.12xlarge": { gpus: 4, model: "A10G", dcgmModel: "NVIDIA A10G" },
  "p4d.24xlarge": { gpus: 8, model: "A100", dcgmModel: "NVIDIA A100-SXM4-40GB" },
};

export interface GenerateOptions {
  month: string;
  timeZone?: string;
  scale: Scale;
  seed?: number;
  /** Generate only the first N days of the month (the large benchmark size). */
  days?: number;
  /** How dcgm-exporter is deployed and scraped; default: pod labels honoured, a shared GPU attributed to one pod (its defaults). */
  dcgm?: Partial<DcgmShape>;
  /** A kube-state-metrics rollout mid-data (default true); without it no minute lacks kube-state-metrics. */
  ksmRollout?: boolean;
  /**
   * kube-state-metrics replicas Prometheus scrapes (default 2). The chart's default is one
   * (prometheus-community/helm-charts charts/kube-state-metrics/values.yaml `replicas: 1`);
   * two is the high-availability setup, where every series arrives twice with different
   * `instance`/`pod` labels and the meter must count it once.
   */
  ksmReplicas?: 1 | 2;
}

/**
 * The month `npm start` meters, which the tests share through the month cache: October 2026
 * at demo scale, scraped from one kube-state-metrics replica — the chart's default, and a
 * third less text to generate and backfill than two. The high-availability pair (every series
 * twice) is exercised on the shorter months the tests generate with the default of two.
 */
export const DEMO_MONTH = { month: "2026-10", scale: "demo", ksmReplicas: 1 } as const satisfies GenerateOptions;

/** A short stable hex id (FNV-1a) for UIDs, GPU UUIDs and exporter pod names. */
function hexId(s: string, len = 8): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193) >>> 0;
  let out = "";
  for (let k = 0; out.length < len; k++) out += (Math.imul(h ^ k, 0x9e3779b1) >>> 0).toString(16).padStart(8, "0");
  return out.slice(0, len);
}
const uidOf = (pod: string, n = 0) =>
  `${hexId(pod + n)}-${hexId(pod + n + "a", 4)}-4${hexId(pod + n + "b", 3)}-8${hexId(pod + n + "c", 3)}-${hexId(pod + n + "d", 12)}`;

/** Allocated GPU-hours of a job inside [fromMs, toMs): units × per-unit GPU fraction × Running hours. */
function jobGpuHours(j: Pick<Job, "units" | "runStartMs" | "runEndMs">, n: NodeSpec, fromMs: number, toMs: number): number {
  const frac = n.mig ? 3 / 7 : 1 / (n.replicas ?? 1);
  return (j.units * frac * Math.max(0, Math.min(j.runEndMs, toMs) - Math.max(j.runStartMs, fromMs))) / 3_600_000;
}

/** Where a month's data lies and how a fraction of it maps to a minute. */
interface MonthFrame {
  startMs: number;
  monthEnd: number;
  dataStartMs: number;
  dataEndMs: number;
  /** The minute at `frac` of the metered days. */
  minuteAt: (frac: number) => number;
}

/** The time of the Spot interruption: g5-spot-doomed ends then, g5-od-replacement starts two minutes later. */
const interruptionAt = (f: MonthFrame) => f.minuteAt(0.47) + 13 * MIN;

/** A node as the scenario names it; its GPUs, group (by label style), zone and lifetime are filled in. */
type NewNode = Omit<NodeSpec, "gpus" | "gpuModel" | "startMs" | "endMs" | "group" | "zone"> &
  Partial<Pick<NodeSpec, "startMs" | "endMs" | "group">>;

/** The cluster's GPU nodes: `copies` of the node groups for the scale, then the scenario's special nodes, zones alternating. */
function clusterNodes(opts: GenerateOptions, f: MonthFrame): NodeSpec[] {
  return [...nodeGroups(opts, f), ...scenarioNodes(f)].map((n, i) => {
    const t = TYPES[n.instanceType]!;
    const family = n.instanceType.split(".")[0]!;
    const group = n.group ?? (n.labelStyle === "eks" ? `ng-${family}-${n.capacity}` : `np-${family}-${n.capacity}`);
    const zone = i % 2 ? "ap-northeast-2c" : "ap-northeast-2a";
    return { startMs: f.dataStartMs, endMs: f.dataEndMs, gpus: t.gpus, gpuModel: t.model, group, zone, ...n };
  });
}

/** The ordinary node groups, `copies` times for the scale: g4dn, g5 and p4d, Spot and On-Demand. */
function nodeGroups(opts: GenerateOptions, { minuteAt }: MonthFrame): NewNode[] {
  const copies = { demo: 1, small: 1, medium: 6, large: 40 }[opts.scale];
  const nodes: NewNode[] = [];
  const add = (n: NewNode) => nodes.push(n);
  const all = NAMESPACES.map((n) => n.name);
  for (let c = 0; c < copies; c++) {
    const s = copies > 1 ? `-${c}` : "";
    add({
      name: `ip-10-0-1-${10 + c}.g4dn-od-a${s}`,
      instanceType: "g4dn.12xlarge",
      capacity: "on-demand",
      labelStyle: "karpenter",
      lanes: [1, 1, 2],
      namespaces: all,
    });
    add({ name: `g4dn-spot-a${s}`, instanceType: "g4dn.12xlarge", capacity: "spot", labelStyle: "eks", lanes: [2, 1, 1], namespaces: all });
    add({
      name: `g5-od-a${s}`,
      instanceType: "g5.12xlarge",
      capacity: "on-demand",
      labelStyle: "eks",
      lanes: [2, 2],
      namespaces: all,
      ...(c === 0
        ? { relabel: { label: "label_team", before: "ml-platform", after: "data-platform", atMs: minuteAt(0.41) + 7 * MIN } }
        : {}),
    });
    add({
      name: `g5-spot-a${s}`,
      instanceType: "g5.12xlarge",
      capacity: "spot",
      labelStyle: "karpenter",
      lanes: [1, 1, 2],
      namespaces: all,
    });
    add({
      name: `p4d-od-a${s}`,
      instanceType: "p4d.24xlarge",
      capacity: "on-demand",
      labelStyle: "karpenter",
      lanes: [4, 2, 1, 1],
      namespaces: ["project-llm-finetune", "team-ai", "suwon-traffic", "seongnam-analytics"],
    });
    if (opts.scale !== "demo" && opts.scale !== "small") {
      add({
        name: `p4d-spot-a${s}`,
        instanceType: "p4d.24xlarge",
        capacity: "spot",
        labelStyle: "eks",
        lanes: [8],
        namespaces: ["project-llm-finetune", "team-ai"],
      });
    }
  }
  return nodes;
}

/** The scenario's special nodes, once at every size: a late and a new node, time-slicing, MIG, a Spot interruption. */
function scenarioNodes(f: MonthFrame): NewNode[] {
  const { minuteAt } = f;
  const all = NAMESPACES.map((n) => n.name);
  const nodes: NewNode[] = [];
  const add = (n: NewNode) => nodes.push(n);
  add({
    name: "g4dn-od-late",
    instanceType: "g4dn.12xlarge",
    capacity: "on-demand",
    labelStyle: "eks",
    lanes: [1, 1],
    namespaces: all,
    endMs: minuteAt(0.62),
  });
  add({
    name: "g4dn-spot-new",
    instanceType: "g4dn.12xlarge",
    capacity: "spot",
    labelStyle: "karpenter",
    lanes: [1, 2],
    namespaces: all,
    startMs: minuteAt(0.3) + 17 * MIN,
  });
  add({
    name: "g4dn-ts",
    instanceType: "g4dn.xlarge",
    capacity: "on-demand",
    labelStyle: "karpenter",
    group: "np-g4dn-timesliced",
    replicas: 4,
    lanes: [1, 1, 1, 1],
    namespaces: ["yongin-cctv", "seongnam-chatbot", "sandbox-misc"],
  });
  add({
    name: "p4d-mig",
    instanceType: "p4d.24xlarge",
    capacity: "on-demand",
    labelStyle: "eks",
    group: "ng-p4d-mig",
    mig: { profile: "3g.40gb", resource: "nvidia_com_mig_3g_40gb", slices: 16 },
    lanes: [2, 2, 1, 1, 1, 1, 1, 1],
    namespaces: ["team-ai", "project-llm-serving", "suwon-vision"],
  });
  const interruptAt = interruptionAt(f);
  add({
    name: "g5-spot-doomed",
    instanceType: "g5.12xlarge",
    capacity: "spot",
    labelStyle: "karpenter",
    lanes: [2, 1, 1],
    namespaces: all,
    endMs: interruptAt,
  });
  add({
    name: "g5-od-replacement",
    instanceType: "g5.12xlarge",
    capacity: "on-demand",
    labelStyle: "karpenter",
    lanes: [],
    namespaces: all,
    startMs: interruptAt + 2 * MIN,
  });
  return nodes;
}

/** The job factory: one seeded random stream and one pod counter for the whole month, so a seed replays it exactly. */
class JobMaker {
  private seq = 0;
  readonly rnd: () => number;

  constructor(
    seed: number,
    private readonly dutyCount: number,
  ) {
    this.rnd = mulberry32(seed);
  }

  pick<T>(xs: readonly T[]): T {
    return xs[Math.floor(this.rnd() * xs.length)]!;
  }

  nextPodName(ns: string): string {
    return `${ns}-job-${(this.seq++).toString(36).padStart(5, "0")}`;
  }

  job(
    node: NodeSpec,
    ns: string,
    units: number,
    device: number,
    created: number,
    waitMin: number,
    pendingMin: number,
    runMin: number,
  ): Job {
    const rnd = this.rnd;
    const bound = created + waitMin * MIN;
    const runStart = bound + pendingMin * MIN;
    const runEnd = runStart + runMin * MIN;
    const endPhase = rnd() < 0.1 ? "Failed" : "Succeeded";
    const pod = this.nextPodName(ns);
    return {
      pod,
      uid: uidOf(pod),
      namespace: ns,
      node: node.name,
      units,
      containers: units >= 2 && rnd() < 0.4 ? [units - 1, 1] : [units],
      initGpus: rnd() < 0.15 ? 1 : 0,
      device,
      createdMs: created,
      boundMs: bound,
      runStartMs: runStart,
      runEndMs: runEnd,
      endPhase,
      deletedMs: runEnd + (2 + Math.floor(rnd() * 4)) * MIN,
      utilLevel: LEVEL.get(ns)!,
      trace: Math.floor(rnd() * this.dutyCount),
      gpuOffset: Math.floor(rnd() * 7) - 3,
    };
  }
}

/** Each lane of each node runs pods one after another, with idle gaps, lifetimes and waits drawn from the Alibaba trace. */
function scheduleJobs(m: JobMaker, nodes: readonly NodeSpec[]): { jobs: Job[]; waited: string[] } {
  const { lifetimes, waits } = podTrace();
  const jobs: Job[] = [];
  const waited: string[] = [];
  for (const node of nodes) {
    let device = 0;
    for (const width of node.lanes) {
      // A time-sliced node's lanes all share its one GPU; elsewhere each lane owns its devices.
      const laneDevice = node.replicas ? 0 : device;
      device += width;
      let t = node.startMs + Math.floor(m.rnd() * 120) * MIN;
      for (;;) {
        t += Math.floor(m.rnd() * 180) * MIN; // idle gap
        const sample = m.pick(lifetimes);
        const runMin = Math.max(10, Math.min(sample.minutes, 3 * 24 * 60));
        // A quarter of the pods wait unbound for capacity, as long as the trace's pods that waited did.
        const waitMin = m.rnd() < 0.25 ? Math.min(240, m.pick(waits)) : 0;
        const pendingMin = 1 + Math.floor(m.rnd() * 5);
        const job = m.job(node, m.pick(node.namespaces), width, laneDevice, t, waitMin, pendingMin, runMin);
        if (node.name === "g5-spot-doomed" && job.deletedMs >= node.endMs) {
          // Every lane of the doomed node runs a pod at the interruption (cut below): a lane
          // that would sit idle then gets one that started a while before.
          const cut =
            job.runStartMs < node.endMs
              ? job
              : m.job(node, job.namespace, width, laneDevice, Math.max(t, node.endMs - 90 * MIN), 0, 2, 240);
          if (cut.runStartMs < node.endMs) jobs.push(cut);
          break;
        }
        if (job.deletedMs >= node.endMs) break;
        jobs.push(job);
        if (waitMin > 0) waited.push(job.pod);
        t = job.deletedMs;
      }
    }
  }
  return { jobs, waited };
}

/** Municipal budgets: in start order, a job that would take its namespace past the budget runs for an HQ team instead. */
function keepMunicipalitiesInBudget(
  m: JobMaker,
  jobs: Job[],
  waited: string[],
  nodeOf: ReadonlyMap<string, NodeSpec>,
  f: MonthFrame,
): void {
  const spent = new Map<string, number>();
  for (const j of [...jobs].sort((a, b) => a.runStartMs - b.runStartMs || (a.pod < b.pod ? -1 : 1))) {
    const budget = MUNICIPAL_BUDGET_GPU_HOURS.get(j.namespace);
    if (budget === undefined) continue;
    const node = nodeOf.get(j.node)!;
    const h = jobGpuHours(j, node, f.startMs, f.monthEnd);
    if ((spent.get(j.namespace) ?? 0) + h <= budget) {
      spent.set(j.namespace, (spent.get(j.namespace) ?? 0) + h);
      continue;
    }
    const hq = node.namespaces.filter((ns) => !MUNICIPAL_BUDGET_GPU_HOURS.has(ns));
    const ns = hq[Math.floor(m.rnd() * hq.length)]!;
    const old = j.pod;
    j.namespace = ns;
    j.pod = `${ns}-job-${old.slice(old.lastIndexOf("-") + 1)}`;
    j.uid = uidOf(j.pod);
    j.utilLevel = LEVEL.get(ns)!;
    const w = waited.indexOf(old);
    if (w >= 0) waited[w] = j.pod;
  }
}

/**
 * Spot interruption: the running pods on the doomed node fail at the interruption,
 * and replacements start on an On-Demand node a few minutes later, on the same devices.
 * Returns the interrupted pods.
 */
function interruptSpotNode(m: JobMaker, jobs: Job[], replacement: NodeSpec, interruptAt: number): string[] {
  const interrupted: string[] = [];
  for (const j of jobs.filter((j) => j.node === "g5-spot-doomed" && j.deletedMs >= interruptAt)) {
    const remaining = (j.runEndMs - interruptAt) / MIN;
    j.runEndMs = interruptAt;
    j.endPhase = "Failed";
    j.deletedMs = interruptAt + 2 * MIN;
    interrupted.push(j.pod);
    const r = m.job(
      replacement,
      j.namespace,
      j.units,
      j.device,
      interruptAt + 3 * MIN,
      0,
      1 + Math.floor(m.rnd() * 3),
      Math.max(10, remaining),
    );
    jobs.push({ ...r, pod: `${j.pod}-r`, uid: uidOf(`${j.pod}-r`) });
  }
  return interrupted;
}

/** Pods scheduled to a node but stuck in Pending (image pull, say): requests exist, nothing bills. Returns them. */
function addStuckPendingPods(m: JobMaker, jobs: Job[], nodes: readonly NodeSpec[], f: MonthFrame): string[] {
  const stuck: string[] = [];
  for (const node of nodes.filter((n) => n.name.startsWith("g4dn-spot-a")).slice(0, 1)) {
    const j = m.job(node, "team-data", 1, 0, f.minuteAt(0.2), 0, 90, 0);
    j.endPhase = "Pending";
    j.deletedMs = j.createdMs + 90 * MIN;
    j.runStartMs = j.runEndMs = j.deletedMs; // never runs
    jobs.push(j);
    stuck.push(j.pod);
  }
  return stuck;
}

/** Pods that wait for capacity that never comes, then are deleted: no `node` label all their life. Returns them. */
function addNeverBoundPods(m: JobMaker, jobs: Job[], f: MonthFrame): string[] {
  const neverBound: string[] = [];
  for (const [ns, units, at, hours] of [
    ["team-ai", 8, 0.12, 5],
    ["seongnam-analytics", 1, 0.52, 3],
    ["project-llm-finetune", 4, 0.81, 4],
  ] as const) {
    const created = f.minuteAt(at) + 29 * MIN;
    const pod = m.nextPodName(ns);
    const deleted = created + hours * 60 * MIN;
    jobs.push({
      pod,
      uid: uidOf(pod),
      namespace: ns,
      node: "",
      units,
      containers: [units],
      initGpus: 0,
      device: 0,
      createdMs: created,
      boundMs: deleted,
      runStartMs: deleted,
      runEndMs: deleted,
      endPhase: "Pending",
      deletedMs: deleted,
      utilLevel: LEVEL.get(ns)!,
      trace: 0,
      gpuOffset: 0,
    });
    neverBound.push(pod);
  }
  return neverBound;
}

/** A pod whose phase reads Unknown for 20 minutes mid-run (its node stopped reporting; dcgm-exporter there too). Returns it. */
function markUnknownPhase(jobs: readonly Job[], nodes: readonly NodeSpec[], f: MonthFrame): Job | undefined {
  const ordinary = new Set(
    nodes.filter((n) => !n.mig && !n.replicas && n.name !== "g5-spot-doomed" && n.name !== "g5-od-replacement").map((n) => n.name),
  );
  const longRun = jobs
    .filter(
      (j) =>
        ordinary.has(j.node) && j.runStartMs > f.minuteAt(0.6) && j.runEndMs < f.minuteAt(0.9) && j.runEndMs - j.runStartMs >= 4 * 60 * MIN,
    )
    .sort((a, b) => (a.pod < b.pod ? -1 : 1))[0];
  if (longRun) {
    const s = longRun.runStartMs + Math.floor((longRun.runEndMs - longRun.runStartMs) / 2 / MIN) * MIN;
    longRun.unknown = { startMs: s, endMs: s + 20 * MIN };
  }
  return longRun;
}

/** Scrape gaps (Prometheus down 2–3 minutes), placed at least 6 minutes from any state change. */
function scrapeGaps(
  m: JobMaker,
  jobs: readonly Job[],
  nodes: readonly NodeSpec[],
  ksmOutage: { startMs: number; endMs: number },
  f: MonthFrame,
): { startMs: number; endMs: number }[] {
  const changes = new Set<number>();
  for (const j of jobs)
    for (const t of [j.createdMs, j.boundMs, j.runStartMs, j.runEndMs, j.deletedMs, j.unknown?.startMs ?? 0, j.unknown?.endMs ?? 0])
      changes.add(t);
  for (const n of nodes)
    changes
      .add(n.startMs)
      .add(n.endMs)
      .add(n.relabel?.atMs ?? 0);
  changes.add(ksmOutage.startMs).add(ksmOutage.endMs);
  const sortedChanges = [...changes].sort((a, b) => a - b);
  const near = (t: number, len: number) => sortedChanges.some((c) => c > t - 7 * MIN && c < t + len + 7 * MIN);
  const gaps: { startMs: number; endMs: number }[] = [];
  for (let tries = 0; gaps.length < 4 && tries < 10_000; tries++) {
    const len = (2 + Math.floor(m.rnd() * 2)) * MIN;
    const t = f.minuteAt(0.05 + m.rnd() * 0.9);
    if (!near(t, len)) gaps.push({ startMs: t, endMs: t + len });
  }
  gaps.sort((a, b) => a.startMs - b.startMs);

  return gaps;
}

export function generateMonth(opts: GenerateOptions): GeneratedMonth {
  const timeZone = opts.timeZone ?? "Asia/Seoul";
  const seed = opts.seed ?? 20261001;
  const bm = billingMonth(opts.month, timeZone);
  const dataStartMs = bm.startMs - 3 * 60 * MIN;
  const monthEnd = opts.days ? bm.days[Math.min(opts.days, bm.days.length) - 1]!.endMs : bm.endMs;
  const dataEndMs = monthEnd + 3 * 60 * MIN;
  const minuteAt = (frac: number) => bm.startMs + Math.floor(((monthEnd - bm.startMs) * frac) / MIN) * MIN;
  const f: MonthFrame = { startMs: bm.startMs, monthEnd, dataStartMs, dataEndMs, minuteAt };

  // The draws happen in this order; a seed replays the month only if it stays so.
  const m = new JobMaker(seed, dutyCycles().length);
  const nodes = clusterNodes(opts, f);
  const nodeOf = new Map(nodes.map((n) => [n.name, n]));
  const { jobs, waited } = scheduleJobs(m, nodes);
  keepMunicipalitiesInBudget(m, jobs, waited, nodeOf, f);
  const interruptAt = interruptionAt(f);
  const replacement = nodeOf.get("g5-od-replacement")!;
  const interrupted = interruptSpotNode(m, jobs, replacement, interruptAt);
  const stuck = addStuckPendingPods(m, jobs, nodes, f);
  const neverBound = addNeverBoundPods(m, jobs, f);
  const longRun = markUnknownPhase(jobs, nodes, f);
  jobs.sort((a, b) => (a.pod < b.pod ? -1 : 1));

  // kube-state-metrics rollout: both replicas replaced by new pods after 7 minutes with no kube-state-metrics at all.
  const ksmOutageStart = minuteAt(0.55) + 11 * MIN;
  const ksmOutage = opts.ksmRollout === false ? { startMs: 0, endMs: 0 } : { startMs: ksmOutageStart, endMs: ksmOutageStart + 7 * MIN };

  const gaps = scrapeGaps(m, jobs, nodes, ksmOutage, f);

  const migNode = nodes.find((n) => n.mig)!.name;
  return {
    month: opts.month,
    timeZone,
    scale: opts.scale,
    seed,
    dataStartMs,
    dataEndMs,
    nodes,
    jobs,
    namespaces: NAMESPACES.map(({ name, tenantLabel }) => ({ name, tenantLabel })),
    gaps,
    ksmOutage,
    ksmReplicas: opts.ksmReplicas ?? 2,
    dcgm: { labels: opts.dcgm?.labels ?? "honor", sharing: opts.dcgm?.sharing ?? "single" },
    facts: {
      gpus: nodes.reduce((a, n) => a + n.gpus, 0),
      spotInterruption: { node: "g5-spot-doomed", atMs: interruptAt, replacementNode: replacement.name, interruptedPods: interrupted },
      migNode,
      timeSlicedNode: "g4dn-ts",
      unlabelledNamespaces: NAMESPACES.filter((n) => !n.tenantLabel).map((n) => n.name),
      unallocatedNamespace: "sandbox-misc",
      stuckPendingPods: stuck,
      neverBoundPods: neverBound,
      waitedPods: waited.sort(),
      unknownPhasePod: longRun?.pod ?? "",
      relabelledNode: nodes.find((n) => n.relabel)?.name ?? "",
      dataStartMs,
      dataEndMs: monthEnd,
    },
  };
}

const inKsmOutage = (g: GeneratedMonth, t: number) => t >= g.ksmOutage.startMs && t < g.ksmOutage.endMs;

/** Phase of a job at tick t (undefined before creation and from deletion on). */
function phaseAt(j: Job, t: number): string | undefined {
  if (t < j.createdMs || t >= j.deletedMs) return undefined;
  if (t < j.runStartMs) return "Pending";
  if (j.unknown && t >= j.unknown.startMs && t < j.unknown.endMs) return "Unknown";
  if (t < j.runEndMs) return "Running";
  return j.endPhase;
}

/** The job's own utilization of its GPU/slice `i` at tick t (integer %, or 2-decimal fraction on MIG). */
function utilAt(j: Job, i: number, t: number, mig: boolean): number {
  const trace = dutyCycles()[j.trace]!;
  const v = trace[(((t / MIN + i * 37) % trace.length) + trace.length) % trace.length]!;
  const u = Math.min(1, Math.max(0, j.utilLevel + (v / 100 - 0.07) * 0.15 + (j.gpuOffset + i) / 100));
  return mig ? Math.round(u * 100) / 100 : Math.round(u * 100);
}

/** Running and holding its devices at t: the minutes dcgm-exporter attributes the devices to the pod. */
const holdsAt = (j: Job, t: number) => phaseAt(j, t) === "Running";

/**
 * Who holds a node's device over time, as dcgm-exporter labels it: maximal intervals with one
 * label set, each with its value per tick. A time-shared GPU's utilization is the sum of its
 * pods' (capped at 100 %); with `single` sharing it is labelled with one pod (the one that has
 * held it longest), with `virtual` every sharing pod gets a copy.
 */
interface DeviceSegment {
  /** The pod labelled on the series; undefined for a device no pod holds. */
  holder?: Job;
  /** With virtual GPUs: which copy (the pod's replica slot). */
  vgpu?: number;
  fromMs: number;
  toMs: number;
  value: (t: number) => number;
}

function deviceSegments(g: GeneratedMonth, n: NodeSpec, device: number, holders: Job[]): DeviceSegment[] {
  const mig = !!n.mig;
  const shared = !!n.replicas;
  const points = new Set<number>([n.startMs, n.endMs]);
  for (const j of holders)
    for (const t of [j.runStartMs, j.runEndMs, j.unknown?.startMs, j.unknown?.endMs])
      if (t !== undefined && t > n.startMs && t < n.endMs) points.add(t);
  const bounds = [...points].sort((a, b) => a - b);
  const devUtil = (t: number) =>
    Math.min(
      100,
      holders.reduce((a, h) => a + (holdsAt(h, t) ? utilAt(h, 0, t, false) : 0), 0),
    );
  const out: DeviceSegment[] = [];
  const push = (s: DeviceSegment) => {
    const prev = out.find((p) => p.holder === s.holder && p.vgpu === s.vgpu && p.toMs === s.fromMs);
    if (prev) prev.toMs = s.toMs;
    else out.push(s);
  };
  for (let k = 0; k + 1 < bounds.length; k++) {
    const [a, b] = [bounds[k]!, bounds[k + 1]!];
    const now = holders.filter((h) => holdsAt(h, a)).sort((x, y) => x.runStartMs - y.runStartMs || (x.pod < y.pod ? -1 : 1));
    if (now.length === 0) {
      push({ fromMs: a, toMs: b, value: () => 0 });
      continue;
    }
    if (!shared) {
      const h = now[0]!;
      const i = device - h.device;
      push({ holder: h, fromMs: a, toMs: b, value: mig ? (t) => utilAt(h, i, t, true) : (t) => utilAt(h, i, t, false) });
    } else if (g.dcgm.sharing === "single") push({ holder: now[0]!, fromMs: a, toMs: b, value: devUtil });
    else
      for (const h of now)
        push({ holder: h, vgpu: n.lanes.length ? holders.indexOf(h) % n.lanes.length : 0, fromMs: a, toMs: b, value: devUtil });
  }
  return out;
}

/** Per-pod utilization-minutes dcgm-exporter reports at tick t, keyed by pod: what the meter reads for used GPU-hours. */
function measuredUtil(g: GeneratedMonth, n: NodeSpec, j: Job, t: number, sharers: Job[]): number {
  if (n.mig) {
    let sum = 0;
    for (let i = 0; i < j.units; i++) sum += utilAt(j, i, t, true);
    return sum / j.units;
  }
  if (!n.replicas) {
    let sum = 0;
    for (let i = 0; i < j.units; i++) sum += utilAt(j, i, t, false) / 100;
    return sum / j.units;
  }
  const now = sharers.filter((h) => holdsAt(h, t));
  const dev =
    Math.min(
      100,
      now.reduce((a, h) => a + utilAt(h, 0, t, false), 0),
    ) / 100;
  if (g.dcgm.sharing === "virtual") return dev;
  const first = now.sort((x, y) => x.runStartMs - y.runStartMs || (x.pod < y.pod ? -1 : 1))[0];
  return first === j ? dev : 0;
}

const inGap = (g: GeneratedMonth, t: number) => g.gaps.some((x) => t >= x.startMs && t < x.endMs);

/** kube-state-metrics' scrape labels before and after its rollout (kube-prometheus-stack's ServiceMonitor). */
const KSM_REPLICAS = [
  [
    { instance: "10.0.1.11:8080", pod: "kube-state-metrics-6d4f9c7b8-x2k9p" },
    { instance: "10.0.1.12:8080", pod: "kube-state-metrics-6d4f9c7b8-q7m4t" },
  ],
  [
    { instance: "10.0.1.31:8080", pod: "kube-state-metrics-7c9d8e6f5-h3n8w" },
    { instance: "10.0.1.32:8080", pod: "kube-state-metrics-7c9d8e6f5-b5r2z" },
  ],
];
const KSM_TARGET = 'endpoint="http",job="kube-state-metrics",service="kube-state-metrics"';

type EndMarker = "NaN" | "0";
/** A series' value at minute `t`. */
type ValueAt = (t: number) => number | string;
type TargetFill = "namespace" | "pod" | "container";

/** One day file being written: the samples of [fs, fe), buffered and flushed every 8 MB. */
class DayFile {
  private buf: string[] = [];
  private size = 0;

  constructor(
    private readonly fh: FileHandle,
    private readonly g: GeneratedMonth,
    readonly fs: number,
    readonly fe: number,
  ) {}

  put(s: string): void {
    this.buf.push(s);
    this.size += s.length;
  }

  async flush(): Promise<void> {
    if (this.buf.length) await this.fh.write(this.buf.join(""));
    this.buf = [];
    this.size = 0;
  }

  /** Whether [from, to) has samples or an end marker in this file. */
  live(from: number, to: number): boolean {
    return from < this.fe && to >= this.fs;
  }

  /**
   * Emits a series at every minute of [from, to) inside this file, then an end marker at `to`.
   * Prometheus ends a vanished series with a staleness marker (a special NaN) that every
   * selector skips; promtool cannot write one, so the marker is a stand-in that our queries
   * treat as "absent" — NaN where they filter or take min/max (requests, node and namespace
   * labels), 0 for the 0/1 phase and the utilization series, which they only sum: summed,
   * a 0 adds what an absent sample adds. (A plain NaN reaching a sum fails the metering
   * loudly — the adapter rejects non-finite values — rather than billing wrong.)
   */
  async series(name: string, labels: string, from: number, to: number, value: ValueAt, endMarker: EndMarker = "NaN") {
    if (to <= from) return;
    const s = Math.max(from, this.fs);
    const prefix = `${name}{${labels}} `;
    for (let t = s; t < Math.min(to, this.fe); t += MIN) if (!inGap(this.g, t)) this.put(`${prefix}${value(t)} ${t / 1000}\n`);
    if (to >= this.fs && to < this.fe) this.put(`${prefix}${endMarker} ${to / 1000}\n`);
    if (this.size > 1 << 23) await this.flush();
  }

  /**
   * A kube-state-metrics series as each replica exports it: cut by the rollout, each
   * replica's scrape labels added. `own` is the metric's own label set; `fills`
   * lists the target labels Prometheus adds because the metric lacks them (honorLabels).
   */
  async ksm(name: string, own: string, from: number, to: number, value: ValueAt, endMarker: EndMarker = "NaN", fills: TargetFill[] = []) {
    const g = this.g;
    for (const [era, from2, to2] of [
      [0, from, Math.min(to, g.ksmOutage.startMs)],
      [1, Math.max(from, g.ksmOutage.endMs), to],
    ] as const)
      for (const r of KSM_REPLICAS[era]!.slice(0, g.ksmReplicas)) {
        const filled = fills.map((l) =>
          l === "namespace" ? 'namespace="monitoring"' : l === "pod" ? `pod="${r.pod}"` : 'container="kube-state-metrics"',
        );
        await this.series(
          name,
          [own, ...filled, `instance="${r.instance}"`, KSM_TARGET].filter(Boolean).join(","),
          from2,
          to2,
          value,
          endMarker,
        );
      }
  }
}

/** A node-level kube-state-metrics series: the target's namespace, pod and container filled in. */
const NODE_FILLS: TargetFill[] = ["namespace", "pod", "container"];

/** kube_node_labels, kube_node_status_capacity and kube_node_info of every node alive in the file. */
async function writeNodeSeries(w: DayFile, g: GeneratedMonth): Promise<void> {
  w.put("# TYPE kube_node_labels gauge\n");
  for (const n of g.nodes) {
    if (!w.live(n.startMs, n.endMs)) continue;
    const cap =
      n.labelStyle === "karpenter"
        ? `label_karpenter_sh_capacity_type="${n.capacity}"`
        : `label_eks_amazonaws_com_capacity_type="${n.capacity === "spot" ? "SPOT" : "ON_DEMAND"}"`;
    const group =
      n.labelStyle === "karpenter" ? `label_karpenter_sh_nodepool="${n.group}"` : `label_eks_amazonaws_com_nodegroup="${n.group}"`;
    const extra =
      (n.replicas ? `,label_nvidia_com_gpu_replicas="${n.replicas}"` : "") +
      (n.mig ? `,label_nvidia_com_mig_config="all-${n.mig.profile}"` : "");
    const base = `${cap},${group},label_node_kubernetes_io_instance_type="${n.instanceType}",label_topology_kubernetes_io_zone="${n.zone}"${extra}`;
    if (!n.relabel) await w.ksm("kube_node_labels", `${base},node="${n.name}"`, n.startMs, n.endMs, () => 1, "NaN", NODE_FILLS);
    else {
      const { label, before, after, atMs } = n.relabel;
      await w.ksm("kube_node_labels", `${base},${label}="${before}",node="${n.name}"`, n.startMs, atMs, () => 1, "NaN", NODE_FILLS);
      await w.ksm("kube_node_labels", `${base},${label}="${after}",node="${n.name}"`, atMs, n.endMs, () => 1, "NaN", NODE_FILLS);
    }
  }
  await w.ksm(
    "kube_node_labels",
    `label_node_kubernetes_io_instance_type="m5.2xlarge",label_karpenter_sh_capacity_type="on-demand",label_karpenter_sh_nodepool="system",node="cpu-system-a"`,
    g.dataStartMs,
    g.dataEndMs,
    () => 1,
    "NaN",
    NODE_FILLS,
  );
  w.put("# TYPE kube_node_status_capacity gauge\n");
  for (const n of g.nodes) {
    if (!w.live(n.startMs, n.endMs)) continue;
    // MIG mixed strategy: the node advertises no whole GPUs, one resource per MIG profile.
    const caps: [string, number][] = n.mig
      ? [
          ["nvidia_com_gpu", 0],
          [n.mig.resource, n.mig.slices],
        ]
      : [["nvidia_com_gpu", n.gpus * (n.replicas ?? 1)]];
    for (const [res, v] of caps)
      await w.ksm(
        "kube_node_status_capacity",
        `node="${n.name}",resource="${res}",unit="integer"`,
        n.startMs,
        n.endMs,
        () => v,
        "NaN",
        NODE_FILLS,
      );
  }
  w.put("# TYPE kube_node_info gauge\n");
  // kube-state-metrics' node info as EKS nodes report it (the reconciliation matches the AWS bill by its instance id).
  for (const n of g.nodes)
    if (w.live(n.startMs, n.endMs))
      await w.ksm("kube_node_info", `node="${n.name}",provider_id="${providerIdOf(n)}"`, n.startMs, n.endMs, () => 1, "NaN", NODE_FILLS);
}

/** kube_namespace_labels: the cluster's own namespaces and the tenants'. */
async function writeNamespaceSeries(w: DayFile, g: GeneratedMonth): Promise<void> {
  w.put("# TYPE kube_namespace_labels gauge\n");
  // Every cluster's own namespaces, exported like the tenants' (no tenant label).
  for (const ns of ["default", "gpu-operator", "kube-system", "monitoring"])
    await w.ksm("kube_namespace_labels", `namespace="${ns}"`, g.dataStartMs, g.dataEndMs, () => 1, "NaN", ["pod", "container"]);
  for (const ns of g.namespaces)
    await w.ksm(
      "kube_namespace_labels",
      `${ns.tenantLabel ? `label_tenant="${ns.tenantLabel}",` : ""}namespace="${ns.name}"`,
      g.dataStartMs,
      g.dataEndMs,
      () => 1,
      "NaN",
      ["pod", "container"],
    );
}

/** The pods' GPU requests (containers and init containers) and their phases. */
async function writePodSeries(w: DayFile, g: GeneratedMonth, nodeOf: ReadonlyMap<string, NodeSpec>): Promise<void> {
  const jobs = g.jobs.filter((j) => w.live(j.createdMs, j.deletedMs));
  const resourceOf = (j: Job) => (j.node ? (nodeOf.get(j.node)!.mig?.resource ?? "nvidia_com_gpu") : "nvidia_com_gpu");
  /** A request series: no `node` label until the pod is bound, then the node's (a new series). */
  const requestSeries = async (name: string, j: Job, container: string, units: number) => {
    const own = (node: string) =>
      `container="${container}",namespace="${j.namespace}",${node}pod="${j.pod}",resource="${resourceOf(j)}",uid="${j.uid}",unit="integer"`;
    await w.ksm(name, own(""), j.createdMs, Math.min(j.boundMs, j.deletedMs), () => units);
    if (j.node) await w.ksm(name, own(`node="${j.node}",`), j.boundMs, j.deletedMs, () => units);
  };
  w.put("# TYPE kube_pod_container_resource_requests gauge\n");
  for (const j of jobs)
    for (const [ci, units] of j.containers.entries()) await requestSeries("kube_pod_container_resource_requests", j, `c${ci}`, units);
  w.put("# TYPE kube_pod_init_container_resource_requests gauge\n");
  for (const j of jobs) if (j.initGpus) await requestSeries("kube_pod_init_container_resource_requests", j, "init-weights", j.initGpus);
  w.put("# TYPE kube_pod_status_phase gauge\n");
  for (const j of jobs)
    for (const phase of ["Pending", "Succeeded", "Failed", "Unknown", "Running"])
      await w.ksm(
        "kube_pod_status_phase",
        `namespace="${j.namespace}",phase="${phase}",pod="${j.pod}",uid="${j.uid}"`,
        j.createdMs,
        j.deletedMs,
        (t) => (phaseAt(j, t) === phase ? 1 : 0),
        "0",
        ["container"],
      );
}

/** One GPU device (or MIG slice) and who holds it when: dcgm-exporter's series for it. */
interface DeviceSeries {
  node: NodeSpec;
  device: number;
  segments: DeviceSegment[];
}

/** dcgm-exporter's series per device, computed once for the whole month. */
function deviceSeriesOf(g: GeneratedMonth): DeviceSeries[] {
  const jobsOn = new Map<string, Job[]>();
  for (const j of g.jobs) if (j.node) (jobsOn.get(j.node) ?? jobsOn.set(j.node, []).get(j.node)!).push(j);
  const devices: DeviceSeries[] = [];
  for (const n of g.nodes) {
    const count = n.mig ? n.mig.slices : n.gpus;
    for (let d = 0; d < count; d++) {
      const holders = (jobsOn.get(n.name) ?? []).filter(
        (j) => d >= j.device && d < j.device + (n.replicas ? 1 : j.units) && j.runEndMs > j.runStartMs,
      );
      devices.push({ node: n, device: d, segments: deviceSegments(g, n, d, holders) });
    }
  }
  return devices;
}

/** A device's dcgm-exporter labels for one segment, with the workload's labels as the scrape config leaves them. */
function dcgmLabels(g: GeneratedMonth, n: NodeSpec, device: number, seg: DeviceSegment): string {
  const gpu = n.mig ? Math.floor(device / (n.mig.slices / n.gpus)) : device;
  const exporterPod = `nvidia-dcgm-exporter-${hexId(n.name, 5)}`;
  const parts = [
    `DCGM_FI_DRIVER_VERSION="550.127.05"`,
    `Hostname="${n.name}"`,
    `UUID="GPU-${hexId(`${n.name}/${gpu}`)}-${hexId(`${n.name}/${gpu}/u`, 4)}"`,
    `device="nvidia${gpu}"`,
    `gpu="${gpu}"`,
    `modelName="${TYPES[n.instanceType]!.dcgmModel}"`,
    `pci_bus_id="00000000:${(0x10 + gpu).toString(16).toUpperCase()}:1E.0"`,
    ...(n.mig ? [`GPU_I_ID="${device % (n.mig.slices / n.gpus)}"`, `GPU_I_PROFILE="${n.mig.profile}"`] : []),
    ...(seg.vgpu !== undefined ? [`vgpu="${seg.vgpu}"`] : []),
    `endpoint="gpu-metrics"`,
    `instance="10.0.9.${10 + g.nodes.indexOf(n)}:9400"`,
    `job="nvidia-dcgm-exporter"`,
    `service="nvidia-dcgm-exporter"`,
  ];
  const workload = seg.holder ? { namespace: seg.holder.namespace, pod: seg.holder.pod, container: "c0" } : undefined;
  const exporter = { namespace: "gpu-operator", pod: exporterPod, container: "nvidia-dcgm-exporter" };
  if (g.dcgm.labels === "honor") {
    // The workload's labels win; a device no pod holds carries the exporter's own (the target's).
    const l = workload ?? exporter;
    parts.push(`container="${l.container}"`, `namespace="${l.namespace}"`, `pod="${l.pod}"`);
  } else {
    parts.push(`container="${exporter.container}"`, `namespace="${exporter.namespace}"`, `pod="${exporter.pod}"`);
    if (workload)
      parts.push(
        `exported_container="${workload.container}"`,
        `exported_namespace="${workload.namespace}"`,
        `exported_pod="${workload.pod}"`,
      );
  }
  return parts.join(",");
}

/** DCGM_FI_DEV_GPU_UTIL of every device (0 on MIG slices, which report none) and the MIG slices' engine activity. */
async function writeDcgmSeries(w: DayFile, g: GeneratedMonth, devices: readonly DeviceSeries[]): Promise<void> {
  w.put("# TYPE DCGM_FI_DEV_GPU_UTIL gauge\n");
  for (const { node: n, device, segments } of devices)
    for (const seg of segments)
      if (w.live(seg.fromMs, seg.toMs))
        await w.series("DCGM_FI_DEV_GPU_UTIL", dcgmLabels(g, n, device, seg), seg.fromMs, seg.toMs, n.mig ? () => 0 : seg.value, "0");
  w.put("# TYPE DCGM_FI_PROF_GR_ENGINE_ACTIVE gauge\n");
  for (const { node: n, device, segments } of devices)
    if (n.mig)
      for (const seg of segments)
        if (w.live(seg.fromMs, seg.toMs))
          await w.series("DCGM_FI_PROF_GR_ENGINE_ACTIVE", dcgmLabels(g, n, device, seg), seg.fromMs, seg.toMs, seg.value, "0");
}

/**
 * Writes the data as OpenMetrics, one file per 24 h from the data start,
 * the form `promtool tsdb create-blocks-from openmetrics` backfills.
 */
export async function writeOpenMetricsDays(
  g: GeneratedMonth,
  dir: string,
  opts: { onFile?: (file: string) => void } = {},
): Promise<string[]> {
  await mkdir(dir, { recursive: true });
  const files: string[] = [];
  const DAY = 24 * 60 * MIN;
  const nodeOf = new Map(g.nodes.map((n) => [n.name, n]));
  const devices = deviceSeriesOf(g);
  for (let fs = g.dataStartMs, idx = 0; fs < g.dataEndMs; fs += DAY, idx++) {
    const file = path.join(dir, `day-${String(idx).padStart(3, "0")}.om`);
    const fh = await open(file, "w");
    const w = new DayFile(fh, g, fs, Math.min(fs + DAY, g.dataEndMs));
    await writeNodeSeries(w, g);
    await writeNamespaceSeries(w, g);
    await writePodSeries(w, g, nodeOf);
    await writeDcgmSeries(w, g, devices);
    w.put("# EOF\n");
    await w.flush();
    await fh.close();
    files.push(file);
    // Lets the caller backfill this day while the next one is written.
    opts.onFile?.(file);
  }
  return files;
}

/**
 * Walks every tick at which a pod bills in the metered days — Running, on a node, while
 * kube-state-metrics reports — with the units it requests and the utilization dcgm-exporter
 * attributes to it: the minute-by-minute ground truth both exact answers sum.
 */
function forEachBilledTick(g: GeneratedMonth, visit: (j: Job, day: string, t: number, used: number) => void): void {
  const bm = billingMonth(g.month, g.timeZone);
  const days = bm.days.filter((d) => d.endMs <= g.facts.dataEndMs);
  const nodeOf = new Map(g.nodes.map((n) => [n.name, n]));
  const sharersOn = new Map<string, Job[]>();
  for (const j of g.jobs)
    if (j.node && nodeOf.get(j.node)!.replicas) (sharersOn.get(j.node) ?? sharersOn.set(j.node, []).get(j.node)!).push(j);
  for (const j of g.jobs) {
    if (!j.node) continue;
    const n = nodeOf.get(j.node)!;
    // Only pods whose run overlaps this one's can share its GPU at any of its ticks.
    const sharers = (sharersOn.get(j.node) ?? []).filter((h) => h.runStartMs < j.runEndMs && h.runEndMs > j.runStartMs);
    // Ticks ascend, so the day they fall in only moves forward.
    let d = 0;
    for (let t = Math.max(j.runStartMs, bm.startMs); t < Math.min(j.runEndMs, g.facts.dataEndMs); t += MIN) {
      if (!holdsAt(j, t) || inKsmOutage(g, t)) continue;
      while (d < days.length && t >= days[d]!.endMs) d++;
      if (d === days.length) break;
      if (t >= days[d]!.startMs) visit(j, days[d]!.day, t, measuredUtil(g, n, j, t, sharers));
    }
  }
}

const resourceOn = (g: GeneratedMonth, node: string) => g.nodes.find((n) => n.name === node)!.mig?.resource ?? "nvidia_com_gpu";

/**
 * A node's EC2 provider id as the AWS cloud provider sets spec.providerID ("aws:///<zone>/<instance id>"):
 * the instance id (i- and 17 hex digits) is derived from the node name, so every run of a month names the same instances.
 */
export function providerIdOf(n: Pick<NodeSpec, "name" | "zone">): string {
  return `aws:///${n.zone}/i-${createHash("sha256").update(n.name).digest("hex").slice(0, 17)}`;
}

/** The exact answer: a minute-by-minute simulation over the month's ticks, independent of PromQL. */
export function exactAnswer(g: GeneratedMonth): MonthUsage {
  const bm = billingMonth(g.month, g.timeZone);
  const days = bm.days.filter((d) => d.endMs <= g.facts.dataEndMs);
  const usage = new Map<string, UsageRecord>();
  forEachBilledTick(g, (j, day, _t, used) => {
    const k = `${day}|${j.namespace}|${j.node}`;
    const u =
      usage.get(k) ??
      usage
        .set(k, { day, namespace: j.namespace, node: j.node, resource: resourceOn(g, j.node), requestMinutes: 0, usedMinutes: 0 })
        .get(k)!;
    u.requestMinutes += j.units;
    u.usedMinutes += j.units * used;
  });
  const nodes: NodeRecord[] = [];
  const outage = (from: number, to: number) => Math.max(0, Math.min(to, g.ksmOutage.endMs) - Math.max(from, g.ksmOutage.startMs)) / MIN;
  for (const n of g.nodes)
    for (const d of days) {
      const [from, to] = [Math.max(n.startMs, d.startMs), Math.min(n.endMs, d.endMs)];
      // kube-state-metrics reports no node while it is down: those minutes are not metered.
      const minutes = Math.max(0, (to - from) / MIN) - (to > from ? outage(from, to) : 0);
      if (minutes > 0)
        nodes.push({
          day: d.day,
          node: n.name,
          instanceType: n.instanceType,
          capacityLabel: n.labelStyle === "karpenter" ? n.capacity : n.capacity === "spot" ? "SPOT" : "ON_DEMAND",
          gpuReplicas: n.replicas ?? 1,
          nodeGroup: n.group,
          zone: n.zone,
          nodeMinutes: minutes,
          providerId: providerIdOf(n),
        });
    }
  return {
    usage: [...usage.values()],
    nodes,
    namespaces: g.namespaces.filter((n) => n.tenantLabel).map((n) => ({ namespace: n.name, tenantLabel: n.tenantLabel! })),
  };
}

/**
 * The exact per-pod answer, by the same minute-by-minute walk as exactAnswer: one
 * record per (namespace, pod, node, resource) summed over the month's metered days.
 */
export function exactPodAnswer(g: GeneratedMonth): PodUsageRecord[] {
  const pods = new Map<string, PodUsageRecord>();
  forEachBilledTick(g, (j, _day, _t, used) => {
    const k = `${j.namespace}|${j.pod}|${j.node}`;
    const p =
      pods.get(k) ??
      pods
        .set(k, { namespace: j.namespace, pod: j.pod, node: j.node, resource: resourceOn(g, j.node), requestMinutes: 0, usedMinutes: 0 })
        .get(k)!;
    p.requestMinutes += j.units;
    p.usedMinutes += j.units * used;
  });
  return [...pods.values()];
}
