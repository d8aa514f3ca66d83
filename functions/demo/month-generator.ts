/**
 * A deterministic synthetic GPU cluster month for the reference customer, as
 * kube-state-metrics and dcgm-exporter would expose it, with the exact answer
 * the meter must reproduce. Job sizes and lifetimes are drawn from the Alibaba
 * GPU pod trace, utilization curves from the real per-pod duty cycles
 * (functions/demo/trace/, shipped with the product; see its README for the source and terms).
 *
 * Every state change happens on a whole minute and every sample is taken on a
 * whole minute, so the exact answer is well defined: a tick t counts the state
 * of the sample at t.
 */
import { readFileSync, existsSync } from "node:fs";
import { mkdir, open } from "node:fs/promises";
import { gunzipSync } from "node:zlib";
import path from "node:path";
import { billingMonth } from "../../functions/core/month.js";
import type { MonthUsage, NodeRecord, PodUsageRecord, UsageRecord } from "../../functions/core/usage.js";
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
  /** Karpenter's label or EKS managed node group's. */
  labelStyle: "karpenter" | "eks";
  replicas?: number;
  mig?: { profile: string; resource: string; slices: number };
  startMs: number;
  endMs: number;
  /** Lane widths: each lane runs one job after another, each requesting that many units. */
  lanes: number[];
  namespaces: string[];
}

interface Job {
  pod: string;
  namespace: string;
  node: string;
  units: number;
  containers: number[];
  createdMs: number;
  runStartMs: number;
  runEndMs: number;
  /** Phase after running: Succeeded/Failed, or "Pending" for a pod that never started. */
  endPhase: "Succeeded" | "Failed" | "Pending";
  deletedMs: number;
  utilLevel: number;
  trace: number;
  gpuOffset: number;
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
  facts: {
    gpus: number;
    spotInterruption: { node: string; atMs: number; replacementNode: string; interruptedPods: string[] };
    migNode: string;
    timeSlicedNode: string;
    unlabelledNamespaces: string[];
    unallocatedNamespace: string;
    stuckPendingPods: string[];
    dataStartMs: number;
    dataEndMs: number;
  };
}

function mulberry32(seed: number) {
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
  dutyCache = [...byIp.keys()].sort().map((ip) => byIp.get(ip)!.sort((a, b) => a[0] - b[0]).map(([, v]) => v));
  return dutyCache;
}

/** Real job lifetimes (minutes) of GPU pods that ran, from the Alibaba pod trace. */
let lifeCache: { minutes: number; gpus: number }[] | undefined;
export function podLifetimes(): { minutes: number; gpus: number }[] {
  if (lifeCache) return lifeCache;
  const lines = readFileSync(path.join(TRACE_DIR, "openb_pod_list_default.csv"), "utf8").split("\n").slice(1);
  lifeCache = [];
  for (const l of lines) {
    const c = l.split(",");
    const gpus = Number(c[3]);
    const sched = c[10];
    if (!gpus || !sched) continue;
    const minutes = Math.round((Number(c[9]) - Number(sched)) / 60);
    if (minutes > 0) lifeCache.push({ minutes, gpus });
  }
  return lifeCache;
}

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

const TYPES: Record<string, { gpus: number; model: string }> = {
  "g4dn.xlarge": { gpus: 1, model: "T4" },
  "g4dn.12xlarge": { gpus: 4, model: "T4" },
  "g5.12xlarge": { gpus: 4, model: "A10G" },
  "p4d.24xlarge": { gpus: 8, model: "A100" },
};

export interface GenerateOptions {
  month: string;
  timeZone?: string;
  scale: Scale;
  seed?: number;
  /** Generate only the first N days of the month (the large benchmark size). */
  days?: number;
}

