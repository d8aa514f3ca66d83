import { PutMetricDataCommand, type CloudWatchClient, type MetricDatum } from "@aws-sdk/client-cloudwatch";

export const CONTROLLER_NAMESPACE = "GpuBilling/Controller";

export interface RunMetrics {
  nodeGroup: string;
  dryRun: boolean;
  nodesReclaimed: number;
  nodesAdded: number;
  /** GPU-hours of reclaimed capacity not given back by scale-outs, over this run's interval (see gpuHoursSavedEstimate). */
  gpuHoursSaved: number;
}

/**
 * Publishes per node group: NodesReclaimed, NodesAdded (scale-outs) and
 * GpuHoursSavedEstimate, dimensioned by NodeGroup and Mode (acting/dry-run,
 * so a dry-run week shows what acting would have saved), plus Halted for the run.
 */
export async function publishRunMetrics(cw: CloudWatchClient, atMs: number, perGroup: RunMetrics[], halted: boolean): Promise<void> {
  const ts = new Date(atMs);
  const data: MetricDatum[] = [{ MetricName: "Halted", Value: halted ? 1 : 0, Unit: "Count", Timestamp: ts }];
  for (const g of perGroup) {
    const Dimensions = [
      { Name: "NodeGroup", Value: g.nodeGroup },
      { Name: "Mode", Value: g.dryRun ? "dry-run" : "acting" },
    ];
    data.push(
      { MetricName: "NodesReclaimed", Value: g.nodesReclaimed, Unit: "Count", Timestamp: ts, Dimensions },
      { MetricName: "NodesAdded", Value: g.nodesAdded, Unit: "Count", Timestamp: ts, Dimensions },
      { MetricName: "GpuHoursSavedEstimate", Value: Math.round(g.gpuHoursSaved * 1e6) / 1e6, Unit: "None", Timestamp: ts, Dimensions },
    );
  }
  for (let i = 0; i < data.length; i += 1000) await cw.send(new PutMetricDataCommand({ Namespace: CONTROLLER_NAMESPACE, MetricData: data.slice(i, i + 1000) }));
}
