/**
 * Replays a week of the real Alibaba GPU pod trace (creation times, lifetimes,
 * GPU counts; functions/demo/trace/openb_pod_list_default.csv) on a
 * simulated EKS cluster, with GPU utilization from the real per-container duty
 * cycles (pod_gpu_duty_cycle_anon.tar.gz), through the controller's planner
 * every 2 minutes — once as configured and once never reclaiming — and prints
 * GPU node-hours saved, work interrupted, pod wait for capacity, flapping.
 *
 *   npx tsx test/bench/controller-sim.ts [--days 7] [--start-day 141] [--seed 7] [--dump-snapshot FILE]
 */
import { readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { validatePolicy, type ControllerPolicy } from "../../functions/controller/policy.js";
import { simulateCluster, type SimJob, type SimOptions, type SimResult } from "../../functions/controller/simulate.js";
import { planController } from "../../functions/controller/decide.js";
import {
  CA_DEFAULTS,
  clusterAutoscalerPlanner,
  idealGpuNodeHours,
  karpenterPlanner,
  type PeerPlanner,
} from "../../functions/controller/peers.js";
import type { ControllerState, Snapshot } from "../../functions/controller/snapshot.js";
import { dutyCycles, TRACE_DIR } from "../../functions/demo/month-generator.js";

const TRACE = path.join(TRACE_DIR, "openb_pod_list_default.csv");
const DAY_S = 86_400;

/** The simulated cluster's controller policy: g5 serving pool (2 Spot groups + On-Demand), p4d batch pool. Acting, not dry-run. */
export function simPolicy(over: Record<string, unknown> = {}): ControllerPolicy {
  const g5 = {
    pool: "g5",
    instanceType: "g5.12xlarge",
    gpusPerNode: 4,
    workloadClass: "inference",
    minFreeGpus: 1,
    disruptionBudget: "25%",
    dryRun: false,
    maxStep: 3,
  };
  return validatePolicy({
    timeZone: "Asia/Seoul",
    defaultPool: "g5",
    nodeGroups: [
      { ...g5, name: "g5-spot-a", autoScalingGroupName: "asg-g5-spot-a", capacityType: "spot", priority: 1 },
      { ...g5, name: "g5-spot-b", autoScalingGroupName: "asg-g5-spot-b", capacityType: "spot", priority: 2 },
      { ...g5, name: "g5-od", autoScalingGroupName: "asg-g5-od", capacityType: "on-demand" },
      {
        name: "p4d-batch",
        autoScalingGroupName: "asg-p4d",
        pool: "p4d",
        capacityType: "on-demand",
        instanceType: "p4d.24xlarge",
        gpusPerNode: 8,
        workloadClass: "batch",
        maxStep: 1,
        disruptionBudget: 1,
        dryRun: false,
      },
    ],
    ...over,
  });
}

/**
 * GPU pods of the trace that were scheduled, arriving in [startDay, startDay + days),
 * plus those already running at the start (they arrive at minute 0 with their remaining life).
 * Fractional GPUs (gpu_milli < 1000) are rounded up to one GPU; pods of more than 4 GPUs go to the p4d pool.
 */
export function loadTraceJobs(startDay: number, days: number, file = TRACE): SimJob[] {
  const duty = dutyCycles();
  const start = startDay * DAY_S;
  const end = start + days * DAY_S;
  const jobs: SimJob[] = [];
  const lines = readFileSync(file, "utf8").split("\n").slice(1);
  for (const l of lines) {
    const c = l.split(",");
    const gpus = Number(c[3]);
    if (!gpus || !c[10]) continue;
    const created = Number(c[8]);
    const sched = Number(c[10]);
    const deleted = Number(c[9]) || end;
    if (deleted <= start || created >= end) continue;
    const life = Math.max(1, Math.round((deleted - sched) / 60));
    const arriveMin = Math.max(0, Math.floor((created - start) / 60));
    const durationMin = created < start ? Math.max(1, Math.round((deleted - start) / 60)) : life;
    const h = [...c[0]!].reduce((a, ch) => (a * 31 + ch.charCodeAt(0)) >>> 0, 7);
    const trace = duty[h % duty.length]!;
    jobs.push({ id: c[0]!, arriveMin, durationMin, gpus, pool: gpus > 4 ? "p4d" : "g5", duty: trace, dutyOffset: h % trace.length });
  }
  return jobs;
}

const simPlanReclaims = (snap: Snapshot, state: ControllerState) =>
  planController(snap, simPolicy(), state).decisions.some((d) => d.action === "terminate-instance");

export interface ControllerSimReport {
  days: number;
  jobs: number;
  controller: SimResult;
  baseline: SimResult;
  table: string;
}

const pct = (xs: number[], q: number) =>
  xs.length ? [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(q * xs.length))]! : 0;

