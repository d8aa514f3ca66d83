/**
 * Carries out Kueue enforcement for one subject: read the cluster, decide per
 * queue (kueue-hold.ts, pure), then patch. Everything is read and checked
 * before the first patch, so a missing queue, a queue of another tenant or a
 * cluster without Kueue changes nothing. The record is claimed in S3 before
 * any patch (as in resourcequota mode), and every patch is audited.
 */
import type { QuotaStateStore } from "./quota-ports.js";
import type { QuotaStatus, QuotaSubject } from "./evaluate-quota.js";
import { quotaSettings } from "./evaluate-quota.js";
import { recordMode, type EnforcementDecision, type EnforcementRecord } from "./enforcement-decision.js";
import { auditWriter } from "./enforcement-audit.js";
import {
  configuredClusterQueues,
  decideQueueHolds,
  queueId,
  queuedWorkloads,
  subjectQueues,
  type HeldQueue,
  type KueueQueuePort,
  type KueueSnapshot,
  type ObservedQueue,
  type QueueDecision,
  type QueueTarget,
  type StopPolicyField,
} from "./kueue-hold.js";
import type { QuotaConfig } from "./quota-config.js";

export type QueueOutcome = "held" | "lifted" | "dry-run" | "unchanged" | "failed" | "not-reached";

export interface KueueEnforcementResult {
  outcome: "applied" | "lifted" | "dry-run" | "pending" | "taken-by-another-run" | "unchanged";
  queues: (QueueDecision & { id?: string; outcome: QueueOutcome; error?: string })[];
  queuedWorkloads?: number;
  error?: string;
  decision: EnforcementDecision;
}

interface Ctx {
  deps: { store: QuotaStateStore; actor: string; runId: string; kueue?: KueueQueuePort };
  cfg: QuotaConfig;
  decision: EnforcementDecision;
  status: QuotaStatus | undefined;
  subject: Pick<QuotaSubject, "kind" | "tenantId" | "namespace" | "key">;
  stored: { value: EnforcementRecord; etag: string } | undefined;
  month: string;
  now: Date;
  enforce: boolean;
}

/** Reads the cluster once for the subject: the snapshot and the subject's queues (throws before any change). */
async function observe(port: KueueQueuePort, c: Ctx, lifting: boolean): Promise<{ snap: KueueSnapshot; targets: QueueTarget[] }> {
  const settings = quotaSettings(c.cfg);
  const snap = await port.snapshot(configuredClusterQueues(settings));
  // A lift restores what the record holds; it does not need (and must not fail on) today's queue selection.
  const targets = lifting ? [] : subjectQueues(c.subject, settings, c.cfg.tenants, snap);
  return { snap, targets };
}

const observedById = (snap: KueueSnapshot) =>
  new Map<string, ObservedQueue>([...snap.localQueues, ...snap.clusterQueues].map((q) => [queueId(q.ref), q]));

/** The queued count of a subject for its block alert: undefined when the cluster cannot be read. */
export async function queuedForAlert(
  port: KueueQueuePort | undefined,
  cfg: QuotaConfig,
  subject: Ctx["subject"],
): Promise<number | undefined> {
  if (!port) return undefined;
  try {
    const settings = quotaSettings(cfg);
    return queuedWorkloads(subjectQueues(subject, settings, cfg.tenants, await port.snapshot(configuredClusterQueues(settings))), settings);
  } catch {
    return undefined; // the alert goes out regardless; it says the count could not be read
  }
}

