/**
 * Pure quota evaluation: month-to-date GPU-hours against each tenant's (and
 * namespace's) monthly quota, a month-end forecast, and the alert decisions.
 * No I/O, no clock: `usage` carries the window it was metered over, so a run
 * can be replayed from its inputs.
 */
import { UNALLOCATED } from "../core/config.js";
import { D, type Dec } from "../core/decimal.js";
import { DEFAULT_QUOTA_SETTINGS, type QuotaSettings, type QuotaThresholds } from "./quota-config.js";
import { hoursBetween, localDateTime, localMonthDay, type MonthToDateWindow } from "./month-to-date.js";
import type { QuotaConfig } from "./quota-config.js";
import { BadInputError } from "../core/errors.js";

export type QuotaBasis = QuotaSettings["basis"];
export type QuotaLevel = "unlimited" | "ok" | "warn" | "block";
export type AlertKind = "forecast" | "warn" | "block";

export interface QuotaSubject {
  kind: "tenant" | "namespace";
  tenantId: string;
  tenantName: string;
  /** Set for a namespace's own limit. */
  namespace?: string;
  /** Stable id used in state keys and metrics: `tenant=<id>` or `namespace=<ns>`. */
  key: string;
}

export interface QuotaForecast {
  /** Projected month-end GPU-hours at the month-to-date rate. */
  monthEndGpuHours: Dec;
  /** When the block level is reached at that rate, if before month end (and not yet reached). */
  crossesBlockAtMs?: number;
  crossesBlockOn?: string;
  /** Too little history to extrapolate (less than forecastMinElapsedHours into the month). */
  insufficientHistory: boolean;
}

export interface QuotaStatus {
  subject: QuotaSubject;
  basis: QuotaBasis;
  usedGpuHours: Dec;
  /** Absent = unlimited (never 0). */
  quotaGpuHours?: Dec;
  /** used ÷ quota, 4 decimals; absent when unlimited. */
  ratio?: Dec;
  thresholds: QuotaThresholds;
  level: QuotaLevel;
  forecast: QuotaForecast;
  /** Hours of the month metered so far, and its length. */
  elapsedHours: Dec;
  monthHours: Dec;
  asOfMs: number;
}

/** The input the evaluation needs; the month-to-date meter provides it. */
export interface QuotaUsageInput {
  month: string;
  timeZone: string;
  window: Pick<MonthToDateWindow, "startMs" | "asOfMs" | "monthEndMs">;
  tenants: Map<string, { allocated: Dec; billable: Dec }>;
  namespaces: Map<string, { allocated: Dec; billable: Dec; tenantId: string }>;
}

export function quotaSettings(cfg: QuotaConfig): QuotaSettings {
  return cfg.quota ?? DEFAULT_QUOTA_SETTINGS;
}

export function thresholdsFor(settings: QuotaSettings, tenantId: string): QuotaThresholds {
  const o = settings.tenants[tenantId]?.thresholds ?? {};
  const t = { warn: o.warn ?? settings.thresholds.warn, block: o.block ?? settings.thresholds.block };
  // A config can override one threshold so that it passes the other; keep them ordered rather than fire block before warn.
  if (t.warn >= t.block) throw new BadInputError(`quota.tenants.${tenantId}.thresholds: warn (${t.warn}) must be below block (${t.block})`);
  return t;
}

const HOURS_DP = 6;

function forecast(
  used: Dec,
  blockAt: Dec | undefined,
  w: QuotaUsageInput["window"],
  timeZone: string,
  minElapsedHours: number,
): QuotaForecast {
  const elapsed = hoursBetween(w.startMs, w.asOfMs);
  const total = hoursBetween(w.startMs, w.monthEndMs);
  const insufficientHistory = elapsed.lt(minElapsedHours) && w.asOfMs < w.monthEndMs;
  const rate = elapsed.isZero() ? new D(0) : used.div(elapsed);
  const monthEnd = w.asOfMs >= w.monthEndMs ? used : rate.mul(total).toDecimalPlaces(HOURS_DP);
  const out: QuotaForecast = { monthEndGpuHours: monthEnd, insufficientHistory };
  if (blockAt && used.lt(blockAt) && rate.gt(0) && !insufficientHistory) {
    // Hours from month start at which the linear month-to-date rate reaches the block level, to the minute.
    const atMs = w.startMs + blockAt.div(rate).mul(3_600_000).toDecimalPlaces(0, D.ROUND_CEIL).toNumber();
    if (atMs < w.monthEndMs) {
      out.crossesBlockAtMs = Math.ceil(atMs / 60_000) * 60_000;
      out.crossesBlockOn = localMonthDay(out.crossesBlockAtMs, timeZone);
    }
  }
  return out;
}

function statusOf(
  subject: QuotaSubject,
  hours: { allocated: Dec; billable: Dec } | undefined,
  quota: number | undefined,
  thresholds: QuotaThresholds,
  input: QuotaUsageInput,
  settings: QuotaSettings,
): QuotaStatus {
  const used = hours ? (settings.basis === "billable" ? hours.billable : hours.allocated) : new D(0);
  const q = quota === undefined ? undefined : new D(quota);
  const ratio = q ? used.div(q).toDecimalPlaces(4, D.ROUND_DOWN) : undefined;
  // Compare exact hours with the levels (not the rounded ratio), so 79.99995 h of 100 h is not "80 %".
  const level: QuotaLevel = !q
    ? "unlimited"
    : used.gte(q.mul(thresholds.block))
      ? "block"
      : used.gte(q.mul(thresholds.warn))
        ? "warn"
        : "ok";
  return {
    subject,
    basis: settings.basis,
    usedGpuHours: used,
    quotaGpuHours: q,
    ratio,
    thresholds,
    level,
    forecast: forecast(used, q?.mul(thresholds.block), input.window, input.timeZone, settings.forecastMinElapsedHours),
    elapsedHours: hoursBetween(input.window.startMs, input.window.asOfMs),
    monthHours: hoursBetween(input.window.startMs, input.window.monthEndMs),
    asOfMs: input.window.asOfMs,
  };
}

