/**
 * The autoscalers a platform team would otherwise run, as planners the
 * cluster simulator (simulate.ts) can drive instead of this controller:
 * Karpenter consolidation (WhenEmpty, WhenEmptyOrUnderutilized) and the
 * Cluster Autoscaler's scale-down. Each rule is a small pure function, grounded
 * in the upstream source named beside it; the planners only compose them.
 * Simplifications against the real projects are stated in the README
 * ("Controller against Karpenter and Cluster Autoscaler") and under the bench table.
 */
import { nodesNeeded } from "./decide.js";

/** A node as a peer sees it (one instance type per pool, as the simulated NodePools / node groups pin it). */
export interface PeerNode {
  name: string;
  group: string;
  pool: string;
  capacityType: "spot" | "on-demand";
  gpus: number;
  /** Minute the node was (or will be) Ready; booting nodes are in the view too. */
  readyMin: number;
  ready: boolean;
  /** GPUs registered by the device plugin (allocatable > 0). */
  gpusRegistered: boolean;
  /** Cordoned / tainted for removal. */
  tainted: boolean;
  /** Minute a pod last landed on or left the node (Karpenter's NodeClaim status.lastPodEventTime). */
  lastPodEventMin?: number;
  annotations: Record<string, string>;
  pods: PeerPod[];
}

export interface PeerPod {
  id: string;
  gpus: number;
  daemonSet?: boolean;
  annotations: Record<string, string>;
}

export interface PeerGroup {
  name: string;
  pool: string;
  capacityType: "spot" | "on-demand";
  priority: number;
  gpusPerNode: number;
  desired: number;
  /** Live instances (booting or Ready). */
  live: number;
  min: number;
  max: number;
  /** This minute's launch failed for capacity. */
  capacityErrorNow: boolean;
}

export interface PeerView {
  t: number;
  nodes: PeerNode[];
  pending: { id: string; gpus: number; pool: string; arriveMin: number }[];
  groups: PeerGroup[];
}

export type PeerAction =
  | { kind: "add"; group: string; nodes: number; reason: string }
  /** A launch that failed for capacity is given up (Karpenter deletes the NodeClaim; CA resets the target size). */
  | { kind: "cancel-launch"; group: string; reason: string }
  | { kind: "remove"; node: string; reason: PeerRemoveReason };

export type PeerRemoveReason = "empty" | "underutilized-pods-fit-elsewhere" | "unneeded-below-threshold";

export interface PeerState {
  unavailableUntil: Record<string, number>;
  /** Cluster Autoscaler: minute each node was first seen unneeded. */
  unneededSince: Record<string, number>;
  lastScaleUpMin?: number;
  lastScaleDownMin?: number;
}

export const emptyPeerState = (): PeerState => ({ unavailableUntil: {}, unneededSince: {} });

export interface PeerPlanner {
  name: string;
  /** Minutes between loops (both peers run every ~10 s upstream; the simulator's step is 1 minute). */
  everyMinutes: number;
  plan(view: PeerView, state: PeerState): { actions: PeerAction[]; state: PeerState };
}

// ---------------------------------------------------------------------------
// Shared rules

/** Karpenter (pkg/apis/v1/labels.go DoNotDisruptAnnotationKey) on a node or a pod; CA's safe-to-evict=false and scale-down-disabled. */
export const DO_NOT_DISRUPT = "karpenter.sh/do-not-disrupt";
export const CA_SAFE_TO_EVICT = "cluster-autoscaler.kubernetes.io/safe-to-evict";
export const CA_SCALE_DOWN_DISABLED = "cluster-autoscaler.kubernetes.io/scale-down-disabled";

/** Pods that would have to move if the node went: everything but DaemonSet pods (Karpenter's reschedulablePods, CA's drain list). */
export const reschedulablePods = (n: PeerNode) => n.pods.filter((p) => !p.daemonSet);

/**
 * Would these pods fit into the free GPUs of these nodes? First-fit decreasing,
 * the scheduling simulation both peers run before they move pods
 * (karpenter pkg/controllers/disruption/helpers.go SimulateScheduling;
 * cluster-autoscaler simulator/cluster.go FindNodesToRemove).
 */
export function podsFit(pods: { gpus: number }[], freeSlots: number[]): boolean {
  const slots = [...freeSlots];
  for (const p of [...pods].sort((a, b) => b.gpus - a.gpus)) {
    const i = slots.findIndex((s) => s >= p.gpus);
    if (i < 0) return false;
    slots[i]! -= p.gpus;
  }
  return true;
}

