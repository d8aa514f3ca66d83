import type { Chargeback } from "../core/chargeback.js";
import { D, type Dec } from "../core/decimal.js";

/** Display width: Hangul and other wide characters take two terminal columns. */
function width(s: string): number {
  let w = 0;
  for (const ch of s) w += /[\u1100-\u115F\u2E80-\uA4CF\uAC00-\uD7A3\uF900-\uFAFF\uFE30-\uFE4F\uFF00-\uFF60\uFFE0-\uFFE6]/.test(ch) ? 2 : 1;
  return w;
}
const pad = (s: string, n: number, right = false) =>
  right ? " ".repeat(Math.max(0, n - width(s))) + s : s + " ".repeat(Math.max(0, n - width(s)));

/** The per-tenant summary printed after a run: what finance will see in the chargeback, rolled up. */
export function formatTenantSummary(cb: Chargeback): string {
  const byTenant = new Map<string, { name: string; alloc: Dec; used: Dec; billable: Dec; cost: Dec }>();
  for (const r of cb.rows) {
    const t = byTenant.get(r.tenantId) ?? { name: r.tenantName, alloc: new D(0), used: new D(0), billable: new D(0), cost: new D(0) };
    byTenant.set(r.tenantId, {
      name: t.name,
      alloc: t.alloc.add(r.allocatedGpuHours),
      used: t.used.add(r.usedGpuHours),
      billable: t.billable.add(r.billableGpuHours),
      cost: t.cost.add(r.cost),
    });
  }
  const head = ["tenant", "name", "allocated GPU-h", "used GPU-h", "util", "billable GPU-h", `cost (${cb.currency})`];
  const lines = [...byTenant.entries()]
    .sort(([a], [b]) => (a < b ? -1 : 1))
    .map(([id, t]) => [
      id,
      t.name,
      t.alloc.toFixed(2),
      t.used.toFixed(2),
      t.alloc.isZero() ? "-" : `${t.used.div(t.alloc).mul(100).toFixed(1)}%`,
      t.billable.toFixed(2),
      t.cost.toFixed(2),
    ]);
  const tt = cb.totals;
  lines.push([
    "TOTAL",
    "",
    tt.allocatedGpuHours.toFixed(2),
    tt.usedGpuHours.toFixed(2),
    tt.allocatedGpuHours.isZero() ? "-" : `${tt.usedGpuHours.div(tt.allocatedGpuHours).mul(100).toFixed(1)}%`,
    tt.billableGpuHours.toFixed(2),
    tt.cost.toFixed(2),
  ]);
  const widths = head.map((h, i) => Math.max(width(h), ...lines.map((l) => width(l[i]!))));
  const fmt = (l: string[]) => l.map((c, i) => pad(c, widths[i]!, i >= 2)).join("  ");
  const rule = widths.map((w) => "-".repeat(w)).join("  ");
  const out = [fmt(head), rule, ...lines.slice(0, -1).map(fmt), rule, fmt(lines[lines.length - 1]!)];
  out.push(
    "",
    `capacity: ${tt.nodeGpuHours.toFixed(2)} node GPU-h, idle ${tt.idleGpuHours.toFixed(2)} GPU-h (${cb.currency} ${tt.idleCost.toFixed(2)} not charged to tenants)`,
  );
  // Several clusters: one line each, so an operator sees every cluster contributed (tenant totals span clusters).
  const byCluster = new Map<string, { alloc: Dec; cost: Dec }>();
  for (const r of cb.rows) {
    const c = byCluster.get(r.cluster) ?? { alloc: new D(0), cost: new D(0) };
    byCluster.set(r.cluster, { alloc: c.alloc.add(r.allocatedGpuHours), cost: c.cost.add(r.cost) });
  }
  if (byCluster.size > 1)
    for (const [id, c] of [...byCluster.entries()].sort(([a], [b]) => (a < b ? -1 : 1)))
      out.push(`cluster ${id}: ${c.alloc.toFixed(2)} allocated GPU-h, ${cb.currency} ${c.cost.toFixed(2)}`);
  for (const w of cb.warnings) out.push(`warning: ${w}`);
  return out.join("\n");
}
