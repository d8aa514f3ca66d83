import { planController } from "./decide.js";
import type { ControllerPolicy, NodeGroupPolicy } from "./policy.js";
import { emptyPeerState, type PeerPlanner, type PeerState, type PeerView } from "./peers.js";
import {
  emptyState,
  type ControllerState,
  type GpuWindow,
  type GroupInfo,
  type GroupUtilWindow,
  type NodeInfo,
  type PodInfo,
  type Snapshot,
} from "./snapshot.js";

/**
 * A minute-by-minute cluster simulator that runs the real planner
 * (planController) at its schedule. Pure: jobs, duty cycles and options in,
 * figures out. The cluster: managed node groups behind Auto Scaling groups
 * that launch nodes when desired > instances (Spot may be out of capacity for
 * a while), a bin-packing scheduler (MostAllocated, as GPU clusters configure
 * it), dcgm-like per-GPU utilization from real duty cycles with scrape gaps.
 */
export interface SimJob {
  id: string;
  /** Minute the pod is created (pending from then). */
  arriveMin: number;
  durationMin: number;
  gpus: number;
  pool: string;
  /** Per-minute GPU utilization (0–100) the job runs at, cycled. */
  duty: number[];
  dutyOffset: number;
}

export interface SimOptions {
  policy: ControllerPolicy;
  startMs: number;
  minutes: number;
  controllerEveryMinutes: number;
  /** Minutes from launch to Ready (GPUs allocatable one minute later). */
  bootMinutes: { spot: number; "on-demand": number };
  /** Spot groups out of capacity in [fromMin, toMin): launches fail with a capacity error. */
  spotOutages: { group: string; fromMin: number; toMin: number }[];
  /** Prometheus unavailable in [fromMin, toMin): the controller must halt. */
  metricsOutages: { fromMin: number; toMin: number }[];
  /** Probability that one node's scrape is missing in a minute. */
  scrapeMissRate: number;
  /** Nodes running at minute 0, per group. */
  initialNodes: Record<string, number>;
  groupLimits: Record<string, { min: number; max: number }>;
  /** false = the baseline that never reclaims (scale-out unchanged). */
  reclaim: boolean;
  seed: number;
  /**
   * Drive a peer autoscaler (Karpenter, Cluster Autoscaler: peers.ts) instead of this controller:
   * it runs every `peer.everyMinutes`, sees the cluster directly (no metrics) and may move pods.
   */
  peer?: PeerPlanner;
  /** Called with every controller run's inputs (to record a run for `gpu-billing controller plan --state`). */
  onRun?: (snap: Snapshot, state: ControllerState, minute: number) => void;
}

export interface SimResult {
  gpuNodeHours: number;
  nodeHoursByGroup: Record<string, number>;
  reclaims: number;
  scaleOuts: number;
  nodesAdded: number;
  /** Pods running on a node when it was removed (a peer evicts them to move them; this controller must not). */
  interruptedPods: number;
  /** Removals by reason (peers). */
  removeReasons: Record<string, number>;
  /** Reclaims the planner chose on a node that held work (caught by the re-check). Expected 0: the plan itself must not pick busy nodes. */
  busyNodesChosen: number;
  /** Minutes from creation to Running, for pods that could not start at once. */
  waits: number[];
  podsStarted: number;
  podsNeverStarted: number;
  /** A reclaim and an add in the same group within 15 minutes. Must be 0. */
  flapsSameGroup: number;
  /** The same across the groups of a pool (stricter than counting each group alone). */
  flapsSamePool: number;
  haltedRuns: number;
  /** Every reclaim and add, in order (minute, group). */
  events: { group: string; pool: string; kind: "reclaim" | "add"; t: number; nodes: number }[];
  spotMarks: number;
  /** Scale-outs that went to On-Demand in pools that have Spot groups (the fallback). */
  onDemandScaleOuts: number;
  runs: number;
}