export function generateMonth(opts: GenerateOptions): GeneratedMonth {
  const timeZone = opts.timeZone ?? "Asia/Seoul";
  const seed = opts.seed ?? 20261001;
  const rnd = mulberry32(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!;
  const bm = billingMonth(opts.month, timeZone);
  const dataStartMs = bm.startMs - 3 * 60 * MIN;
  const monthEnd = opts.days ? bm.days[Math.min(opts.days, bm.days.length) - 1]!.endMs : bm.endMs;
  const dataEndMs = monthEnd + 3 * 60 * MIN;
  const minuteAt = (frac: number) => bm.startMs + Math.floor(((monthEnd - bm.startMs) * frac) / MIN) * MIN;

  const copies = { demo: 1, small: 1, medium: 6, large: 40 }[opts.scale];
  const nodes: NodeSpec[] = [];
  const add = (n: Omit<NodeSpec, "gpus" | "gpuModel" | "startMs" | "endMs"> & Partial<Pick<NodeSpec, "startMs" | "endMs">>) => {
    const t = TYPES[n.instanceType]!;
    nodes.push({ startMs: dataStartMs, endMs: dataEndMs, gpus: t.gpus, gpuModel: t.model, ...n });
  };
  const all = NAMESPACES.map((n) => n.name);
  for (let c = 0; c < copies; c++) {
    const s = copies > 1 ? `-${c}` : "";
    add({ name: `ip-10-0-1-${10 + c}.g4dn-od-a${s}`, instanceType: "g4dn.12xlarge", capacity: "on-demand", labelStyle: "karpenter", lanes: [1, 1, 2], namespaces: all });
    add({ name: `g4dn-spot-a${s}`, instanceType: "g4dn.12xlarge", capacity: "spot", labelStyle: "eks", lanes: [2, 1, 1], namespaces: all });
    add({ name: `g5-od-a${s}`, instanceType: "g5.12xlarge", capacity: "on-demand", labelStyle: "eks", lanes: [2, 2], namespaces: all });
    add({ name: `g5-spot-a${s}`, instanceType: "g5.12xlarge", capacity: "spot", labelStyle: "karpenter", lanes: [1, 1, 2], namespaces: all });
    add({ name: `p4d-od-a${s}`, instanceType: "p4d.24xlarge", capacity: "on-demand", labelStyle: "karpenter", lanes: [4, 2, 1, 1], namespaces: ["project-llm-finetune", "team-ai", "suwon-traffic", "seongnam-analytics"] });
    if (opts.scale !== "demo" && opts.scale !== "small") {
      add({ name: `p4d-spot-a${s}`, instanceType: "p4d.24xlarge", capacity: "spot", labelStyle: "eks", lanes: [8], namespaces: ["project-llm-finetune", "team-ai"] });
    }
  }
  // The scenario's special nodes exist once at every size.
  add({ name: "g4dn-od-late", instanceType: "g4dn.12xlarge", capacity: "on-demand", labelStyle: "eks", lanes: [1, 1], namespaces: all, endMs: minuteAt(0.62) });
  add({ name: "g4dn-spot-new", instanceType: "g4dn.12xlarge", capacity: "spot", labelStyle: "karpenter", lanes: [1, 2], namespaces: all, startMs: minuteAt(0.3) + 17 * MIN });
  add({ name: "g4dn-ts", instanceType: "g4dn.xlarge", capacity: "on-demand", labelStyle: "karpenter", replicas: 4, lanes: [1, 1, 1, 1], namespaces: ["yongin-cctv", "seongnam-chatbot", "sandbox-misc"] });
  add({ name: "p4d-mig", instanceType: "p4d.24xlarge", capacity: "on-demand", labelStyle: "eks", mig: { profile: "3g.40gb", resource: "nvidia_com_mig_3g_40gb", slices: 16 }, lanes: [2, 2, 1, 1, 1, 1, 1, 1], namespaces: ["team-ai", "project-llm-serving", "suwon-vision"] });
  const interruptAt = minuteAt(0.47) + 13 * MIN;
  add({ name: "g5-spot-doomed", instanceType: "g5.12xlarge", capacity: "spot", labelStyle: "karpenter", lanes: [2, 1, 1], namespaces: all, endMs: interruptAt });
  add({ name: "g5-od-replacement", instanceType: "g5.12xlarge", capacity: "on-demand", labelStyle: "karpenter", lanes: [], namespaces: all, startMs: interruptAt + 2 * MIN });

  const lifetimes = podLifetimes();
  const duty = dutyCycles();
  const jobs: Job[] = [];
  let seq = 0;
  const newJob = (node: NodeSpec, ns: string, units: number, created: number, pendingMin: number, runMin: number): Job => {
    const runStart = created + pendingMin * MIN;
    const runEnd = runStart + runMin * MIN;
    const endPhase = rnd() < 0.1 ? "Failed" : "Succeeded";
    return {
      pod: `${ns}-job-${(seq++).toString(36).padStart(5, "0")}`,
      namespace: ns,
      node: node.name,
      units,
      containers: units >= 2 && rnd() < 0.4 ? [units - 1, 1] : [units],
      createdMs: created,
      runStartMs: runStart,
      runEndMs: runEnd,
      endPhase,
      deletedMs: runEnd + (2 + Math.floor(rnd() * 4)) * MIN,
      utilLevel: LEVEL.get(ns)!,
      trace: Math.floor(rnd() * duty.length),
      gpuOffset: Math.floor(rnd() * 7) - 3,
    };
  };
  for (const node of nodes) {
    for (const width of node.lanes) {
      let t = node.startMs + Math.floor(rnd() * 120) * MIN;
      for (;;) {
        t += Math.floor(rnd() * 180) * MIN; // idle gap
        const sample = pick(lifetimes);
        const runMin = Math.max(10, Math.min(sample.minutes, 3 * 24 * 60));
        const pendingMin = 1 + Math.floor(rnd() * 5);
        const job = newJob(node, pick(node.namespaces), width, t, pendingMin, runMin);
        if (node.name === "g5-spot-doomed" && job.runStartMs < node.endMs && job.deletedMs >= node.endMs) {
          jobs.push(job); // cut by the interruption below
          break;
        }
        if (job.deletedMs >= node.endMs) break;
        jobs.push(job);
        t = job.deletedMs;
      }
    }
  }
  // Spot interruption: the running pods on the doomed node fail at the interruption,
  // and replacements start on an On-Demand node a few minutes later.
  const interrupted: string[] = [];
  const replacement = nodes.find((n) => n.name === "g5-od-replacement")!;
  for (const j of jobs.filter((j) => j.node === "g5-spot-doomed" && j.deletedMs >= interruptAt)) {
    const remaining = (j.runEndMs - interruptAt) / MIN;
    j.runEndMs = interruptAt;
    j.endPhase = "Failed";
    j.deletedMs = interruptAt + 2 * MIN;
    interrupted.push(j.pod);
    jobs.push({ ...newJob(replacement, j.namespace, j.units, interruptAt + 3 * MIN, 1 + Math.floor(rnd() * 3), Math.max(10, remaining)), pod: `${j.pod}-r` });
  }
  // Pods scheduled to a node but stuck in Pending (image pull, say): requests exist, nothing bills.
  const stuck: string[] = [];
  for (const node of nodes.filter((n) => n.name.startsWith("g4dn-spot-a")).slice(0, 1)) {
    const j = newJob(node, "team-data", 1, minuteAt(0.2), 90, 0);
    j.endPhase = "Pending";
    j.deletedMs = j.createdMs + 90 * MIN;
    j.runStartMs = j.runEndMs = j.deletedMs; // never runs
    jobs.push(j);
    stuck.push(j.pod);
  }
  jobs.sort((a, b) => (a.pod < b.pod ? -1 : 1));

  // Scrape gaps (Prometheus down 2–3 minutes), placed at least 6 minutes from any state change.
  const changes = new Set<number>();
  for (const j of jobs) for (const t of [j.createdMs, j.runStartMs, j.runEndMs, j.deletedMs]) changes.add(t);
  for (const n of nodes) changes.add(n.startMs).add(n.endMs);
  const sortedChanges = [...changes].sort((a, b) => a - b);
  const near = (t: number, len: number) => sortedChanges.some((c) => c > t - 7 * MIN && c < t + len + 7 * MIN);
  const gaps: { startMs: number; endMs: number }[] = [];
  for (let tries = 0; gaps.length < 4 && tries < 10_000; tries++) {
    const len = (2 + Math.floor(rnd() * 2)) * MIN;
    const t = minuteAt(0.05 + rnd() * 0.9);
    if (!near(t, len)) gaps.push({ startMs: t, endMs: t + len });
  }
  gaps.sort((a, b) => a.startMs - b.startMs);

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
    facts: {
      gpus: nodes.reduce((a, n) => a + n.gpus, 0),
      spotInterruption: { node: "g5-spot-doomed", atMs: interruptAt, replacementNode: replacement.name, interruptedPods: interrupted },
      migNode,
      timeSlicedNode: "g4dn-ts",
      unlabelledNamespaces: NAMESPACES.filter((n) => !n.tenantLabel).map((n) => n.name),
      unallocatedNamespace: "sandbox-misc",
      stuckPendingPods: stuck,
      dataStartMs,
      dataEndMs: monthEnd,
    },
  };
}