/**
 * Every configured tenant (with or without a quota: no quota is "unlimited",
 * not 0), every namespace with its own limit, and `unallocated` when it used
 * GPUs (reported, never alerted: it has no quota and no admins).
 */
export function evaluateQuotas(input: QuotaUsageInput, cfg: QuotaConfig): QuotaStatus[] {
  const settings = quotaSettings(cfg);
  const out: QuotaStatus[] = [];
  for (const t of cfg.tenants) {
    const thresholds = thresholdsFor(settings, t.id);
    out.push(
      statusOf(
        { kind: "tenant", tenantId: t.id, tenantName: t.name, key: `tenant=${t.id}` },
        input.tenants.get(t.id),
        t.monthlyQuotaGpuHours,
        thresholds,
        input,
        settings,
      ),
    );
    const limits = settings.tenants[t.id]?.namespaceLimits ?? {};
    for (const ns of Object.keys(limits).sort()) {
      const hours = input.namespaces.get(ns);
      const h = hours && hours.tenantId === t.id ? hours : undefined;
      out.push(
        statusOf(
          { kind: "namespace", tenantId: t.id, tenantName: t.name, namespace: ns, key: `namespace=${ns}` },
          h,
          limits[ns],
          thresholds,
          input,
          settings,
        ),
      );
    }
  }
  const un = input.tenants.get(UNALLOCATED);
  if (un)
    out.push(
      statusOf(
        { kind: "tenant", tenantId: UNALLOCATED, tenantName: UNALLOCATED, key: `tenant=${UNALLOCATED}` },
        un,
        undefined,
        settings.thresholds,
        input,
        settings,
      ),
    );
  return out;
}

/** Quota as it appears in state keys: a change of quota is a new key, which is what re-arms the alerts. */
export function quotaToken(q: Dec): string {
  return q.toFixed().replace(".", "_");
}

/** Key of one alert's state object: one per month × subject × kind × quota. */
export function alertKey(month: string, status: QuotaStatus, kind: AlertKind): string {
  return `month=${month}/${status.subject.key}/${kind}-q${quotaToken(status.quotaGpuHours!)}`;
}

export type AlertAction = "send" | "suppress";

export interface AlertDecision {
  kind: AlertKind;
  key: string;
  status: QuotaStatus;
  /** send: notify; suppress: record as fired without sending (a higher alert of the same run supersedes it). */
  action: AlertAction;
  reason: string;
}

const pct = (x: Dec | number) => `${new D(x).mul(100).toDecimalPlaces(1, D.ROUND_DOWN).toFixed()}%`;
const hrs = (x: Dec) => `${x.toDecimalPlaces(2, D.ROUND_HALF_UP).toFixed(2)} h`;

export function describeStatus(s: QuotaStatus, timeZone: string): string {
  const who = s.subject.namespace ? `${s.subject.tenantName}/${s.subject.namespace}` : s.subject.tenantName;
  if (!s.quotaGpuHours) return `${who}: ${hrs(s.usedGpuHours)} ${s.basis} GPU-hours, no quota (unlimited)`;
  const fc = s.forecast.crossesBlockAtMs
    ? `; at this rate it reaches ${pct(s.thresholds.block)} on ${localDateTime(s.forecast.crossesBlockAtMs, timeZone)}`
    : "";
  return `${who}: ${hrs(s.usedGpuHours)} of ${hrs(s.quotaGpuHours)} ${s.basis} GPU-hours (${pct(s.ratio!)}), month-end forecast ${hrs(s.forecast.monthEndGpuHours)}${fc}`;
}

/**
 * Which alerts this run sends, given the keys of alerts already fired this
 * month. Each kind fires once per subject, month and quota. When a run finds
 * several new levels at once (usage jumped from 70 % past 100 %), only the
 * highest is sent and the lower ones are recorded as suppressed, so they do
 * not follow an hour later out of order.
 */
export function decideAlerts(statuses: QuotaStatus[], month: string, fired: ReadonlySet<string>, timeZone: string): AlertDecision[] {
  const out: AlertDecision[] = [];
  for (const s of statuses) {
    if (!s.quotaGpuHours || s.subject.tenantId === UNALLOCATED) continue;
    const due: { kind: AlertKind; why: string }[] = [];
    if (s.level === "block") due.push({ kind: "block", why: `usage reached the block threshold ${pct(s.thresholds.block)}` });
    if (s.level === "block" || s.level === "warn")
      due.push({ kind: "warn", why: `usage reached the warn threshold ${pct(s.thresholds.warn)}` });
    if (s.forecast.crossesBlockAtMs !== undefined || s.level !== "ok")
      due.push({
        kind: "forecast",
        why: s.forecast.crossesBlockAtMs ? `forecast reaches ${pct(s.thresholds.block)} before month end` : "already past the forecast",
      });
    let sent = false;
    for (const d of due) {
      const key = alertKey(month, s, d.kind);
      if (fired.has(key)) {
        sent = true; // a higher alert went out in an earlier run: lower ones that are still unfired are stale news
        continue;
      }
      const action: AlertAction = sent ? "suppress" : "send";
      out.push({
        kind: d.kind,
        key,
        status: s,
        action,
        reason: `${d.why} — ${describeStatus(s, timeZone)}${action === "suppress" ? " (superseded by a higher alert)" : ""}`,
      });
      sent = true;
    }
  }
  return out;
}
