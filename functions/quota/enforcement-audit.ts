import type { QuotaStateStore } from "./quota-ports.js";

/** One audit record per change in Kubernetes: who, what, when, the object, before and after, and why. */
export interface AuditEntry {
  what: string;
  /** The namespace (resourcequota mode) or queue id (kueue mode) changed; `-` when none was reached. */
  target: string;
  before: unknown;
  after: unknown;
  outcome: string;
  error?: string;
}

export function auditWriter(
  deps: { store: QuotaStateStore; actor: string; runId: string },
  month: string,
  now: Date,
  subjectKey: string,
  reason: string,
  mode: string,
) {
  return async (e: AuditEntry) => {
    const when = now.toISOString();
    const safe = e.target.replace(/[^a-zA-Z0-9.-]+/g, "_");
    await deps.store.append(`audit/month=${month}/${when.replace(/[:.]/g, "-")}-${subjectKey}-${e.what}-${safe}-${deps.runId}.json`, {
      who: deps.actor,
      runId: deps.runId,
      when,
      what: e.what,
      mode,
      subject: subjectKey,
      ...(mode === "kueue" ? { queue: e.target } : { namespace: e.target }),
      before: e.before,
      after: e.after,
      outcome: e.outcome,
      reason,
      ...(e.error ? { error: e.error } : {}),
    });
  };
}