/** Phase of a job at tick t (undefined before creation and from deletion on). */
function phaseAt(j: Job, t: number): string | undefined {
  if (t < j.createdMs || t >= j.deletedMs) return undefined;
  if (t < j.runStartMs) return "Pending";
  if (t < j.runEndMs) return "Running";
  return j.endPhase;
}

/** Utilization of GPU/slice `i` of a job at tick t, as dcgm-exporter reports it (integer %, or 2-decimal fraction on MIG). */
function utilAt(j: Job, i: number, t: number, mig: boolean): number {
  const trace = dutyCycles()[j.trace]!;
  const v = trace[((t / MIN + i * 37) % trace.length + trace.length) % trace.length]!;
  const u = Math.min(1, Math.max(0, j.utilLevel + (v / 100 - 0.07) * 0.15 + (j.gpuOffset + i) / 100));
  return mig ? Math.round(u * 100) / 100 : Math.round(u * 100);
}

const inGap = (g: GeneratedMonth, t: number) => g.gaps.some((x) => t >= x.startMs && t < x.endMs);

/**
 * Writes the data as OpenMetrics, one file per 24 h from the data start,
 * the form `promtool tsdb create-blocks-from openmetrics` backfills.
 */
export async function writeOpenMetricsDays(g: GeneratedMonth, dir: string): Promise<string[]> {
  await mkdir(dir, { recursive: true });
  const files: string[] = [];
  const DAY = 24 * 60 * MIN;
  const nodeOf = new Map(g.nodes.map((n) => [n.name, n]));
  for (let fs = g.dataStartMs, idx = 0; fs < g.dataEndMs; fs += DAY, idx++) {
    const fe = Math.min(fs + DAY, g.dataEndMs);
    const file = path.join(dir, `day-${String(idx).padStart(3, "0")}.om`);
    const fh = await open(file, "w");
    let buf: string[] = [];
    let size = 0;
    const flush = async () => {
      if (buf.length) await fh.write(buf.join(""));
      buf = [];
      size = 0;
    };
    const put = (s: string) => {
      buf.push(s);
      size += s.length;
    };
    /**
     * Emits a series at every minute of [from, to) inside this file, then an end marker at `to`.
     * Prometheus ends a vanished series with a staleness marker (a special NaN) that every
     * selector skips; promtool cannot write one, so the marker is a stand-in that our queries
     * treat as "absent" — NaN where they filter or take min/max (requests, node and namespace
     * labels), 0 for the 0/1 phase and the utilization series, which they only sum: summed,
     * a 0 adds what an absent sample adds. (A plain NaN reaching a sum fails the metering
     * loudly — the adapter rejects non-finite values — rather than billing wrong.)
     */
    const series = async (name: string, labels: string, from: number, to: number, value: (t: number) => number | string, endMarker: "NaN" | "0" = "NaN") => {
      const s = Math.max(from, fs);
      const prefix = `${name}{${labels}} `;
      for (let t = s; t < Math.min(to, fe); t += MIN) if (!inGap(g, t)) put(`${prefix}${value(t)} ${t / 1000}\n`);
      if (to >= fs && to < fe) put(`${prefix}${endMarker} ${to / 1000}\n`);
      if (size > 1 << 23) await flush();
    };
    const live = (from: number, to: number) => from < fe && to >= fs;
    const KSM = ['instance="10.0.1.11:8080",job="kube-state-metrics"', 'instance="10.0.1.12:8080",job="kube-state-metrics"'];

    put("# TYPE kube_node_labels gauge\n");
    for (const n of g.nodes) {
      if (!live(n.startMs, n.endMs)) continue;
      const cap = n.labelStyle === "karpenter" ? `label_karpenter_sh_capacity_type="${n.capacity}"` : `label_eks_amazonaws_com_capacity_type="${n.capacity === "spot" ? "SPOT" : "ON_DEMAND"}"`;
      const extra = (n.replicas ? `,label_nvidia_com_gpu_replicas="${n.replicas}"` : "") + (n.mig ? `,label_nvidia_com_mig_config="all-${n.mig.profile}"` : "");
      for (const k of KSM) await series("kube_node_labels", `${k},label_node_kubernetes_io_instance_type="${n.instanceType}",${cap}${extra},node="${n.name}"`, n.startMs, n.endMs, () => 1);
    }
    for (const k of KSM) await series("kube_node_labels", `${k},label_node_kubernetes_io_instance_type="m5.2xlarge",label_karpenter_sh_capacity_type="on-demand",node="cpu-system-a"`, g.dataStartMs, g.dataEndMs, () => 1);
    put("# TYPE kube_node_status_capacity gauge\n");
    for (const n of g.nodes) {
      if (!live(n.startMs, n.endMs)) continue;
      const [res, v] = n.mig ? [n.mig.resource, n.mig.slices] : ["nvidia_com_gpu", n.gpus * (n.replicas ?? 1)];
      for (const k of KSM) await series("kube_node_status_capacity", `${k},node="${n.name}",resource="${res}",unit="integer"`, n.startMs, n.endMs, () => v);
    }
    put("# TYPE kube_namespace_labels gauge\n");
    for (const ns of g.namespaces)
      for (const k of KSM) await series("kube_namespace_labels", `${k},${ns.tenantLabel ? `label_tenant="${ns.tenantLabel}",` : ""}namespace="${ns.name}"`, g.dataStartMs, g.dataEndMs, () => 1);

    const jobs = g.jobs.filter((j) => live(j.createdMs, j.deletedMs));
    put("# TYPE kube_pod_container_resource_requests gauge\n");
    for (const j of jobs) {
      const res = nodeOf.get(j.node)!.mig?.resource ?? "nvidia_com_gpu";
      for (const [ci, units] of j.containers.entries())
        for (const k of KSM)
          await series("kube_pod_container_resource_requests", `${k},container="c${ci}",namespace="${j.namespace}",node="${j.node}",pod="${j.pod}",resource="${res}",unit="integer"`, j.createdMs, j.deletedMs, () => units);
    }
    put("# TYPE kube_pod_status_phase gauge\n");
    for (const j of jobs)
      for (const phase of ["Pending", "Running", "Succeeded", "Failed"])
        for (const k of KSM)
          await series("kube_pod_status_phase", `${k},namespace="${j.namespace}",phase="${phase}",pod="${j.pod}"`, j.createdMs, j.deletedMs, (t) => (phaseAt(j, t) === phase ? 1 : 0), "0");
    // dcgm-exporter attributes a GPU to a pod while the pod's container holds it (Running).
    put("# TYPE DCGM_FI_DEV_GPU_UTIL gauge\n");
    for (const j of jobs) {
      if (j.runEndMs <= j.runStartMs) continue;
      const n = nodeOf.get(j.node)!;
      for (let i = 0; i < j.units; i++) {
        const prof = n.mig ? `,GPU_I_ID="${i}",GPU_I_PROFILE="${n.mig.profile}"` : "";
        await series("DCGM_FI_DEV_GPU_UTIL", `Hostname="${j.node}",UUID="GPU-${j.pod}-${i}",container="c0",gpu="${i}"${prof},modelName="NVIDIA ${n.gpuModel}",namespace="${j.namespace}",pod="${j.pod}"`, j.runStartMs, j.runEndMs, (t) => (n.mig ? 0 : utilAt(j, i, t, false)), "0");
      }
    }
    put("# TYPE DCGM_FI_PROF_GR_ENGINE_ACTIVE gauge\n");
    for (const j of jobs) {
      const n = nodeOf.get(j.node)!;
      if (!n.mig || j.runEndMs <= j.runStartMs) continue;
      for (let i = 0; i < j.units; i++)
        await series("DCGM_FI_PROF_GR_ENGINE_ACTIVE", `Hostname="${j.node}",UUID="GPU-${j.pod}-${i}",container="c0",gpu="${i}",GPU_I_ID="${i}",GPU_I_PROFILE="${n.mig.profile}",modelName="NVIDIA A100-SXM4-40GB",namespace="${j.namespace}",pod="${j.pod}"`, j.runStartMs, j.runEndMs, (t) => utilAt(j, i, t, true), "0");
    }
    put("# EOF\n");
    await flush();
    await fh.close();
    files.push(file);
  }
  return files;
}

