import { CompositeFailure, UnavailableError } from "../core/errors.js";
import {
  isActionable,
  planController,
  recheckAfterTaint,
  type Decision,
  type Plan,
  type ReleaseNode,
  type SetDesiredCapacity,
  type TerminateInstance,
} from "./decide.js";
import type { ControllerPolicy } from "./policy.js";
import type { ControllerState, NodeInfo, PodInfo, Snapshot } from "./snapshot.js";

/**
 * One controller run: lease → snapshot → plan → act (only non-dry-run
 * decisions, one at a time, state checkpointed after each) → audit log and
 * metrics → release. No SDK here: every side effect is a dependency, so the
 * handler, the CLI and the tests wire real or recording ones.
 */
export interface LeaseHandle {
  state: ControllerState;
}

/** What Auto Scaling answered to a terminate (the adapter's TerminateOutcome satisfies it). */
export type TerminateResult = { outcome: "terminating" } | { outcome: "already-gone"; detail: string };
/** What Auto Scaling answered to a desired-capacity change (the adapter's ScaleOutOutcome satisfies it). */
export type DesiredCapacityResult = { outcome: "set" } | { outcome: "skipped"; detail: string };

export interface ControllerDeps<L extends LeaseHandle = LeaseHandle> {
  acquireLease(now: Date): Promise<L | undefined>;
  checkpoint(lease: L, state: ControllerState, now: Date): Promise<L>;
  releaseLease(lease: L, state: ControllerState, now: Date): Promise<void>;
  snapshot(now: Date): Promise<Snapshot>;
  cordonAndTaint(node: string): Promise<NodeInfo>;
  releaseNode(node: string): Promise<void>;
  podsOnNode(node: string): Promise<PodInfo[]>;
  terminateInstance(instanceId: string): Promise<TerminateResult>;
  setDesiredCapacity(asgName: string, from: number, to: number): Promise<DesiredCapacityResult>;
  audit(records: ControllerRecord[], now: Date): Promise<string>;
  publish(plan: RunPlan, state: ControllerState, now: Date): Promise<void>;
}

/**
 * What run-controller did with a decision, as a value metrics and the meter switch on;
 * `text` says it to people (and is what the audit log's `outcome` has always held).
 */
export type Outcome =
  | {
      status: "done";
      code: "recorded-in-state" | "desired-capacity-set" | "taint-removed" | "instance-terminating" | "instance-already-gone";
      text: string;
    }
  | {
      status: "skipped";
      code: "no-action" | "lease-held" | "dry-run" | "earlier-failure" | "desired-capacity-unchanged" | "aborted-after-recheck";
      text: string;
    }
  | { status: "failed"; code: "action-failed"; text: string };
export type OutcomeCode = Outcome["code"];
export type OutcomeStatus = Outcome["status"];

/** A decision and what came of it: one audit line. */
export type ControllerRecord = Decision & { outcome: Outcome };

/** The plan as acted on: its decisions with their outcomes. */
export type RunPlan = Omit<Plan, "decisions"> & { decisions: ControllerRecord[] };

export interface RunResult {
  ran: boolean;
  halted: boolean;
  auditKey?: string;
  acted: number;
  decisions: ControllerRecord[];
  failures: string[];
}

/** A source was unavailable: the run halted safely, and says so loudly so alarms and retries see it. */
export class ControllerHaltedError extends UnavailableError {
  constructor(
    message: string,
    readonly result: RunResult,
  ) {
    super(message);
    this.name = "ControllerHaltedError";
  }
}

/** Some actions of the run failed (the rest were recorded); its kind is the first failure's. */
export class ControllerActionsFailedError extends CompositeFailure {
  constructor(
    message: string,
    readonly result: RunResult,
    cause: unknown,
  ) {
    super(message, { cause });
    this.name = "ControllerActionsFailedError";
  }
}

const DAY = 86_400_000;

