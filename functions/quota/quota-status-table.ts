import type { QuotaStatus } from "./evaluate-quota.js";

/** Status lines for the CLI and logs. */
export function formatQuotaStatusTable(statuses: QuotaStatus[]): string {
  const rows = statuses.map((s) => [
    s.subject.namespace ? `${s.subject.tenantName}/${s.subject.namespace}` : s.subject.tenantName,
    s.usedGpuHours.toFixed(2),
    s.quotaGpuHours ? s.quotaGpuHours.toFixed(2) : "unlimited",
    s.ratio ? `${s.ratio.mul(100).toFixed(1)}%` : "-",
    s.forecast.monthEndGpuHours.toFixed(2),
    s.forecast.crossesBlockOn ?? (s.forecast.insufficientHistory ? "(too early)" : "-"),
    s.level,
  ]);
  const head = ["tenant", "used h", "quota h", "used %", "month-end h", "reaches block", "state"];
  const w = head.map((h, i) => Math.max(width(h), ...rows.map((r) => width(r[i]!))));
  const line = (r: string[]) =>
    r.map((c: string, i: number) => (i === 0 ? c + " ".repeat(w[i]! - width(c)) : " ".repeat(w[i]! - width(c)) + c)).join("  ");
  return [line(head), ...rows.map(line)].join("\n");
}

/** Display width: Hangul and other wide characters take two columns. */
function width(s: string): number {
  let n = 0;
  for (const ch of s) n += /[\u1100-\u115F\u2E80-\uA4CF\uAC00-\uD7A3\uF900-\uFAFF\uFE30-\uFE4F\uFF00-\uFF60\uFFE0-\uFFE6]/.test(ch) ? 2 : 1;
  return n;
}