/** The exact answer: a minute-by-minute simulation over the month's ticks, independent of PromQL. */
export function exactAnswer(g: GeneratedMonth): MonthUsage {
  const bm = billingMonth(g.month, g.timeZone);
  const days = bm.days.filter((d) => d.endMs <= g.facts.dataEndMs);
  const dayOf = (t: number) => days.find((d) => t >= d.startMs && t < d.endMs)?.day;
  const usage = new Map<string, UsageRecord>();
  const nodeOf = new Map(g.nodes.map((n) => [n.name, n]));
  for (const j of g.jobs) {
    const n = nodeOf.get(j.node)!;
    const resource = n.mig?.resource ?? "nvidia_com_gpu";
    for (let t = Math.max(j.runStartMs, bm.startMs); t < Math.min(j.runEndMs, g.facts.dataEndMs); t += MIN) {
      const day = dayOf(t);
      if (!day) continue;
      const k = `${day}|${j.namespace}|${j.node}`;
      const u = usage.get(k) ?? usage.set(k, { day, namespace: j.namespace, node: j.node, resource, requestMinutes: 0, usedMinutes: 0 }).get(k)!;
      let sum = 0;
      for (let i = 0; i < j.units; i++) sum += n.mig ? utilAt(j, i, t, true) : utilAt(j, i, t, false) / 100;
      u.requestMinutes += j.units;
      u.usedMinutes += j.units * (sum / j.units);
    }
  }
  const nodes: NodeRecord[] = [];
  for (const n of g.nodes)
    for (const d of days) {
      const minutes = Math.max(0, (Math.min(n.endMs, d.endMs) - Math.max(n.startMs, d.startMs)) / MIN);
      if (minutes > 0)
        nodes.push({
          day: d.day,
          node: n.name,
          instanceType: n.instanceType,
          capacityLabel: n.labelStyle === "karpenter" ? n.capacity : n.capacity === "spot" ? "SPOT" : "ON_DEMAND",
          gpuReplicas: n.replicas ?? 1,
          nodeMinutes: minutes,
        });
    }
  return {
    usage: [...usage.values()],
    nodes,
    namespaces: g.namespaces.filter((n) => n.tenantLabel).map((n) => ({ namespace: n.name, tenantLabel: n.tenantLabel! })),
  };
}

