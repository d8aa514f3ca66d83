import { budgetNodes, poolOf, thresholdsOf, type ControllerPolicy, type NodeGroupPolicy } from "./policy.js";
import { parseCron } from "./cron.js";
import type { CapacityType } from "../core/attribution.js";
import {
  FOREIGN_OWNER_NODE_LABELS,
  FOREIGN_OWNER_TAGS,
  karpenterNodePoolOf,
  OPT_OUT,
  type ControllerState,
  type GroupInfo,
  type NodeInfo,
  type PodInfo,
  type Snapshot,
} from "./snapshot.js";

/**
 * One controller, two duties (reclaim idle nodes, scale out busy pools), one
 * pure plan per run. Why one and not two Lambdas: both duties must see the same
 * snapshot and the same memory of recent actions, or they fight — a reclaim
 * on a stale view of a pool the other function just grew is exactly the
 * flapping a controller must never cause. One lease, one audit trail, one schedule.
 */

/**
 * What a run may decide, one member per kind, each carrying exactly its fields.
 * `code` says why as a value callers switch on; the prose `reason` says it to people;
 * `inputs` are the numbers the decision was made on (metric values, pods, budget arithmetic).
 */
export type Decision =
  | TerminateInstance
  | SetDesiredCapacity
  | ReleaseNode
  | MarkSpotUnavailable
  | Halt
  | KeepNode
  | KeepGroup
  | NoScaleOut
  | LeftToKarpenter
  | RunSkipped;

export type Action = Decision["action"];

/** Why a node stays: the idle test failed, or removing it would break the pool's budget. */
export type NodeKeepCode = IdleCode | "instance-not-in-service" | BudgetCode;

/** Why the idle test says "not idle" (it fails closed: thin, stale or missing metrics are "not idle"). */
export type IdleCode =
  | "node-not-ready"
  | "node-too-young"
  | "gpus-not-allocatable"
  | "scale-down-disabled"
  | "do-not-disrupt-node"
  | "reclaim-disabled-label"
  | "do-not-disrupt-pod"
  | "safe-to-evict-false"
  | "gpu-pod"
  | "non-gpu-pod"
  | "metrics-missing"
  | "metrics-thin"
  | "metrics-stale"
  | "gpu-busy";

/** An idle node the pool cannot spare. */
export type BudgetCode =
  | "disruption-budget-spent"
  | "group-at-minimum"
  | "pool-utilization-high"
  | "recent-peak-demand"
  | "no-room-for-largest-pod"
  | "free-gpu-headroom";

/** Why a whole group reclaims nothing in this run. */
export type GroupKeepCode =
  | "group-not-found"
  /** A managed group some of whose nodes or whose Auto Scaling group another autoscaler claims. */
  | "foreign-autoscaler"
  | "freeze-window"
  | "recent-scale-out"
  | "pending-pods"
  | "recent-demand"
  | "pool-scaled-out-recently"
  | "pool-scales-out";

export type NoScaleOutCode = "no-demand" | "utilization-incomplete" | "utilization-below-threshold" | "no-group-can-grow";

export type HaltCode = "source-error" | "not-ready-storm";

/** Every reason a decision can carry. */
export type ReasonCode =
  | "reclaim"
  | "scale-out"
  | "spot-unavailable"
  /** The node, or the pending pod, belongs to a Karpenter NodePool: Karpenter scales and disrupts it, never this controller. */
  | "karpenter-nodepool"
  | "lease-held"
  | NodeKeepCode
  | GroupKeepCode
  | NoScaleOutCode
  | HaltCode;

interface DecisionBase<C extends ReasonCode> {
  code: C;
  /** Acting on it would change nothing (kill switch, dry-run group): record it, do nothing. */
  dryRun: boolean;
  reason: string;
  inputs: Record<string, unknown>;
}

/** Reclaim an idle node: cordon, taint, re-check, then terminate its instance (decrementing desired). */
export interface TerminateInstance extends DecisionBase<"reclaim"> {
  duty: "reclaim";
  action: "terminate-instance";
  nodeGroup: string;
  pool: string;
  node: string;
  instanceId: string;
  capacityType: CapacityType;
  desiredFrom: number;
  desiredTo: number;
}

export interface SetDesiredCapacity extends DecisionBase<"scale-out"> {
  duty: "scale-out";
  action: "set-desired-capacity";
  nodeGroup: string;
  pool: string;
  capacityType: CapacityType;
  desiredFrom: number;
  desiredTo: number;
}

/** Lift a reclaim taint left by an earlier run; `code` says why the node is no longer reclaimed. */
export interface ReleaseNode extends DecisionBase<NodeKeepCode | GroupKeepCode> {
  duty: "reclaim";
  action: "release-node";
  nodeGroup: string;
  pool: string;
  node: string;
  instanceId?: string;
  capacityType?: CapacityType;
}

export interface MarkSpotUnavailable extends DecisionBase<"spot-unavailable"> {
  duty: "scale-out";
  action: "mark-spot-unavailable";
  nodeGroup: string;
  pool: string;
}

export interface Halt extends DecisionBase<HaltCode> {
  duty: "guard";
  action: "halt";
}

/** An idle-or-not node that stays. */
export interface KeepNode extends DecisionBase<NodeKeepCode> {
  duty: "reclaim";
  action: "none";
  nodeGroup: string;
  pool: string;
  node: string;
  instanceId?: string;
  capacityType?: CapacityType;
}

export interface KeepGroup extends DecisionBase<GroupKeepCode> {
  duty: "reclaim";
  action: "none";
  nodeGroup: string;
  pool: string;
}

export interface NoScaleOut extends DecisionBase<NoScaleOutCode> {
  duty: "scale-out";
  action: "none";
  pool: string;
}

export interface LeftToKarpenter extends DecisionBase<"karpenter-nodepool"> {
  duty: "guard";
  action: "none";
  karpenterNodePool: string;
}

/** Another run holds the lease: this one decides nothing. */
export interface RunSkipped extends DecisionBase<"lease-held"> {
  duty: "guard";
  action: "none";
}

/** The decisions run-controller acts on (the others are recorded only). */
export type Actionable = TerminateInstance | SetDesiredCapacity | ReleaseNode;
export const isActionable = (d: Decision): d is Actionable =>
  d.action === "terminate-instance" || d.action === "set-desired-capacity" || d.action === "release-node";

