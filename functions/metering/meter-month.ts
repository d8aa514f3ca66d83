import { configHash, configuredClusters, type BaseConfig, type MeteredCluster } from "../core/config.js";
import { computeChargeback, type Chargeback } from "../core/chargeback.js";
import { renderDataset, type ClusterInput, type Dataset } from "../core/dataset.js";
import { assertMonthClosed, type BillingMonth } from "../core/month.js";
import {
  checkClusterStage,
  combineClusterUsage,
  stageUsage,
  renderClusterStage,
  tagClusterUsage,
  type ClusterStage,
  type StageIdentity,
} from "../core/cluster-stage.js";
import { redactUrl } from "../core/redact-url.js";
import { memoryStaging, type DatasetSink, type SourcedUsage, type UsageSource, type UsageSources } from "./metering-ports.js";
import { withExports, type DatasetExporter } from "../export/dataset-exports.js";
import { CompositeFailure } from "../core/errors.js";
import { monthPrices, readPublishedFile, type AwsPriceFeed, type PricesStatus } from "./month-prices.js";
import { summariseControllerMonth, type AuditObject, type ClusterAudit, type ControllerMonth } from "../core/controller-savings.js";

/**
 * Where metering reads what the idle-node controller did in a month (its audit
 * log). `undefined`: no controller log for that cluster (not deployed). The
 * objects may include neighbouring days: the summary keeps what falls inside the month.
 */
export interface ControllerAuditSource {
  monthObjects(cluster: MeteredCluster, window: BillingMonth): Promise<AuditObject[] | undefined>;
}

/** pod-gpu-requests, ksm-instance-coverage, pod-running-minutes, pod-used-gpu-minutes, node-minutes, node-instance-ids, namespace-tenants (a per-tick day: the same count; a split day: more). */
export const QUERIES_PER_DAY = 7;

export interface MeterDeps {
  /** Each configured cluster's usage source (functions/wiring: prometheusUsageSources). */
  usage: UsageSources;
  sink: DatasetSink;
  /** Extra renderings (Parquet, FOCUS) written inside the dataset and listed in its manifest. */
  exporters?: readonly DatasetExporter[];
  /** EC2 Spot price history and the AWS Price List, for `prices.source: aws` (priceFeedFromConfig). */
  priceFeed?: AwsPriceFeed;
  /** The controllers' audit logs; absent: no controller deployed, which the dataset says. */
  controllerAudit?: ControllerAuditSource;
}

export interface MeterOptions {
  onProgress?: (done: number, total: number) => void;
  /**
   * "reuse" (default): a cluster whose valid stage for this month survives a
   * failed earlier run is not metered again — the retry path. "refresh":
   * every cluster is metered again — the ops re-run (rerunMonth, `meter
   * --refresh`). Stages are cleared once a month is published, so a fresh run
   * of a published month meters every cluster either way.
   */
  staged?: "reuse" | "refresh";
  /**
   * `prices.source: aws` only: fetch the month's prices again instead of reusing the published
   * month's prices.json (`--refresh-prices`). A re-run that reuses it is byte-identical.
   */
  refreshPrices?: boolean;
}

export interface ClusterOutcome {
  id: string;
  /** metered: queried this run; reused: its stage from an earlier run; failed: see `error`. */
  status: "metered" | "reused" | "failed";
  prometheusUrl: string;
  error?: string;
}

export interface MeterResult {
  month: string;
  location: string;
  chargeback: Chargeback;
  dataset: Dataset;
  /** Queries issued by this run (clusters reused from staging issue none). */
  queries: number;
  /** Days metered with the per-tick fallback queries (some pod changed node or request); `cluster:day` with several clusters. */
  perTickDays: string[];
  clusters: ClusterOutcome[];
  /** config: the config's table; reused: the published prices.json; fetched: from AWS this run. */
  prices: PricesStatus;
  controller: ControllerMonth;
}

/**
 * A month could not be completed because some clusters failed. It carries
 * every cluster's outcome; `cause` is the first failure, so callers can still
 * tell unavailable from bad input (the CLI's classifyError maps it by its cause).
 */
export class IncompleteMonthError extends CompositeFailure {
  constructor(
    message: string,
    readonly outcomes: ClusterOutcome[],
    readonly cause: unknown,
  ) {
    super(message);
    this.name = "IncompleteMonthError";
  }
}

/** Meters one cluster's window from its own source; records come back tagged with the cluster. */
export async function meterClusterUsage(
  source: UsageSource,
  cluster: MeteredCluster,
  window: BillingMonth,
  onProgress?: (done: number, total: number) => void,
): Promise<SourcedUsage> {
  const usage = await source.fetchMonthUsage(window, onProgress);
  return {
    ...tagClusterUsage(usage, cluster.id),
    perTickDays: usage.perTickDays,
    queryWindows: usage.queryWindows,
    queries: usage.queries,
  };
}

/** "month 2026-10 is incomplete …" naming failed and kept clusters; one line per failure. */
export function describeIncomplete(month: string, outcomes: ClusterOutcome[], stagingLocation: string): string {
  const failed = outcomes.filter((o) => o.status === "failed");
  const ok = outcomes.filter((o) => o.status !== "failed").map((o) => o.id);
  return [
    `month ${month} is incomplete: ${failed.length} of ${outcomes.length} cluster(s) failed (${failed.map((o) => o.id).join(", ")}); nothing was published.`,
    ...failed.map((o) => `  cluster ${o.id} (${o.prometheusUrl}): ${o.error}`),
    ok.length ? `  staged and kept for a retry: ${ok.join(", ")} (${stagingLocation})` : "  no cluster was staged.",
  ].join("\n");
}

