import { PutMetricDataCommand, type CloudWatchClient, type MetricDatum } from "@aws-sdk/client-cloudwatch";
import type { RunMetrics } from "../controller/run-metrics.js";

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
  for (let i = 0; i < data.length; i += 1000)
    await cw.send(new PutMetricDataCommand({ Namespace: namespace, MetricData: data.slice(i, i + 1000) }));
}