export interface Plan {
  at: Date;
  halted: boolean;
  decisions: Decision[];
  /** State changes that do not depend on an action succeeding (Spot marks and their expiry). */
  nextState: ControllerState;
}

const MIN = 60_000;
const ACTIVE_PHASES = new Set(["Pending", "Running", "Unknown"]);
const isDaemonSet = (p: PodInfo) => p.ownerKind === "DaemonSet";
const round = (x: number, d = 1) => Math.round(x * 10 ** d) / 10 ** d;

export function inFreeze(crons: string[], now: Date, timeZone: string): string | undefined {
  return crons.find((c) => parseCron(c).matches(now.getTime(), timeZone));
}

export function foreignOwner(group: GroupInfo | undefined, nodes: NodeInfo[]): string | undefined {
  for (const t of FOREIGN_OWNER_TAGS)
    if (group?.tags[t] !== undefined && group.tags[t] !== "false") return `Auto Scaling group tag ${t}=${group.tags[t]}`;
  for (const n of nodes)
    for (const l of FOREIGN_OWNER_NODE_LABELS) if (n.labels[l] !== undefined) return `node ${n.name} has label ${l}=${n.labels[l]}`;
  return undefined;
}

export type IdleVerdict =
  | { idle: true; reason: string; inputs: Record<string, unknown> }
  | { idle: false; code: IdleCode; reason: string; inputs: Record<string, unknown> };

/**
 * Is this node idle and safe to remove? Fails closed: any missing, thin or stale
 * metric means "not idle". Pure; also used to re-check a node after the taint.
 */
export function assessNodeIdle(
  node: NodeInfo,
  podsOnNode: PodInfo[],
  snap: Pick<Snapshot, "metrics">,
  policy: ControllerPolicy,
  now: Date,
): IdleVerdict {
  const nowMs = now.getTime();
  const ageMin = (nowMs - node.createdAtMs) / MIN;
  const base = { node: node.name, ageMinutes: round(ageMin), gpuCapacity: node.gpuCapacity, gpuAllocatable: node.gpuAllocatable };
  const no = (code: IdleCode, reason: string, extra: Record<string, unknown> = {}): IdleVerdict => ({
    idle: false,
    code,
    reason,
    inputs: { ...base, ...extra },
  });
  if (!node.ready) return no("node-not-ready", "node is NotReady: left to the Auto Scaling health check, not reclaimed");
  if (ageMin < policy.minNodeAgeMinutes)
    return no("node-too-young", `node is ${round(ageMin)} min old (< ${policy.minNodeAgeMinutes} min): too young to judge`);
  if (node.gpuCapacity <= 0 || node.gpuAllocatable < node.gpuCapacity)
    return no("gpus-not-allocatable", `GPUs not yet allocatable (${node.gpuAllocatable} of ${node.gpuCapacity}): device plugin not ready`);
  if (node.annotations[OPT_OUT.nodeScaleDownDisabled] === "true")
    return no("scale-down-disabled", `node opts out (${OPT_OUT.nodeScaleDownDisabled}=true)`);
  if (node.annotations[OPT_OUT.nodeDoNotDisrupt] === "true")
    return no("do-not-disrupt-node", `node opts out (${OPT_OUT.nodeDoNotDisrupt}=true)`);
  if (node.labels[OPT_OUT.nodeLabel] === "true") return no("reclaim-disabled-label", `node opts out (${OPT_OUT.nodeLabel}=true)`);
  const active = podsOnNode.filter((p) => ACTIVE_PHASES.has(p.phase));
  const podNames = active.map((p) => `${p.namespace}/${p.name}`);
  const optOut = active.find((p) => p.annotations[OPT_OUT.podDoNotDisrupt] === "true" || p.annotations[OPT_OUT.podSafeToEvict] === "false");
  if (optOut) {
    const dnd = optOut.annotations[OPT_OUT.podDoNotDisrupt] === "true";
    return no(
      dnd ? "do-not-disrupt-pod" : "safe-to-evict-false",
      `pod ${optOut.namespace}/${optOut.name} opts out of disruption (${dnd ? `${OPT_OUT.podDoNotDisrupt}=true` : `${OPT_OUT.podSafeToEvict}=false`})`,
      { pods: podNames },
    );
  }
  const gpuPod = active.find((p) => !isDaemonSet(p) && p.gpuRequest > 0);
  if (gpuPod) return no("gpu-pod", `pod ${gpuPod.namespace}/${gpuPod.name} requests ${gpuPod.gpuRequest} GPU(s) on it`, { pods: podNames });
  if (policy.nonGpuPodsBlockReclaim) {
    const other = active.find((p) => !isDaemonSet(p));
    if (other)
      return no("non-gpu-pod", `non-DaemonSet pod ${other.namespace}/${other.name} runs on it (terminating would kill it)`, {
        pods: podNames,
      });
  }
  return assessGpuWindows(node, snap, policy, now, { ...base, pods: podNames });
}

/** Every GPU must have a full, fresh window at or below the noise floor. */
function assessGpuWindows(
  node: NodeInfo,
  snap: Pick<Snapshot, "metrics">,
  policy: ControllerPolicy,
  now: Date,
  base: Record<string, unknown>,
): IdleVerdict {
  const nowMs = now.getTime();
  const expected = Math.floor((policy.idleMinutes * 60) / policy.sampleIntervalSeconds);
  const series = snap.metrics.gpus.filter((g) => g.node === node.name);
  const gpus = series.map((g) => ({
    gpu: g.gpu,
    samples: g.samples,
    maxUtil: g.maxUtil,
    lastSampleAgeSec: Math.round((nowMs - g.lastSampleMs) / 1000),
  }));
  const inputs = { ...base, expectedSamples: expected, noiseFloorPercent: policy.noiseFloorPercent, gpus };
  const no = (code: IdleCode, reason: string): IdleVerdict => ({ idle: false, code, reason, inputs });
  if (series.length < node.gpuCapacity)
    return no("metrics-missing", `metrics missing: ${series.length} of ${node.gpuCapacity} GPUs reported (fail closed)`);
  for (const g of series) {
    const coverage = expected > 0 ? g.samples / expected : 1;
    if (coverage < policy.minSampleCoverage)
      return no(
        "metrics-thin",
        `GPU ${g.gpu}: ${g.samples}/${expected} samples (${Math.round(coverage * 100)}% < ${policy.minSampleCoverage * 100}%) (fail closed)`,
      );
    if (nowMs - g.lastSampleMs > policy.staleAfterSeconds * 1000)
      return no("metrics-stale", `GPU ${g.gpu}: newest sample ${Math.round((nowMs - g.lastSampleMs) / 1000)} s old (stale, fail closed)`);
    if (g.maxUtil > policy.noiseFloorPercent)
      return no(
        "gpu-busy",
        `GPU ${g.gpu} reached ${round(g.maxUtil)}% (> noise floor ${policy.noiseFloorPercent}%) in the last ${policy.idleMinutes} min`,
      );
  }
  return {
    idle: true,
    reason: `no GPU pods and every GPU ≤ ${policy.noiseFloorPercent}% for ${policy.idleMinutes} min with ≥ ${policy.minSampleCoverage * 100}% samples`,
    inputs,
  };
}

