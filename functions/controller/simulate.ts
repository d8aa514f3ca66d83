import { planController } from "./decide.js";
import type { ControllerPolicy } from "./policy.js";
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

export function simulateCluster(jobsIn: SimJob[], o: SimOptions): SimResult {
  const p = o.policy;
  const MIN = 60_000;
  const rand = rng(o.seed);
  const groupPol = new Map(p.nodeGroups.map((g) => [g.name, g]));
  const poolOf = (g: string) => groupPol.get(g)!.pool ?? g;
  const desired = new Map<string, number>();
  const capacityErrorAt = new Map<string, number>();
  const nodes: SimNode[] = [];
  let seq = 0;
  const launch = (group: string, t: number, ready?: number) => {
    const g = groupPol.get(group)!;
    const n: SimNode = {
      name: `${group}-${(seq++).toString().padStart(4, "0")}`,
      group,
      pool: poolOf(group),
      capacityType: g.capacityType,
      gpus: g.gpusPerNode,
      launchedMin: t,
      readyMin: ready ?? t + o.bootMinutes[g.capacityType],
      holders: Array(g.gpusPerNode).fill(null),
      tainted: false,
      history: Array.from({ length: g.gpusPerNode }, () => []),
    };
    nodes.push(n);
    return n;
  };
  for (const g of p.nodeGroups) {
    const k = o.initialNodes[g.name] ?? 0;
    desired.set(g.name, k);
    for (let i = 0; i < k; i++) launch(g.name, -60, -30);
  }
  const jobs = [...jobsIn].sort((a, b) => a.arriveMin - b.arriveMin || a.id.localeCompare(b.id));
  let next = 0;
  const pending: SimJob[] = [];
  const running = new Map<SimJob, { node: SimNode; startMin: number; endMin: number }>();
  const startedAt = new Map<SimJob, number>();
  const groupHistory = new Map<string, number[]>(p.nodeGroups.map((g) => [g.name, []]));
  let state: ControllerState = emptyState();
  const events: SimResult["events"] = [];
  let peerState: PeerState = emptyPeerState();
  /** Pods a peer evicted, back in the queue with the rest of their run (their restart wait is not a capacity wait). */
  const requeued = new Set<SimJob>();
  const r: SimResult = {
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
    events,
    spotMarks: 0,
    onDemandScaleOuts: 0,
    runs: 0,
  };
  const live = (n: SimNode, t: number) => n.terminatedMin === undefined && n.launchedMin <= t;
  const isReady = (n: SimNode, t: number) => live(n, t) && t >= n.readyMin;
  const allocatable = (n: SimNode, t: number) => (t >= n.readyMin + 1 ? n.gpus : 0);
  const idleWin = p.idleMinutes;
  const soWin = p.scaleOutWindowMinutes;

  for (let t = 0; t < o.minutes; t++) {
    // 1. jobs end
    for (const [j, run] of running)
      if (run.endMin <= t) {
        run.node.holders = run.node.holders.map((h) => (h === j ? null : h));
        run.node.lastPodEventMin = t;
        running.delete(j);
      }
    // 2. arrivals
    while (next < jobs.length && jobs[next]!.arriveMin <= t) pending.push(jobs[next++]!);
    // 3. Auto Scaling launches toward desired
    for (const g of p.nodeGroups) {
      const have = nodes.filter((n) => n.group === g.name && n.terminatedMin === undefined).length;
      const want = desired.get(g.name)!;
      if (want <= have) continue;
      if (o.spotOutages.some((x) => x.group === g.name && t >= x.fromMin && t < x.toMin)) {
        capacityErrorAt.set(g.name, t);
        continue;
      }
      for (let i = have; i < want; i++) launch(g.name, t);
    }
    // 4. schedule: FIFO, MostAllocated first-fit on Ready, untainted nodes of the pod's pool
    for (let i = 0; i < pending.length;) {
      const j = pending[i]!;
      const cands = nodes
        .filter(
          (n) => n.pool === j.pool && isReady(n, t) && allocatable(n, t) > 0 && !n.tainted && n.holders.filter((h) => !h).length >= j.gpus,
        )
        .sort((a, b) => a.holders.filter((h) => !h).length - b.holders.filter((h) => !h).length || a.name.localeCompare(b.name));
      const n = cands[0];
      if (!n) {
        i++;
        continue;
      }
      let need = j.gpus;
      n.holders = n.holders.map((h) => (h === null && need > 0 ? (need--, j) : h));
      running.set(j, { node: n, startMin: t, endMin: t + j.durationMin });
      n.lastPodEventMin = t;
      startedAt.set(j, t);
      if (!requeued.has(j)) {
        r.podsStarted++;
        if (t > j.arriveMin) r.waits.push(t - j.arriveMin);
      }
      pending.splice(i, 1);
    }
    // 5. utilization samples (dcgm): holders' duty cycle, idle GPUs 0; scrape gaps; Prometheus outages
    const promDown = o.metricsOutages.some((x) => t >= x.fromMin && t < x.toMin);
    for (const n of nodes) {
      if (!isReady(n, t)) continue;
      const miss = promDown || rand() < o.scrapeMissRate;
      n.holders.forEach((h, gi) => {
        const hist = n.history[gi]!;
        let v = NaN;
        if (!miss) {
          if (!h) v = 0;
          else {
            const run = running.get(h)!;
            v = h.duty[(t - run.startMin + h.dutyOffset) % h.duty.length]!;
          }
        }
        hist.push(v);
        if (hist.length > idleWin) hist.shift();
      });
    }
    for (const g of p.nodeGroups) {
      const vals = nodes
        .filter((n) => n.group === g.name && isReady(n, t))
        .flatMap((n) => n.history.map((h) => h[h.length - 1]!))
        .filter((v) => !Number.isNaN(v));
      const hist = groupHistory.get(g.name)!;
      hist.push(vals.length ? vals.reduce((a, b) => a + b, 0) / vals.length : NaN);
      if (hist.length > soWin) hist.shift();
    }
    // 6. node-hours
    for (const n of nodes)
      if (live(n, t)) {
        r.gpuNodeHours += n.gpus / 60;
        r.nodeHoursByGroup[n.group] = (r.nodeHoursByGroup[n.group] ?? 0) + 1 / 60;
      }
    // 7. the controller (or the peer driven instead of it)
    if (o.peer) {
      if (t % o.peer.everyMinutes === 0) runPeer(o.peer, t);
      continue;
    }
    if (t % o.controllerEveryMinutes !== 0) continue;
    r.runs++;
    const nowMs = o.startMs + t * MIN;
    const at = (m: number) => o.startMs + m * MIN;
    const registered = nodes.filter((n) => live(n, t) && t >= n.readyMin - 1);
    const groups: GroupInfo[] = p.nodeGroups.map((g) => ({
      name: g.name,
      autoScalingGroupName: g.autoScalingGroupName,
      minSize: o.groupLimits[g.name]?.min ?? 0,
      maxSize: o.groupLimits[g.name]?.max ?? 20,
      desiredCapacity: desired.get(g.name)!,
      instances: nodes
        .filter((n) => n.group === g.name && n.terminatedMin === undefined)
        .map((n) => ({ instanceId: `i-${n.name}`, lifecycleState: t >= n.readyMin ? "InService" : "Pending" })),
      tags: {},
      ...(capacityErrorAt.has(g.name)
        ? { capacityErrorAtMs: at(capacityErrorAt.get(g.name)!), capacityError: "InsufficientInstanceCapacity" }
        : {}),
    }));
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
    const pods: PodInfo[] = [
      ...[...running].map(([j, run]) => ({
        namespace: "sim",
        name: j.id,
        nodeName: run.node.name,
        phase: "Running",
        gpuRequest: j.gpus,
        annotations: {},
        createdAtMs: at(j.arriveMin),
        pool: j.pool,
      })),
      ...pending.map((j) => ({
        namespace: "sim",
        name: j.id,
        phase: "Pending",
        gpuRequest: j.gpus,
        annotations: {},
        createdAtMs: at(j.arriveMin),
        pool: j.pool,
      })),
    ];
    const gpus: GpuWindow[] = [];
    for (const n of registered)
      n.history.forEach((h, gi) => {
        const present = h.map((v, k) => [v, k] as const).filter(([v]) => !Number.isNaN(v));
        if (!present.length) return; // no series at all: the planner sees it missing
        const last = present[present.length - 1]![1];
        gpus.push({
          node: n.name,
          gpu: String(gi),
          samples: present.length,
          maxUtil: Math.max(...present.map(([v]) => v)),
          meanUtil: present.reduce((a, [v]) => a + v, 0) / present.length,
          lastSampleMs: at(t - (h.length - 1 - last)),
        });
      });
    const groupWins: GroupUtilWindow[] = [];
    for (const [g, h] of groupHistory) {
      const present = h.map((v, k) => [v, k] as const).filter(([v]) => !Number.isNaN(v));
      if (!present.length) continue;
      groupWins.push({
        nodeGroup: g,
        steps: present.length,
        minUtil: Math.min(...present.map(([v]) => v)),
        meanUtil: present.reduce((a, [v]) => a + v, 0) / present.length,
        lastSampleMs: at(t - (h.length - 1 - present[present.length - 1]![1])),
      });
    }
    const snap: Snapshot = {
      nowMs,
      groups,
      nodes: nodeInfos,
      pods,
      metrics: { gpus, groups: groupWins },
      errors: promDown ? [{ source: "prometheus", message: "simulated outage" }] : [],
    };
    o.onRun?.(snap, state, t);
    const plan = planController(snap, p, state);
    if (plan.halted) r.haltedRuns++;
    state = plan.nextState;
    for (const d of plan.decisions) {
      if (d.action === "mark-spot-unavailable") r.spotMarks++;
      if (d.dryRun) continue;
      if (d.action === "set-desired-capacity") {
        desired.set(d.nodeGroup!, d.desiredTo!);
        r.scaleOuts++;
        r.nodesAdded += d.desiredTo! - d.desiredFrom!;
        if (d.capacityType === "on-demand" && p.nodeGroups.some((g) => (g.pool ?? g.name) === d.pool && g.capacityType === "spot"))
          r.onDemandScaleOuts++;
        state.scaleOuts[d.nodeGroup!] = { atMs: nowMs, fromDesired: d.desiredFrom!, toDesired: d.desiredTo! };
        events.push({ group: d.nodeGroup!, pool: d.pool!, kind: "add", t, nodes: d.desiredTo! - d.desiredFrom! });
      } else if (d.action === "release-node") {
        const n = nodes.find((x) => x.name === d.node);
        if (n) n.tainted = false;
      } else if (d.action === "terminate-instance" && o.reclaim) {
        const n = nodes.find((x) => x.name === d.node)!;
        // The re-check after the taint, on the simulated cluster's pods right now.
        if (n.holders.some(Boolean)) {
          r.busyNodesChosen++;
          n.tainted = false;
          continue;
        }
        n.terminatedMin = t;
        r.interruptedPods += new Set(n.holders.filter(Boolean)).size;
        desired.set(n.group, desired.get(n.group)! - 1);
        r.reclaims++;
        (state.reclaims[n.group] ??= []).push({ atMs: nowMs, instanceId: `i-${n.name}`, node: n.name });
        events.push({ group: n.group, pool: n.pool, kind: "reclaim", t, nodes: 1 });
      }
    }
  }
  function runPeer(peer: PeerPlanner, t: number) {
    r.runs++;
    const liveNodes = nodes.filter((n) => live(n, t));
    const view: PeerView = {
      t,
      nodes: liveNodes.map((n) => ({
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
        pods: [...new Set(n.holders.filter((h): h is SimJob => h !== null))].map((j) => ({ id: j.id, gpus: j.gpus, annotations: {} })),
      })),
      pending: pending.map((j) => ({ id: j.id, gpus: j.gpus, pool: j.pool, arriveMin: j.arriveMin })),
      groups: p.nodeGroups.map((g) => ({
        name: g.name,
        pool: poolOf(g.name),
        capacityType: g.capacityType,
        priority: g.priority,
        gpusPerNode: g.gpusPerNode,
        desired: desired.get(g.name)!,
        live: nodes.filter((n) => n.group === g.name && n.terminatedMin === undefined).length,
        min: o.groupLimits[g.name]?.min ?? 0,
        max: Math.min(o.groupLimits[g.name]?.max ?? 20, g.maxNodes ?? Infinity),
        capacityErrorNow: capacityErrorAt.get(g.name) === t,
      })),
    };
    const out = peer.plan(view, peerState);
    peerState = out.state;
    for (const a of out.actions) {
      if (a.kind === "add") {
        desired.set(a.group, desired.get(a.group)! + a.nodes);
        r.scaleOuts++;
        r.nodesAdded += a.nodes;
        const g = groupPol.get(a.group)!;
        if (g.capacityType === "on-demand" && p.nodeGroups.some((x) => poolOf(x.name) === poolOf(a.group) && x.capacityType === "spot"))
          r.onDemandScaleOuts++;
        events.push({ group: a.group, pool: poolOf(a.group), kind: "add", t, nodes: a.nodes });
      } else if (a.kind === "cancel-launch") {
        desired.set(a.group, nodes.filter((n) => n.group === a.group && n.terminatedMin === undefined).length);
        r.spotMarks++;
      } else {
        const n = nodes.find((x) => x.name === a.node && live(x, t));
        if (!n) continue;
        // Evicted pods go back to the queue with the rest of their run (work lost on restart is not modelled).
        for (const j of new Set(n.holders.filter((h): h is SimJob => h !== null))) {
          const run = running.get(j)!;
          running.delete(j);
          const again: SimJob = {
            ...j,
            arriveMin: t,
            durationMin: Math.max(1, run.endMin - t),
            dutyOffset: j.dutyOffset + (t - run.startMin),
          };
          requeued.add(again);
          pending.push(again);
          r.interruptedPods++;
        }
        n.holders = n.holders.map(() => null);
        n.terminatedMin = t;
        desired.set(n.group, desired.get(n.group)! - 1);
        r.reclaims++;
        r.removeReasons[a.reason] = (r.removeReasons[a.reason] ?? 0) + 1;
        events.push({ group: n.group, pool: n.pool, kind: "reclaim", t, nodes: 1 });
      }
    }
  }
  r.podsNeverStarted = jobs.length - r.podsStarted;
  const flaps = (key: "group" | "pool") => {
    let k = 0;
    for (const a of events)
      if (a.kind === "reclaim") for (const b of events) if (b.kind === "add" && b[key] === a[key] && Math.abs(b.t - a.t) < 15) k++;
    return k;
  };
  r.flapsSameGroup = flaps("group");
  r.flapsSamePool = flaps("pool");
  return r;
}
