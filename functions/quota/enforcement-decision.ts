/**
 * Whether a subject's GPU work should be blocked, lifted or left alone, given
 * its quota status and the enforcement record left by earlier runs. Pure: the
 * Kubernetes side only carries out what this returns.
 */
import type { QuotaStatus } from "./evaluate-quota.js";
import type { HeldQueue } from "./kueue-hold.js";
import type { EnforcementMode } from "./quota-config.js";

export type EnforcementStatus = "enforced" | "apply-pending" | "lift-pending" | "lifted";

/** What a namespace's block ResourceQuota replaced, so that lifting restores exactly that. */
export interface NamespaceEnforcement {
  /** The ResourceQuota of the same name before the block (null: there was none). */
  before: unknown;
  /** `requests.nvidia.com/gpu` set by the block: GPUs requested by the namespace's running pods then. */
  appliedGpus: number;
}

/** One object per subject in S3, updated with conditional puts. */
export interface EnforcementRecord {
  subjectKey: string;
  tenantId: string;
  namespace?: string;
  month: string;
  quotaGpuHours: string;
  status: EnforcementStatus;
  namespaces: Record<string, NamespaceEnforcement>;
  /** How this record enforces; records written before the mode existed are resourcequota. */
  mode?: Exclude<EnforcementMode, "off">;
  /** Kueue mode: the queues this subject holds, by queueId, with what each hold replaced. */
  queues?: Record<string, HeldQueue>;
  /** Kueue mode: workloads waiting in the subject's held-class queues when last looked at. */
  queuedWorkloads?: number;
  queuedObservedAt?: string;
  reason: string;
  updatedAt: string;
  /** Last error talking to Kubernetes, for a pending record. */
  lastError?: string;
}

export type EnforcementAction = "apply" | "lift" | "none";

export interface EnforcementDecision {
  subjectKey: string;
  action: EnforcementAction;
  /** True when enforcement is off: the action is reported, nothing is changed. */
  dryRun: boolean;
  reason: string;
}

const ACTIVE: EnforcementStatus[] = ["enforced", "apply-pending", "lift-pending"];

export const recordMode = (r: EnforcementRecord): Exclude<EnforcementMode, "off"> => r.mode ?? "resourcequota";

export function decideEnforcement(
  subjectKey: string,
  status: QuotaStatus | undefined,
  record: EnforcementRecord | undefined,
  month: string,
  enforce: boolean,
  mode: EnforcementMode = "resourcequota",
): EnforcementDecision {
  const d = (action: EnforcementAction, reason: string): EnforcementDecision => ({
    subjectKey,
    action,
    dryRun: !enforce && action !== "none",
    reason,
  });
  const active = record !== undefined && ACTIVE.includes(record.status);
  const atBlock = status?.level === "block";
  // A block is lifted the way it was applied: a mode change first lifts the old mode's block.
  if (active && recordMode(record) !== mode)
    return d(
      "lift",
      mode === "off"
        ? `quota.enforcement.mode is off: the ${recordMode(record)} block is lifted`
        : `quota.enforcement.mode changed from ${recordMode(record)} to ${mode}: the ${recordMode(record)} block is lifted first`,
    );
  if (mode === "off") return d("none", "quota.enforcement.mode is off: alerts only");
  if (active && record.month !== month)
    return d("lift", `month rollover: the block of ${record.month} ends; ${month} starts with a fresh quota`);
  if (active && !atBlock) {
    if (!status?.quotaGpuHours) return d("lift", `the quota of ${subjectKey} was removed (unlimited)`);
    if (record.status === "lift-pending")
      return d("lift", `retrying a lift that Kubernetes did not accept last run (${record.lastError ?? "unknown error"})`);
    return d(
      "lift",
      `quota changed from ${record.quotaGpuHours} h to ${status.quotaGpuHours.toFixed()} h: ${status.usedGpuHours.toFixed(2)} h is below the block threshold again`,
    );
  }
  if (atBlock) {
    if (!record || record.status === "lifted" || record.month !== month)
      return d(
        "apply",
        `${status.usedGpuHours.toFixed(2)} h reached the block threshold (${status.thresholds.block * 100}% of ${status.quotaGpuHours!.toFixed()} h): ${mode === "kueue" ? "the tenant's training queues are held, new jobs wait in them" : "new GPU pods wait"} until next month or a quota raise`,
      );
    if (record.status === "apply-pending")
      return d("apply", `retrying a block that Kubernetes did not accept last run (${record.lastError ?? "unknown error"})`);
    if (record.status === "lift-pending") return d("apply", `the block is due again; a pending lift is cancelled`);
    return d("none", `already blocked since ${record.updatedAt}`);
  }
  return d("none", status?.level ? `level ${status.level}: nothing to enforce` : "no status");
}