interface PoolView {
  pool: string;
  /** The pool's first group in the policy: its workload class sets the pool's thresholds. */
  first: NodeGroupPolicy;
  groups: NodeGroupPolicy[];
}

function poolsOf(policy: ControllerPolicy): PoolView[] {
  const m = new Map<string, PoolView>();
  for (const g of policy.nodeGroups) {
    const view = m.get(poolOf(g));
    if (view) view.groups.push(g);
    else m.set(poolOf(g), { pool: poolOf(g), first: g, groups: [g] });
  }
  return [...m.values()];
}

const podPool = (p: PodInfo, policy: ControllerPolicy) => p.pool ?? policy.defaultPool;
/** A pod that asks for a Karpenter NodePool waits for Karpenter: it is no demand on our pools. */
const isOurs = (p: PodInfo) => p.karpenterNodePool === undefined;
/** GPU pods of this pool waiting for a node. */
const pendingGpuPods = (snap: Snapshot, policy: ControllerPolicy, pool: string) =>
  snap.pods.filter((p) => p.phase === "Pending" && !p.nodeName && p.gpuRequest > 0 && isOurs(p) && podPool(p, policy) === pool);

/** GPUs requested by active pods per node. */
function requestedByNode(pods: PodInfo[]): Map<string, number> {
  const m = new Map<string, number>();
  for (const p of pods)
    if (p.nodeName && ACTIVE_PHASES.has(p.phase) && p.gpuRequest > 0) m.set(p.nodeName, (m.get(p.nodeName) ?? 0) + p.gpuRequest);
  return m;
}

const readyNodesOf = (nodes: NodeInfo[], group: string) => nodes.filter((n) => n.nodeGroup === group && n.ready);

/** Nodes asked for but not yet Ready; none from a group marked Spot-unavailable (they may never come). */
function launchingNodes(g: NodeGroupPolicy, info: GroupInfo | undefined, snap: Snapshot, state: ControllerState): number {
  if (!info) return 0;
  const mark = state.spotUnavailable[g.name];
  if (mark && mark.untilMs > snap.now.getTime()) return 0;
  return Math.max(0, info.desiredCapacity - readyNodesOf(snap.nodes, g.name).length);
}

/** Sustained utilization of a pool: GPU-weighted sum of each group's per-step minimum — a lower bound of the pool's per-step minimum. */
function poolUtilization(groups: NodeGroupPolicy[], snap: Snapshot, policy: ControllerPolicy) {
  const nowMs = snap.now.getTime();
  const expected = Math.floor((policy.scaleOutWindowMinutes * 60) / policy.sampleIntervalSeconds);
  let weight = 0;
  let minSum = 0;
  let meanSum = 0;
  const per: Record<string, unknown>[] = [];
  let complete = true;
  let why = "";
  for (const g of groups) {
    const gpus = readyNodesOf(snap.nodes, g.name).reduce((a, n) => a + n.gpuAllocatable, 0);
    if (gpus === 0) continue;
    const w = snap.metrics.groups.find((x) => x.nodeGroup === g.name);
    per.push({
      nodeGroup: g.name,
      gpus,
      steps: w?.steps ?? 0,
      expectedSteps: expected,
      minUtil: w && round(w.minUtil),
      meanUtil: w && round(w.meanUtil),
    });
    if (!w || w.steps < expected * policy.minSampleCoverage) {
      complete = false;
      why ||= `${g.name}: ${w?.steps ?? 0}/${expected} steps of utilization`;
      continue;
    }
    if (nowMs - w.lastSampleMs > policy.staleAfterSeconds * 1000) {
      complete = false;
      why ||= `${g.name}: utilization ${Math.round((nowMs - w.lastSampleMs) / 1000)} s stale`;
      continue;
    }
    weight += gpus;
    minSum += w.minUtil * gpus;
    meanSum += w.meanUtil * gpus;
  }
  return {
    complete: complete && weight > 0,
    why: why || (weight === 0 ? "no Ready GPUs in the pool" : ""),
    sustainedMin: weight ? minSum / weight : 0,
    mean: weight ? meanSum / weight : 0,
    gpus: weight,
    groups: per,
  };
}

/** Marks Spot groups that did not deliver, and lifts marks that expired. */
function assessSpot(
  snap: Snapshot,
  policy: ControllerPolicy,
  state: ControllerState,
): { decisions: MarkSpotUnavailable[]; next: ControllerState } {
  const nowMs = snap.now.getTime();
  const next: ControllerState = structuredClone(state);
  const decisions: MarkSpotUnavailable[] = [];
  for (const g of policy.nodeGroups) {
    if (g.capacityType !== "spot") continue;
    const mark = next.spotUnavailable[g.name];
    if (mark && mark.untilMs <= nowMs) delete next.spotUnavailable[g.name]; // retry Spot now
    if (next.spotUnavailable[g.name]) continue;
    const info = snap.groups.find((x) => x.name === g.name);
    const so = next.scaleOuts[g.name];
    let reason: string | undefined;
    if (info?.capacityErrorAtMs !== undefined && nowMs - info.capacityErrorAtMs < policy.spotRetryAfterMinutes * MIN)
      reason = `launch failed for lack of capacity at ${new Date(info.capacityErrorAtMs).toISOString()}: ${info.capacityError ?? "capacity error"}`;
    else if (
      so &&
      nowMs - so.atMs >= policy.spotJoinTimeoutMinutes * MIN &&
      readyNodesOf(snap.nodes, g.name).length < so.toDesired &&
      (info?.desiredCapacity ?? 0) >= so.toDesired
    )
      reason = `asked for ${so.toDesired} nodes ${Math.round((nowMs - so.atMs) / MIN)} min ago, only ${readyNodesOf(snap.nodes, g.name).length} Ready (join timeout ${policy.spotJoinTimeoutMinutes} min)`;
    if (reason) {
      const untilMs = nowMs + policy.spotRetryAfterMinutes * MIN;
      next.spotUnavailable[g.name] = { sinceMs: nowMs, untilMs, reason };
      decisions.push({
        duty: "scale-out",
        action: "mark-spot-unavailable",
        code: "spot-unavailable",
        dryRun: false,
        nodeGroup: g.name,
        pool: poolOf(g),
        reason: `Spot unavailable until ${new Date(untilMs).toISOString()}: ${reason}; the next Spot group, else On-Demand, takes scale-outs; Spot is retried then`,
        inputs: {
          capacityErrorAtMs: info?.capacityErrorAtMs,
          lastScaleOut: so,
          readyNodes: readyNodesOf(snap.nodes, g.name).length,
          desired: info?.desiredCapacity,
        },
      });
    }
  }
  return { decisions, next };
}