export function simOptions(policy: ControllerPolicy, minutes: number, seed: number): Omit<SimOptions, "reclaim"> {
  return {
    policy,
    startMs: Date.parse("2026-11-16T00:00:00+09:00"), // a Monday in Seoul
    minutes,
    controllerEveryMinutes: 2,
    bootMinutes: { spot: 4, "on-demand": 5 },
    // g5 Spot capacity (both Spot groups) disappears for 5 hours on day 4 (a busy evening), and Prometheus for 20 minutes on day 3.
    spotOutages: ["g5-spot-a", "g5-spot-b"]
      .map((group) => ({ group, fromMin: 3 * 1440 + 1200, toMin: 3 * 1440 + 1500 }))
      .filter((x) => x.fromMin < minutes),
    metricsOutages: [{ fromMin: 2 * 1440 + 300, toMin: 2 * 1440 + 320 }].filter((x) => x.fromMin < minutes),
    scrapeMissRate: 0.02,
    initialNodes: { "g5-spot-a": 6, "g5-od": 2, "p4d-batch": 1 },
    groupLimits: {
      "g5-spot-a": { min: 1, max: 30 },
      "g5-spot-b": { min: 0, max: 30 },
      "g5-od": { min: 0, max: 30 },
      "p4d-batch": { min: 0, max: 4 },
    },
    seed,
  };
}

export function runControllerSimulation(
  opts: {
    days?: number;
    startDay?: number;
    seed?: number;
    minutes?: number;
    policy?: Record<string, unknown>;
    g5MinFreeGpus?: number;
    onRun?: SimOptions["onRun"];
  } = {},
): ControllerSimReport {
  const days = opts.days ?? 7;
  const minutes = opts.minutes ?? Math.round(days * 1440);
  const jobs = loadTraceJobs(opts.startDay ?? 141, minutes / 1440);
  const policy = simPolicy(opts.policy);
  if (opts.g5MinFreeGpus !== undefined) for (const g of policy.nodeGroups) if (g.pool === "g5") g.minFreeGpus = opts.g5MinFreeGpus;
  const base = simOptions(policy, minutes, opts.seed ?? 7);
  const controller = simulateCluster(jobs, { ...base, reclaim: true, onRun: opts.onRun });
  const baseline = simulateCluster(jobs, { ...base, reclaim: false });
  const saved = baseline.gpuNodeHours - controller.gpuNodeHours;
  const f = (x: number, d = 1) => x.toFixed(d);
  const row = (name: string, c: string, b: string) => `| ${name.padEnd(46)} | ${c.padStart(14)} | ${b.padStart(14)} |`;
  const table = [
    `Controller simulation: ${f(minutes / 1440, 2)} days of the Alibaba GPU trace (days ${opts.startDay ?? 141}+, ${jobs.length} GPU pods), controller every 2 min`,
    "",
    row("", "controller", "never reclaims"),
    row("-".repeat(46), "-".repeat(14), "-".repeat(14)),
    row("GPU node-hours (GPUs × node-hours)", f(controller.gpuNodeHours), f(baseline.gpuNodeHours)),
    row("GPU node-hours saved", `${f(saved)} (${f((100 * saved) / baseline.gpuNodeHours)}%)`, "-"),
    row(
      "nodes reclaimed / scale-outs (nodes added)",
      `${controller.reclaims} / ${controller.scaleOuts} (${controller.nodesAdded})`,
      `0 / ${baseline.scaleOuts} (${baseline.nodesAdded})`,
    ),
    row("work interrupted (pods on terminated nodes)", String(controller.interruptedPods), String(baseline.interruptedPods)),
    row("busy nodes chosen by the plan (re-check)", String(controller.busyNodesChosen), "-"),
    row("pods that waited for capacity", String(controller.waits.length), String(baseline.waits.length)),
    row(
      "pod wait for capacity, median / p95 (min)",
      `${pct(controller.waits, 0.5)} / ${pct(controller.waits, 0.95)}`,
      `${pct(baseline.waits, 0.5)} / ${pct(baseline.waits, 0.95)}`,
    ),
    row("pods never started in the window", String(controller.podsNeverStarted), String(baseline.podsNeverStarted)),
    row("flapping, same group within 15 min", String(controller.flapsSameGroup), String(baseline.flapsSameGroup)),
    row("flapping, same pool within 15 min (stricter)", String(controller.flapsSamePool), String(baseline.flapsSamePool)),
    row(
      "Spot marked unavailable / On-Demand fallbacks",
      `${controller.spotMarks} / ${controller.onDemandScaleOuts}`,
      `${baseline.spotMarks} / ${baseline.onDemandScaleOuts}`,
    ),
    row("runs halted (Prometheus outage)", `${controller.haltedRuns} of ${controller.runs}`, `${baseline.haltedRuns} of ${baseline.runs}`),
  ].join("\n");
  return { days: minutes / 1440, jobs: jobs.length, controller, baseline, table };
}

