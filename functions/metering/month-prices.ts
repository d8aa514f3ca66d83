import { createHash } from "node:crypto";
import { priceSourceOf, type BaseConfig, type MeteredCluster } from "../core/config.js";
import type { BillingMonth } from "../core/month.js";
import type { NodeRecord } from "../core/usage.js";
import type { RunSpan } from "../core/spot-price.js";
import {
  awsPriceSnapshot,
  configPriceSnapshot,
  parsePriceSnapshot,
  pricedNodes,
  PRICES_FILE,
  snapshotCovers,
  spotSpanKey,
  type OnDemandQuote,
  type PriceSnapshot,
  type SpotQuote,
} from "../core/price-snapshot.js";
import { UnavailableError } from "../core/errors.js";

/** EC2's Spot price history (adapters/ec2-spot-price-history.ts). */
export interface SpotPriceHistory {
  changes(req: { instanceTypes: string[]; zones: string[]; startMs: number; endMs: number }): Promise<SpotQuote[]>;
}

/** The AWS Price List's On-Demand prices (adapters/aws-price-list.ts). */
export interface OnDemandPriceList {
  onDemand(req: { region: string; instanceTypes: string[] }): Promise<OnDemandQuote[]>;
}

/** The minutes nodes ran, from a cluster's Prometheus (adapters/prometheus-node-spans.ts). */
export type NodeRunSpans = (cluster: MeteredCluster, nodes: ReadonlySet<string>) => Promise<Map<string, RunSpan[]>>;

/** What `prices.source: aws` needs; absent under `config`. */
export interface AwsPriceFeed {
  spot: SpotPriceHistory;
  onDemand: OnDemandPriceList;
}

/** A price source that cannot be reached (throttled, 5xx, network): retry later, as with Prometheus. */
export class PriceFeedUnavailableError extends UnavailableError {
  constructor(
    message: string,
    readonly cause?: unknown,
  ) {
    super(message);
    this.name = "PriceFeedUnavailableError";
  }
}

/**
 * What an AWS SDK failure means here: throttling, a 5xx or no network is "try later"
 * (PriceFeedUnavailableError); anything else (access denied, a bad request) is kept as it is.
 * The SDK marks the first with `$retryable` or `$fault: "server"` (smithy ServiceException).
 */
export function asPriceFeedError(e: unknown, what: string): unknown {
  const x = e as { name?: string; $fault?: string; $retryable?: unknown; message?: string };
  if (
    x?.$retryable ||
    x?.$fault === "server" ||
    /Throttl|TimeoutError|ECONNREFUSED|ENOTFOUND|ECONNRESET|NetworkingError/i.test(`${x?.name} ${x?.message}`)
  )
    return new PriceFeedUnavailableError(`${what} is unavailable: ${x?.name ?? "error"}: ${x?.message ?? String(e)}`, e);
  return e;
}

export interface MonthPricesDeps {
  feed?: AwsPriceFeed;
  runSpans?: NodeRunSpans;
  /** The published dataset's file of this month, if any (the manifest vouches for it: readPublishedFile). */
  published?: (name: string) => Promise<Buffer | undefined>;
}

export type PricesStatus = "config" | "reused" | "fetched";

/**
 * The month's price snapshot. `config`: built from the config table (deterministic, nothing to
 * reuse). `aws`: the published month's prices.json when it prices every node of this usage and
 * `refresh` is not asked (a re-run with the same inputs is then byte-identical, even after the
 * price list changed or the 90 days of Spot history have passed); otherwise fetched: run spans of
 * the Spot nodes from each cluster's Prometheus, their instance types' Spot history in their
 * zones over the month, the On-Demand price list of every instance type.
 */
export async function monthPrices(
  deps: MonthPricesDeps,
  cfg: BaseConfig,
  bm: BillingMonth,
  nodes: readonly NodeRecord[],
  clusters: readonly MeteredCluster[],
  opts: { refresh?: boolean } = {},
): Promise<{ snapshot: PriceSnapshot; status: PricesStatus }> {
  if (priceSourceOf(cfg) === "config") return { snapshot: configPriceSnapshot(cfg, bm, nodes), status: "config" };
  if (!opts.refresh && deps.published) {
    const text = await deps.published(PRICES_FILE);
    if (text) {
      const previous = parsePriceSnapshot(text.toString("utf8"));
      if (snapshotCovers(previous, cfg, bm, nodes)) return { snapshot: previous, status: "reused" };
    }
  }
  if (!deps.feed || !deps.runSpans)
    throw new Error("prices.source is aws but metering was wired without the AWS price feed (EC2 and Pricing clients) and node run spans");
  const region = cfg.priceFeed!.region!;
  // Types billed at the config's prices by `override: true` are not asked of AWS.
  const priced = pricedNodes(nodes).filter((n) => !cfg.prices[n.instanceType]?.override);
  const spot = priced.filter((n) => n.capacityType === "spot");
  const spans = new Map<string, RunSpan[]>();
  for (const c of clusters) {
    const names = new Set(spot.filter((n) => n.cluster === c.id).map((n) => n.node));
    if (!names.size) continue;
    const got = await deps.runSpans(c, names);
    for (const [node, s] of got) spans.set(spotSpanKey({ cluster: c.id, node }), s);
  }
  const spotTypes = [...new Set(spot.filter((n) => n.zone).map((n) => n.instanceType))].sort();
  const zones = [...new Set(spot.flatMap((n) => (n.zone ? [n.zone] : [])))].sort();
  const [onDemand, history] = await Promise.all([
    priced.length
      ? deps.feed.onDemand.onDemand({ region, instanceTypes: [...new Set(priced.map((n) => n.instanceType))].sort() })
      : Promise.resolve([]),
    spotTypes.length
      ? deps.feed.spot.changes({ instanceTypes: spotTypes, zones, startMs: bm.startMs, endMs: bm.endMs })
      : Promise.resolve([]),
  ]);
  return { snapshot: awsPriceSnapshot(cfg, bm, nodes, { region, onDemand, spot: history, spans }), status: "fetched" };
}

/**
 * A published dataset's file, only when the month's manifest lists it with the same sha256: a
 * file the manifest does not vouch for (a failed write, a hand edit) is not an input.
 */
export async function readPublishedFile(
  readManifest: () => Promise<string | undefined>,
  readFile: (name: string) => Promise<Buffer | undefined>,
  name: string,
): Promise<Buffer | undefined> {
  const manifest = await readManifest();
  if (!manifest) return undefined;
  const listed = (JSON.parse(manifest) as { files?: Record<string, { sha256?: string }> }).files?.[name];
  if (!listed?.sha256) return undefined;
  const body = await readFile(name);
  if (!body || createHash("sha256").update(body).digest("hex") !== listed.sha256) return undefined;
  return body;
}
