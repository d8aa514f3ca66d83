import { budgetNodes, poolOf, thresholdsOf, type ControllerPolicy, type NodeGroupPolicy } from "./policy.js";
import { parseCron } from "./cron.js";
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

export type Action = "none" | "halt" | "terminate-instance" | "set-desired-capacity" | "release-node" | "mark-spot-unavailable";

/**
 * Why, as a value a caller can switch on (the prose `reason` says it to people).
 * Not every decision carries one yet: those about who owns a node or who
 * opted out of disruption always do.
 */
export type ReasonCode =
  /** The node, or the pending pod, belongs to a Karpenter NodePool: Karpenter scales and disrupts it, never this controller. */
  | "karpenter-nodepool"
  /** A managed group some of whose nodes or whose Auto Scaling group another autoscaler claims. */
  | "foreign-autoscaler"
  | "do-not-disrupt-node"
  | "do-not-disrupt-pod"
  | "safe-to-evict-false"
  | "scale-down-disabled"
  | "reclaim"
  | "scale-out";

export interface Decision {
  duty: "reclaim" | "scale-out" | "guard";
  action: Action;
  code?: ReasonCode;
  /** Acting on it would change nothing (kill switch, dry-run group): record it, do nothing. */
  dryRun: boolean;
  reason: string;
  nodeGroup?: string;
  pool?: string;
  node?: string;
  instanceId?: string;
  capacityType?: string;
  desiredFrom?: number;
  desiredTo?: number;
  /** The numbers the decision was made on: metric values, pods, budget arithmetic. */
  inputs: Record<string, unknown>;
  /** The Karpenter NodePool a "karpenter-nodepool" decision is about. */
  karpenterNodePool?: string;
}

export interface Plan {
  atMs: number;
  halted: boolean;
  decisions: Decision[];
  /** State changes that do not depend on an action succeeding (Spot marks and their expiry). */
  nextState: ControllerState;
}

const MIN = 60_000;
const ACTIVE_PHASES = new Set(["Pending", "Running", "Unknown"]);
const isDaemonSet = (p: PodInfo) => p.ownerKind === "DaemonSet";
const round = (x: number, d = 1) => Math.round(x * 10 ** d) / 10 ** d;

export function inFreeze(crons: string[], nowMs: number, timeZone: string): string | undefined {
  return crons.find((c) => parseCron(c).matches(nowMs, timeZone));
}

export function foreignOwner(group: GroupInfo | undefined, nodes: NodeInfo[]): string | undefined {
  for (const t of FOREIGN_OWNER_TAGS)
    if (group?.tags[t] !== undefined && group.tags[t] !== "false") return `Auto Scaling group tag ${t}=${group.tags[t]}`;
  for (const n of nodes)
    for (const l of FOREIGN_OWNER_NODE_LABELS) if (n.labels[l] !== undefined) return `node ${n.name} has label ${l}=${n.labels[l]}`;
  return undefined;
}

export interface IdleVerdict {
  idle: boolean;
  reason: string;
  code?: ReasonCode;
  inputs: Record<string, unknown>;
}

/**
 * Is this node idle and safe to remove? Fails closed: any missing, thin or stale
 * metric means "not idle". Pure; also used to re-check a node after the taint.
 */