/** The trace's busiest week (most GPU-hours requested and most pods created of any 7 days; see busiestWeek). */
export const BUSIEST_WEEK_START_DAY = 142;

/** Start day of the 7-day window of the trace with the most GPU-hours requested by scheduled GPU pods. */
export function busiestWeek(file = TRACE): { startDay: number; gpuHours: number } {
  const hours = new Map<number, number>();
  for (const l of readFileSync(file, "utf8").split("\n").slice(1)) {
    const c = l.split(",");
    const gpus = Number(c[3]);
    if (!gpus || !c[10]) continue;
    const from = Math.floor(Number(c[10]) / 3600);
    const to = Math.ceil((Number(c[9]) || Number(c[10]) + DAY_S) / 3600);
    for (let h = from; h < to; h++) hours.set(h, (hours.get(h) ?? 0) + gpus);
  }
  const days = Math.max(...hours.keys()) / 24;
  let best = { startDay: 0, gpuHours: -1 };
  for (let d = 0; d + 7 <= days; d++) {
    let sum = 0;
    for (let h = d * 24; h < (d + 7) * 24; h++) sum += hours.get(h) ?? 0;
    if (sum > best.gpuHours) best = { startDay: d, gpuHours: sum };
  }
  return best;
}

export interface PeerColumn {
  name: string;
  result?: SimResult;
  gpuNodeHours: number;
}

export interface PeerComparison {
  startDay: number;
  days: number;
  jobs: number;
  baseline: SimResult;
  columns: PeerColumn[];
  table: string;
}

/** Karpenter with consolidateAfter 10m and the default 10% node budget; the Cluster Autoscaler with its defaults. */
export const PEERS: { key: string; planner: () => PeerPlanner }[] = [
  {
    key: "Karpenter WhenEmpty",
    planner: () => karpenterPlanner({ consolidationPolicy: "WhenEmpty", consolidateAfterMinutes: 10, budgetNodes: "10%" }),
  },
  {
    key: "Karpenter WhenEmptyOrUnderutilized",
    planner: () => karpenterPlanner({ consolidationPolicy: "WhenEmptyOrUnderutilized", consolidateAfterMinutes: 10, budgetNodes: "10%" }),
  },
  { key: "Cluster Autoscaler", planner: () => clusterAutoscalerPlanner(CA_DEFAULTS) },
];

