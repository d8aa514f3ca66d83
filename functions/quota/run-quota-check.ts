/**
 * One quota check: meter the month to date, evaluate every tenant, send each
 * alert that is due exactly once, publish metrics, and block or lift GPU work.
 * The order is deliberate: nothing is sent or changed until metering has
 * succeeded (a Prometheus outage fails the run before any side effect), and
 * alerts go out before enforcement so an unreachable Kubernetes API never
 * holds an alert back.
 */
import type { Tenant } from "../core/config.js";
import { currentMonth } from "../core/month.js";
import {
  decideAlerts,
  evaluateQuotas,
  quotaSettings,
  type AlertDecision,
  type QuotaStatus,
  type QuotaSubject,
  type QuotaUsageInput,
} from "./evaluate-quota.js";
import {
  decideEnforcement,
  recordMode,
  type EnforcementDecision,
  type EnforcementRecord,
  type NamespaceEnforcement,
} from "./enforcement-decision.js";
import { alertVariables, renderAlert, type AlertEnforcement, type AlertTemplates } from "./render-alert.js";
import type { Language } from "../core/language.js";
import { auditWriter } from "./enforcement-audit.js";
import { carryOutKueue, queuedForAlert, type KueueEnforcementResult } from "./kueue-enforcement.js";
import type { KueueQueuePort } from "./kueue-hold.js";
import type { EnforcementMode } from "./quota-config.js";
import type { AlertMailer, AlertPublisher, QuotaMetrics, QuotaStateStore } from "./quota-ports.js";
import type { QuotaConfig } from "./quota-config.js";

/** Carries out blocks in Kubernetes; see functions/adapters/kubernetes-quota.ts. */
export interface QuotaEnforcer {
  /** The namespaces a subject covers in the cluster now. */
  namespacesOf(subject: Pick<QuotaSubject, "kind" | "tenantId" | "namespace">, tenants: readonly Tenant[]): Promise<string[]>;
  /** Stops new GPU pods in `namespace` at what runs now; returns what it replaced and what it set. */
  block(namespace: string, subjectKind: QuotaSubject["kind"]): Promise<NamespaceEnforcement & { after: unknown }>;
  /** Puts back what `block` replaced. */
  restore(namespace: string, subjectKind: QuotaSubject["kind"], before: unknown): Promise<{ after: unknown }>;
}

export interface QuotaCheckDeps {
  meter(cfg: QuotaConfig, month: string, now: Date): Promise<QuotaUsageInput>;
  store: QuotaStateStore;
  mailer: AlertMailer;
  templates: Record<Language, AlertTemplates>;
  metrics?: QuotaMetrics;
  publisher?: AlertPublisher;
  enforcer?: QuotaEnforcer;
  /** Kueue queues (quota.enforcement.mode kueue); see functions/adapters/kubernetes-quota.ts. */
  kueue?: KueueQueuePort;
  /** Who changes things, for the audit log (the Lambda's role ARN, or the CLI user). */
  actor: string;
  /** A unique id of this run, recorded in state objects. */
  runId: string;
}

export interface QuotaCheckOptions {
  month?: string;
  /** Overrides quota.enforce (the CLI's --enforce). */
  enforce?: boolean;
}

export type AlertOutcome = "sent" | "suppressed" | "taken-by-another-run" | "failed";
export type EnforcementOutcome = "applied" | "lifted" | "dry-run" | "pending" | "taken-by-another-run" | "unchanged";

export interface QuotaCheckReport {
  month: string;
  asOf: string;
  basis: string;
  enforce: boolean;
  mode: EnforcementMode;
  statuses: QuotaStatus[];
  alerts: { key: string; kind: string; subject: string; action: string; outcome: AlertOutcome; reason: string; error?: string }[];
  enforcement: (EnforcementDecision & {
    outcome: EnforcementOutcome;
    /** The mode that carried it out (a lift uses the mode the block was applied with). */
    mode: Exclude<EnforcementMode, "off">;
    namespaces: string[];
    /** Kueue mode: one decision per queue, with what became of it. */
    queues?: KueueEnforcementResult["queues"];
    /** Kueue mode: workloads waiting in the subject's held queues (sum of status.pendingWorkloads). */
    queuedWorkloads?: number;
    error?: string;
  })[];
  metricCalls: number;
}