export const freeGpus = (n: PeerNode) => (n.gpusRegistered && !n.tainted ? n.gpus - n.pods.reduce((a, p) => a + p.gpus, 0) : 0);

/**
 * Provisioning for pods that fit nowhere, as both peers do it: right away (Karpenter batches
 * pending pods for 1–10 s, pkg/controllers/provisioning/batcher.go; CA scans every 10 s), counting
 * nodes already launching, Spot first (a Karpenter NodePool allowing spot and on-demand picks Spot,
 * the AWS provider's price-capacity-optimized; CA with the priority expander set Spot first), and
 * a group whose launch failed for capacity skipped for `backoffMinutes` (Karpenter caches the offering
 * unavailable for 3 min, karpenter-provider-aws pkg/cache/unavailableofferings.go; CA backs a node
 * group off for 5 min at first, cluster-autoscaler utils/backoff/exponential_backoff.go).
 */
export function provisionForPending(view: PeerView, state: PeerState, backoffMinutes: number): { actions: PeerAction[]; state: PeerState } {
  const next: PeerState = { ...state, unavailableUntil: { ...state.unavailableUntil } };
  const actions: PeerAction[] = [];
  for (const g of view.groups)
    if (g.capacityErrorNow && g.desired > g.live) {
      next.unavailableUntil[g.name] = view.t + backoffMinutes;
      actions.push({
        kind: "cancel-launch",
        group: g.name,
        reason: `launch failed for capacity: ${g.name} skipped for ${backoffMinutes} min`,
      });
    }
  for (const pool of [...new Set(view.groups.map((g) => g.pool))]) {
    const groups = view.groups.filter((g) => g.pool === pool);
    const nodes = view.nodes.filter((n) => n.pool === pool);
    const slots = nodes.map(freeGpus);
    // Launching (not yet registered) capacity counts: the pods will land there.
    for (const n of nodes) if (!n.gpusRegistered && !n.tainted) slots.push(n.gpus);
    for (const g of groups) if (!g.capacityErrorNow) for (let i = g.live; i < g.desired; i++) slots.push(g.gpusPerNode);
    const left: { gpus: number }[] = [];
    for (const p of [...view.pending.filter((x) => x.pool === pool)].sort((a, b) => b.gpus - a.gpus)) {
      const i = slots.findIndex((s) => s >= p.gpus);
      if (i >= 0) slots[i]! -= p.gpus;
      else left.push(p);
    }
    if (!left.length) continue;
    const order = [...groups].sort((a, b) =>
      a.capacityType === b.capacityType ? a.priority - b.priority || a.name.localeCompare(b.name) : a.capacityType === "spot" ? -1 : 1,
    );
    let need = nodesNeeded(
      left.map((p) => p.gpus),
      Math.max(...groups.map((g) => g.gpusPerNode)),
    );
    for (const g of order) {
      if (need <= 0) break;
      if ((next.unavailableUntil[g.name] ?? -1) > view.t || g.capacityErrorNow) continue;
      const room = g.max - g.desired;
      if (room <= 0) continue;
      const k = Math.min(need, room);
      actions.push({ kind: "add", group: g.name, nodes: k, reason: `${left.length} pending pod(s) fit nowhere` });
      need -= k;
      next.lastScaleUpMin = view.t;
    }
  }
  return { actions, state: next };
}

// ---------------------------------------------------------------------------
// Karpenter

export interface KarpenterConfig {
  consolidationPolicy: "WhenEmpty" | "WhenEmptyOrUnderutilized";
  consolidateAfterMinutes: number;
  /** NodePool spec.disruption.budgets[].nodes; Karpenter's default is "10%". */
  budgetNodes: number | `${number}%`;
}

export type KarpenterVerdict =
  | { candidate: true }
  | {
      candidate: false;
      reason: "not-initialized" | "deleting" | "do-not-disrupt-node" | "do-not-disrupt-pod" | "not-consolidatable-yet" | "not-empty";
    };

/**
 * Is this node a disruption candidate? Karpenter never considers a NodeClaim that is not
 * Initialized — Ready with its requested extended resources (GPUs) registered
 * (pkg/controllers/nodeclaim/lifecycle/initialization.go) — and marks it Consolidatable only once
 * no pod landed or left for consolidateAfter, counting from initialization when no pod ever did
 * (pkg/controllers/nodeclaim/disruption/consolidation.go). `karpenter.sh/do-not-disrupt` on the
 * node or on any of its pods blocks it (pkg/controllers/disruption/types.go NewCandidate).
 * WhenEmpty only takes nodes without reschedulable pods (pkg/controllers/disruption/emptiness.go).
 */