export const SIMPLIFICATIONS = [
  "Same trace pods, same cluster (g5 4-GPU pool: 2 Spot groups + On-Demand; p4d 8-GPU pool), same bin-packing scheduler, same boot times (Spot 4, On-Demand 5 min), same Spot outage, same group minimums, for every column.",
  "Peers see the cluster directly every minute (upstream loops run every ~10 s) and provision right away for pods that fit nowhere, Spot first, backing a failed Spot group off 3 min (Karpenter) / 5 min (CA); this controller runs every 2 min on Prometheus metrics with a 60 s pending grace.",
  "One instance type per pool: Karpenter's replace-with-a-cheaper-node and Spot-to-Spot consolidation are not modelled, only deletion (empty, multi-node, single-node).",
  "Pods a peer moves are evicted and restart elsewhere with the rest of their run: work lost on restart (no checkpoint) is not charged, so the moving peers are flattered. No PDBs (trace pods have none).",
  "Evicted pods' restart waits are not in the wait rows (those are first starts); they are counted under work interrupted.",
  "The ideal is a bound, not a policy: every pod runs from creation, GPUs are fungible across a pool's nodes (repacking is free), nodes exist only while needed, group minimums kept.",
  "Never-reclaims is this controller's scale-out with reclaim off: the reference all savings are measured from.",
];

export function runPeerComparison(opts: {
  startDay: number;
  days?: number;
  seed?: number;
  minutes?: number;
  policy?: Record<string, unknown>;
}): PeerComparison {
  const days = opts.days ?? 7;
  const minutes = opts.minutes ?? Math.round(days * 1440);
  const jobs = loadTraceJobs(opts.startDay, minutes / 1440);
  const policy = simPolicy(opts.policy);
  const base = simOptions(policy, minutes, opts.seed ?? 7);
  const baseline = simulateCluster(jobs, { ...base, reclaim: false });
  const columns: PeerColumn[] = [];
  const controller = simulateCluster(jobs, { ...base, reclaim: true });
  columns.push({ name: "this controller", result: controller, gpuNodeHours: controller.gpuNodeHours });
  for (const peer of PEERS) {
    const res = simulateCluster(jobs, { ...base, reclaim: true, peer: peer.planner() });
    columns.push({ name: peer.key, result: res, gpuNodeHours: res.gpuNodeHours });
  }
  const pools = [...new Set(policy.nodeGroups.map((g) => g.pool ?? g.name))].map((pool) => {
    const gs = policy.nodeGroups.filter((g) => (g.pool ?? g.name) === pool);
    return { pool, gpusPerNode: gs[0]!.gpusPerNode, minNodes: gs.reduce((a, g) => a + (base.groupLimits[g.name]?.min ?? 0), 0) };
  });
  const ideal = idealGpuNodeHours(jobs, pools, minutes);
  columns.push({ name: "ideal (bound)", gpuNodeHours: ideal });
  const idealSaved = baseline.gpuNodeHours - ideal;
  const f = (x: number, d = 1) => x.toFixed(d);
  const W = 14;
  const heads = [
    "this controller",
    "Karpenter WhenEmpty",
    "Karpenter WhenEmptyOrUnderutilized",
    "Cluster Autoscaler",
    "ideal (bound)",
    "never reclaims",
  ];
  const short = ["controller", "K WhenEmpty", "K +Underutil.", "Cluster Autosc.", "ideal (bound)", "never reclaims"];
  const row = (name: string, cells: string[]) => `| ${name.padEnd(44)} | ${cells.map((c) => c.padStart(W)).join(" | ")} |`;
  const sims = columns.map((c) => c.result);
  const per = (fn: (r: SimResult) => string, idealCell = "–", base = fn(baseline)) => [...sims.map((r) => (r ? fn(r) : idealCell)), base];
  const saved = (h: number) => baseline.gpuNodeHours - h;
  const lines = [
    `Controller vs peers: days ${opts.startDay}–${opts.startDay + minutes / 1440} of the Alibaba GPU trace (${jobs.length} GPU pods)${opts.startDay === BUSIEST_WEEK_START_DAY ? " — the busiest week" : ""}`,
    `columns: ${heads.map((h, i) => `${short[i]} = ${h}`).join("; ")}`,
    "",
    row("", short),
    row(
      "-".repeat(44),
      short.map(() => "-".repeat(W)),
    ),
    row("GPU node-hours (GPUs × node-hours)", [...columns.map((c) => f(c.gpuNodeHours)), f(baseline.gpuNodeHours)]),
    row("saved vs never-reclaim", [
      ...columns.map((c) => `${f(saved(c.gpuNodeHours))} (${f((100 * saved(c.gpuNodeHours)) / baseline.gpuNodeHours)}%)`),
      "–",
    ]),
    row("share of the ideal's savings", [
      ...columns.map((c) => (idealSaved > 0 ? `${f((100 * saved(c.gpuNodeHours)) / idealSaved, 0)}%` : "–")),
      "0%",
    ]),
    row(
      "work interrupted: pods on removed nodes",
      per((r) => String(r.interruptedPods), "– (moves free)"),
    ),
    row(
      "nodes removed (empty / pods moved)",
      per(
        (r) =>
          `${r.reclaims} (${r.reclaims - (r.removeReasons["underutilized-pods-fit-elsewhere"] ?? 0) - (r.removeReasons["unneeded-below-threshold"] ?? 0)} / ${(r.removeReasons["underutilized-pods-fit-elsewhere"] ?? 0) + (r.removeReasons["unneeded-below-threshold"] ?? 0)})`,
      ),
    ),
    row(
      "pods that waited for capacity",
      per((r) => String(r.waits.length), "0"),
    ),
    row(
      "wait for capacity, median / p95 (min)",
      per((r) => `${pct(r.waits, 0.5)} / ${pct(r.waits, 0.95)}`, "0 / 0"),
    ),
    row(
      "scale-outs (nodes added)",
      per((r) => `${r.scaleOuts} (${r.nodesAdded})`),
    ),
    row(
      "flapping within 15 min, same group / pool",
      per((r) => `${r.flapsSameGroup} / ${r.flapsSamePool}`),
    ),
    row(
      "Spot fallbacks: On-Demand scale-outs",
      per((r) => String(r.onDemandScaleOuts)),
    ),
    row(
      "Spot launches given up (marked / backed off)",
      per((r) => String(r.spotMarks)),
    ),
    row(
      "pods never started in the window",
      per((r) => String(r.podsNeverStarted), "0"),
    ),
  ];
  return { startDay: opts.startDay, days: minutes / 1440, jobs: jobs.length, baseline, columns, table: lines.join("\n") };
}

