import { PutMetricDataCommand, StandardUnit, type CloudWatchClient, type MetricDatum } from "@aws-sdk/client-cloudwatch";
import type { QuotaMetrics, TenantMetric } from "../quota/quota-ports.js";
import type { CompletenessMetric } from "../metering/check-month-complete.js";
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