export function karpenterCandidate(n: PeerNode, t: number, cfg: KarpenterConfig): KarpenterVerdict {
  if (!n.gpusRegistered) return { candidate: false, reason: "not-initialized" };
  if (n.tainted) return { candidate: false, reason: "deleting" };
  if (n.annotations[DO_NOT_DISRUPT] === "true") return { candidate: false, reason: "do-not-disrupt-node" };
  if (n.pods.some((p) => p.annotations[DO_NOT_DISRUPT] === "true")) return { candidate: false, reason: "do-not-disrupt-pod" };
  const since = n.lastPodEventMin ?? n.readyMin;
  if (t - since < cfg.consolidateAfterMinutes) return { candidate: false, reason: "not-consolidatable-yet" };
  if (cfg.consolidationPolicy === "WhenEmpty" && reschedulablePods(n).length > 0) return { candidate: false, reason: "not-empty" };
  return { candidate: true };
}

/**
 * Nodes a NodePool may still disrupt: the budget scaled to the pool's node count and rounded up
 * (pkg/apis/v1/nodepool.go Budget.GetAllowedDisruptions: "This will round up"), minus nodes already
 * being disrupted (pkg/controllers/disruption/helpers.go BuildDisruptionBudgetMapping).
 */
export function karpenterAllowedDisruptions(budget: KarpenterConfig["budgetNodes"], poolNodes: number, disrupting: number): number {
  const allowed = typeof budget === "number" ? budget : Math.ceil((poolNodes * Number(budget.slice(0, -1))) / 100);
  return Math.max(0, allowed - disrupting);
}

/** Karpenter orders candidates by disruption cost: about one per pod at default priority (pkg/utils/disruption/disruption.go). */
const disruptionCost = (n: PeerNode) => reschedulablePods(n).length;

/**
 * One consolidation pass over a pool: empty nodes first (emptiness.go); with WhenEmptyOrUnderutilized,
 * then the longest prefix of candidates (cheapest to disrupt first) whose pods all fit on the rest
 * (multinodeconsolidation.go's binary search), else the first single candidate that can go
 * (singlenodeconsolidation.go). Replacement by a cheaper node is not modelled: a pool has one instance type.
 */
export function karpenterConsolidate(view: PeerView, cfg: KarpenterConfig): PeerAction[] {
  const actions: PeerAction[] = [];
  for (const pool of [...new Set(view.groups.map((g) => g.pool))]) {
    const nodes = view.nodes.filter((n) => n.pool === pool);
    const groupOf = new Map(view.groups.map((g) => [g.name, g]));
    const cands = nodes
      .filter((n) => karpenterCandidate(n, view.t, cfg).candidate)
      .sort((a, b) => disruptionCost(a) - disruptionCost(b) || a.readyMin - b.readyMin || a.name.localeCompare(b.name));
    let budget = karpenterAllowedDisruptions(cfg.budgetNodes, nodes.length, nodes.filter((n) => n.tainted).length);
    // Karpenter has no group minimum; the simulated groups keep theirs so every column runs the same floor.
    const aboveMin = (chosen: PeerNode[]) => view.groups.every((g) => g.desired - chosen.filter((c) => c.group === g.name).length >= g.min);
    const empty: PeerNode[] = [];
    for (const c of cands) {
      if (budget <= 0) break;
      if (reschedulablePods(c).length || !aboveMin([...empty, c]) || !groupOf.get(c.group)) continue;
      empty.push(c);
      budget--;
    }
    for (const n of empty) actions.push({ kind: "remove", node: n.name, reason: "empty" });
    if (empty.length || cfg.consolidationPolicy === "WhenEmpty" || budget <= 0) continue;
    const nonEmpty = cands.filter((c) => reschedulablePods(c).length > 0);
    // The scheduling simulation includes the pool's pending pods: a move must not take the room they will get.
    const pending = view.pending.filter((p) => p.pool === pool);
    const fits = (set: PeerNode[]) => {
      const names = new Set(set.map((s) => s.name));
      return (
        aboveMin(set) && podsFit([...set.flatMap(reschedulablePods), ...pending], nodes.filter((n) => !names.has(n.name)).map(freeGpus))
      );
    };
    let lo = 0;
    let hi = Math.min(budget, nonEmpty.length);
    while (lo < hi) {
      const mid = Math.ceil((lo + hi) / 2);
      if (fits(nonEmpty.slice(0, mid))) lo = mid;
      else hi = mid - 1;
    }
    let chosen = nonEmpty.slice(0, lo);
    if (!chosen.length) {
      const one = nonEmpty.find((c) => fits([c]));
      chosen = one ? [one] : [];
    }
    for (const n of chosen) actions.push({ kind: "remove", node: n.name, reason: "underutilized-pods-fit-elsewhere" });
  }
  return actions;
}

