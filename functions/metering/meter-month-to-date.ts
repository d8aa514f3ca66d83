import type { Config } from "../core/config.js";
import { computeChargeback, type Chargeback } from "../core/chargeback.js";
import { D, type Dec } from "../core/decimal.js";
import type { PrometheusClient } from "../adapters/prometheus-client.js";
import { fetchMonthUsage } from "../adapters/prometheus-usage.js";
import type { QueryName } from "../adapters/query-files.js";
import { monthToDateWindow, type MonthToDateWindow } from "../quota/month-to-date.js";

export interface GpuHours {
  allocated: Dec;
  billable: Dec;
}

/** Month-to-date GPU-hours per tenant and per namespace, computed exactly as the monthly bill computes them. */
export interface MonthToDateUsage {
  month: string;
  timeZone: string;
  window: MonthToDateWindow;
  tenants: Map<string, GpuHours & { tenantName: string }>;
  namespaces: Map<string, GpuHours & { tenantId: string }>;
  chargeback: Chargeback;
}

export interface MonthToDateDeps {
  prometheus: PrometheusClient;
  queries: Record<QueryName, string>;
}

/** Sums chargeback rows per tenant and per namespace (pure; exported for tests). */
export function summariseMonthToDate(chargeback: Chargeback, window: MonthToDateWindow, timeZone: string): MonthToDateUsage {
  const tenants = new Map<string, GpuHours & { tenantName: string }>();
  const namespaces = new Map<string, GpuHours & { tenantId: string }>();
  for (const r of chargeback.rows) {
    const t = tenants.get(r.tenantId) ?? { allocated: new D(0), billable: new D(0), tenantName: r.tenantName };
    tenants.set(r.tenantId, { ...t, allocated: t.allocated.add(r.allocatedGpuHours), billable: t.billable.add(r.billableGpuHours) });
    const n = namespaces.get(r.namespace) ?? { allocated: new D(0), billable: new D(0), tenantId: r.tenantId };
    namespaces.set(r.namespace, { ...n, allocated: n.allocated.add(r.allocatedGpuHours), billable: n.billable.add(r.billableGpuHours) });
  }
  return { month: chargeback.month, timeZone, window, tenants, namespaces, chargeback };
}

/**
 * Meters `month` from its start to `now` (floored to the minute) with the
 * monthly bill's queries and model. Billable hours use the correction factor
 * of the month so far, which is what the bill would say if the month ended now.
 * Prometheus failures propagate (PrometheusUnavailableError): a quota decision
 * is never taken on partial data.
 */
export async function meterMonthToDate(deps: MonthToDateDeps, cfg: Config, month: string, now: Date): Promise<MonthToDateUsage> {
  const window = monthToDateWindow(month, cfg.timeZone, now);
  const usage = await fetchMonthUsage(deps.prometheus, window, {
    queries: deps.queries,
    dcgmNamespaceLabel: cfg.prometheus?.labels.dcgmNamespace ?? "namespace",
    dcgmPodLabel: cfg.prometheus?.labels.dcgmPod ?? "pod",
    concurrency: cfg.prometheus?.concurrency ?? 4,
  });
  return summariseMonthToDate(computeChargeback(usage, cfg, month), window, cfg.timeZone);
}
