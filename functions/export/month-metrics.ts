import type { Chargeback } from "../core/chargeback.js";
import { D } from "../core/decimal.js";

/** Metric names the metering run publishes (CloudWatch embedded metric format); the dashboard reads them. */
export const MONTH_METRICS = {
  billedGpuHours: "BilledGpuHours",
  allocatedGpuHours: "AllocatedGpuHours",
  spotShare: "SpotShareOfGpuHours",
  idleGpuHours: "IdleGpuHours",
} as const;

/**
 * The month's headline numbers as CloudWatch embedded-metric-format log
 * lines: per tenant billable/allocated GPU-hours (dimension Tenant), and for
 * the month its Spot share of allocated GPU-hours and idle GPU-hours (no
 * dimension). Written to stdout, CloudWatch turns them into metrics without
 * an API call. `now` is the publish time (CloudWatch rejects timestamps
 * older than two weeks, so it is not the billing month). Pure.
 */
export function monthMetricsEmf(cb: Chargeback, namespace: string, now: Date): string[] {
  const perTenant = new Map<string, { billed: InstanceType<typeof D>; allocated: InstanceType<typeof D> }>();
  let spot = new D(0);
  let all = new D(0);
  for (const r of cb.rows) {
    const t = perTenant.get(r.tenantId) ?? { billed: new D(0), allocated: new D(0) };
    t.billed = t.billed.plus(r.billableGpuHours);
    t.allocated = t.allocated.plus(r.allocatedGpuHours);
    perTenant.set(r.tenantId, t);
    all = all.plus(r.allocatedGpuHours);
    if (r.capacityType === "spot") spot = spot.plus(r.allocatedGpuHours);
  }
  const doc = (dims: string[][], metrics: Record<string, number>, props: Record<string, string>) =>
    JSON.stringify({
      _aws: {
        Timestamp: now.getTime(),
        CloudWatchMetrics: [
          {
            Namespace: namespace,
            Dimensions: dims,
            Metrics: Object.keys(metrics).map((Name) => ({ Name, Unit: Name.endsWith("Share") ? "None" : "Count" })),
          },
        ],
      },
      ...props,
      ...metrics,
    });
  const lines = [...perTenant.entries()]
    .sort(([a], [b]) => (a < b ? -1 : 1))
    .map(([tenant, v]) =>
      doc(
        [["Tenant"]],
        { [MONTH_METRICS.billedGpuHours]: v.billed.toNumber(), [MONTH_METRICS.allocatedGpuHours]: v.allocated.toNumber() },
        { Tenant: tenant, Month: cb.month },
      ),
    );
  lines.push(
    doc(
      [[]],
      {
        [MONTH_METRICS.spotShare]: all.isZero() ? 0 : spot.div(all).toDecimalPlaces(4).toNumber(),
        [MONTH_METRICS.idleGpuHours]: cb.totals.idleGpuHours.toNumber(),
      },
      { Month: cb.month },
    ),
  );
  return lines;
}