export function karpenterPlanner(cfg: KarpenterConfig): PeerPlanner {
  return {
    name: `Karpenter ${cfg.consolidationPolicy}`,
    everyMinutes: 1,
    plan(view, state) {
      const prov = provisionForPending(view, state, 3);
      return { actions: [...prov.actions, ...karpenterConsolidate(view, cfg)], state: prov.state };
    },
  };
}

// ---------------------------------------------------------------------------
// Cluster Autoscaler

export interface ClusterAutoscalerConfig {
  /** --scale-down-gpu-utilization-threshold (default 0.5). */
  gpuUtilizationThreshold: number;
  /** --scale-down-unneeded-time (default 10m). */
  unneededMinutes: number;
  /** --scale-down-delay-after-add (default 10m). */
  delayAfterAddMinutes: number;
  /** --max-scale-down-parallelism (default 10) for empty nodes; non-empty nodes drain one at a time (--max-drain-parallelism 1). */
  maxEmptyBulkDelete: number;
}

export const CA_DEFAULTS: ClusterAutoscalerConfig = {
  gpuUtilizationThreshold: 0.5,
  unneededMinutes: 10,
  delayAfterAddMinutes: 10,
  maxEmptyBulkDelete: 10,
};

/**
 * A GPU node's utilization for scale-down: the sum of its pods' GPU requests over allocatable GPUs,
 * DaemonSet pods left out, CPU and memory not looked at; a node whose GPUs are not registered yet
 * counts as 0 (cluster-autoscaler simulator/utilization/info.go Calculate).
 */
export function caGpuUtilization(n: PeerNode): number {
  if (!n.gpusRegistered || n.gpus === 0) return 0;
  return reschedulablePods(n).reduce((a, p) => a + p.gpus, 0) / n.gpus;
}

export type CaVerdict =
  | { unneeded: true; utilization: number }
  | {
      unneeded: false;
      reason: "not-ready" | "scale-down-disabled" | "pod-not-safe-to-evict" | "above-threshold" | "pods-do-not-fit-elsewhere" | "deleting";
      utilization: number;
    };

/**
 * Is this node unneeded now? Below the threshold, no opt-out
 * (FAQ.md "What types of pods can prevent CA from removing a node?": safe-to-evict "false";
 * the node annotation scale-down-disabled), and every pod it runs fits on another node
 * (simulator/cluster.go FindNodesToRemove). `otherFree` are the other nodes' free GPUs.
 */
export function caUnneeded(n: PeerNode, otherFree: number[], cfg: ClusterAutoscalerConfig): CaVerdict {
  const utilization = caGpuUtilization(n);
  // A booting node is "upcoming", not a scale-down candidate (unready ones wait scale-down-unready-time, 20 min).
  if (!n.ready) return { unneeded: false, reason: "not-ready", utilization };
  if (n.tainted) return { unneeded: false, reason: "deleting", utilization };
  if (n.annotations[CA_SCALE_DOWN_DISABLED] === "true") return { unneeded: false, reason: "scale-down-disabled", utilization };
  if (n.pods.some((p) => p.annotations[CA_SAFE_TO_EVICT] === "false"))
    return { unneeded: false, reason: "pod-not-safe-to-evict", utilization };
  if (utilization >= cfg.gpuUtilizationThreshold) return { unneeded: false, reason: "above-threshold", utilization };
  if (!podsFit(reschedulablePods(n), otherFree)) return { unneeded: false, reason: "pods-do-not-fit-elsewhere", utilization };
  return { unneeded: true, utilization };
}