/**
 * Meters one closed month end to end: each configured cluster's Prometheus →
 * a per-cluster stage → (once every cluster has one) pure chargeback over all
 * clusters → dataset. A cluster's stage is written only after its own usage
 * passed the chargeback's checks, and the dataset is published only when every
 * cluster is staged, so bad input or an unavailable Prometheus anywhere leaves
 * the previous dataset (or none) untouched, while the clusters that did work
 * stay staged for the retry.
 */
export async function meterMonth(
  deps: MeterDeps,
  cfg: BaseConfig,
  month: string,
  now: Date,
  opts: MeterOptions | MeterOptions["onProgress"] = {},
): Promise<MeterResult> {
  const o: MeterOptions = typeof opts === "function" ? { onProgress: opts } : opts;
  const bm = assertMonthClosed(month, cfg.timeZone, now);
  const clusters = configuredClusters(cfg);
  const sourceFor = deps.usage(clusters);
  const staging = deps.sink.staging ?? memoryStaging();
  const start = new Date(bm.startMs).toISOString();
  const end = new Date(bm.endMs).toISOString();

  const stages: ClusterStage[] = [];
  const outcomes: ClusterOutcome[] = [];
  let firstError: unknown;
  let queries = 0;
  // One cluster at a time: each already runs `concurrency` queries in parallel against its own Prometheus.
  for (const cluster of clusters) {
    let url = cluster.prometheus?.url ? redactUrl(cluster.prometheus.url) : "(not configured)";
    try {
      const source = sourceFor(cluster);
      url = source.location;
      const identity: StageIdentity = { month, cluster: cluster.id, prometheusUrl: url, start, end };
      if ((o.staged ?? "reuse") === "reuse") {
        const stored = await staging.read(month, cluster.id);
        const check = stored ? checkClusterStage(stored, identity) : undefined;
        if (check?.ok) {
          stages.push(check.stage);
          outcomes.push({ id: cluster.id, status: "reused", prometheusUrl: url });
          continue;
        }
      }
      // How the windows went is not usage: it stays out of usage.json, whose hash the dataset manifest carries.
      const { queryWindows, queries: issued, ...usage } = await meterClusterUsage(source, cluster, bm, o.onProgress);
      queries += issued;
      // Bad input (a missing price, an odd label) is found now, before the stage exists: a retry cannot fix it.
      computeChargeback(usage, cfg, month);
      const { stage, files } = renderClusterStage(identity, usage, usage.perTickDays, now, queryWindows);
      await staging.write(month, cluster.id, files);
      stages.push(stage);
      outcomes.push({ id: cluster.id, status: "metered", prometheusUrl: url });
    } catch (e) {
      firstError ??= e;
      outcomes.push({ id: cluster.id, status: "failed", prometheusUrl: url, error: (e as Error).message });
    }
  }
  if (firstError !== undefined) {
    const message = describeIncomplete(month, outcomes, staging.location);
    // A single cluster keeps its error's own type (callers map it to "retry later" / "fix your input").
    if (clusters.length === 1 && firstError instanceof Error) throw firstError;
    throw new IncompleteMonthError(message, outcomes, firstError);
  }

  const combined = combineClusterUsage(stages.map(stageUsage));
  const readFile = deps.sink.readFile?.bind(deps.sink);
  const { snapshot, status: pricesStatus } = await monthPrices(
    {
      feed: deps.priceFeed,
      runSpans: (c, nodes) => sourceFor(c).fetchNodeRunSpans(bm, nodes),
      ...(readFile
        ? {
            published: (name: string) =>
              readPublishedFile(
                () => deps.sink.readManifest(month),
                (n) => readFile(month, n),
                name,
              ),
          }
        : {}),
    },
    cfg,
    bm,
    combined.nodes,
    clusters,
    { refresh: o.refreshPrices },
  );
  const chargeback = computeChargeback(combined, cfg, month, snapshot);
  // Read before anything is published: an unreadable audit log (bad input) or S3 down (unavailable) leaves the month unpublished.
  const audits: ClusterAudit[] = [];
  for (const cluster of clusters) {
    const objects = deps.controllerAudit ? await deps.controllerAudit.monthObjects(cluster, bm) : undefined;
    audits.push(objects ? { cluster: cluster.id, deployed: true, objects } : { cluster: cluster.id, deployed: false });
  }
  const controller = summariseControllerMonth(audits, bm, chargeback.capacity, cfg.currencyDecimals);
  const inputs: ClusterInput[] = stages.map((s) => ({
    id: s.identity.cluster,
    prometheusUrl: s.identity.prometheusUrl,
    usageSha256: s.usageSha256,
    perTickDays: s.perTickDays,
    ...(s.queryWindows ? { queryWindows: s.queryWindows } : {}),
  }));
  const rendered = renderDataset(
    chargeback,
    {
      month,
      timeZone: cfg.timeZone,
      startIso: start,
      endIso: end,
      prometheusUrl: inputs.length === 1 ? inputs[0]!.prometheusUrl : inputs.map((c) => `${c.id}=${c.prometheusUrl}`).join(" "),
      configHash: configHash(cfg),
      clusters: inputs,
    },
    snapshot,
    controller,
  );
  const dataset = withExports(rendered, chargeback, cfg, deps.exporters ?? []);
  const location = await deps.sink.write(month, dataset);
  // Published: the stages have done their work. Clearing them means a later run of this month meters afresh.
  await staging.clear(
    month,
    clusters.map((c) => c.id),
  );
  return {
    month,
    location,
    chargeback,
    dataset,
    queries,
    perTickDays: combined.perTickDays,
    clusters: outcomes,
    prices: pricesStatus,
    controller,
  };
}