/**
 * The exact per-pod answer, by the same minute-by-minute simulation as exactAnswer: one
 * record per (namespace, pod, node, resource) summed over the month's metered days.
 */
export function exactPodAnswer(g: GeneratedMonth): PodUsageRecord[] {
  const bm = billingMonth(g.month, g.timeZone);
  const days = bm.days.filter((d) => d.endMs <= g.facts.dataEndMs);
  const inDays = (t: number) => days.some((d) => t >= d.startMs && t < d.endMs);
  const pods = new Map<string, PodUsageRecord>();
  const nodeOf = new Map(g.nodes.map((n) => [n.name, n]));
  for (const j of g.jobs) {
    const n = nodeOf.get(j.node)!;
    const resource = n.mig?.resource ?? "nvidia_com_gpu";
    for (let t = Math.max(j.runStartMs, bm.startMs); t < Math.min(j.runEndMs, g.facts.dataEndMs); t += MIN) {
      if (!inDays(t)) continue;
      const k = `${j.namespace}|${j.pod}|${j.node}`;
      const p = pods.get(k) ?? pods.set(k, { namespace: j.namespace, pod: j.pod, node: j.node, resource, requestMinutes: 0, usedMinutes: 0 }).get(k)!;
      let sum = 0;
      for (let i = 0; i < j.units; i++) sum += n.mig ? utilAt(j, i, t, true) : utilAt(j, i, t, false) / 100;
      p.requestMinutes += j.units;
      p.usedMinutes += j.units * (sum / j.units);
    }
  }
  return [...pods.values()];
}

