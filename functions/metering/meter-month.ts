import { configHash, configuredClusters, type BaseConfig, type MeteredCluster } from "../core/config.js";
import { computeChargeback, type Chargeback } from "../core/chargeback.js";
import { renderDataset, type ClusterInput, type Dataset, type DatasetInputs } from "../core/dataset.js";
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
import {
  memoryStaging,
  type ClusterStaging,
  type DatasetSink,
  type SourcedUsage,
  type UsageSource,
  type UsageSources,
} from "./metering-ports.js";
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
  const run: MonthRun = { cfg, month, now, bm, start: new Date(bm.startMs).toISOString(), end: new Date(bm.endMs).toISOString() };
  const { stages, outcomes, queries } = await stageClusters(run, clusters, sourceFor, staging, o);

  const combined = combineClusterUsage(stages.map(stageUsage));
  const { snapshot, status: pricesStatus } = await monthPrices(
    {
      feed: deps.priceFeed,
      runSpans: (c, nodes) => sourceFor(c).fetchNodeRunSpans(bm, nodes),
      ...publishedFileOf(deps.sink, month),
    },
    cfg,
    bm,
    combined.nodes,
    clusters,
    { refresh: o.refreshPrices },
  );
  const chargeback = computeChargeback(combined, cfg, month, snapshot);
  // Read before anything is published: an unreadable audit log (bad input) or S3 down (unavailable) leaves the month unpublished.
  const audits = await controllerAudits(deps.controllerAudit, clusters, bm);
  const controller = summariseControllerMonth(audits, bm, chargeback.capacity, cfg.currencyDecimals);
  const rendered = renderDataset(chargeback, datasetInputs(run, stages), snapshot, controller);
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

/** The month being metered: what every step of one run reads. */
interface MonthRun {
  cfg: BaseConfig;
  month: string;
  now: Date;
  bm: BillingMonth;
  /** The window, ISO UTC. */
  start: string;
  end: string;
}

/**
 * Every cluster's stage, reused or metered; when any cluster failed, the month is incomplete and
 * this throws (after trying every cluster, so the ones that worked stay staged for the retry).
 */
async function stageClusters(
  run: MonthRun,
  clusters: MeteredCluster[],
  sourceFor: ReturnType<UsageSources>,
  staging: ClusterStaging,
  o: MeterOptions,
): Promise<{ stages: ClusterStage[]; outcomes: ClusterOutcome[]; queries: number }> {
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
      const staged = await stageCluster(run, cluster, source, staging, o);
      queries += staged.queries;
      stages.push(staged.stage);
      outcomes.push({ id: cluster.id, status: staged.status, prometheusUrl: url });
    } catch (e) {
      firstError ??= e;
      outcomes.push({ id: cluster.id, status: "failed", prometheusUrl: url, error: (e as Error).message });
    }
  }
  if (firstError !== undefined) {
    const message = describeIncomplete(run.month, outcomes, staging.location);
    // A single cluster keeps its error's own type (callers map it to "retry later" / "fix your input").
    if (clusters.length === 1 && firstError instanceof Error) throw firstError;
    throw new IncompleteMonthError(message, outcomes, firstError);
  }
  return { stages, outcomes, queries };
}

/** One cluster's stage: a valid one from an earlier run (unless refreshing), else metered now and written. */
async function stageCluster(
  run: MonthRun,
  cluster: MeteredCluster,
  source: UsageSource,
  staging: ClusterStaging,
  o: MeterOptions,
): Promise<{ stage: ClusterStage; status: "metered" | "reused"; queries: number }> {
  const { month, start, end } = run;
  const identity: StageIdentity = { month, cluster: cluster.id, prometheusUrl: source.location, start, end };
  if ((o.staged ?? "reuse") === "reuse") {
    const stored = await staging.read(month, cluster.id);
    const check = stored ? checkClusterStage(stored, identity) : undefined;
    if (check?.ok) return { stage: check.stage, status: "reused", queries: 0 };
  }
  // How the windows went is not usage: it stays out of usage.json, whose hash the dataset manifest carries.
  const { queryWindows, queries, ...usage } = await meterClusterUsage(source, cluster, run.bm, o.onProgress);
  // Bad input (a missing price, an odd label) is found now, before the stage exists: a retry cannot fix it.
  computeChargeback(usage, run.cfg, month);
  const { stage, files } = renderClusterStage(identity, usage, usage.perTickDays, run.now, queryWindows);
  await staging.write(month, cluster.id, files);
  return { stage, status: "metered", queries };
}

/** How monthPrices reads a file of the published month (its prices.json), when the sink can read files. */
function publishedFileOf(sink: DatasetSink, month: string): { published?: (name: string) => Promise<Buffer | undefined> } {
  const readFile = sink.readFile?.bind(sink);
  if (!readFile) return {};
  return {
    published: (name: string) =>
      readPublishedFile(
        () => sink.readManifest(month),
        (n) => readFile(month, n),
        name,
      ),
  };
}

/** Each cluster's controller audit objects for the month, or that no controller is deployed there. */
async function controllerAudits(
  source: ControllerAuditSource | undefined,
  clusters: MeteredCluster[],
  bm: BillingMonth,
): Promise<ClusterAudit[]> {
  const audits: ClusterAudit[] = [];
  for (const cluster of clusters) {
    const objects = source ? await source.monthObjects(cluster, bm) : undefined;
    audits.push(objects ? { cluster: cluster.id, deployed: true, objects } : { cluster: cluster.id, deployed: false });
  }
  return audits;
}

/** What the dataset's manifest records of the run: the window, the config and each cluster's staged usage. */
function datasetInputs(run: MonthRun, stages: ClusterStage[]): DatasetInputs {
  const inputs: ClusterInput[] = stages.map((s) => ({
    id: s.identity.cluster,
    prometheusUrl: s.identity.prometheusUrl,
    usageSha256: s.usageSha256,
    perTickDays: s.perTickDays,
    ...(s.queryWindows ? { queryWindows: s.queryWindows } : {}),
  }));
  return {
    month: run.month,
    timeZone: run.cfg.timeZone,
    startIso: run.start,
    endIso: run.end,
    prometheusUrl: inputs.length === 1 ? inputs[0]!.prometheusUrl : inputs.map((c) => `${c.id}=${c.prometheusUrl}`).join(" "),
    configHash: configHash(run.cfg),
    clusters: inputs,
  };
}