interface SimNode {
  name: string;
  group: string;
  pool: string;
  capacityType: "spot" | "on-demand";
  gpus: number;
  launchedMin: number;
  readyMin: number;
  terminatedMin?: number;
  holders: (SimJob | null)[];
  tainted: boolean;
  /** Minute a pod last landed on or left the node. */
  lastPodEventMin?: number;
  /** Last idle-window minutes of per-GPU utilization; NaN = scrape missing. */
  history: number[][];
}

function rng(seed: number) {
  let t = seed >>> 0;
  return () => {
    t += 0x6d2b79f5;
    let r = Math.imul(t ^ (t >>> 15), 1 | t);
    r ^= r + Math.imul(r ^ (r >>> 7), r | 61);
    return ((r ^ (r >>> 14)) >>> 0) / 4294967296;
  };
}

const MIN = 60_000;

/** A value the simulation itself put in the map: its absence is a bug in the simulator. */
function known<K, V>(m: Map<K, V>, k: K): V {
  const v = m.get(k);
  if (v === undefined) throw new Error(`simulator: no entry for ${String(k)}`);
  return v;
}

/** Everything the simulated minute loop reads and changes. */
interface Sim {
  o: SimOptions;
  p: ControllerPolicy;
  rand: () => number;
  groupPol: Map<string, NodeGroupPolicy>;
  desired: Map<string, number>;
  capacityErrorAt: Map<string, number>;
  nodes: SimNode[];
  seq: number;
  jobs: SimJob[];
  next: number;
  pending: SimJob[];
  running: Map<SimJob, { node: SimNode; startMin: number; endMin: number }>;
  /** Per group, the last scale-out-window minutes of mean GPU utilization; NaN = no sample. */
  groupHistory: Map<string, number[]>;
  state: ControllerState;
  peerState: PeerState;
  /** Pods a peer evicted, back in the queue with the rest of their run (their restart wait is not a capacity wait). */
  requeued: Set<SimJob>;
  r: SimResult;
}

const poolOfGroup = (s: Sim, g: string) => known(s.groupPol, g).pool ?? g;
const live = (n: SimNode, t: number) => n.terminatedMin === undefined && n.launchedMin <= t;
const isReady = (n: SimNode, t: number) => live(n, t) && t >= n.readyMin;
const allocatable = (n: SimNode, t: number) => (t >= n.readyMin + 1 ? n.gpus : 0);
const freeSlots = (n: SimNode) => n.holders.filter((h) => !h).length;
const jobsOn = (n: SimNode) => [...new Set(n.holders.filter((h): h is SimJob => h !== null))];

function launch(s: Sim, group: string, t: number, ready?: number): SimNode {
  const g = known(s.groupPol, group);
  const n: SimNode = {
    name: `${group}-${(s.seq++).toString().padStart(4, "0")}`,
    group,
    pool: poolOfGroup(s, group),
    capacityType: g.capacityType,
    gpus: g.gpusPerNode,
    launchedMin: t,
    readyMin: ready ?? t + s.o.bootMinutes[g.capacityType],
    holders: Array(g.gpusPerNode).fill(null),
    tainted: false,
    history: Array.from({ length: g.gpusPerNode }, () => []),
  };
  s.nodes.push(n);
  return n;
}

function createSim(jobsIn: SimJob[], o: SimOptions): Sim {
  const p = o.policy;
  const s: Sim = {
    o,
    p,
    rand: rng(o.seed),
    groupPol: new Map(p.nodeGroups.map((g) => [g.name, g])),
    desired: new Map(),
    capacityErrorAt: new Map(),
    nodes: [],
    seq: 0,
    jobs: [...jobsIn].sort((a, b) => a.arriveMin - b.arriveMin || a.id.localeCompare(b.id)),
    next: 0,
    pending: [],
    running: new Map(),
    groupHistory: new Map(p.nodeGroups.map((g) => [g.name, []])),
    state: emptyState(),
    peerState: emptyPeerState(),
    requeued: new Set(),
    r: {
      gpuNodeHours: 0,
      nodeHoursByGroup: {},
      reclaims: 0,
      scaleOuts: 0,
      nodesAdded: 0,
      interruptedPods: 0,
      removeReasons: {},
      busyNodesChosen: 0,
      waits: [],
      podsStarted: 0,
      podsNeverStarted: 0,
      flapsSameGroup: 0,
      flapsSamePool: 0,
      haltedRuns: 0,
      events: [],
      spotMarks: 0,
      onDemandScaleOuts: 0,
      runs: 0,
    },
  };
  for (const g of p.nodeGroups) {
    const k = o.initialNodes[g.name] ?? 0;
    s.desired.set(g.name, k);
    for (let i = 0; i < k; i++) launch(s, g.name, -60, -30);
  }
  return s;
}