/** Forgets history older than a day (the savings horizon) so the state object stays small. */
export function pruneState(s: ControllerState, now: Date): ControllerState {
  const nowMs = now.getTime();
  const keep = <T extends { atMs: number }>(xs: T[]) => xs.filter((x) => nowMs - x.atMs < DAY);
  return {
    ...s,
    reclaims: Object.fromEntries(
      Object.entries(s.reclaims)
        .map(([k, v]) => [k, keep(v)])
        .filter(([, v]) => (v as unknown[]).length),
    ),
    additions: Object.fromEntries(
      Object.entries(s.additions)
        .map(([k, v]) => [k, keep(v)])
        .filter(([, v]) => (v as unknown[]).length),
    ),
  };
}

/**
 * GPU-hours saved over the last `intervalMinutes`, per group: nodes reclaimed
 * in the last day minus nodes added back since, never below zero, × GPUs per
 * node × interval. Summed over runs it estimates what reclaiming saved; a
 * reclaim undone by a later scale-out stops counting.
 */
export function gpuHoursSavedEstimate(
  s: ControllerState,
  policy: ControllerPolicy,
  now: Date,
  intervalMinutes: number,
): Record<string, number> {
  const nowMs = now.getTime();
  const out: Record<string, number> = {};
  for (const g of policy.nodeGroups) {
    const reclaimed = (s.reclaims[g.name] ?? []).filter((r) => nowMs - r.atMs < DAY);
    if (!reclaimed.length) continue;
    const since = Math.min(...reclaimed.map((r) => r.atMs));
    const added = (s.additions[g.name] ?? []).filter((a) => a.atMs >= since).reduce((x, a) => x + a.nodes, 0);
    const away = Math.max(0, reclaimed.length - added);
    if (away) out[g.name] = (away * g.gpusPerNode * intervalMinutes) / 60;
  }
  return out;
}

const done = (code: Extract<Outcome, { status: "done" }>["code"], text: string): Outcome => ({ status: "done", code, text });
const skipped = (code: Extract<Outcome, { status: "skipped" }>["code"], text: string): Outcome => ({ status: "skipped", code, text });

/** What run-controller acts on and where it writes down what it did. */
interface RunContext<L extends LeaseHandle> {
  deps: ControllerDeps<L>;
  policy: ControllerPolicy;
  snap: Snapshot;
  state: ControllerState;
  now: Date;
}

/** The outcome of a decision the run only records (it is not one to act on, or it may not be acted on now). */
function recordedOutcome(d: Decision, earlierFailure: boolean): Outcome | undefined {
  if (!isActionable(d))
    return d.action === "mark-spot-unavailable" ? done("recorded-in-state", "recorded in state") : skipped("no-action", "no action");
  if (d.dryRun) return skipped("dry-run", "dry-run: not acted on");
  if (earlierFailure) return skipped("earlier-failure", "not attempted: an earlier action in this run failed");
  return undefined;
}

async function setCapacity<L extends LeaseHandle>(c: RunContext<L>, d: SetDesiredCapacity): Promise<ControllerRecord> {
  const g = c.policy.nodeGroups.find((x) => x.name === d.nodeGroup);
  // The plan only targets groups of this policy; a decision that names another is a bug, not a skip.
  if (!g) throw new Error(`set-desired-capacity for node group ${d.nodeGroup}, which is not in the policy`);
  const r = await c.deps.setDesiredCapacity(g.autoScalingGroupName, d.desiredFrom, d.desiredTo);
  if (r.outcome !== "set") return { ...d, outcome: skipped("desired-capacity-unchanged", `skipped: ${r.detail}`) };
  const atMs = c.now.getTime();
  c.state.scaleOuts[g.name] = { atMs, fromDesired: d.desiredFrom, toDesired: d.desiredTo };
  (c.state.additions[g.name] ??= []).push({ atMs, nodes: d.desiredTo - d.desiredFrom });
  return { ...d, outcome: done("desired-capacity-set", `desired capacity set ${d.desiredFrom} → ${d.desiredTo}`) };
}

async function release<L extends LeaseHandle>(c: RunContext<L>, d: ReleaseNode): Promise<ControllerRecord> {
  await c.deps.releaseNode(d.node);
  return { ...d, outcome: done("taint-removed", "taint removed") };
}

