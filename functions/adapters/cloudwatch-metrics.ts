/** Every metric the product publishes to CloudWatch: the quota's per tenant, the month's completeness, the controller's per run. */
import { PutMetricDataCommand, StandardUnit, type CloudWatchClient, type MetricDatum } from "@aws-sdk/client-cloudwatch";
import type { QuotaMetrics, TenantMetric } from "../quota/quota-ports.js";
import type { CompletenessMetric } from "../metering/check-month-complete.js";
import type { RunMetrics } from "../controller/run-metrics.js";
import { MANIFEST_MISSING_METRIC } from "../core/month-completeness.js";

/** PutMetricData accepts at most 1000 data points per call (and 1 MB); our datums are tiny, so the count is the limit that binds. */
export const MAX_DATUMS_PER_CALL = 1000;

export function quotaMetricDatums(metrics: TenantMetric[], at: Date): MetricDatum[] {
  const out: MetricDatum[] = [];
  for (const m of metrics) {
    const Dimensions = [{ Name: "Tenant", Value: m.tenantId }];
    out.push({ MetricName: "GpuHoursUsed", Dimensions, Timestamp: at, Value: m.usedGpuHours, Unit: StandardUnit.None });
    if (m.quotaUsedRatio !== undefined)
      out.push({ MetricName: "GpuQuotaUsedRatio", Dimensions, Timestamp: at, Value: m.quotaUsedRatio, Unit: StandardUnit.None });
  }
  return out;
}

/** Publishes per-tenant quota metrics, batched within PutMetricData's limits; returns the number of calls. */
export function cloudWatchQuotaMetrics(client: CloudWatchClient, namespace: string, batchSize = MAX_DATUMS_PER_CALL): QuotaMetrics {
  return {
    async put(metrics, at) {
      const datums = quotaMetricDatums(metrics, at);
      let calls = 0;
      for (let i = 0; i < datums.length; i += batchSize) {
        await putMetricData(client, namespace, datums.slice(i, i + batchSize));
        calls++;
      }
      return calls;
    },
  };
}

/** One PutMetricData call. */
const putMetricData = (client: CloudWatchClient, namespace: string, data: MetricDatum[]) =>
  client.send(new PutMetricDataCommand({ Namespace: namespace, MetricData: data }));

/** Publishes the month-completeness metric (MonthManifestMissing) the missing-month alarm watches. */
export function cloudWatchCompletenessMetric(client: CloudWatchClient, namespace: string): CompletenessMetric {
  return {
    async publish(value, at) {
      await putMetricData(client, namespace, [{ MetricName: MANIFEST_MISSING_METRIC, Value: value, Unit: "Count", Timestamp: at }]);
    },
  };
}

/** Default namespace; the deployed function gets its namespace from CONTROLLER_METRICS_NAMESPACE (the stack's alarms read the same setting). */
export const CONTROLLER_NAMESPACE = "GpuBilling/Controller";

/** Metric names this adapter publishes; the stack's alarms and dashboard read them (test/infra/metric-contract.test.ts). */
export const CONTROLLER_METRIC_NAMES = {
  halted: "Halted",
  nodesReclaimed: "NodesReclaimed",
  nodesAdded: "NodesAdded",
  gpuHoursSaved: "GpuHoursSavedEstimate",
} as const;
/** Dimensions of the per-node-group metrics (Halted has none). */
export const CONTROLLER_METRIC_DIMENSIONS = { nodeGroup: "NodeGroup", mode: "Mode" } as const;

/**
 * Publishes per node group: NodesReclaimed, NodesAdded (scale-outs) and
 * GpuHoursSavedEstimate, dimensioned by NodeGroup and Mode (acting/dry-run,
 * so a dry-run week shows what acting would have saved), plus Halted for the run.
 */
export async function publishRunMetrics(
  cw: CloudWatchClient,
  at: Date,
  perGroup: RunMetrics[],
  halted: boolean,
  namespace = CONTROLLER_NAMESPACE,
): Promise<void> {
  const ts = at;
  const M = CONTROLLER_METRIC_NAMES;
  const data: MetricDatum[] = [{ MetricName: M.halted, Value: halted ? 1 : 0, Unit: "Count", Timestamp: ts }];
  for (const g of perGroup) {
    const Dimensions = [
      { Name: CONTROLLER_METRIC_DIMENSIONS.nodeGroup, Value: g.nodeGroup },
      { Name: CONTROLLER_METRIC_DIMENSIONS.mode, Value: g.dryRun ? "dry-run" : "acting" },
    ];
    data.push(
      { MetricName: M.nodesReclaimed, Value: g.nodesReclaimed, Unit: "Count", Timestamp: ts, Dimensions },
      { MetricName: M.nodesAdded, Value: g.nodesAdded, Unit: "Count", Timestamp: ts, Dimensions },
      { MetricName: M.gpuHoursSaved, Value: Math.round(g.gpuHoursSaved * 1e6) / 1e6, Unit: "None", Timestamp: ts, Dimensions },
    );
  }
  for (let i = 0; i < data.length; i += MAX_DATUMS_PER_CALL) await putMetricData(cw, namespace, data.slice(i, i + MAX_DATUMS_PER_CALL));
}