/** 1. jobs end; 2. arrivals. */
function endAndAdmitJobs(s: Sim, t: number): void {
  for (const [j, run] of s.running)
    if (run.endMin <= t) {
      run.node.holders = run.node.holders.map((h) => (h === j ? null : h));
      run.node.lastPodEventMin = t;
      s.running.delete(j);
    }
  for (let j = s.jobs[s.next]; j !== undefined && j.arriveMin <= t; j = s.jobs[++s.next]) s.pending.push(j);
}

/** 3. Auto Scaling launches toward desired (a Spot outage fails the launch with a capacity error). */
function launchTowardDesired(s: Sim, t: number): void {
  for (const g of s.p.nodeGroups) {
    const have = s.nodes.filter((n) => n.group === g.name && n.terminatedMin === undefined).length;
    const want = known(s.desired, g.name);
    if (want <= have) continue;
    if (s.o.spotOutages.some((x) => x.group === g.name && t >= x.fromMin && t < x.toMin)) {
      s.capacityErrorAt.set(g.name, t);
      continue;
    }
    for (let i = have; i < want; i++) launch(s, g.name, t);
  }
}

/** 4. schedule: FIFO, MostAllocated first-fit on Ready, untainted nodes of the pod's pool. */
function schedulePending(s: Sim, t: number): void {
  for (let i = 0; i < s.pending.length;) {
    const j = s.pending[i];
    if (j === undefined) break;
    const n = s.nodes
      .filter((n) => n.pool === j.pool && isReady(n, t) && allocatable(n, t) > 0 && !n.tainted && freeSlots(n) >= j.gpus)
      .sort((a, b) => freeSlots(a) - freeSlots(b) || a.name.localeCompare(b.name))[0];
    if (!n) {
      i++;
      continue;
    }
    let need = j.gpus;
    n.holders = n.holders.map((h) => (h === null && need > 0 ? (need--, j) : h));
    s.running.set(j, { node: n, startMin: t, endMin: t + j.durationMin });
    n.lastPodEventMin = t;
    if (!s.requeued.has(j)) {
      s.r.podsStarted++;
      if (t > j.arriveMin) s.r.waits.push(t - j.arriveMin);
    }
    s.pending.splice(i, 1);
  }
}

/** 5. utilization samples (dcgm): holders' duty cycle, idle GPUs 0; scrape gaps; Prometheus outages. Returns whether Prometheus is down. */
function sampleUtilization(s: Sim, t: number): boolean {
  const promDown = s.o.metricsOutages.some((x) => t >= x.fromMin && t < x.toMin);
  for (const n of s.nodes) {
    if (!isReady(n, t)) continue;
    const miss = promDown || s.rand() < s.o.scrapeMissRate;
    n.holders.forEach((h, gi) => {
      const hist = n.history[gi];
      if (!hist) return;
      let v = NaN;
      if (!miss) {
        if (!h) v = 0;
        else {
          const run = known(s.running, h);
          v = h.duty[(t - run.startMin + h.dutyOffset) % h.duty.length] ?? NaN;
        }
      }
      hist.push(v);
      if (hist.length > s.p.idleMinutes) hist.shift();
    });
  }
  for (const g of s.p.nodeGroups) {
    const vals = s.nodes
      .filter((n) => n.group === g.name && isReady(n, t))
      .flatMap((n) => n.history.map((h) => h[h.length - 1] ?? NaN))
      .filter((v) => !Number.isNaN(v));
    const hist = known(s.groupHistory, g.name);
    hist.push(vals.length ? vals.reduce((a, b) => a + b, 0) / vals.length : NaN);
    if (hist.length > s.p.scaleOutWindowMinutes) hist.shift();
  }
  return promDown;
}

