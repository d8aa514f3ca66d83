import { configHash, type Config } from "../core/config.js";
import { computeChargeback, type Chargeback } from "../core/chargeback.js";
import { renderDataset, type Dataset } from "../core/dataset.js";
import { assertMonthClosed } from "../core/month.js";
import { redactUrl, type PrometheusClient } from "../adapters/prometheus-client.js";
import { fetchMonthUsage } from "../adapters/prometheus-usage.js";
import type { QueryName } from "../adapters/query-files.js";
import type { DatasetSink } from "../adapters/dataset-sink.js";
import { withExports, type DatasetExporter } from "../export/dataset-exports.js";

/** pod-gpu-requests, pod-running-minutes, pod-used-gpu-minutes, node-minutes, namespace-tenants (a per-tick day: the same count). */
export const QUERIES_PER_DAY = 5;

export interface MeterDeps {
  prometheus: PrometheusClient;
  sink: DatasetSink;
  queries: Record<QueryName, string>;
  /** Extra renderings (Parquet, FOCUS) written inside the dataset and listed in its manifest. */
  exporters?: readonly DatasetExporter[];
}

export interface MeterResult {
  month: string;
  location: string;
  chargeback: Chargeback;
  dataset: Dataset;
  queries: number;
  /** Days metered with the per-tick fallback queries (some pod changed node or request). */
  perTickDays: string[];
}

/**
 * Meters one closed month end to end: Prometheus → pure chargeback → dataset.
 * Every check runs before anything is written, so bad input or an unavailable
 * Prometheus leaves the previous dataset (or none) untouched.
 */
export async function meterMonth(
  deps: MeterDeps,
  cfg: Config,
  month: string,
  now: Date,
  onProgress?: (done: number, total: number) => void,
): Promise<MeterResult> {
  const bm = assertMonthClosed(month, cfg.timeZone, now);
  const usage = await fetchMonthUsage(deps.prometheus, bm, {
    queries: deps.queries,
    dcgmNamespaceLabel: cfg.prometheus?.labels.dcgmNamespace ?? "namespace",
    dcgmPodLabel: cfg.prometheus?.labels.dcgmPod ?? "pod",
    concurrency: cfg.prometheus?.concurrency ?? 4,
    onProgress,
  });
  const chargeback = computeChargeback(usage, cfg, month);
  const rendered = renderDataset(chargeback, {
    month,
    timeZone: cfg.timeZone,
    startIso: new Date(bm.startMs).toISOString(),
    endIso: new Date(bm.endMs).toISOString(),
    prometheusUrl: redactUrl(deps.prometheus.url),
    configHash: configHash(cfg),
  });
  const dataset = withExports(rendered, chargeback, cfg, deps.exporters ?? []);
  const location = await deps.sink.write(month, dataset);
  return { month, location, chargeback, dataset, queries: bm.days.length * QUERIES_PER_DAY, perTickDays: usage.perTickDays };
}