/** First-fit of pending GPU pods into free GPUs per node, then into launching nodes. Returns what fits nowhere. */
function unplacedPods(pending: PodInfo[], free: number[], launchingSlots: number[]): PodInfo[] {
  const slots = [...free, ...launchingSlots];
  const left: PodInfo[] = [];
  for (const p of [...pending].sort((a, b) => b.gpuRequest - a.gpuRequest)) {
    const i = slots.findIndex((s) => s >= p.gpuRequest);
    if (i >= 0) slots[i] = (slots[i] ?? 0) - p.gpuRequest;
    else left.push(p);
  }
  return left;
}

/** Nodes of `size` GPUs needed to hold requests of `gpus` each (first-fit decreasing). Requests bigger than a node are skipped. */
export function nodesNeeded(gpus: readonly number[], size: number): number {
  const bins: number[] = [];
  for (const g of [...gpus].sort((a, b) => b - a)) {
    if (g > size) continue;
    const i = bins.findIndex((b) => b >= g);
    if (i >= 0) bins[i] = (bins[i] ?? 0) - g;
    else bins.push(size - g);
  }
  return bins.length;
}

/** What a pool asks of a scale-out: pods that fit nowhere, free-GPU shortfall, sustained utilization. */
function scaleOutDemand(pool: PoolView, snap: Snapshot, policy: ControllerPolicy, state: ControllerState) {
  const nowMs = snap.now.getTime();
  const groupInfo = (g: NodeGroupPolicy) => snap.groups.find((x) => x.name === g.name);
  const poolNodes = snap.nodes.filter((n) => pool.groups.some((g) => g.name === n.nodeGroup));
  const requested = requestedByNode(snap.pods);
  const free = poolNodes
    .filter((n) => n.ready && !n.unschedulable && !n.reclaimTainted)
    .map((n) => Math.max(0, n.gpuAllocatable - (requested.get(n.name) ?? 0)));
  const launchingSlots: number[] = [];
  for (const g of pool.groups) for (let i = 0; i < launchingNodes(g, groupInfo(g), snap, state); i++) launchingSlots.push(g.gpusPerNode);
  const pending = pendingGpuPods(snap, policy, pool.pool).filter((p) => nowMs - p.createdAtMs >= policy.pendingGraceSeconds * 1000);
  const left = unplacedPods(pending, free, launchingSlots);
  const freeGpus = free.reduce((a, b) => a + b, 0);
  const launchingGpus = launchingSlots.reduce((a, b) => a + b, 0);
  const headroom = Math.max(...pool.groups.map((g) => g.minFreeGpus));
  const util = poolUtilization(pool.groups, snap, policy);
  return { pending, left, freeGpus, launchingGpus, headroom, short: freeGpus + launchingGpus < headroom, util };
}

/** The group a scale-out goes to, and by how much; or why no group can take it. */
function scaleOutTarget(
  pool: PoolView,
  snap: Snapshot,
  state: ControllerState,
  demand: ReturnType<typeof scaleOutDemand>,
): { g: NodeGroupPolicy; info: GroupInfo; needed: number; step: number; ceiling: number; skipped: string[] } | { skipped: string[] } {
  const { left, short, headroom, freeGpus, launchingGpus } = demand;
  // Spot groups in priority order, On-Demand only when no Spot group can take it.
  const order = [...pool.groups].sort((a, b) =>
    a.capacityType === b.capacityType ? a.priority - b.priority || a.name.localeCompare(b.name) : a.capacityType === "spot" ? -1 : 1,
  );
  const skipped: string[] = [];
  for (const g of order) {
    const info = snap.groups.find((x) => x.name === g.name);
    if (!info) {
      skipped.push(`${g.name}: Auto Scaling group not found`);
      continue;
    }
    const owner = foreignOwner(
      info,
      snap.nodes.filter((n) => n.nodeGroup === g.name),
    );
    if (owner) {
      skipped.push(`${g.name}: owned by another autoscaler (${owner})`);
      continue;
    }
    const mark = state.spotUnavailable[g.name];
    if (mark && mark.untilMs > snap.now.getTime()) {
      skipped.push(`${g.name}: Spot unavailable until ${new Date(mark.untilMs).toISOString()}`);
      continue;
    }
    const ceiling = Math.min(info.maxSize, g.maxNodes ?? Infinity);
    if (info.desiredCapacity >= ceiling) {
      skipped.push(`${g.name}: at its maximum (${info.desiredCapacity}/${ceiling})`);
      continue;
    }
    const needed = Math.max(
      left.length
        ? nodesNeeded(
            left.map((p) => p.gpuRequest),
            g.gpusPerNode,
          )
        : 0,
      short ? Math.ceil((headroom - freeGpus - launchingGpus) / g.gpusPerNode) : 0,
    );
    if (needed === 0) {
      skipped.push(`${g.name}: its ${g.gpusPerNode}-GPU nodes cannot hold the pending pods`);
      continue;
    }
    return { g, info, needed, step: Math.min(needed, g.maxStep, ceiling - info.desiredCapacity), ceiling, skipped };
  }
  return { skipped };
}