/** 6. node-hours. */
function countNodeHours(s: Sim, t: number): void {
  for (const n of s.nodes)
    if (live(n, t)) {
      s.r.gpuNodeHours += n.gpus / 60;
      s.r.nodeHoursByGroup[n.group] = (s.r.nodeHoursByGroup[n.group] ?? 0) + 1 / 60;
    }
}

/** Samples present in a window, with their minute index; NaN is a missing sample. */
const presentOf = (h: number[]) => h.map((v, k) => [v, k] as const).filter(([v]) => !Number.isNaN(v));

/** dcgm's per-GPU window of each registered node, as the controller's Prometheus queries summarise it. */
function gpuWindowsAt(registered: SimNode[], t: number, at: (m: number) => number): GpuWindow[] {
  const gpus: GpuWindow[] = [];
  for (const n of registered)
    n.history.forEach((h, gi) => {
      const present = presentOf(h);
      const last = present[present.length - 1];
      if (!last) return; // no series at all: the planner sees it missing
      gpus.push({
        node: n.name,
        gpu: String(gi),
        samples: present.length,
        maxUtil: Math.max(...present.map(([v]) => v)),
        meanUtil: present.reduce((a, [v]) => a + v, 0) / present.length,
        lastSampleMs: at(t - (h.length - 1 - last[1])),
      });
    });
  return gpus;
}

/** Each group's scale-out window of mean utilization. */
function groupWindowsAt(s: Sim, t: number, at: (m: number) => number): GroupUtilWindow[] {
  const groupWins: GroupUtilWindow[] = [];
  for (const [g, h] of s.groupHistory) {
    const present = presentOf(h);
    const last = present[present.length - 1];
    if (!last) continue;
    groupWins.push({
      nodeGroup: g,
      steps: present.length,
      minUtil: Math.min(...present.map(([v]) => v)),
      meanUtil: present.reduce((a, [v]) => a + v, 0) / present.length,
      lastSampleMs: at(t - (h.length - 1 - last[1])),
    });
  }
  return groupWins;
}

/** What the controller would read from Auto Scaling, Kubernetes and Prometheus at minute t. */
function snapshotAt(s: Sim, t: number, promDown: boolean): Snapshot {
  const { o, p } = s;
  const at = (m: number) => o.startMs + m * MIN;
  const registered = s.nodes.filter((n) => live(n, t) && t >= n.readyMin - 1);
  const groups: GroupInfo[] = p.nodeGroups.map((g) => {
    const errorAt = s.capacityErrorAt.get(g.name);
    return {
      name: g.name,
      autoScalingGroupName: g.autoScalingGroupName,
      minSize: o.groupLimits[g.name]?.min ?? 0,
      maxSize: o.groupLimits[g.name]?.max ?? 20,
      desiredCapacity: known(s.desired, g.name),
      instances: s.nodes
        .filter((n) => n.group === g.name && n.terminatedMin === undefined)
        .map((n) => ({ instanceId: `i-${n.name}`, lifecycleState: t >= n.readyMin ? "InService" : "Pending" })),
      tags: {},
      ...(errorAt !== undefined ? { capacityErrorAtMs: at(errorAt), capacityError: "InsufficientInstanceCapacity" } : {}),
    };
  });
  const nodeInfos: NodeInfo[] = registered.map((n) => ({
    name: n.name,
    instanceId: `i-${n.name}`,
    nodeGroup: n.group,
    capacityType: n.capacityType,
    createdAtMs: at(n.readyMin - 1),
    ready: t >= n.readyMin,
    unschedulable: n.tainted,
    gpuCapacity: n.gpus,
    gpuAllocatable: allocatable(n, t),
    labels: {},
    annotations: {},
    reclaimTainted: n.tainted,
  }));
  const pod = (j: SimJob, phase: string, nodeName?: string): PodInfo => ({
    namespace: "sim",
    name: j.id,
    ...(nodeName !== undefined ? { nodeName } : {}),
    phase,
    gpuRequest: j.gpus,
    annotations: {},
    createdAtMs: at(j.arriveMin),
    pool: j.pool,
  });
  const pods: PodInfo[] = [
    ...[...s.running].map(([j, run]) => pod(j, "Running", run.node.name)),
    ...s.pending.map((j) => pod(j, "Pending")),
  ];
  return {
    now: new Date(at(t)),
    groups,
    nodes: nodeInfos,
    pods,
    metrics: { gpus: gpuWindowsAt(registered, t, at), groups: groupWindowsAt(s, t, at) },
    errors: promDown ? [{ source: "prometheus", message: "simulated outage" }] : [],
  };
}