export function assessNodeIdle(
  node: NodeInfo,
  podsOnNode: PodInfo[],
  snap: Pick<Snapshot, "metrics">,
  policy: ControllerPolicy,
  nowMs: number,
): IdleVerdict {
  const ageMin = (nowMs - node.createdAtMs) / MIN;
  const base = { node: node.name, ageMinutes: round(ageMin), gpuCapacity: node.gpuCapacity, gpuAllocatable: node.gpuAllocatable };
  const no = (reason: string, extra: Record<string, unknown> = {}, code?: ReasonCode): IdleVerdict => ({
    idle: false,
    reason,
    inputs: { ...base, ...extra },
    ...(code ? { code } : {}),
  });
  if (!node.ready) return no("node is NotReady: left to the Auto Scaling health check, not reclaimed");
  if (ageMin < policy.minNodeAgeMinutes)
    return no(`node is ${round(ageMin)} min old (< ${policy.minNodeAgeMinutes} min): too young to judge`);
  if (node.gpuCapacity <= 0 || node.gpuAllocatable < node.gpuCapacity)
    return no(`GPUs not yet allocatable (${node.gpuAllocatable} of ${node.gpuCapacity}): device plugin not ready`);
  if (node.annotations[OPT_OUT.nodeScaleDownDisabled] === "true")
    return no(`node opts out (${OPT_OUT.nodeScaleDownDisabled}=true)`, {}, "scale-down-disabled");
  if (node.annotations[OPT_OUT.nodeDoNotDisrupt] === "true")
    return no(`node opts out (${OPT_OUT.nodeDoNotDisrupt}=true)`, {}, "do-not-disrupt-node");
  if (node.labels[OPT_OUT.nodeLabel] === "true") return no(`node opts out (${OPT_OUT.nodeLabel}=true)`);
  const active = podsOnNode.filter((p) => ACTIVE_PHASES.has(p.phase));
  const podNames = active.map((p) => `${p.namespace}/${p.name}`);
  const optOut = active.find((p) => p.annotations[OPT_OUT.podDoNotDisrupt] === "true" || p.annotations[OPT_OUT.podSafeToEvict] === "false");
  if (optOut) {
    const dnd = optOut.annotations[OPT_OUT.podDoNotDisrupt] === "true";
    return no(
      `pod ${optOut.namespace}/${optOut.name} opts out of disruption (${dnd ? `${OPT_OUT.podDoNotDisrupt}=true` : `${OPT_OUT.podSafeToEvict}=false`})`,
      { pods: podNames },
      dnd ? "do-not-disrupt-pod" : "safe-to-evict-false",
    );
  }
  const gpuPod = active.find((p) => !isDaemonSet(p) && p.gpuRequest > 0);
  if (gpuPod) return no(`pod ${gpuPod.namespace}/${gpuPod.name} requests ${gpuPod.gpuRequest} GPU(s) on it`, { pods: podNames });
  if (policy.nonGpuPodsBlockReclaim) {
    const other = active.find((p) => !isDaemonSet(p));
    if (other) return no(`non-DaemonSet pod ${other.namespace}/${other.name} runs on it (terminating would kill it)`, { pods: podNames });
  }
  // Every GPU must have a full, fresh window at or below the noise floor.
  const expected = Math.floor((policy.idleMinutes * 60) / policy.sampleIntervalSeconds);
  const series = snap.metrics.gpus.filter((g) => g.node === node.name);
  const gpus = series.map((g) => ({
    gpu: g.gpu,
    samples: g.samples,
    maxUtil: g.maxUtil,
    lastSampleAgeSec: Math.round((nowMs - g.lastSampleMs) / 1000),
  }));
  const m = { ...base, pods: podNames, expectedSamples: expected, noiseFloorPercent: policy.noiseFloorPercent, gpus };
  if (series.length < node.gpuCapacity)
    return { idle: false, reason: `metrics missing: ${series.length} of ${node.gpuCapacity} GPUs reported (fail closed)`, inputs: m };
  for (const g of series) {
    const coverage = expected > 0 ? g.samples / expected : 1;
    if (coverage < policy.minSampleCoverage)
      return {
        idle: false,
        reason: `GPU ${g.gpu}: ${g.samples}/${expected} samples (${Math.round(coverage * 100)}% < ${policy.minSampleCoverage * 100}%) (fail closed)`,
        inputs: m,
      };
    if (nowMs - g.lastSampleMs > policy.staleAfterSeconds * 1000)
      return {
        idle: false,
        reason: `GPU ${g.gpu}: newest sample ${Math.round((nowMs - g.lastSampleMs) / 1000)} s old (stale, fail closed)`,
        inputs: m,
      };
    if (g.maxUtil > policy.noiseFloorPercent)
      return {
        idle: false,
        reason: `GPU ${g.gpu} reached ${round(g.maxUtil)}% (> noise floor ${policy.noiseFloorPercent}%) in the last ${policy.idleMinutes} min`,
        inputs: m,
      };
  }
  return {
    idle: true,
    reason: `no GPU pods and every GPU ≤ ${policy.noiseFloorPercent}% for ${policy.idleMinutes} min with ≥ ${policy.minSampleCoverage * 100}% samples`,
    inputs: m,
  };
}

