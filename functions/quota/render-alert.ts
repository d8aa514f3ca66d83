/**
 * Renders a quota alert from a template pair (text + HTML, ko or en). Pure:
 * templates come in as text, so tests and the Lambda bundle load them however
 * they like. The basis (allocated or billable GPU-hours) is always stated.
 */
import { D, type Dec } from "../core/decimal.js";
import { billingMonth } from "../core/month.js";
import type { Language } from "../core/language.js";
import type { AlertKind, QuotaStatus } from "./evaluate-quota.js";
import { localDateTime } from "./month-to-date.js";
import type { EnforcementMode } from "./quota-config.js";

export interface AlertTemplates {
  /** `Subject: …` on the first line, then the body. */
  text: string;
  html: string;
}

export interface RenderedAlert {
  subject: string;
  text: string;
  html: string;
}

const WORDS = {
  ko: {
    headline: {
      forecast: "현재 사용 속도라면 월말 전에 GPU 사용 한도에 도달할 것으로 예상됩니다",
      warn: "GPU 사용량이 경고 기준에 도달했습니다",
      block: "GPU 사용량이 한도에 도달하여 새 GPU 작업이 차단됩니다",
      queue: "GPU 사용량이 한도에 도달하여 새 학습 작업은 대기열에서 대기합니다",
      reached: "GPU 사용량이 한도에 도달했습니다",
    },
    basis: { allocated: "할당 GPU-시간", billable: "과금 GPU-시간(보정 후)" },
    enforcement: {
      on: "새 GPU 파드는 다음 달 또는 한도 상향 시까지 대기합니다. 실행 중인 작업은 중단되지 않습니다.",
      off: "차단은 시험 모드(dry-run)입니다: 실제로 차단하지 않고 보고만 합니다.",
    },
    queue: {
      on: (q: QueueWords) =>
        `새 학습 작업은 거부되지 않고 대기열(Kueue)에서 대기합니다. 지금 대기 중인 작업: ${q.queued === undefined ? "확인하지 못했습니다" : `${q.queued}건`}. ` +
        `한도는 ${q.resetsAt}에 초기화되며, 그때(또는 한도가 상향되면) 대기 중인 작업이 자동으로 시작됩니다. ` +
        `${q.drain ? "실행 중인 작업은 중단되어 다시 대기열로 돌아갑니다." : "이미 실행 중인 작업은 계속 실행됩니다."} 추론(서빙) 대기열은 보류하지 않습니다.`,
      off: "대기열 보류는 시험 모드(dry-run)입니다: 실제로 보류하지 않고 보고만 합니다.",
    },
    modeOff: "한도 초과 시 차단이나 대기열 보류는 설정되어 있지 않습니다(알림만).",
    noCrossing: "월말까지 한도에 도달하지 않을 것으로 예상됩니다",
    crossing: (when: string) => `현재 속도라면 ${when}에 한도(차단 기준)에 도달합니다`,
  },
  en: {
    headline: {
      forecast: "At the current rate the GPU quota will be reached before month end",
      warn: "GPU usage reached the warning threshold",
      block: "GPU usage reached the quota: new GPU work is blocked",
      queue: "GPU usage reached the quota: new training jobs wait in the queue",
      reached: "GPU usage reached the quota",
    },
    basis: { allocated: "allocated GPU-hours", billable: "billable GPU-hours (after utilization correction)" },
    enforcement: {
      on: "New GPU pods wait until next month or a quota raise. Running work is not stopped.",
      off: "Enforcement is in dry-run: nothing is blocked, this is only reported.",
    },
    queue: {
      on: (q: QueueWords) =>
        `New training jobs are not rejected: they wait in the queue (Kueue). Waiting now: ${q.queued === undefined ? "could not be read" : `${q.queued} job${q.queued === 1 ? "" : "s"}`}. ` +
        `The quota resets on ${q.resetsAt}; then (or as soon as the quota is raised) the waiting jobs start on their own. ` +
        `${q.drain ? "Running jobs are stopped and return to the queue." : "Jobs already running keep running."} Inference (serving) queues are not held.`,
      off: "Queue holds are in dry-run: nothing is held, this is only reported.",
    },
    modeOff: "No block or queue hold is configured at the quota (alerts only).",
    noCrossing: "Not expected to reach the quota before month end",
    crossing: (when: string) => `At this rate the quota (block threshold) is reached on ${when}`,
  },
} as const;