/** 7. the controller: plan on the snapshot, then the simulated cluster does what the plan says. */
function runControllerAt(s: Sim, t: number, promDown: boolean): void {
  const { o, p, r } = s;
  r.runs++;
  const snap = snapshotAt(s, t, promDown);
  const nowMs = snap.now.getTime();
  o.onRun?.(snap, s.state, t);
  const plan = planController(snap, p, s.state);
  if (plan.halted) r.haltedRuns++;
  s.state = plan.nextState;
  for (const d of plan.decisions) {
    if (d.action === "mark-spot-unavailable") r.spotMarks++;
    if (d.dryRun) continue;
    if (d.action === "set-desired-capacity") {
      s.desired.set(d.nodeGroup, d.desiredTo);
      r.scaleOuts++;
      r.nodesAdded += d.desiredTo - d.desiredFrom;
      if (d.capacityType === "on-demand" && p.nodeGroups.some((g) => (g.pool ?? g.name) === d.pool && g.capacityType === "spot"))
        r.onDemandScaleOuts++;
      s.state.scaleOuts[d.nodeGroup] = { atMs: nowMs, fromDesired: d.desiredFrom, toDesired: d.desiredTo };
      r.events.push({ group: d.nodeGroup, pool: d.pool, kind: "add", t, nodes: d.desiredTo - d.desiredFrom });
    } else if (d.action === "release-node") {
      const n = s.nodes.find((x) => x.name === d.node);
      if (n) n.tainted = false;
    } else if (d.action === "terminate-instance" && o.reclaim) {
      const n = s.nodes.find((x) => x.name === d.node);
      if (!n) throw new Error(`simulator: the plan reclaims ${d.node}, which the simulated cluster never had`);
      // The re-check after the taint, on the simulated cluster's pods right now.
      if (n.holders.some(Boolean)) {
        r.busyNodesChosen++;
        n.tainted = false;
        continue;
      }
      n.terminatedMin = t;
      r.interruptedPods += new Set(n.holders.filter(Boolean)).size;
      s.desired.set(n.group, known(s.desired, n.group) - 1);
      r.reclaims++;
      (s.state.reclaims[n.group] ??= []).push({ atMs: nowMs, instanceId: `i-${n.name}`, node: n.name });
      r.events.push({ group: n.group, pool: n.pool, kind: "reclaim", t, nodes: 1 });
    }
  }
}

/** What a peer autoscaler sees at minute t: the cluster itself, no metrics. */
function peerViewAt(s: Sim, t: number): PeerView {
  const { o, p } = s;
  return {
    t,
    nodes: s.nodes
      .filter((n) => live(n, t))
      .map((n) => ({
        name: n.name,
        group: n.group,
        pool: n.pool,
        capacityType: n.capacityType,
        gpus: n.gpus,
        readyMin: n.readyMin,
        ready: t >= n.readyMin,
        gpusRegistered: allocatable(n, t) > 0,
        tainted: n.tainted,
        lastPodEventMin: n.lastPodEventMin,
        annotations: {},
        pods: jobsOn(n).map((j) => ({ id: j.id, gpus: j.gpus, annotations: {} })),
      })),
    pending: s.pending.map((j) => ({ id: j.id, gpus: j.gpus, pool: j.pool, arriveMin: j.arriveMin })),
    groups: p.nodeGroups.map((g) => ({
      name: g.name,
      pool: poolOfGroup(s, g.name),
      capacityType: g.capacityType,
      priority: g.priority,
      gpusPerNode: g.gpusPerNode,
      desired: known(s.desired, g.name),
      live: s.nodes.filter((n) => n.group === g.name && n.terminatedMin === undefined).length,
      min: o.groupLimits[g.name]?.min ?? 0,
      max: Math.min(o.groupLimits[g.name]?.max ?? 20, g.maxNodes ?? Infinity),
      capacityErrorNow: s.capacityErrorAt.get(g.name) === t,
    })),
  };
}