export async function carryOutKueue(c: Ctx): Promise<KueueEnforcementResult> {
  const { deps, decision, stored, month, now } = c;
  const prev = stored?.value;
  const port = deps.kueue;
  const settings = quotaSettings(c.cfg);
  const prevQueues = prev && recordMode(prev) === "kueue" && prev.status !== "lifted" ? (prev.queues ?? {}) : {};
  // At the block threshold an enforced subject is reconciled every run: a queue created since is held too.
  const reconcile =
    decision.action === "none" &&
    c.enforce &&
    prev?.status === "enforced" &&
    recordMode(prev) === "kueue" &&
    prev.month === month &&
    c.status?.level === "block";
  if (decision.action === "none" && !reconcile) return { decision, outcome: "unchanged", queues: [] };
  if (!port) return { decision: { ...decision, dryRun: true }, outcome: decision.action === "none" ? "unchanged" : "dry-run", queues: [] };
  const action = decision.action === "lift" ? "lift" : "apply";
  const fresh = decision.action === "apply" && (prev?.status === "lifted" || prev?.month !== month);
  const held = fresh ? {} : prevQueues;

  if (decision.dryRun || decision.action === "none") {
    // Read-only: what would change (dry-run), or whether anything needs to (reconcile).
    let seen: { snap: KueueSnapshot; targets: QueueTarget[] };
    try {
      seen = await observe(port, c, action === "lift");
    } catch (e) {
      return { decision, outcome: decision.dryRun ? "dry-run" : "unchanged", queues: [], error: (e as Error).message };
    }
    const qd = decideQueueHolds(action, seen.targets, held, observedById(seen.snap), settings);
    const queued = action === "apply" ? queuedWorkloads(seen.targets, settings) : undefined;
    if (decision.dryRun)
      return {
        decision,
        outcome: "dry-run",
        queues: qd.map((d) => ({
          ...d,
          ...(d.queue ? { id: queueId(d.queue) } : {}),
          outcome: d.action === "none" ? "unchanged" : "dry-run",
        })),
        queuedWorkloads: queued,
      };
    if (!qd.some((d) => d.action !== "none")) {
      if (stored && queued !== prev!.queuedWorkloads)
        await deps.store
          .replace(
            `enforcement/${decision.subjectKey}.json`,
            { ...prev!, queuedWorkloads: queued, queuedObservedAt: now.toISOString() },
            stored.etag,
          )
          .catch(() => undefined);
      return {
        decision,
        outcome: "unchanged",
        queues: qd.map((d) => ({ ...d, ...(d.queue ? { id: queueId(d.queue) } : {}), outcome: "unchanged" })),
        queuedWorkloads: queued,
      };
    }
    return patch(
      c,
      {
        ...decision,
        action: "apply",
        reason: qd
          .filter((d) => d.action !== "none")
          .map((d) => d.reason)
          .join("; "),
      },
      held,
      port,
    );
  }
  return patch(c, decision, held, port);
}

async function patch(
  c: Ctx,
  decision: EnforcementDecision,
  held: Record<string, HeldQueue>,
  port: KueueQueuePort,
): Promise<KueueEnforcementResult> {
  const { deps, stored, month, now } = c;
  const settings = quotaSettings(c.cfg);
  const key = `enforcement/${decision.subjectKey}.json`;
  const pendingStatus = decision.action === "apply" ? "apply-pending" : "lift-pending";
  let current = pendingRecord(c, decision, held, pendingStatus);
  // Claim before touching Kubernetes, so two concurrent runs never both read "before".
  const claimed = stored ? await deps.store.replace(key, current, stored.etag) : await deps.store.create(key, current);
  if (claimed === undefined) return { decision, outcome: "taken-by-another-run", queues: [] };
  const etag: string = claimed;
  const audit = auditWriter(deps, month, now, decision.subjectKey, decision.reason, "kueue");
  const results: KueueEnforcementResult["queues"] = [];
  let queued: number | undefined;
  try {
    const seen = await observe(port, c, decision.action === "lift");
    const decisions = decideQueueHolds(
      decision.action === "lift" ? "lift" : "apply",
      seen.targets,
      held,
      observedById(seen.snap),
      settings,
    );
    queued = decision.action === "apply" ? queuedWorkloads(seen.targets, settings) : undefined;
    const observed = observedById(seen.snap);
    for (const [i, d] of decisions.entries()) {
      if (d.action === "none") {
        results.push({ ...d, ...(d.queue ? { id: queueId(d.queue) } : {}), outcome: "unchanged" });
        // A queue someone else changed or deleted is theirs again; a lift forgets every queue.
        if (d.queue && decision.action === "lift") current = { ...current, queues: without(current.queues!, queueId(d.queue)) };
        continue;
      }
      const id = queueId(d.queue);
      try {
        const change = await setQueue(c, d, observed.get(id)!, port, current.queues!);
        current = { ...current, queues: change.queues };
        await audit({ what: d.action, target: id, ...change.audit });
        results.push({ ...d, id, outcome: change.audit.outcome });
      } catch (e) {
        results.push({ ...d, id, outcome: "failed", error: (e as Error).message });
        for (const rest of decisions.slice(i + 1))
          results.push({ ...rest, ...(rest.queue ? { id: queueId(rest.queue) } : {}), outcome: "not-reached" });
        throw e;
      }
    }
    current = {
      ...current,
      status: decision.action === "apply" ? "enforced" : "lifted",
      ...(queued !== undefined ? { queuedWorkloads: queued, queuedObservedAt: now.toISOString() } : {}),
      updatedAt: now.toISOString(),
    };
    if ((await deps.store.replace(key, current, etag)) === undefined)
      throw new Error(`${key} was changed by another run while this one held it`);
    return { decision, outcome: decision.action === "apply" ? "applied" : "lifted", queues: results, queuedWorkloads: queued };
  } catch (e) {
    const error = (e as Error).message;
    current = { ...current, status: pendingStatus, lastError: error, updatedAt: now.toISOString() };
    await deps.store.replace(key, current, etag).catch(() => undefined);
    const at = results.find((r) => r.outcome === "failed")?.id ?? "-";
    await audit({
      what: decision.action === "apply" ? "hold" : "lift",
      target: at,
      before: null,
      after: null,
      outcome: "pending",
      error,
    }).catch(() => undefined);
    return { decision, outcome: "pending", queues: results, queuedWorkloads: queued, error };
  }
}