export function decideScaleOut(pool: PoolView, snap: Snapshot, policy: ControllerPolicy, state: ControllerState): Decision[] {
  const { scaleOutAt } = thresholdsOf(pool.first);
  const demand = scaleOutDemand(pool, snap, policy, state);
  const { pending, left, freeGpus, launchingGpus, headroom, short, util } = demand;
  const sustained = util.complete && util.sustainedMin >= scaleOutAt;
  const inputs: Record<string, unknown> = {
    thresholdPercent: scaleOutAt,
    utilization: {
      complete: util.complete,
      incompleteBecause: util.why || undefined,
      sustainedMinPercent: round(util.sustainedMin),
      meanPercent: round(util.mean),
      groups: util.groups,
    },
    pendingGpuPods: pending.map((p) => `${p.namespace}/${p.name}:${p.gpuRequest}`),
    unplacedPods: left.map((p) => `${p.namespace}/${p.name}:${p.gpuRequest}`),
    freeGpus,
    launchingGpus,
    minFreeGpus: headroom,
  };
  const none = (code: NoScaleOutCode, reason: string): NoScaleOut[] => [
    { duty: "scale-out", action: "none", code, dryRun: false, pool: pool.pool, reason, inputs },
  ];

  let why: string;
  if (sustained && (left.length > 0 || short))
    why = `utilization stayed ≥ ${scaleOutAt}% for ${policy.scaleOutWindowMinutes} min (lowest ${round(util.sustainedMin)}%) and ${left.length ? `${left.length} GPU pod(s) fit nowhere` : `free GPUs short (${freeGpus} free + ${launchingGpus} launching < ${headroom})`}`;
  else if (left.length > 0 && policy.scaleOutForUnschedulablePods)
    why = `${left.length} pending GPU pod(s) fit in no free or launching GPU (pending ≥ ${policy.pendingGraceSeconds} s)`;
  else if (left.length === 0 && !short)
    return none(
      "no-demand",
      `no demand: ${pending.length} pending GPU pod(s) all fit in ${freeGpus} free + ${launchingGpus} launching GPUs`,
    );
  else if (!util.complete)
    return none("utilization-incomplete", `utilization window incomplete (${util.why}): no utilization-driven scale-out (fail closed)`);
  else
    return none(
      "utilization-below-threshold",
      `utilization ${round(util.sustainedMin)}% did not stay ≥ ${scaleOutAt}% for ${policy.scaleOutWindowMinutes} min`,
    );

  const target = scaleOutTarget(pool, snap, state, demand);
  if (!("g" in target)) return none("no-group-can-grow", `${why}, but no group can grow: ${target.skipped.join("; ")}`);
  const { g, info, needed, step, ceiling, skipped } = target;
  return [
    {
      duty: "scale-out",
      action: "set-desired-capacity",
      code: "scale-out",
      dryRun: g.dryRun,
      nodeGroup: g.name,
      pool: pool.pool,
      capacityType: g.capacityType,
      desiredFrom: info.desiredCapacity,
      desiredTo: info.desiredCapacity + step,
      reason: `${why}: add ${step} ${g.capacityType} node(s) to ${g.name} (needed ${needed}, step ≤ ${g.maxStep}, ceiling ${ceiling})${skipped.length ? `; skipped ${skipped.join("; ")}` : ""}`,
      inputs: { ...inputs, needed, maxStep: g.maxStep, ceiling, skipped },
    },
  ];
}

/** Why a group reclaims nothing in this run (as a value and in prose), and what the guard looked at. */
interface GroupBlock {
  code: GroupKeepCode;
  reason: string;
  inputs: Record<string, unknown>;
}

/** The group-wide guards of a reclaim, in order: ownership, freeze, recent scale-out, pending pods, the pool's quiet period. */
function groupReclaimBlock(
  g: NodeGroupPolicy,
  info: GroupInfo,
  nodes: NodeInfo[],
  pool: PoolView,
  pendingGpu: PodInfo[],
  snap: Snapshot,
  policy: ControllerPolicy,
  state: ControllerState,
): GroupBlock | undefined {
  const nowMs = snap.now.getTime();
  const block = (code: GroupKeepCode, reason: string, inputs: Record<string, unknown> = {}): GroupBlock => ({ code, reason, inputs });
  const owner = foreignOwner(info, nodes);
  if (owner) return block("foreign-autoscaler", `owned by another autoscaler (${owner}): left alone`);
  const freeze = inFreeze([...policy.freezeWindows, ...g.freezeWindows], snap.now, policy.timeZone);
  if (freeze) return block("freeze-window", `freeze window "${freeze}" (${policy.timeZone}) is active: no disruption`);
  const so = state.scaleOuts[g.name];
  if (so && nowMs - so.atMs < policy.recentScaleOutMinutes * MIN)
    return block(
      "recent-scale-out",
      `scaled out ${Math.round((nowMs - so.atMs) / MIN)} min ago (< ${policy.recentScaleOutMinutes} min): no reclaim`,
      { lastScaleOut: so },
    );
  if (pendingGpu.length)
    return block("pending-pods", `${pendingGpu.length} GPU pod(s) pending in pool ${pool.pool}: idle capacity is kept for them`, {
      pending: pendingGpu.map((p) => `${p.namespace}/${p.name}`),
    });
  const lastDemand = state.lastDemandAtMs[pool.pool];
  if (lastDemand !== undefined && nowMs - lastDemand < policy.reclaimQuietMinutes * MIN)
    return block(
      "recent-demand",
      `pool ${pool.pool} had GPU pods pending ${Math.round((nowMs - lastDemand) / MIN)} min ago (< ${policy.reclaimQuietMinutes} min quiet period): no reclaim`,
      { lastDemandAt: new Date(lastDemand).toISOString() },
    );
  for (const x of pool.groups) {
    const poolSo = state.scaleOuts[x.name];
    if (poolSo && nowMs - poolSo.atMs < policy.reclaimQuietMinutes * MIN)
      return block(
        "pool-scaled-out-recently",
        `pool ${pool.pool} scaled out (${x.name}) ${Math.round((nowMs - poolSo.atMs) / MIN)} min ago (< ${policy.reclaimQuietMinutes} min quiet period): no reclaim`,
        { lastScaleOut: poolSo },
      );
  }
  return undefined;
}

const GROUP_NOT_FOUND: GroupBlock = { code: "group-not-found", reason: "Auto Scaling group not found: nothing reclaimed", inputs: {} };