/** An alert stuck in "sending" longer than this (a run that died mid-send) may be taken over by the next run. */
export const SENDING_LEASE_MS = 15 * 60_000;

interface AlertState {
  status: "sending" | "sent" | "suppressed" | "failed";
  kind: string;
  subject: string;
  month: string;
  quotaGpuHours: string;
  basis: string;
  usedGpuHours: string;
  reason: string;
  runId: string;
  at: string;
  messageId?: string;
  error?: string;
}

/** Alerts that need no (re)sending: done, or being sent by a live run. */
function firedKeys(states: Map<string, { value: AlertState }>, now: Date): Set<string> {
  const out = new Set<string>();
  for (const [key, { value }] of states) {
    if (value.status === "sent" || value.status === "suppressed") out.add(key.replace(/^alerts\//, ""));
    else if (value.status === "sending" && now.getTime() - Date.parse(value.at) < SENDING_LEASE_MS) out.add(key.replace(/^alerts\//, ""));
  }
  return out;
}

export class QuotaCheckIncompleteError extends Error {
  constructor(
    readonly report: QuotaCheckReport,
    problems: string[],
  ) {
    super(`quota check finished with failures (the next run retries them):\n  ${problems.join("\n  ")}`);
    this.name = "QuotaCheckIncompleteError";
  }
}

export async function runQuotaCheck(
  deps: QuotaCheckDeps,
  cfg: QuotaConfig,
  now: Date,
  opts: QuotaCheckOptions = {},
): Promise<QuotaCheckReport> {
  const settings = quotaSettings(cfg);
  const enforce = opts.enforce ?? settings.enforce;
  const mode = settings.enforcement.mode;
  const month = opts.month ?? currentMonth(now, cfg.timeZone);
  // Metering first: if Prometheus is down this throws and nothing below happens.
  const usage = await deps.meter(cfg, month, now);
  const statuses = evaluateQuotas(usage, cfg);
  const report: QuotaCheckReport = {
    month,
    asOf: new Date(usage.window.asOfMs).toISOString(),
    basis: settings.basis,
    enforce,
    mode,
    statuses,
    alerts: [],
    enforcement: [],
    metricCalls: 0,
  };
  const run: QuotaRun = { deps, cfg, month, now, enforce, mode, report, problems: [] };
  await sendAlerts(run);
  // Metrics after alerts: a CloudWatch hiccup must not hold an alert back.
  await putQuotaMetrics(run, new Date(usage.window.asOfMs));
  await enforceSubjects(run);
  if (run.problems.length) throw new QuotaCheckIncompleteError(report, run.problems);
  return report;
}

/** One quota check: its inputs, the report it fills and the problems that make it incomplete. */
interface QuotaRun {
  deps: QuotaCheckDeps;
  cfg: QuotaConfig;
  month: string;
  now: Date;
  enforce: boolean;
  mode: QuotaCheckReport["mode"];
  report: QuotaCheckReport;
  problems: string[];
}

async function sendAlerts({ deps, cfg, month, now, enforce, mode, report, problems }: QuotaRun): Promise<void> {
  const settings = quotaSettings(cfg);
  const states = await deps.store.list<AlertState>(`alerts/month=${month}/`);
  const decisions = decideAlerts(report.statuses, month, firedKeys(states, now), cfg.timeZone);
  for (const d of decisions) {
    const how: AlertEnforcement = { mode, drain: settings.enforcement.kueue.stopPolicy === "HoldAndDrain" };
    // Kueue: the block alert says how many jobs are waiting; a cluster that cannot be read holds no alert back.
    if (mode === "kueue" && d.kind === "block" && d.action === "send") how.queued = await queuedForAlert(deps.kueue, cfg, d.status.subject);
    const r = await deliverAlert(deps, cfg, d, month, now, enforce, states.get(`alerts/${d.key}`), how);
    report.alerts.push(r);
    if (r.outcome === "failed") problems.push(`alert ${d.key}: ${r.error}`);
  }
}

/** Each tenant's GPU-hours and quota ratio, as of the metered instant. */
async function putQuotaMetrics({ deps, report, problems }: QuotaRun, asOf: Date): Promise<void> {
  if (!deps.metrics) return;
  const tenantStatuses = report.statuses.filter((s) => s.subject.kind === "tenant");
  try {
    report.metricCalls = await deps.metrics.put(
      tenantStatuses.map((s) => ({
        tenantId: s.subject.tenantId,
        usedGpuHours: s.usedGpuHours.toNumber(),
        quotaUsedRatio: s.quotaGpuHours ? s.usedGpuHours.div(s.quotaGpuHours).toNumber() : undefined,
      })),
      asOf,
    );
  } catch (e) {
    problems.push(`CloudWatch metrics: ${(e as Error).message}`);
  }
}

/** Every subject with a quota or an enforcement record: its decision carried out, lifts first. */
async function enforceSubjects({ deps, cfg, month, now, enforce, mode, report, problems }: QuotaRun): Promise<void> {
  const statuses = report.statuses;
  const records = await deps.store.list<EnforcementRecord>("enforcement/");
  const bySubject = new Map(statuses.map((s) => [s.subject.key, s]));
  const subjects = new Set([
    ...statuses.filter((s) => s.quotaGpuHours).map((s) => s.subject.key),
    ...[...records.values()].map((r) => r.value.subjectKey),
  ]);
  const planned = [...subjects].sort().map((key) => {
    const stored = records.get(`enforcement/${key}.json`);
    return { key, stored, decision: decideEnforcement(key, bySubject.get(key), stored?.value, month, enforce, mode) };
  });
  // Lifts first: a queue or namespace another subject also covers is given back before that subject reconciles it.
  const order = [...planned.filter((p) => p.decision.action === "lift"), ...planned.filter((p) => p.decision.action !== "lift")];
  for (const { key, stored, decision } of order) {
    let r = await enforceSubject(deps, cfg, decision, bySubject.get(key), stored, month, now, enforce, mode);
    if (r.outcome === "lifted" && stored && recordMode(stored.value) !== mode && mode !== "off") {
      // A mode change: the old mode's block is lifted; the new mode applies now, not an hour later.
      report.enforcement.push(r);
      const again = await deps.store.get<EnforcementRecord>(`enforcement/${key}.json`);
      r = await enforceSubject(
        deps,
        cfg,
        decideEnforcement(key, bySubject.get(key), again?.value, month, enforce, mode),
        bySubject.get(key),
        again,
        month,
        now,
        enforce,
        mode,
      );
    }
    report.enforcement.push(r);
    if (r.outcome === "pending") problems.push(`enforcement ${key}: ${r.error} (recorded as pending)`);
  }
}

async function deliverAlert(
  deps: QuotaCheckDeps,
  cfg: QuotaConfig,
  d: AlertDecision,
  month: string,
  now: Date,
  enforce: boolean,
  previous: { value: AlertState; etag: string } | undefined,
  how: AlertEnforcement,
): Promise<QuotaCheckReport["alerts"][number]> {
  const s = d.status;
  const base = { key: d.key, kind: d.kind, subject: s.subject.key, action: d.action, reason: d.reason };
  const state = (status: AlertState["status"], extra: Partial<AlertState> = {}): AlertState => ({
    status,
    kind: d.kind,
    subject: s.subject.key,
    month,
    quotaGpuHours: s.quotaGpuHours!.toFixed(),
    basis: s.basis,
    usedGpuHours: s.usedGpuHours.toFixed(6),
    reason: d.reason,
    runId: deps.runId,
    at: now.toISOString(),
    ...extra,
  });
  const objectKey = `alerts/${d.key}`;
  // Claim: create the object, or take over a failed/stale claim by its etag. Only the winner sends.
  const etag = previous
    ? await deps.store.replace(objectKey, state("sending"), previous.etag)
    : await deps.store.create(objectKey, state("sending"));
  if (etag === undefined) return { ...base, outcome: "taken-by-another-run" };
  if (d.action === "suppress") {
    await deps.store.replace(objectKey, state("suppressed"), etag);
    return { ...base, outcome: "suppressed" };
  }
  const settings = quotaSettings(cfg);
  const tenant = cfg.tenants.find((t) => t.id === s.subject.tenantId);
  const language = settings.tenants[s.subject.tenantId]?.language ?? settings.language;
  try {
    const rendered = renderAlert(
      deps.templates[language],
      alertVariables(d.kind, s, { month, timeZone: cfg.timeZone, language, enforce, enforcement: how }),
    );
    const messageId = await deps.mailer.send(rendered, { to: tenant?.recipients ?? [], bcc: settings.opsRecipients });
    // SNS subjects must be ASCII (the email subject may be Korean): tenant id, not name.
    await deps.publisher?.publish(`GPU quota ${d.kind}: ${s.subject.key} ${month} ${s.ratio!.mul(100).toFixed(1)}%`, {
      type: `gpu-quota-${d.kind}`,
      month,
      tenant: s.subject.tenantId,
      namespace: s.subject.namespace,
      basis: s.basis,
      usedGpuHours: s.usedGpuHours.toFixed(6),
      quotaGpuHours: s.quotaGpuHours!.toFixed(),
      ratio: s.ratio!.toFixed(),
      forecastMonthEndGpuHours: s.forecast.monthEndGpuHours.toFixed(),
      forecastCrossesBlockAt: s.forecast.crossesBlockAtMs ? new Date(s.forecast.crossesBlockAtMs).toISOString() : null,
      reason: d.reason,
    });
    await deps.store.replace(objectKey, state("sent", { messageId }), etag);
    return { ...base, outcome: "sent" };
  } catch (e) {
    const error = (e as Error).message;
    // Released for the next run (the failed state can be taken over by its etag).
    await deps.store.replace(objectKey, state("failed", { error }), etag).catch(() => undefined);
    return { ...base, outcome: "failed", error };
  }
}

type EnforcementResult = QuotaCheckReport["enforcement"][number];

/** One subject: a lift goes the way its block was applied; an apply (or reconcile) the configured mode's way. */
async function enforceSubject(
  deps: QuotaCheckDeps,
  cfg: QuotaConfig,
  decision: EnforcementDecision,
  status: QuotaStatus | undefined,
  stored: { value: EnforcementRecord; etag: string } | undefined,
  month: string,
  now: Date,
  enforce: boolean,
  mode: EnforcementMode,
): Promise<EnforcementResult> {
  const active = stored && stored.value.status !== "lifted";
  const via =
    decision.action === "lift" || (decision.action === "none" && active)
      ? stored
        ? recordMode(stored.value)
        : "resourcequota"
      : mode === "off"
        ? "resourcequota"
        : mode;
  if (via === "resourcequota")
    return { ...(await carryOut(deps, cfg, decision, status, stored, month, now, enforce)), mode: "resourcequota" };
  const prev = stored?.value;
  const subject = status?.subject ?? {
    kind: prev?.namespace ? ("namespace" as const) : ("tenant" as const),
    tenantId: prev!.tenantId,
    namespace: prev?.namespace,
    key: decision.subjectKey,
  };
  const r = await carryOutKueue({ deps, cfg, decision, status, subject, stored, month, now, enforce });
  return {
    ...r.decision,
    outcome: r.outcome,
    mode: "kueue",
    namespaces: [],
    queues: r.queues,
    ...(r.queuedWorkloads !== undefined ? { queuedWorkloads: r.queuedWorkloads } : {}),
    ...(r.error ? { error: r.error } : {}),
  };
}

async function carryOut(
  deps: QuotaCheckDeps,
  cfg: QuotaConfig,
  decisionIn: EnforcementDecision,
  status: QuotaStatus | undefined,
  stored: { value: EnforcementRecord; etag: string } | undefined,
  month: string,
  now: Date,
  enforce: boolean,
): Promise<Omit<EnforcementResult, "mode">> {
  const prev = stored?.value;
  const subject = status?.subject ?? {
    kind: prev?.namespace ? ("namespace" as const) : ("tenant" as const),
    tenantId: prev!.tenantId,
    namespace: prev?.namespace,
  };
  const decision =
    enforce && deps.enforcer ? await blockNewNamespaces(deps.enforcer, cfg, decisionIn, status, prev, subject, month) : decisionIn;
  if (decision.action === "none") return { ...decision, outcome: "unchanged", namespaces: Object.keys(prev?.namespaces ?? {}) };
  if (decision.dryRun || !deps.enforcer) {
    let namespaces = Object.keys(prev?.namespaces ?? {});
    if (decision.action === "apply" && deps.enforcer) namespaces = await deps.enforcer.namespacesOf(subject, cfg.tenants).catch(() => []);
    return { ...decision, dryRun: true, outcome: "dry-run", namespaces };
  }
  const key = `enforcement/${decision.subjectKey}.json`;
  const pendingStatus = decision.action === "apply" ? "apply-pending" : "lift-pending";
  // Claim before touching Kubernetes, so two concurrent runs never both read "before" (the second would read the first's block).
  let current: EnforcementRecord = {
    subjectKey: decision.subjectKey,
    tenantId: subject.tenantId,
    ...(subject.namespace ? { namespace: subject.namespace } : {}),
    month: decision.action === "apply" ? month : (prev?.month ?? month),
    quotaGpuHours: status?.quotaGpuHours?.toFixed() ?? prev?.quotaGpuHours ?? "",
    status: pendingStatus,
    namespaces: { ...(prev?.status === "lifted" || (decision.action === "apply" && prev?.month !== month) ? {} : prev?.namespaces) },
    reason: decision.reason,
    updatedAt: now.toISOString(),
  };
  const claimed = stored ? await deps.store.replace(key, current, stored.etag) : await deps.store.create(key, current);
  if (claimed === undefined) return { ...decision, outcome: "taken-by-another-run", namespaces: [] };
  const etag: string = claimed;
  const write = auditWriter(deps, month, now, decision.subjectKey, decision.reason, "resourcequota");
  const audit = (what: string, namespace: string, before: unknown, after: unknown, outcome: string, error?: string) =>
    write({ what, target: namespace, before, after, outcome, ...(error ? { error } : {}) });
  const namespaces: string[] = [];
  try {
    if (decision.action === "apply") {
      for (const ns of await deps.enforcer.namespacesOf(subject, cfg.tenants)) {
        namespaces.push(ns);
        if (current.namespaces[ns]) continue; // blocked by an earlier, interrupted attempt
        const r = await deps.enforcer.block(ns, subject.kind);
        current = { ...current, namespaces: { ...current.namespaces, [ns]: { before: r.before, appliedGpus: r.appliedGpus } } };
        await audit("block", ns, r.before, r.after, "applied");
      }
      current = { ...current, status: "enforced", updatedAt: now.toISOString() };
    } else {
      for (const [ns, ne] of Object.entries(current.namespaces)) {
        namespaces.push(ns);
        const r = await deps.enforcer.restore(ns, subject.kind, ne.before);
        const { [ns]: _done, ...rest } = current.namespaces;
        current = { ...current, namespaces: rest };
        await audit("lift", ns, { appliedGpus: ne.appliedGpus }, r.after, "lifted");
      }
      current = { ...current, status: "lifted", updatedAt: now.toISOString() };
    }
    if ((await deps.store.replace(key, current, etag)) === undefined)
      throw new Error(`${key} was changed by another run while this one held it`);
    return { ...decision, outcome: decision.action === "apply" ? "applied" : "lifted", namespaces };
  } catch (e) {
    const error = (e as Error).message;
    current = { ...current, status: pendingStatus, lastError: error, updatedAt: now.toISOString() };
    await deps.store.replace(key, current, etag).catch(() => undefined);
    await audit(decision.action === "apply" ? "block" : "lift", namespaces.at(-1) ?? "-", null, null, "pending", error).catch(
      () => undefined,
    );
    return { ...decision, outcome: "pending", namespaces, error };
  }
}

/**
 * At the block threshold an enforced subject is checked every run: a namespace the tenant created
 * after the block must not be a way around it, so a "none" becomes an "apply" for it.
 */
async function blockNewNamespaces(
  enforcer: QuotaEnforcer,
  cfg: QuotaConfig,
  decision: EnforcementDecision,
  status: QuotaStatus | undefined,
  prev: EnforcementRecord | undefined,
  subject: Pick<QuotaSubject, "kind" | "tenantId" | "namespace">,
  month: string,
): Promise<EnforcementDecision> {
  if (decision.action !== "none" || prev?.status !== "enforced" || prev.month !== month || status?.level !== "block") return decision;
  const covered = await enforcer.namespacesOf(subject, cfg.tenants).catch(() => undefined);
  const fresh = (covered ?? []).filter((ns) => !prev.namespaces[ns]);
  if (!fresh.length) return decision;
  return { ...decision, action: "apply", reason: `namespace ${fresh.join(", ")} appeared after the block; blocking it too` };
}