/**
 * One scale-down loop: unneeded timers are kept every loop (even in cooldown), and nodes unneeded
 * for scale-down-unneeded-time are removed unless a scale-up happened within scale-down-delay-after-add
 * (core/static_autoscaler.go: the planner updates, then "scaleDownInCooldown" skips the deletion);
 * empty nodes in bulk, at most one non-empty node (drained) per loop; never below a group's minimum.
 */
export function caScaleDown(view: PeerView, state: PeerState, cfg: ClusterAutoscalerConfig): { actions: PeerAction[]; state: PeerState } {
  const unneededSince: Record<string, number> = {};
  const actions: PeerAction[] = [];
  const claimed = new Set<string>();
  for (const n of view.nodes) {
    const others = view.nodes.filter((o) => o.pool === n.pool && o.name !== n.name && !claimed.has(o.name)).map(freeGpus);
    const v = caUnneeded(n, others, cfg);
    if (v.unneeded) unneededSince[n.name] = state.unneededSince[n.name] ?? view.t;
  }
  const next: PeerState = { ...state, unneededSince };
  const cooldown = state.lastScaleUpMin !== undefined && view.t - state.lastScaleUpMin < cfg.delayAfterAddMinutes;
  if (cooldown) return { actions, state: next };
  const desired = new Map(view.groups.map((g) => [g.name, g.desired]));
  const minOf = new Map(view.groups.map((g) => [g.name, g.min]));
  let empties = 0;
  let drained = 0;
  const ready = view.nodes
    .filter((n) => unneededSince[n.name] !== undefined && view.t - unneededSince[n.name]! >= cfg.unneededMinutes)
    .sort(
      (a, b) =>
        reschedulablePods(a).length - reschedulablePods(b).length ||
        unneededSince[a.name]! - unneededSince[b.name]! ||
        a.name.localeCompare(b.name),
    );
  for (const n of ready) {
    if ((desired.get(n.group) ?? 0) - 1 < (minOf.get(n.group) ?? 0)) continue;
    const empty = reschedulablePods(n).length === 0;
    if (empty ? empties >= cfg.maxEmptyBulkDelete : drained >= 1) continue;
    if (!empty) {
      // Re-simulate against what is left after this loop's other removals.
      const others = view.nodes.filter((o) => o.pool === n.pool && o.name !== n.name && !claimed.has(o.name)).map(freeGpus);
      if (!podsFit(reschedulablePods(n), others)) continue;
    }
    claimed.add(n.name);
    desired.set(n.group, desired.get(n.group)! - 1);
    if (empty) empties++;
    else drained++;
    actions.push({ kind: "remove", node: n.name, reason: empty ? "empty" : "unneeded-below-threshold" });
  }
  if (actions.length) next.lastScaleDownMin = view.t;
  return { actions, state: next };
}

export function clusterAutoscalerPlanner(cfg: ClusterAutoscalerConfig = CA_DEFAULTS): PeerPlanner {
  return {
    name: "Cluster Autoscaler",
    everyMinutes: 1,
    plan(view, state) {
      const prov = provisionForPending(view, state, 5);
      const down = caScaleDown(view, prov.state, cfg);
      return { actions: [...prov.actions, ...down.actions], state: down.state };
    },
  };
}

// ---------------------------------------------------------------------------
// The ideal

/**
 * A lower bound, not a policy: every pod runs from the minute it is created (instant, free
 * scale-out), pods are packed perfectly (GPUs fungible across the nodes of a pool, so repacking
 * costs nothing) and a node exists only while its GPUs are needed; the pool keeps its groups'
 * minimum nodes, as every other column must. Returns GPU node-hours (GPUs × node-hours).
 */
export function idealGpuNodeHours(
  jobs: { arriveMin: number; durationMin: number; gpus: number; pool: string }[],
  pools: { pool: string; gpusPerNode: number; minNodes: number }[],
  minutes: number,
): number {
  let total = 0;
  for (const p of pools) {
    const delta = new Float64Array(minutes + 1);
    for (const j of jobs) {
      if (j.pool !== p.pool || j.arriveMin >= minutes) continue;
      const end = Math.min(minutes, j.arriveMin + j.durationMin);
      delta[j.arriveMin] = delta[j.arriveMin]! + j.gpus;
      delta[end] = delta[end]! - j.gpus;
    }
    let demand = 0;
    for (let t = 0; t < minutes; t++) {
      demand += delta[t]!;
      total += (Math.max(p.minNodes, Math.ceil(demand / p.gpusPerNode - 1e-9)) * p.gpusPerNode) / 60;
    }
  }
  return total;
}