if (process.argv[1] && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) {
  const { values } = parseArgs({
    options: {
      days: { type: "string", default: "7" },
      "start-day": { type: "string", default: "141" },
      seed: { type: "string", default: "7" },
      "dump-snapshot": { type: "string" },
      "at-minute": { type: "string" },
    },
  });
  const t0 = performance.now();
  const dumpAt = values["at-minute"] !== undefined ? Number(values["at-minute"]) : undefined;
  let dumped = false;
  const rep = runControllerSimulation({
    days: Number(values.days),
    startDay: Number(values["start-day"]),
    seed: Number(values.seed),
    // Records one run's inputs for `gpu-billing controller plan --state FILE`: the given minute, else the first run that reclaims.
    onRun: values["dump-snapshot"]
      ? (snap, state, minute) => {
          if (dumped || (dumpAt !== undefined ? minute < dumpAt : !simPlanReclaims(snap, state))) return;
          writeFileSync(values["dump-snapshot"]!, JSON.stringify({ snapshot: snap, state, policy: simPolicy() }, null, 1));
          dumped = true;
          console.error(`recorded the run at minute ${minute} to ${values["dump-snapshot"]}`);
        }
      : undefined,
  });
  console.log(rep.table);
  console.log(`\n(simulated in ${((performance.now() - t0) / 1000).toFixed(1)} s)`);
}
