import { planController, recheckAfterTaint, type Decision, type Plan } from "./decide.js";
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
export interface ControllerDeps<L extends LeaseHandle = LeaseHandle> {
  acquireLease(nowMs: number): Promise<L | undefined>;
  checkpoint(lease: L, state: ControllerState, nowMs: number): Promise<L>;
  releaseLease(lease: L, state: ControllerState, nowMs: number): Promise<void>;
  snapshot(nowMs: number): Promise<Snapshot>;
  cordonAndTaint(node: string): Promise<NodeInfo>;
  releaseNode(node: string): Promise<void>;
  podsOnNode(node: string): Promise<PodInfo[]>;
  terminateInstance(instanceId: string): Promise<{ outcome: string; detail?: string }>;
  setDesiredCapacity(asgName: string, from: number, to: number): Promise<{ outcome: string; detail?: string }>;
  audit(records: (Decision & { outcome: string })[], nowMs: number): Promise<string>;
  publish(plan: Plan, state: ControllerState, nowMs: number): Promise<void>;
}

export interface RunResult {
  ran: boolean;
  halted: boolean;
  auditKey?: string;
  acted: number;
  decisions: (Decision & { outcome: string })[];
  failures: string[];
}

/** A source was unavailable: the run halted safely, and says so loudly so alarms and retries see it. */
export class ControllerHaltedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ControllerHaltedError";
  }
}

const DAY = 86_400_000;

/** Forgets history older than a day (the savings horizon) so the state object stays small. */
export function pruneState(s: ControllerState, nowMs: number): ControllerState {
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
  nowMs: number,
  intervalMinutes: number,
): Record<string, number> {
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

export async function runController<L extends LeaseHandle>(
  deps: ControllerDeps<L>,
  policy: ControllerPolicy,
  nowMs: number,
): Promise<RunResult> {
  let lease = await deps.acquireLease(nowMs);
  if (!lease) {
    const rec = [
      {
        duty: "guard" as const,
        action: "none" as const,
        dryRun: false,
        reason: "another controller run holds the lease: this one does nothing",
        inputs: {},
        outcome: "skipped",
      },
    ];
    return { ran: false, halted: false, acted: 0, decisions: rec, failures: [], auditKey: await deps.audit(rec, nowMs) };
  }
  const snap = await deps.snapshot(nowMs);
  const plan = planController(snap, policy, lease.state);
  const state: ControllerState = pruneState(structuredClone(plan.nextState), nowMs);
  const records: (Decision & { outcome: string })[] = [];
  const failures: string[] = [];
  let acted = 0;
  const groupPolicy = (name?: string) => policy.nodeGroups.find((g) => g.name === name);

  for (const d of plan.decisions) {
    const actionable = d.action === "terminate-instance" || d.action === "set-desired-capacity" || d.action === "release-node";
    if (!actionable) {
      records.push({ ...d, outcome: d.action === "mark-spot-unavailable" ? "recorded in state" : "no action" });
      continue;
    }
    if (d.dryRun) {
      records.push({ ...d, outcome: "dry-run: not acted on" });
      continue;
    }
    if (failures.length) {
      records.push({ ...d, outcome: "not attempted: an earlier action in this run failed" });
      continue;
    }
    try {
      if (d.action === "set-desired-capacity") {
        const g = groupPolicy(d.nodeGroup)!;
        const r = await deps.setDesiredCapacity(g.autoScalingGroupName, d.desiredFrom!, d.desiredTo!);
        if (r.outcome === "set") {
          acted++;
          state.scaleOuts[g.name] = { atMs: nowMs, fromDesired: d.desiredFrom!, toDesired: d.desiredTo! };
          (state.additions[g.name] ??= []).push({ atMs: nowMs, nodes: d.desiredTo! - d.desiredFrom! });
        }
        records.push({
          ...d,
          outcome: r.outcome === "set" ? `desired capacity set ${d.desiredFrom} → ${d.desiredTo}` : `skipped: ${r.detail}`,
        });
      } else if (d.action === "release-node") {
        await deps.releaseNode(d.node!);
        acted++;
        records.push({ ...d, outcome: "taint removed" });
      } else {
        const tainted = await deps.cordonAndTaint(d.node!);
        const pods = await deps.podsOnNode(d.node!);
        const verdict = recheckAfterTaint(tainted, pods, snap, policy, nowMs);
        if (!verdict.idle) {
          await deps.releaseNode(d.node!);
          records.push({
            ...d,
            outcome: `aborted after the taint: ${verdict.reason}; taint removed`,
            inputs: { ...d.inputs, recheck: verdict.inputs },
          });
          continue;
        }
        const r = await deps.terminateInstance(d.instanceId!);
        acted++;
        (state.reclaims[d.nodeGroup!] ??= []).push({ atMs: nowMs, instanceId: d.instanceId!, node: d.node! });
        records.push({
          ...d,
          outcome: r.outcome === "terminating" ? "instance terminating (desired capacity decremented)" : `already gone: ${r.detail}`,
          inputs: { ...d.inputs, recheck: verdict.inputs },
        });
      }
      lease = await deps.checkpoint(lease, state, nowMs);
    } catch (e) {
      const msg = `${d.action} ${d.node ?? d.nodeGroup}: ${(e as Error).name}: ${(e as Error).message}`;
      failures.push(msg);
      // A node left tainted by a failed reclaim is released (best effort); the next run would release it anyway.
      if (d.action === "terminate-instance") await deps.releaseNode(d.node!).catch(() => undefined);
      records.push({ ...d, outcome: `failed: ${msg}` });
    }
  }
  const auditKey = await deps.audit(records, nowMs);
  await deps.publish({ ...plan, decisions: records }, state, nowMs);
  await deps.releaseLease(lease, state, nowMs);
  const result: RunResult = { ran: true, halted: plan.halted, auditKey, acted, decisions: records, failures };
  if (failures.length) throw Object.assign(new Error(`controller run failed: ${failures.join("; ")}`), { result });
  if (plan.halted && snap.errors.length) throw Object.assign(new ControllerHaltedError(plan.decisions[0]!.reason), { result });
  return result;
}