interface Candidate {
  g: NodeGroupPolicy;
  info: GroupInfo;
  node: NodeInfo;
  instanceId: string;
  verdict: Extract<IdleVerdict, { idle: true }>;
}

/** One node of an unblocked group: a candidate if idle and in service, else the decision that keeps (or releases) it. */
function assessReclaimNode(
  node: NodeInfo,
  g: NodeGroupPolicy,
  info: GroupInfo,
  pool: PoolView,
  podsOnNode: PodInfo[],
  snap: Snapshot,
  policy: ControllerPolicy,
): Candidate | KeepNode | ReleaseNode {
  const verdict = assessNodeIdle(node, podsOnNode, snap, policy, snap.now);
  const where = { dryRun: g.dryRun, nodeGroup: g.name, pool: pool.pool, node: node.name, instanceId: node.instanceId };
  if (!verdict.idle) {
    const decided = { ...where, capacityType: node.capacityType, code: verdict.code, inputs: verdict.inputs };
    return node.reclaimTainted
      ? {
          duty: "reclaim",
          action: "release-node",
          ...decided,
          reason: `reclaim taint left from an earlier run, node no longer idle (${verdict.reason}): remove the taint`,
        }
      : { duty: "reclaim", action: "none", ...decided, reason: verdict.reason };
  }
  const inst = info.instances.find((i) => i.instanceId === node.instanceId);
  if (!inst || inst.lifecycleState !== "InService")
    return {
      duty: "reclaim",
      action: "none",
      code: "instance-not-in-service",
      ...where,
      reason: `idle, but instance ${node.instanceId ?? "(unknown)"} is ${inst?.lifecycleState ?? "not in the group"}`,
      inputs: verdict.inputs,
    };
  return { g, info, node, instanceId: inst.instanceId, verdict };
}

/** On-Demand before Spot (it costs more), then the oldest node, then by name for a stable order. */
function byReclaimOrder(a: Candidate, b: Candidate): number {
  const ca = a.node.capacityType ?? a.g.capacityType;
  const cb = b.node.capacityType ?? b.g.capacityType;
  if (ca !== cb) return ca === "on-demand" ? -1 : 1;
  return a.node.createdAtMs - b.node.createdAtMs || a.node.name.localeCompare(b.node.name);
}

/** The pool as reclaims leave it: GPUs and free GPUs that remain, recent demand, headroom. Updated as nodes are chosen. */
function poolReclaimBudget(pool: PoolView, snap: Snapshot, policy: ControllerPolicy, state: ControllerState) {
  const nowMs = snap.now.getTime();
  const poolNodes = snap.nodes.filter((n) => n.ready && pool.groups.some((g) => g.name === n.nodeGroup));
  const requested = requestedByNode(snap.pods);
  const freeOn = (n: NodeInfo) => (n.unschedulable || n.reclaimTainted ? 0 : Math.max(0, n.gpuAllocatable - (requested.get(n.name) ?? 0)));
  const recentDemand = (state.demandHistory[pool.pool] ?? []).filter((h) => nowMs - h.atMs < policy.stabilizationMinutes * MIN);
  return {
    poolNodes,
    freeOn,
    utilSum: poolNodes.reduce((a, n) => a + snap.metrics.gpus.filter((x) => x.node === n.name).reduce((s, x) => s + x.meanUtil, 0), 0),
    gpusLeft: poolNodes.reduce((a, n) => a + n.gpuAllocatable, 0),
    freeLeft: poolNodes.reduce((a, n) => a + freeOn(n), 0),
    headroom: Math.max(...pool.groups.map((g) => g.minFreeGpus)),
    peakDemand: Math.max(0, ...recentDemand.map((h) => h.gpus)),
    // GPUs are not fungible across nodes: the largest pod seen lately must still find one node with room.
    largestPod: Math.max(0, ...recentDemand.map((h) => h.largestPod ?? 0)),
    taken: new Map<string, number>(),
    chosen: new Set<string>(),
  };
}
type PoolBudget = ReturnType<typeof poolReclaimBudget>;

/** The arithmetic of one candidate against its group's budget and the pool's headroom. */
interface CandidateBudget {
  g: NodeGroupPolicy;
  info: GroupInfo;
  node: NodeInfo;
  groupNodes: number;
  allowed: number;
  inFlight: number;
  already: number;
  projectedUtil: number;
  scaleInAt: number;
  gpusAfter: number;
  freeAfter: number;
}

/** Why the pool cannot spare an idle node, checked in order; undefined when it can. */
function budgetBlock(c: CandidateBudget, b: PoolBudget, policy: ControllerPolicy): { code: BudgetCode; reason: string } | undefined {
  const { g, info, node, groupNodes, allowed, inFlight, already, projectedUtil, scaleInAt, gpusAfter, freeAfter } = c;
  if (inFlight + already + 1 > allowed)
    return {
      code: "disruption-budget-spent",
      reason: `idle, but the disruption budget is spent: ${inFlight} in flight + ${already} chosen + 1 > ${allowed} (${g.disruptionBudget} of ${groupNodes})`,
    };
  if (info.desiredCapacity - already - 1 < info.minSize)
    return {
      code: "group-at-minimum",
      reason: `idle, but the group is at its minimum (${info.desiredCapacity - already} nodes, min ${info.minSize})`,
    };
  if (projectedUtil > scaleInAt)
    return {
      code: "pool-utilization-high",
      reason: `idle, but the pool would run at ${round(projectedUtil)}% without it (> scale-in threshold ${scaleInAt}%)`,
    };
  if (gpusAfter < b.peakDemand + b.headroom)
    return {
      code: "recent-peak-demand",
      reason: `idle, but the pool's pods requested up to ${b.peakDemand} GPU(s) in the last ${policy.stabilizationMinutes} min; without it ${gpusAfter} < ${b.peakDemand} + ${b.headroom} free`,
    };
  if (policy.keepRoomForLargestPod) {
    const roomElsewhere = Math.max(0, ...b.poolNodes.filter((n) => n.name !== node.name && !b.chosen.has(n.name)).map(b.freeOn));
    if (roomElsewhere < b.largestPod)
      return {
        code: "no-room-for-largest-pod",
        reason: `idle, but a ${b.largestPod}-GPU pod ran in the last ${policy.stabilizationMinutes} min and no other node has ${b.largestPod} free GPUs (most: ${roomElsewhere})`,
      };
  }
  if (freeAfter < b.headroom)
    return { code: "free-gpu-headroom", reason: `idle, but the pool keeps ${b.headroom} free GPU(s) and would have ${freeAfter}` };
  return undefined;
}

