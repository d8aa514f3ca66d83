import { configuredClusters, type BaseConfig } from "../core/config.js";
import { computeChargeback, type Chargeback } from "../core/chargeback.js";
import { D, type Dec } from "../core/decimal.js";
import { redactUrl } from "../core/redact-url.js";
import { combineClusterUsage, type ClusterUsage } from "../core/cluster-stage.js";
import type { UsageSources } from "./metering-ports.js";
import { monthToDateWindow, type MonthToDateWindow } from "../quota/month-to-date.js";
import { describeIncomplete, IncompleteMonthError, meterClusterUsage, type ClusterOutcome } from "./meter-month.js";

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
  /** Each configured cluster's usage source (functions/wiring: prometheusUsageSources). */
  usage: UsageSources;
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
 * monthly bill's queries and model, over every configured cluster (a tenant's
 * quota spans clusters). Billable hours use the correction factor of the month
 * so far, which is what the bill would say if the month ended now.
 * Prometheus failures propagate (PrometheusUnavailableError; with several
 * clusters an IncompleteMonthError naming the failed ones): a quota decision is
 * never taken on partial data, so nothing is staged here either.
 */
export async function meterMonthToDate(deps: MonthToDateDeps, cfg: BaseConfig, month: string, now: Date): Promise<MonthToDateUsage> {
  const window = monthToDateWindow(month, cfg.timeZone, now);
  const clusters = configuredClusters(cfg);
  const sourceFor = deps.usage(clusters);
  const parts: ClusterUsage[] = [];
  const outcomes: ClusterOutcome[] = [];
  let firstError: unknown;
  for (const cluster of clusters) {
    let url = cluster.prometheus?.url ? redactUrl(cluster.prometheus.url) : "(not configured)";
    try {
      const source = sourceFor(cluster);
      url = source.location;
      const usage = await meterClusterUsage(source, cluster, window);
      parts.push({ cluster: cluster.id, usage, perTickDays: usage.perTickDays });
      outcomes.push({ id: cluster.id, status: "metered", prometheusUrl: url });
    } catch (e) {
      firstError ??= e;
      outcomes.push({ id: cluster.id, status: "failed", prometheusUrl: url, error: (e as Error).message });
    }
  }
  if (firstError !== undefined) {
    if (clusters.length === 1) throw firstError;
    throw new IncompleteMonthError(
      describeIncomplete(month, outcomes, "(month-to-date: nothing staged)").replace(
        "nothing was published.",
        "no quota decision was taken.",
      ),
      outcomes,
      firstError,
    );
  }
  return summariseMonthToDate(computeChargeback(combineClusterUsage(parts), cfg, month), window, cfg.timeZone);
}