/** The record a run claims before it patches: the decision pending, with the queues held so far. */
function pendingRecord(
  c: Ctx,
  decision: EnforcementDecision,
  held: Record<string, HeldQueue>,
  status: "apply-pending" | "lift-pending",
): EnforcementRecord {
  const prev = c.stored?.value;
  return {
    subjectKey: decision.subjectKey,
    tenantId: c.subject.tenantId,
    ...(c.subject.namespace ? { namespace: c.subject.namespace } : {}),
    month: decision.action === "apply" ? c.month : (prev?.month ?? c.month),
    quotaGpuHours: c.status?.quotaGpuHours?.toFixed() ?? prev?.quotaGpuHours ?? "",
    status,
    mode: "kueue",
    namespaces: {},
    queues: { ...held },
    reason: decision.reason,
    updatedAt: c.now.toISOString(),
  };
}

/**
 * Holds or lifts one queue: sets its stopPolicy, and returns the record's queues after it (a
 * hold remembers what it replaced, a lift forgets the queue) and what the audit line says.
 */
async function setQueue(
  c: Ctx,
  d: Extract<QueueDecision, { action: "hold" | "lift" }>,
  queue: ObservedQueue,
  port: KueueQueuePort,
  queues: Record<string, HeldQueue>,
): Promise<{
  queues: Record<string, HeldQueue>;
  audit: { before: { stopPolicy: StopPolicyField }; after: { stopPolicy: StopPolicyField }; outcome: "held" | "lifted" };
}> {
  const id = queueId(d.queue);
  if (d.action === "hold") {
    const note = `held by gpu-billing: ${c.decision.subjectKey} reached its monthly GPU-hour quota (${c.month})`;
    const r = await port.setStopPolicy(queue, d.stopPolicy, note);
    return {
      queues: {
        ...queues,
        [id]: { ref: d.queue, previousStopPolicy: d.previousStopPolicy, appliedStopPolicy: d.stopPolicy, heldAt: c.now.toISOString() },
      },
      audit: { before: { stopPolicy: d.previousStopPolicy }, after: { stopPolicy: r.after }, outcome: "held" },
    };
  }
  const r = await port.setStopPolicy(queue, d.restoreStopPolicy, null);
  return {
    queues: without(queues, id),
    audit: { before: { stopPolicy: d.heldStopPolicy }, after: { stopPolicy: r.after }, outcome: "lifted" },
  };
}

function without<T>(r: Record<string, T>, id: string): Record<string, T> {
  const { [id]: _gone, ...rest } = r;
  return rest;
}