/**
 * Walks the candidates in reclaim order against the group's disruption budget and the pool's
 * headroom: a reclaim must not push the pool toward a scale-out.
 */
function chooseReclaims(candidates: Candidate[], pool: PoolView, snap: Snapshot, policy: ControllerPolicy, b: PoolBudget): Decision[] {
  const { scaleInAt } = thresholdsOf(pool.first);
  const out: Decision[] = [];
  for (const c of candidates) {
    const { g, info, node } = c;
    const groupNodes = snap.nodes.filter((n) => n.nodeGroup === g.name).length;
    const allowed = budgetNodes(g.disruptionBudget, groupNodes);
    // Disruptions already under way in the group count against its budget.
    const inFlight =
      info.instances.filter((i) => i.lifecycleState.startsWith("Terminating")).length +
      snap.nodes.filter((n) => n.nodeGroup === g.name && n.reclaimTainted && n.name !== node.name && !b.chosen.has(n.name)).length;
    const already = b.taken.get(g.name) ?? 0;
    const gpusAfter = b.gpusLeft - node.gpuAllocatable;
    const freeAfter = b.freeLeft - b.freeOn(node);
    const projectedUtil = gpusAfter > 0 ? b.utilSum / gpusAfter : 0;
    const inputs = {
      ...c.verdict.inputs,
      budget: {
        disruptionBudget: g.disruptionBudget,
        groupNodes,
        allowed,
        inFlight,
        chosenThisRun: already,
        desired: info.desiredCapacity,
        minSize: info.minSize,
        desiredAfter: info.desiredCapacity - already - 1,
      },
      poolUtilization: { projectedPercent: round(projectedUtil), scaleInAtPercent: scaleInAt, gpusLeftAfter: gpusAfter },
      freeGpusAfter: freeAfter,
      minFreeGpus: b.headroom,
      peakDemandGpus: b.peakDemand,
      largestRecentPodGpus: b.largestPod,
      stabilizationMinutes: policy.stabilizationMinutes,
    };
    const where = { dryRun: g.dryRun, nodeGroup: g.name, pool: pool.pool, node: node.name, instanceId: node.instanceId };
    const capacityType = node.capacityType ?? g.capacityType;
    const blocked = budgetBlock(
      { g, info, node, groupNodes, allowed, inFlight, already, projectedUtil, scaleInAt, gpusAfter, freeAfter },
      b,
      policy,
    );
    if (blocked) {
      out.push({ duty: "reclaim", action: node.reclaimTainted ? "release-node" : "none", ...where, capacityType, ...blocked, inputs });
      continue;
    }
    b.taken.set(g.name, already + 1);
    b.gpusLeft = gpusAfter;
    b.freeLeft = freeAfter;
    b.chosen.add(node.name);
    out.push({
      duty: "reclaim",
      action: "terminate-instance",
      code: "reclaim",
      ...where,
      instanceId: c.instanceId,
      capacityType,
      desiredFrom: info.desiredCapacity - already,
      desiredTo: info.desiredCapacity - already - 1,
      reason: `${c.verdict.reason}; budget ${inFlight + already + 1}/${allowed}; ${info.desiredCapacity - already - 1} ≥ min ${info.minSize}; pool at ${round(projectedUtil)}% after: cordon, taint, re-check, terminate this instance`,
      inputs,
    });
  }
  return out;
}

/** A reclaim taint in a group we may not touch now is lifted, so the node serves again. */
function releaseBlockedTaints(blocked: Map<NodeGroupPolicy, GroupBlock>, pool: PoolView, snap: Snapshot): ReleaseNode[] {
  const out: ReleaseNode[] = [];
  for (const [g, why] of blocked)
    for (const n of snap.nodes.filter((x) => x.nodeGroup === g.name && x.reclaimTainted))
      out.push({
        duty: "reclaim",
        action: "release-node",
        code: why.code,
        dryRun: g.dryRun,
        nodeGroup: g.name,
        pool: pool.pool,
        node: n.name,
        instanceId: n.instanceId,
        reason: `reclaim taint left from an earlier run while ${why.reason}: remove the taint`,
        inputs: {},
      });
  return out;
}

/**
 * Reclaim in a pool: per group the group-wide guards, then per node the idle test; the idle,
 * in-service nodes are then chosen in order against the budget; tainted nodes of blocked groups are released.
 */
export function decideReclaim(pool: PoolView, snap: Snapshot, policy: ControllerPolicy, state: ControllerState): Decision[] {
  const out: Decision[] = [];
  const podsByNode = new Map<string, PodInfo[]>();
  for (const p of snap.pods) if (p.nodeName) podsByNode.set(p.nodeName, [...(podsByNode.get(p.nodeName) ?? []), p]);
  // Pending GPU pods of this pool would land on an idle node: never take it from under them.
  const pendingGpu = pendingGpuPods(snap, policy, pool.pool);
  const candidates: Candidate[] = [];
  const blocked = new Map<NodeGroupPolicy, GroupBlock>();
  for (const g of pool.groups) {
    const info = snap.groups.find((x) => x.name === g.name);
    const nodes = snap.nodes.filter((n) => n.nodeGroup === g.name);
    const block = info ? groupReclaimBlock(g, info, nodes, pool, pendingGpu, snap, policy, state) : GROUP_NOT_FOUND;
    if (block || !info) {
      const why = block ?? GROUP_NOT_FOUND;
      blocked.set(g, why);
      out.push({
        duty: "reclaim",
        action: "none",
        code: why.code,
        dryRun: g.dryRun,
        nodeGroup: g.name,
        pool: pool.pool,
        reason: why.reason,
        inputs: { nodes: nodes.length, ...why.inputs },
      });
      continue;
    }
    for (const node of nodes) {
      const r = assessReclaimNode(node, g, info, pool, podsByNode.get(node.name) ?? [], snap, policy);
      if ("verdict" in r) candidates.push(r);
      else out.push(r);
    }
  }
  candidates.sort(byReclaimOrder);
  out.push(...chooseReclaims(candidates, pool, snap, policy, poolReclaimBudget(pool, snap, policy, state)));
  out.push(...releaseBlockedTaints(blocked, pool, snap));
  return out;
}