/** A peer removes a node: its pods go back to the queue with the rest of their run (work lost on restart is not modelled). */
function removeForPeer(s: Sim, n: SimNode, t: number, reason: string): void {
  const { r } = s;
  for (const j of jobsOn(n)) {
    const run = known(s.running, j);
    s.running.delete(j);
    const again: SimJob = { ...j, arriveMin: t, durationMin: Math.max(1, run.endMin - t), dutyOffset: j.dutyOffset + (t - run.startMin) };
    s.requeued.add(again);
    s.pending.push(again);
    r.interruptedPods++;
  }
  n.holders = n.holders.map(() => null);
  n.terminatedMin = t;
  s.desired.set(n.group, known(s.desired, n.group) - 1);
  r.reclaims++;
  r.removeReasons[reason] = (r.removeReasons[reason] ?? 0) + 1;
  r.events.push({ group: n.group, pool: n.pool, kind: "reclaim", t, nodes: 1 });
}

/** 7'. a peer autoscaler instead of the controller: it may add, cancel launches and remove nodes (moving their pods). */
function runPeerAt(s: Sim, peer: PeerPlanner, t: number): void {
  const { p, r } = s;
  r.runs++;
  const out = peer.plan(peerViewAt(s, t), s.peerState);
  s.peerState = out.state;
  for (const a of out.actions) {
    if (a.kind === "add") {
      s.desired.set(a.group, known(s.desired, a.group) + a.nodes);
      r.scaleOuts++;
      r.nodesAdded += a.nodes;
      const g = known(s.groupPol, a.group);
      if (
        g.capacityType === "on-demand" &&
        p.nodeGroups.some((x) => poolOfGroup(s, x.name) === poolOfGroup(s, a.group) && x.capacityType === "spot")
      )
        r.onDemandScaleOuts++;
      r.events.push({ group: a.group, pool: poolOfGroup(s, a.group), kind: "add", t, nodes: a.nodes });
    } else if (a.kind === "cancel-launch") {
      s.desired.set(a.group, s.nodes.filter((n) => n.group === a.group && n.terminatedMin === undefined).length);
      r.spotMarks++;
    } else {
      const n = s.nodes.find((x) => x.name === a.node && live(x, t));
      if (n) removeForPeer(s, n, t, a.reason);
    }
  }
}

/** A reclaim and an add in the same group (or pool) within 15 minutes. */
function flapsOf(events: SimResult["events"], key: "group" | "pool"): number {
  let k = 0;
  for (const a of events)
    if (a.kind === "reclaim") for (const b of events) if (b.kind === "add" && b[key] === a[key] && Math.abs(b.t - a.t) < 15) k++;
  return k;
}

export function simulateCluster(jobsIn: SimJob[], o: SimOptions): SimResult {
  const s = createSim(jobsIn, o);
  for (let t = 0; t < o.minutes; t++) {
    endAndAdmitJobs(s, t);
    launchTowardDesired(s, t);
    schedulePending(s, t);
    const promDown = sampleUtilization(s, t);
    countNodeHours(s, t);
    if (o.peer) {
      if (t % o.peer.everyMinutes === 0) runPeerAt(s, o.peer, t);
    } else if (t % o.controllerEveryMinutes === 0) runControllerAt(s, t, promDown);
  }
  const r = s.r;
  r.podsNeverStarted = s.jobs.length - r.podsStarted;
  r.flapsSameGroup = flapsOf(r.events, "group");
  r.flapsSamePool = flapsOf(r.events, "pool");
  return r;
}