/** Cordon and taint, re-check on the pods seen now, then terminate; any change releases the node instead. */
async function reclaim<L extends LeaseHandle>(c: RunContext<L>, d: TerminateInstance): Promise<ControllerRecord> {
  const tainted = await c.deps.cordonAndTaint(d.node);
  const pods = await c.deps.podsOnNode(d.node);
  const verdict = recheckAfterTaint(tainted, pods, c.snap, c.policy, c.now);
  const inputs = { ...d.inputs, recheck: verdict.inputs };
  if (!verdict.idle) {
    await c.deps.releaseNode(d.node);
    return { ...d, inputs, outcome: skipped("aborted-after-recheck", `aborted after the taint: ${verdict.reason}; taint removed`) };
  }
  const r = await c.deps.terminateInstance(d.instanceId);
  (c.state.reclaims[d.nodeGroup] ??= []).push({ atMs: c.now.getTime(), instanceId: d.instanceId, node: d.node });
  return {
    ...d,
    inputs,
    outcome:
      r.outcome === "terminating"
        ? done("instance-terminating", "instance terminating (desired capacity decremented)")
        : done("instance-already-gone", `already gone: ${r.detail}`),
  };
}

/** Did the action change the cluster (what `acted` counts)? */
const changedCluster = (o: Outcome) =>
  o.code === "desired-capacity-set" ||
  o.code === "taint-removed" ||
  o.code === "instance-terminating" ||
  o.code === "instance-already-gone";

export async function runController<L extends LeaseHandle>(
  deps: ControllerDeps<L>,
  policy: ControllerPolicy,
  now: Date,
): Promise<RunResult> {
  let lease = await deps.acquireLease(now);
  if (!lease) {
    const rec: ControllerRecord[] = [
      {
        duty: "guard",
        action: "none",
        code: "lease-held",
        dryRun: false,
        reason: "another controller run holds the lease: this one does nothing",
        inputs: {},
        outcome: skipped("lease-held", "skipped"),
      },
    ];
    return { ran: false, halted: false, acted: 0, decisions: rec, failures: [], auditKey: await deps.audit(rec, now) };
  }
  const snap = await deps.snapshot(now);
  const plan = planController(snap, policy, lease.state);
  const c: RunContext<L> = { deps, policy, snap, now, state: pruneState(structuredClone(plan.nextState), now) };
  const records: ControllerRecord[] = [];
  const failures: string[] = [];
  let firstFailure: unknown;
  let acted = 0;

  for (const d of plan.decisions) {
    const recorded = recordedOutcome(d, failures.length > 0);
    if (recorded || !isActionable(d)) {
      records.push({ ...d, outcome: recorded ?? skipped("no-action", "no action") });
      continue;
    }
    try {
      const rec =
        d.action === "set-desired-capacity"
          ? await setCapacity(c, d)
          : d.action === "release-node"
            ? await release(c, d)
            : await reclaim(c, d);
      if (changedCluster(rec.outcome)) acted++;
      records.push(rec);
      // An abort after the taint changed no state: nothing to checkpoint.
      if (rec.outcome.code !== "aborted-after-recheck") lease = await deps.checkpoint(lease, c.state, now);
    } catch (e) {
      const msg = `${d.action} ${d.action === "set-desired-capacity" ? d.nodeGroup : d.node}: ${(e as Error).name}: ${(e as Error).message}`;
      failures.push(msg);
      firstFailure ??= e;
      // A node left tainted by a failed reclaim is released (best effort); the next run would release it anyway.
      if (d.action === "terminate-instance") await deps.releaseNode(d.node).catch(() => undefined);
      records.push({ ...d, outcome: { status: "failed", code: "action-failed", text: `failed: ${msg}` } });
    }
  }
  const auditKey = await deps.audit(records, now);
  await deps.publish({ ...plan, decisions: records }, c.state, now);
  await deps.releaseLease(lease, c.state, now);
  const result: RunResult = { ran: true, halted: plan.halted, auditKey, acted, decisions: records, failures };
  if (failures.length) throw new ControllerActionsFailedError(`controller run failed: ${failures.join("; ")}`, result, firstFailure);
  const halt = plan.decisions[0];
  if (plan.halted && snap.errors.length && halt) throw new ControllerHaltedError(halt.reason, result);
  return result;
}