/**
 * Nodes a Karpenter NodePool owns (label karpenter.sh/nodepool) and GPU pods
 * waiting for one: Karpenter provisions and consolidates those, so this
 * controller never reclaims, scales or counts them — one decision per NodePool
 * says so, with the nodes and pods it leaves alone.
 */
export function leftToKarpenter(snap: Snapshot): LeftToKarpenter[] {
  const byPool = new Map<string, { nodes: string[]; gpus: number; pendingPods: string[] }>();
  const entry = (np: string) => {
    const e = byPool.get(np) ?? { nodes: [], gpus: 0, pendingPods: [] };
    byPool.set(np, e);
    return e;
  };
  for (const n of snap.nodes) {
    const np = karpenterNodePoolOf(n);
    if (np === undefined) continue;
    const e = entry(np);
    e.nodes.push(n.name);
    e.gpus += n.gpuCapacity;
  }
  for (const p of snap.pods)
    if (p.karpenterNodePool !== undefined && p.phase === "Pending" && !p.nodeName && p.gpuRequest > 0)
      entry(p.karpenterNodePool).pendingPods.push(`${p.namespace}/${p.name}:${p.gpuRequest}`);
  return [...byPool]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([np, e]) => ({
      duty: "guard",
      action: "none",
      code: "karpenter-nodepool",
      dryRun: false,
      karpenterNodePool: np,
      reason: `Karpenter NodePool ${np}: ${e.nodes.length} node(s) (${e.gpus} GPUs)${e.pendingPods.length ? ` and ${e.pendingPods.length} pending GPU pod(s)` : ""} left to Karpenter — never reclaimed, scaled or counted here`,
      inputs: { nodes: e.nodes, gpus: e.gpus, pendingPods: e.pendingPods },
    }));
}

/** The global guards: a source that failed, or a NotReady storm, halts the whole run. */
function haltOf(snap: Snapshot, policy: ControllerPolicy): Halt | undefined {
  const nowMs = snap.now.getTime();
  const halt = (code: HaltCode, reason: string, inputs: Record<string, unknown>): Halt => ({
    duty: "guard",
    action: "halt",
    code,
    dryRun: false,
    reason,
    inputs,
  });
  if (snap.errors.length)
    return halt("source-error", `halted: ${snap.errors.map((e) => `${e.source}: ${e.message}`).join("; ")}`, { errors: snap.errors });
  const managed = snap.nodes.filter((n) => policy.nodeGroups.some((g) => g.name === n.nodeGroup));
  const notReady = managed.filter((n) => !n.ready && nowMs - n.createdAtMs >= policy.minNodeAgeMinutes * MIN);
  if (notReady.length > policy.maxNotReadyNodes || (managed.length > 0 && notReady.length / managed.length > policy.maxNotReadyFraction))
    return halt(
      "not-ready-storm",
      `halted: ${notReady.length} of ${managed.length} managed GPU nodes NotReady (limits ${policy.maxNotReadyNodes} nodes, ${policy.maxNotReadyFraction * 100}%)`,
      { notReady: notReady.map((n) => n.name) },
    );
  return undefined;
}

/** Demand memory: the plan, not an action, records when each pool last had GPU pods waiting, and what it requested. */
function rememberDemand(snap: Snapshot, policy: ControllerPolicy, next: ControllerState): void {
  const nowMs = snap.now.getTime();
  for (const pool of poolsOf(policy)) {
    if (pendingGpuPods(snap, policy, pool.pool).length) next.lastDemandAtMs[pool.pool] = nowMs;
    const poolNodes = new Set(snap.nodes.filter((n) => pool.groups.some((g) => g.name === n.nodeGroup)).map((n) => n.name));
    const poolPods = snap.pods.filter(
      (p) =>
        ACTIVE_PHASES.has(p.phase) &&
        p.gpuRequest > 0 &&
        !isDaemonSet(p) &&
        (p.nodeName ? poolNodes.has(p.nodeName) : isOurs(p) && podPool(p, policy) === pool.pool),
    );
    const demand = poolPods.reduce((a, p) => a + p.gpuRequest, 0);
    const largestPod = Math.max(0, ...poolPods.map((p) => p.gpuRequest));
    const hist = (next.demandHistory[pool.pool] ?? []).filter((h) => nowMs - h.atMs < policy.stabilizationMinutes * MIN);
    hist.push({ atMs: nowMs, gpus: demand, largestPod });
    next.demandHistory[pool.pool] = hist;
  }
}

/**
 * The whole run: global guards first (source errors, NotReady storm, kill
 * switch), then per pool the Spot bookkeeping, scale-out and reclaim. A pool
 * that scales out in this run reclaims nothing in it.
 */
export function planController(snap: Snapshot, policy: ControllerPolicy, state: ControllerState): Plan {
  const halt = haltOf(snap, policy);
  if (halt) return { at: snap.now, halted: true, decisions: [halt], nextState: state };

  const spot = assessSpot(snap, policy, state);
  const decisions: Decision[] = [...spot.decisions];
  rememberDemand(snap, policy, spot.next);
  decisions.push(...leftToKarpenter(snap));
  for (const pool of poolsOf(policy)) {
    const so = decideScaleOut(pool, snap, policy, spot.next);
    decisions.push(...so);
    if (so.some((d) => d.action === "set-desired-capacity")) {
      for (const g of pool.groups)
        decisions.push({
          duty: "reclaim",
          action: "none",
          code: "pool-scales-out",
          dryRun: g.dryRun,
          nodeGroup: g.name,
          pool: pool.pool,
          reason: "the pool scales out in this run: no reclaim",
          inputs: {},
        });
      continue;
    }
    decisions.push(...decideReclaim(pool, snap, policy, spot.next));
  }
  if (policy.killSwitch)
    for (const d of decisions)
      if (isActionable(d)) {
        d.dryRun = true;
        d.reason = `kill switch on, not acting: would ${d.reason}`;
      }
  return { at: snap.now, halted: false, decisions, nextState: spot.next };
}

/**
 * After the taint: the same node, the pods seen now. Any change (a pod
 * scheduled in the gap, a GPU that woke up) aborts the reclaim.
 */
export const recheckAfterTaint: typeof assessNodeIdle = (node, podsOnNode, snap, policy, now) =>
  // The taint itself makes the node unschedulable; the verdict is about pods and GPUs.
  assessNodeIdle({ ...node, unschedulable: false }, podsOnNode, snap, policy, now);