interface PoolView {
  pool: string;
  groups: NodeGroupPolicy[];
}

function poolsOf(policy: ControllerPolicy): PoolView[] {
  const m = new Map<string, NodeGroupPolicy[]>();
  for (const g of policy.nodeGroups) (m.get(poolOf(g)) ?? m.set(poolOf(g), []).get(poolOf(g))!).push(g);
  return [...m].map(([pool, groups]) => ({ pool, groups }));
}

const podPool = (p: PodInfo, policy: ControllerPolicy) => p.pool ?? policy.defaultPool;
/** A pod that asks for a Karpenter NodePool waits for Karpenter: it is no demand on our pools. */
const isOurs = (p: PodInfo) => p.karpenterNodePool === undefined;

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
  if (state.spotUnavailable[g.name] && state.spotUnavailable[g.name]!.untilMs > snap.nowMs) return 0;
  return Math.max(0, info.desiredCapacity - readyNodesOf(snap.nodes, g.name).length);
}

/** Sustained utilization of a pool: GPU-weighted sum of each group's per-step minimum — a lower bound of the pool's per-step minimum. */
function poolUtilization(groups: NodeGroupPolicy[], snap: Snapshot, policy: ControllerPolicy) {
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
    if (snap.nowMs - w.lastSampleMs > policy.staleAfterSeconds * 1000) {
      complete = false;
      why ||= `${g.name}: utilization ${Math.round((snap.nowMs - w.lastSampleMs) / 1000)} s stale`;
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
function assessSpot(snap: Snapshot, policy: ControllerPolicy, state: ControllerState): { decisions: Decision[]; next: ControllerState } {
  const next: ControllerState = structuredClone(state);
  const decisions: Decision[] = [];
  for (const g of policy.nodeGroups) {
    if (g.capacityType !== "spot") continue;
    const mark = next.spotUnavailable[g.name];
    if (mark && mark.untilMs <= snap.nowMs) delete next.spotUnavailable[g.name]; // retry Spot now
    if (next.spotUnavailable[g.name]) continue;
    const info = snap.groups.find((x) => x.name === g.name);
    const so = next.scaleOuts[g.name];
    let reason: string | undefined;
    if (info?.capacityErrorAtMs !== undefined && snap.nowMs - info.capacityErrorAtMs < policy.spotRetryAfterMinutes * MIN)
      reason = `launch failed for lack of capacity at ${new Date(info.capacityErrorAtMs).toISOString()}: ${info.capacityError ?? "capacity error"}`;
    else if (
      so &&
      snap.nowMs - so.atMs >= policy.spotJoinTimeoutMinutes * MIN &&
      readyNodesOf(snap.nodes, g.name).length < so.toDesired &&
      (info?.desiredCapacity ?? 0) >= so.toDesired
    )
      reason = `asked for ${so.toDesired} nodes ${Math.round((snap.nowMs - so.atMs) / MIN)} min ago, only ${readyNodesOf(snap.nodes, g.name).length} Ready (join timeout ${policy.spotJoinTimeoutMinutes} min)`;
    if (reason) {
      const untilMs = snap.nowMs + policy.spotRetryAfterMinutes * MIN;
      next.spotUnavailable[g.name] = { sinceMs: snap.nowMs, untilMs, reason };
      decisions.push({
        duty: "scale-out",
        action: "mark-spot-unavailable",
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
    if (i >= 0) slots[i]! -= p.gpuRequest;
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
    if (i >= 0) bins[i]! -= g;
    else bins.push(size - g);
  }
  return bins.length;
}

export function decideScaleOut(pool: PoolView, snap: Snapshot, policy: ControllerPolicy, state: ControllerState): Decision[] {
  const now = snap.nowMs;
  const first = pool.groups[0]!;
  const { scaleOutAt } = thresholdsOf(first);
  const groupInfo = (g: NodeGroupPolicy) => snap.groups.find((x) => x.name === g.name);
  const poolNodes = snap.nodes.filter((n) => pool.groups.some((g) => g.name === n.nodeGroup));
  const requested = requestedByNode(snap.pods);
  const free = poolNodes
    .filter((n) => n.ready && !n.unschedulable && !n.reclaimTainted)
    .map((n) => Math.max(0, n.gpuAllocatable - (requested.get(n.name) ?? 0)));
  const launchingSlots: number[] = [];
  for (const g of pool.groups) for (let i = 0; i < launchingNodes(g, groupInfo(g), snap, state); i++) launchingSlots.push(g.gpusPerNode);
  const pending = snap.pods.filter(
    (p) =>
      p.phase === "Pending" &&
      !p.nodeName &&
      p.gpuRequest > 0 &&
      isOurs(p) &&
      podPool(p, policy) === pool.pool &&
      now - p.createdAtMs >= policy.pendingGraceSeconds * 1000,
  );
  const left = unplacedPods(pending, free, launchingSlots);
  const freeGpus = free.reduce((a, b) => a + b, 0);
  const launchingGpus = launchingSlots.reduce((a, b) => a + b, 0);
  const headroom = Math.max(...pool.groups.map((g) => g.minFreeGpus));
  const short = freeGpus + launchingGpus < headroom;
  const util = poolUtilization(pool.groups, snap, policy);
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
  const none = (reason: string): Decision[] => [{ duty: "scale-out", action: "none", dryRun: false, pool: pool.pool, reason, inputs }];

  let why: string;
  if (sustained && (left.length > 0 || short))
    why = `utilization stayed ≥ ${scaleOutAt}% for ${policy.scaleOutWindowMinutes} min (lowest ${round(util.sustainedMin)}%) and ${left.length ? `${left.length} GPU pod(s) fit nowhere` : `free GPUs short (${freeGpus} free + ${launchingGpus} launching < ${headroom})`}`;
  else if (left.length > 0 && policy.scaleOutForUnschedulablePods)
    why = `${left.length} pending GPU pod(s) fit in no free or launching GPU (pending ≥ ${policy.pendingGraceSeconds} s)`;
  else if (left.length === 0 && !short)
    return none(`no demand: ${pending.length} pending GPU pod(s) all fit in ${freeGpus} free + ${launchingGpus} launching GPUs`);
  else if (!util.complete) return none(`utilization window incomplete (${util.why}): no utilization-driven scale-out (fail closed)`);
  else return none(`utilization ${round(util.sustainedMin)}% did not stay ≥ ${scaleOutAt}% for ${policy.scaleOutWindowMinutes} min`);

  // Target: Spot groups in priority order, On-Demand only when no Spot group can take it.
  const order = [...pool.groups].sort((a, b) =>
    a.capacityType === b.capacityType ? a.priority - b.priority || a.name.localeCompare(b.name) : a.capacityType === "spot" ? -1 : 1,
  );
  const skipped: string[] = [];
  for (const g of order) {
    const info = groupInfo(g);
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
    if (mark && mark.untilMs > now) {
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
    const step = Math.min(needed, g.maxStep, ceiling - info.desiredCapacity);
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
  return none(`${why}, but no group can grow: ${skipped.join("; ")}`);
}

export function decideReclaim(pool: PoolView, snap: Snapshot, policy: ControllerPolicy, state: ControllerState): Decision[] {
  const now = snap.nowMs;
  const out: Decision[] = [];
  const { scaleInAt } = thresholdsOf(pool.groups[0]!);
  const podsByNode = new Map<string, PodInfo[]>();
  for (const p of snap.pods) if (p.nodeName) (podsByNode.get(p.nodeName) ?? podsByNode.set(p.nodeName, []).get(p.nodeName)!).push(p);

  // Pending GPU pods of this pool would land on an idle node: never take it from under them.
  const pendingGpu = snap.pods.filter(
    (p) => p.phase === "Pending" && !p.nodeName && p.gpuRequest > 0 && isOurs(p) && podPool(p, policy) === pool.pool,
  );

  interface Candidate {
    g: NodeGroupPolicy;
    info: GroupInfo;
    node: NodeInfo;
    verdict: IdleVerdict;
  }
  const candidates: Candidate[] = [];
  const blocked = new Map<string, string>(); // group -> reason, for releasing tainted nodes
  for (const g of pool.groups) {
    const info = snap.groups.find((x) => x.name === g.name);
    const nodes = snap.nodes.filter((n) => n.nodeGroup === g.name);
    const groupDecision = (reason: string, inputs: Record<string, unknown> = {}, code?: ReasonCode) => {
      blocked.set(g.name, reason);
      out.push({
        duty: "reclaim",
        action: "none",
        dryRun: g.dryRun,
        nodeGroup: g.name,
        pool: pool.pool,
        reason,
        inputs: { nodes: nodes.length, ...inputs },
        ...(code ? { code } : {}),
      });
    };
    if (!info) {
      groupDecision("Auto Scaling group not found: nothing reclaimed");
      continue;
    }
    const owner = foreignOwner(info, nodes);
    if (owner) {
      groupDecision(`owned by another autoscaler (${owner}): left alone`, {}, "foreign-autoscaler");
      continue;
    }
    const freeze = inFreeze([...policy.freezeWindows, ...g.freezeWindows], now, policy.timeZone);
    if (freeze) {
      groupDecision(`freeze window "${freeze}" (${policy.timeZone}) is active: no disruption`);
      continue;
    }
    const so = state.scaleOuts[g.name];
    if (so && now - so.atMs < policy.recentScaleOutMinutes * MIN) {
      groupDecision(`scaled out ${Math.round((now - so.atMs) / MIN)} min ago (< ${policy.recentScaleOutMinutes} min): no reclaim`, {
        lastScaleOut: so,
      });
      continue;
    }
    if (pendingGpu.length) {
      groupDecision(`${pendingGpu.length} GPU pod(s) pending in pool ${pool.pool}: idle capacity is kept for them`, {
        pending: pendingGpu.map((p) => `${p.namespace}/${p.name}`),
      });
      continue;
    }
    const lastDemand = state.lastDemandAtMs[pool.pool];
    if (lastDemand !== undefined && now - lastDemand < policy.reclaimQuietMinutes * MIN) {
      groupDecision(
        `pool ${pool.pool} had GPU pods pending ${Math.round((now - lastDemand) / MIN)} min ago (< ${policy.reclaimQuietMinutes} min quiet period): no reclaim`,
        { lastDemandAt: new Date(lastDemand).toISOString() },
      );
      continue;
    }
    const poolScaleOut = pool.groups
      .map((x) => ({ g: x.name, so: state.scaleOuts[x.name] }))
      .find((x) => x.so && now - x.so.atMs < policy.reclaimQuietMinutes * MIN);
    if (poolScaleOut) {
      groupDecision(
        `pool ${pool.pool} scaled out (${poolScaleOut.g}) ${Math.round((now - poolScaleOut.so!.atMs) / MIN)} min ago (< ${policy.reclaimQuietMinutes} min quiet period): no reclaim`,
        { lastScaleOut: poolScaleOut.so },
      );
      continue;
    }
    for (const node of nodes) {
      const verdict = assessNodeIdle(node, podsByNode.get(node.name) ?? [], snap, policy, now);
      if (!verdict.idle) {
        out.push({
          duty: "reclaim",
          action: node.reclaimTainted ? "release-node" : "none",
          dryRun: g.dryRun,
          nodeGroup: g.name,
          pool: pool.pool,
          node: node.name,
          instanceId: node.instanceId,
          capacityType: node.capacityType,
          reason: node.reclaimTainted
            ? `reclaim taint left from an earlier run, node no longer idle (${verdict.reason}): remove the taint`
            : verdict.reason,
          inputs: verdict.inputs,
          ...(verdict.code ? { code: verdict.code } : {}),
        });
        continue;
      }
      const inst = info.instances.find((i) => i.instanceId === node.instanceId);
      if (!inst || inst.lifecycleState !== "InService") {
        out.push({
          duty: "reclaim",
          action: "none",
          dryRun: g.dryRun,
          nodeGroup: g.name,
          pool: pool.pool,
          node: node.name,
          instanceId: node.instanceId,
          reason: `idle, but instance ${node.instanceId ?? "(unknown)"} is ${inst?.lifecycleState ?? "not in the group"}`,
          inputs: verdict.inputs,
        });
        continue;
      }
      candidates.push({ g, info, node, verdict });
    }
  }

  // On-Demand before Spot (it costs more), then the oldest node, then by name for a stable order.
  candidates.sort((a, b) => {
    const ca = a.node.capacityType ?? a.g.capacityType;
    const cb = b.node.capacityType ?? b.g.capacityType;
    if (ca !== cb) return ca === "on-demand" ? -1 : 1;
    return a.node.createdAtMs - b.node.createdAtMs || a.node.name.localeCompare(b.node.name);
  });

  // Pool utilization now, and GPUs that would remain: a reclaim must not push the pool toward a scale-out.
  const poolNodes = snap.nodes.filter((n) => n.ready && pool.groups.some((g) => g.name === n.nodeGroup));
  const utilSum = poolNodes.reduce((a, n) => a + snap.metrics.gpus.filter((x) => x.node === n.name).reduce((s, x) => s + x.meanUtil, 0), 0);
  let gpusLeft = poolNodes.reduce((a, n) => a + n.gpuAllocatable, 0);
  const requested = requestedByNode(snap.pods);
  const freeOn = (n: NodeInfo) => (n.unschedulable || n.reclaimTainted ? 0 : Math.max(0, n.gpuAllocatable - (requested.get(n.name) ?? 0)));
  let freeLeft = poolNodes.reduce((a, n) => a + freeOn(n), 0);
  const headroom = Math.max(...pool.groups.map((g) => g.minFreeGpus));
  const recentDemand = (state.demandHistory[pool.pool] ?? []).filter((h) => now - h.atMs < policy.stabilizationMinutes * MIN);
  const peakDemand = Math.max(0, ...recentDemand.map((h) => h.gpus));
  // GPUs are not fungible across nodes: the largest pod seen lately must still find one node with room.
  const largestPod = Math.max(0, ...recentDemand.map((h) => h.largestPod ?? 0));
  const taken = new Map<string, number>();
  const chosen = new Set<string>();
  for (const c of candidates) {
    const { g, info, node } = c;
    const groupNodes = snap.nodes.filter((n) => n.nodeGroup === g.name).length;
    const allowed = budgetNodes(g.disruptionBudget, groupNodes);
    // Disruptions already under way in the group count against its budget.
    const inFlight =
      info.instances.filter((i) => i.lifecycleState.startsWith("Terminating")).length +
      snap.nodes.filter((n) => n.nodeGroup === g.name && n.reclaimTainted && n.name !== node.name && !chosen.has(n.name)).length;
    const already = taken.get(g.name) ?? 0;
    const projectedUtil = gpusLeft - node.gpuAllocatable > 0 ? utilSum / (gpusLeft - node.gpuAllocatable) : 0;
    const budget = {
      disruptionBudget: g.disruptionBudget,
      groupNodes,
      allowed,
      inFlight,
      chosenThisRun: already,
      desired: info.desiredCapacity,
      minSize: info.minSize,
      desiredAfter: info.desiredCapacity - already - 1,
    };
    const inputs = {
      ...c.verdict.inputs,
      budget,
      poolUtilization: {
        projectedPercent: round(projectedUtil),
        scaleInAtPercent: scaleInAt,
        gpusLeftAfter: gpusLeft - node.gpuAllocatable,
      },
      freeGpusAfter: freeLeft - freeOn(node),
      minFreeGpus: headroom,
      peakDemandGpus: peakDemand,
      largestRecentPodGpus: largestPod,
      stabilizationMinutes: policy.stabilizationMinutes,
    };
    const skip = (reason: string) =>
      out.push({
        duty: "reclaim",
        action: node.reclaimTainted ? "release-node" : "none",
        dryRun: g.dryRun,
        nodeGroup: g.name,
        pool: pool.pool,
        node: node.name,
        instanceId: node.instanceId,
        capacityType: node.capacityType ?? g.capacityType,
        reason,
        inputs,
      });
    if (inFlight + already + 1 > allowed) {
      skip(
        `idle, but the disruption budget is spent: ${inFlight} in flight + ${already} chosen + 1 > ${allowed} (${g.disruptionBudget} of ${groupNodes})`,
      );
      continue;
    }
    if (info.desiredCapacity - already - 1 < info.minSize) {
      skip(`idle, but the group is at its minimum (${info.desiredCapacity - already} nodes, min ${info.minSize})`);
      continue;
    }
    if (projectedUtil > scaleInAt) {
      skip(`idle, but the pool would run at ${round(projectedUtil)}% without it (> scale-in threshold ${scaleInAt}%)`);
      continue;
    }
    if (gpusLeft - node.gpuAllocatable < peakDemand + headroom) {
      skip(
        `idle, but the pool's pods requested up to ${peakDemand} GPU(s) in the last ${policy.stabilizationMinutes} min; without it ${gpusLeft - node.gpuAllocatable} < ${peakDemand} + ${headroom} free`,
      );
      continue;
    }
    const roomElsewhere = Math.max(0, ...poolNodes.filter((n) => n.name !== node.name && !chosen.has(n.name)).map(freeOn));
    if (policy.keepRoomForLargestPod && roomElsewhere < largestPod) {
      skip(
        `idle, but a ${largestPod}-GPU pod ran in the last ${policy.stabilizationMinutes} min and no other node has ${largestPod} free GPUs (most: ${roomElsewhere})`,
      );
      continue;
    }
    if (freeLeft - freeOn(node) < headroom) {
      skip(`idle, but the pool keeps ${headroom} free GPU(s) and would have ${freeLeft - freeOn(node)}`);
      continue;
    }
    taken.set(g.name, already + 1);
    gpusLeft -= node.gpuAllocatable;
    freeLeft -= freeOn(node);
    chosen.add(node.name);
    out.push({
      duty: "reclaim",
      action: "terminate-instance",
      code: "reclaim",
      dryRun: g.dryRun,
      nodeGroup: g.name,
      pool: pool.pool,
      node: node.name,
      instanceId: node.instanceId,
      capacityType: node.capacityType ?? g.capacityType,
      desiredFrom: info.desiredCapacity - already,
      desiredTo: info.desiredCapacity - already - 1,
      reason: `${c.verdict.reason}; budget ${inFlight + already + 1}/${allowed}; ${info.desiredCapacity - already - 1} ≥ min ${info.minSize}; pool at ${round(projectedUtil)}% after: cordon, taint, re-check, terminate this instance`,
      inputs,
    });
  }
  // A reclaim taint in a group we may not touch now is lifted, so the node serves again.
  for (const [name, why] of blocked)
    for (const n of snap.nodes.filter((x) => x.nodeGroup === name && x.reclaimTainted))
      out.push({
        duty: "reclaim",
        action: "release-node",
        dryRun: pool.groups.find((g) => g.name === name)!.dryRun,
        nodeGroup: name,
        pool: pool.pool,
        node: n.name,
        instanceId: n.instanceId,
        reason: `reclaim taint left from an earlier run while ${why}: remove the taint`,
        inputs: {},
      });
  return out;
}

/**
 * Nodes a Karpenter NodePool owns (label karpenter.sh/nodepool) and GPU pods
 * waiting for one: Karpenter provisions and consolidates those, so this
 * controller never reclaims, scales or counts them — one decision per NodePool
 * says so, with the nodes and pods it leaves alone.
 */
export function leftToKarpenter(snap: Snapshot): Decision[] {
  const byPool = new Map<string, { nodes: string[]; gpus: number; pendingPods: string[] }>();
  const entry = (np: string) => byPool.get(np) ?? byPool.set(np, { nodes: [], gpus: 0, pendingPods: [] }).get(np)!;
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

/**
 * The whole run: global guards first (source errors, NotReady storm, kill
 * switch), then per pool the Spot bookkeeping, scale-out and reclaim. A pool
 * that scales out in this run reclaims nothing in it.
 */
export function planController(snap: Snapshot, policy: ControllerPolicy, state: ControllerState): Plan {
  const now = snap.nowMs;
  const halt = (reason: string, inputs: Record<string, unknown>): Plan => ({
    atMs: now,
    halted: true,
    decisions: [{ duty: "guard", action: "halt", dryRun: false, reason, inputs }],
    nextState: state,
  });
  if (snap.errors.length) return halt(`halted: ${snap.errors.map((e) => `${e.source}: ${e.message}`).join("; ")}`, { errors: snap.errors });
  const managed = snap.nodes.filter((n) => policy.nodeGroups.some((g) => g.name === n.nodeGroup));
  const notReady = managed.filter((n) => !n.ready && now - n.createdAtMs >= policy.minNodeAgeMinutes * MIN);
  if (notReady.length > policy.maxNotReadyNodes || (managed.length > 0 && notReady.length / managed.length > policy.maxNotReadyFraction))
    return halt(
      `halted: ${notReady.length} of ${managed.length} managed GPU nodes NotReady (limits ${policy.maxNotReadyNodes} nodes, ${policy.maxNotReadyFraction * 100}%)`,
      { notReady: notReady.map((n) => n.name) },
    );

  const spot = assessSpot(snap, policy, state);
  const decisions: Decision[] = [...spot.decisions];
  // Demand memory: the plan, not an action, records when each pool last had GPU pods waiting.
  for (const pool of poolsOf(policy)) {
    if (snap.pods.some((p) => p.phase === "Pending" && !p.nodeName && p.gpuRequest > 0 && isOurs(p) && podPool(p, policy) === pool.pool))
      spot.next.lastDemandAtMs[pool.pool] = now;
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
    const hist = (spot.next.demandHistory[pool.pool] ?? []).filter((h) => now - h.atMs < policy.stabilizationMinutes * MIN);
    hist.push({ atMs: now, gpus: demand, largestPod });
    spot.next.demandHistory[pool.pool] = hist;
  }
  decisions.push(...leftToKarpenter(snap));
  for (const pool of poolsOf(policy)) {
    const so = decideScaleOut(pool, snap, policy, spot.next);
    decisions.push(...so);
    if (so.some((d) => d.action === "set-desired-capacity")) {
      for (const g of pool.groups)
        decisions.push({
          duty: "reclaim",
          action: "none",
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
      if (d.action === "terminate-instance" || d.action === "set-desired-capacity" || d.action === "release-node") {
        d.dryRun = true;
        d.reason = `kill switch on, not acting: would ${d.reason}`;
      }
  return { atMs: now, halted: false, decisions, nextState: spot.next };
}

/**
 * After the taint: the same node, the pods seen now. Any change (a pod
 * scheduled in the gap, a GPU that woke up) aborts the reclaim.
 */
export function recheckAfterTaint(
  node: NodeInfo,
  podsOnNode: PodInfo[],
  snap: Pick<Snapshot, "metrics">,
  policy: ControllerPolicy,
  nowMs: number,
): IdleVerdict {
  // The taint itself makes the node unschedulable; the verdict is about pods and GPUs.
  return assessNodeIdle({ ...node, unschedulable: false }, podsOnNode, snap, policy, nowMs);
}