interface QueueWords {
  queued?: number;
  resetsAt: string;
  drain: boolean;
}

/** How the block is enforced, for the block alert's wording. */
export interface AlertEnforcement {
  mode: EnforcementMode;
  /** Kueue: workloads waiting in the subject's held queues (sum of status.pendingWorkloads); undefined = could not be read. */
  queued?: number;
  /** Kueue: the configured stopPolicy evicts admitted workloads. */
  drain?: boolean;
}

const num = (x: Dec, dp = 2) => x.toDecimalPlaces(dp, D.ROUND_HALF_UP).toFixed(dp);

export function alertVariables(
  kind: AlertKind,
  s: QuotaStatus,
  ctx: { month: string; timeZone: string; language: Language; enforce: boolean; enforcement?: AlertEnforcement },
): Record<string, string> {
  const w = WORDS[ctx.language];
  const how = ctx.enforcement ?? { mode: "resourcequota" };
  // The quota resets when the next billing month starts: the 1st, 00:00 in the billing time zone.
  const resetsAt = `${localDateTime(billingMonth(ctx.month, ctx.timeZone).endMs, ctx.timeZone)} (${ctx.timeZone})`;
  const enforcement =
    kind !== "block"
      ? ""
      : how.mode === "off"
        ? w.modeOff
        : how.mode === "kueue"
          ? ctx.enforce
            ? w.queue.on({ queued: how.queued, resetsAt, drain: how.drain ?? false })
            : w.queue.off
          : w.enforcement[ctx.enforce ? "on" : "off"];
  return {
    tenantName: s.subject.tenantName,
    tenantId: s.subject.tenantId,
    scope: s.subject.namespace ? `${s.subject.tenantName} / ${s.subject.namespace}` : s.subject.tenantName,
    month: ctx.month,
    kind,
    headline:
      kind !== "block" || how.mode === "resourcequota" ? w.headline[kind] : how.mode === "kueue" ? w.headline.queue : w.headline.reached,
    basis: w.basis[s.basis],
    basisKey: s.basis,
    used: num(s.usedGpuHours),
    quota: num(s.quotaGpuHours!),
    percent: num(s.ratio!.mul(100), 1),
    warnPercent: num(new D(s.thresholds.warn).mul(100), 0),
    blockPercent: num(new D(s.thresholds.block).mul(100), 0),
    monthEndForecast: num(s.forecast.monthEndGpuHours),
    crossing: s.forecast.crossesBlockAtMs ? w.crossing(localDateTime(s.forecast.crossesBlockAtMs, ctx.timeZone)) : w.noCrossing,
    asOf: `${localDateTime(s.asOfMs, ctx.timeZone)} (${ctx.timeZone})`,
    resetsAt,
    enforcement,
  };
}

const escapeHtml = (v: string) =>
  v.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]!);

function fill(template: string, vars: Record<string, string>, escape: (v: string) => string, source: string): string {
  return template.replace(/\{\{(\w+)\}\}/g, (_, name: string) => {
    const v = vars[name];
    if (v === undefined) throw new Error(`${source}: no value for {{${name}}}`);
    return escape(v);
  });
}

export function renderAlert(templates: AlertTemplates, vars: Record<string, string>): RenderedAlert {
  const text = fill(templates.text, vars, (v) => v, "text template");
  const m = /^Subject: (.*)\r?\n\r?\n?/.exec(text);
  if (!m) throw new Error("text template: the first line must be `Subject: …`");
  return { subject: m[1]!.trim(), text: text.slice(m[0].length), html: fill(templates.html, vars, escapeHtml, "html template") };
}
