import { z } from "zod";
import { DEFAULT_CLUSTER_ID, priceSourceOf, stableStringify, type BaseConfig } from "./config.js";
import { normaliseCapacityType, type CapacityType } from "./attribution.js";
import { D, type Dec } from "./decimal.js";
import { timeWeightedHourly, type RunSpan } from "./spot-price.js";
import type { BillingMonth } from "./month.js";
import type { NodeRecord } from "./usage.js";
import { BadInputError } from "./errors.js";

export const PRICES_FILE = "prices.json";

/** Where one price came from: the config's table, the AWS Price List (On-Demand) or the EC2 Spot price history. */
export const PRICE_ORIGINS = ["config", "aws-price-list", "aws-spot-price-history"] as const;
export type PriceOrigin = (typeof PRICE_ORIGINS)[number];

/** The product description the Spot history is asked for: Linux on VPC (EC2 API reference, DescribeSpotPriceHistory `ProductDescriptions`). */
export const SPOT_PRODUCT_DESCRIPTION = "Linux/UNIX";

const decimal = z.string().regex(/^\d+(\.\d+)?$/);
const iso = z.string().datetime();

const SpanSchema = z.object({ start: iso, end: iso }).strict();

export const PriceSnapshotSchema = z
  .object({
    kind: z.literal("gpu-billing.prices"),
    schemaVersion: z.literal(1),
    month: z.string(),
    period: z.object({ start: iso, end: iso }).strict(),
    /** `prices.source` of the config that produced it. */
    source: z.enum(["config", "aws"]),
    currency: z.string(),
    region: z.string().optional(),
    /** The config's `priceSource` note (source `config`): how its table was made. */
    note: z.string().optional(),
    /** On-Demand hourly price per instance type (and the config's Spot price under source `config`). */
    instanceTypes: z.array(
      z
        .object({
          instanceType: z.string(),
          gpus: z.number().int().positive(),
          gpuModel: z.string(),
          onDemandHourly: decimal,
          onDemandOrigin: z.enum(PRICE_ORIGINS),
          /** The price list's SKU, offer term and its effective date (source `aws`). */
          sku: z.string().optional(),
          effectiveDate: z.string().optional(),
          spotHourly: decimal.optional(),
        })
        .strict(),
    ),
    /** Every Spot price change used, per instance type and zone (source `aws`), oldest first. */
    spotHistory: z.array(
      z
        .object({
          instanceType: z.string(),
          zone: z.string(),
          productDescription: z.string(),
          changes: z.array(z.object({ at: iso, hourly: decimal }).strict()),
        })
        .strict(),
    ),
    /** The hourly price of every GPU node of the month, and why. */
    nodes: z.array(
      z
        .object({
          cluster: z.string(),
          node: z.string(),
          instanceType: z.string(),
          capacityType: z.enum(["spot", "on-demand"]),
          zone: z.string().optional(),
          hourly: decimal,
          origin: z.enum(PRICE_ORIGINS),
          /** The minutes the Spot price was weighted over (source `aws`, Spot nodes). */
          spans: z.array(SpanSchema).optional(),
        })
        .strict(),
    ),
  })
  .strict();

export type PriceSnapshot = z.infer<typeof PriceSnapshotSchema>;
export type NodePrice = PriceSnapshot["nodes"][number];

/** An On-Demand price from the AWS Price List (pricing:GetProducts). */
export interface OnDemandQuote {
  instanceType: string;
  hourly: string;
  sku: string;
  effectiveDate?: string;
}

/** One Spot price change from EC2 DescribeSpotPriceHistory. */
export interface SpotQuote {
  instanceType: string;
  zone: string;
  productDescription: string;
  /** ISO 8601 instant the price took effect. */
  at: string;
  hourly: string;
}

/**
 * Prices that cannot be had: with `prices.source: aws` a missing price is never replaced by
 * the config's, so every gap is listed and the month is not billed.
 */
export class MissingPricesError extends BadInputError {
  constructor(readonly problems: string[]) {
    super(`cannot price this month:\n  ${problems.join("\n  ")}`);
    this.name = "MissingPricesError";
  }
}

/** A GPU node as pricing sees it: its first record's labels (as the chargeback reads them) and its zone. */
export interface PricedNode {
  cluster: string;
  node: string;
  instanceType: string;
  capacityType: CapacityType;
  zone?: string;
}

const key = (cluster: string, node: string) => `${cluster}\u0000${node}`;
const label = (n: { cluster: string; node: string }) => (n.cluster === DEFAULT_CLUSTER_ID ? n.node : `${n.cluster}/${n.node}`);

/**
 * The month's GPU nodes, once each, sorted by cluster and node. Labels come from a node's first
 * record (as the chargeback's), the zone from the first record that has one. Nodes whose
 * instance or capacity type the chargeback cannot read are left out: it reports them.
 */
export function pricedNodes(records: readonly NodeRecord[]): PricedNode[] {
  const out = new Map<string, PricedNode>();
  for (const r of records) {
    const cluster = r.cluster ?? DEFAULT_CLUSTER_ID;
    const k = key(cluster, r.node);
    const seen = out.get(k);
    if (seen) {
      if (!seen.zone && r.zone) seen.zone = r.zone;
      continue;
    }
    const cap = normaliseCapacityType(r.capacityLabel);
    if (!r.instanceType || !cap) continue;
    out.set(k, { cluster, node: r.node, instanceType: r.instanceType, capacityType: cap, ...(r.zone ? { zone: r.zone } : {}) });
  }
  return [...out.values()].sort((a, b) => (key(a.cluster, a.node) < key(b.cluster, b.node) ? -1 : 1));
}

const byString =
  <T>(f: (x: T) => string) =>
  (a: T, b: T) =>
    f(a) < f(b) ? -1 : f(a) > f(b) ? 1 : 0;

function instanceTypeLines(cfg: BaseConfig, types: Iterable<string>): PriceSnapshot["instanceTypes"] {
  return [...new Set(types)].sort().flatMap((t) => {
    const p = cfg.prices[t];
    return p
      ? [
          {
            instanceType: t,
            gpus: p.gpus,
            gpuModel: p.gpuModel,
            onDemandHourly: new D(p.onDemandHourly).toFixed(),
            onDemandOrigin: "config" as const,
            spotHourly: new D(p.spotHourly).toFixed(),
          },
        ]
      : [];
  });
}

/** What every snapshot starts with: its kind, version and the month it prices (keys are sorted when rendered). */
const snapshotHeader = (bm: BillingMonth) => ({
  kind: "gpu-billing.prices" as const,
  schemaVersion: 1 as const,
  month: bm.month,
  period: { start: new Date(bm.startMs).toISOString(), end: new Date(bm.endMs).toISOString() },
});

/**
 * The snapshot of `prices.source: config`: every node at its instance type's configured price.
 * Deterministic in the config and the usage, so a re-run gives the same bytes. Instance types
 * missing from the config are left for the chargeback to list (as it always has).
 */
export function configPriceSnapshot(cfg: BaseConfig, bm: BillingMonth, records: readonly NodeRecord[]): PriceSnapshot {
  const nodes = pricedNodes(records);
  return {
    ...snapshotHeader(bm),
    source: "config",
    currency: cfg.currency,
    ...(cfg.priceSource ? { note: cfg.priceSource } : {}),
    instanceTypes: instanceTypeLines(
      cfg,
      nodes.map((n) => n.instanceType),
    ),
    spotHistory: [],
    nodes: nodes.flatMap((n) => {
      const p = cfg.prices[n.instanceType];
      if (!p) return [];
      const hourly = new D(n.capacityType === "spot" ? p.spotHourly : p.onDemandHourly).toFixed();
      return [
        {
          cluster: n.cluster,
          node: n.node,
          instanceType: n.instanceType,
          capacityType: n.capacityType,
          ...(n.zone ? { zone: n.zone } : {}),
          hourly,
          origin: "config" as const,
        },
      ];
    }),
  };
}

export interface AwsPriceInputs {
  region: string;
  onDemand: readonly OnDemandQuote[];
  spot: readonly SpotQuote[];
  /** The spans each Spot node ran in the month, by `cluster\0node` (spotSpanKey). */
  spans: ReadonlyMap<string, readonly RunSpan[]>;
}

export const spotSpanKey = (n: { cluster: string; node: string }) => key(n.cluster, n.node);

/**
 * The snapshot of `prices.source: aws`. On-Demand nodes: their instance type's price-list price in
 * the region. Spot nodes: the time-weighted Spot price of their instance type in their zone over
 * the minutes they ran (timeWeightedHourly). Every node without a price — no zone, no price-list
 * entry, no Spot history covering its minutes — is listed in one MissingPricesError.
 */
export function awsPriceSnapshot(cfg: BaseConfig, bm: BillingMonth, records: readonly NodeRecord[], inputs: AwsPriceInputs): PriceSnapshot {
  const problems: string[] = [];
  const nodes = pricedNodes(records);
  const types = [...new Set(nodes.map((n) => n.instanceType))].sort();
  const overridden = new Set(types.filter((t) => cfg.prices[t]?.override));
  const onDemand = onDemandPrices(inputs, problems);
  const history = spotHistories(inputs.spot, problems);

  const missingOnDemand = types.filter((t) => !onDemand.has(t) && !overridden.has(t));
  if (missingOnDemand.length)
    problems.push(
      `instance types with no On-Demand price in the AWS Price List for ${inputs.region} (Linux, shared tenancy): ${missingOnDemand.join(", ")}`,
    );
  const unconfigured = types.filter((t) => !cfg.prices[t]);
  if (unconfigured.length) problems.push(`instance types with no entry (gpus, gpuModel) in the config: ${unconfigured.join(", ")}`);

  const { priced, used } = priceAwsNodes(nodes, { cfg, overridden, onDemand, history, spans: inputs.spans }, problems);
  if (problems.length) throw new MissingPricesError(problems);

  return {
    ...snapshotHeader(bm),
    source: "aws",
    currency: cfg.currency,
    region: inputs.region,
    instanceTypes: types.map((t) => {
      if (overridden.has(t)) return instanceTypeLines(cfg, [t])[0]!;
      const p = cfg.prices[t]!;
      const q = onDemand.get(t)!;
      return {
        instanceType: t,
        gpus: p.gpus,
        gpuModel: p.gpuModel,
        onDemandHourly: new D(q.hourly).toFixed(),
        onDemandOrigin: "aws-price-list" as const,
        sku: q.sku,
        ...(q.effectiveDate ? { effectiveDate: q.effectiveDate } : {}),
      };
    }),
    spotHistory: [...history.entries()]
      .filter(([k]) => used.has(k))
      .map(([, h]) => ({
        instanceType: h.instanceType,
        zone: h.zone,
        productDescription: h.productDescription,
        changes: [...h.changes].map(([at, hourly]) => ({ at, hourly })).sort(byString((c) => c.at)),
      }))
      .sort(byString((h) => `${h.instanceType}\u0000${h.zone}`)),
    nodes: priced,
  };
}

/** Each instance type's On-Demand quote; two different prices for one type are a problem (which SKU applies is unknown). */
function onDemandPrices(inputs: AwsPriceInputs, problems: string[]): Map<string, OnDemandQuote> {
  const onDemand = new Map<string, OnDemandQuote>();
  const ambiguous = new Set<string>();
  for (const q of inputs.onDemand) {
    const prev = onDemand.get(q.instanceType);
    if (prev && !new D(prev.hourly).eq(q.hourly)) ambiguous.add(`${q.instanceType} (SKUs ${[prev.sku, q.sku].sort().join(", ")})`);
    else if (!prev) onDemand.set(q.instanceType, q);
  }
  if (ambiguous.size)
    problems.push(
      `the price list has more than one Linux shared-tenancy On-Demand price in ${inputs.region} for: ${[...ambiguous].sort().join("; ")}`,
    );
  return onDemand;
}

/** One instance type's Spot price changes in one zone, by ISO instant. */
interface SpotHistory {
  instanceType: string;
  zone: string;
  productDescription: string;
  changes: Map<string, string>;
}

const spotHistoryKey = (instanceType: string, zone: string) => `${instanceType}\u0000${zone}`;

/** Changes per (type, zone), oldest first; the same change reported twice (pages overlap) counts once. */
function spotHistories(spot: readonly SpotQuote[], problems: string[]): Map<string, SpotHistory> {
  const history = new Map<string, SpotHistory>();
  for (const q of spot) {
    const k = spotHistoryKey(q.instanceType, q.zone);
    const h =
      history.get(k) ??
      history.set(k, { instanceType: q.instanceType, zone: q.zone, productDescription: q.productDescription, changes: new Map() }).get(k)!;
    const at = new Date(q.at).toISOString();
    const prev = h.changes.get(at);
    if (prev !== undefined && !new D(prev).eq(q.hourly))
      problems.push(`Spot price history of ${q.instanceType} in ${q.zone} has two prices at ${at} (${prev}, ${q.hourly})`);
    h.changes.set(at, new D(q.hourly).toFixed());
  }
  return history;
}

/**
 * Each node's price: an overridden type's from the config, On-Demand from the price list, Spot
 * time-weighted over its run spans. Nodes a price cannot be had for are problems; `used` are the
 * Spot histories (spotHistoryKey) some node was priced from.
 */
function priceAwsNodes(
  nodes: PricedNode[],
  prices: {
    cfg: BaseConfig;
    overridden: ReadonlySet<string>;
    onDemand: ReadonlyMap<string, OnDemandQuote>;
    history: ReadonlyMap<string, SpotHistory>;
    spans: AwsPriceInputs["spans"];
  },
  problems: string[],
): { priced: PriceSnapshot["nodes"]; used: Set<string> } {
  const { cfg, overridden, onDemand, history } = prices;
  const noZone: string[] = [];
  const uncovered: string[] = [];
  const used = new Set<string>();
  const priced: PriceSnapshot["nodes"] = [];
  for (const n of nodes) {
    const base = {
      cluster: n.cluster,
      node: n.node,
      instanceType: n.instanceType,
      capacityType: n.capacityType,
      ...(n.zone ? { zone: n.zone } : {}),
    };
    if (overridden.has(n.instanceType)) {
      const p = cfg.prices[n.instanceType]!;
      priced.push({ ...base, hourly: new D(n.capacityType === "spot" ? p.spotHourly : p.onDemandHourly).toFixed(), origin: "config" });
      continue;
    }
    if (n.capacityType === "on-demand") {
      const q = onDemand.get(n.instanceType);
      if (q) priced.push({ ...base, hourly: new D(q.hourly).toFixed(), origin: "aws-price-list" });
      continue;
    }
    if (!n.zone) {
      noZone.push(label(n));
      continue;
    }
    const spans = prices.spans.get(spotSpanKey(n)) ?? [];
    const hk = spotHistoryKey(n.instanceType, n.zone);
    const h = history.get(hk);
    const w = timeWeightedHourly(
      [...(h?.changes ?? [])].map(([at, hourly]) => ({ atMs: Date.parse(at), hourly: new D(hourly) })),
      spans,
    );
    if (!spans.length) uncovered.push(`${label(n)} (${n.instanceType}, ${n.zone}): no run spans`);
    else if (w.kind === "uncovered")
      uncovered.push(
        `${label(n)} (${n.instanceType}, ${n.zone}): no Spot price in effect from ${new Date(w.fromMs).toISOString()} to ${new Date(w.toMs).toISOString()}`,
      );
    else {
      used.add(hk);
      priced.push({
        ...base,
        hourly: w.hourly.toFixed(),
        origin: "aws-spot-price-history",
        spans: spans.map((s) => ({ start: new Date(s.startMs).toISOString(), end: new Date(s.endMs).toISOString() })),
      });
    }
  }
  if (noZone.length)
    problems.push(
      `Spot nodes with no zone label (label_topology_kubernetes_io_zone; allowlist topology.kubernetes.io/zone in kube-state-metrics): ${noZone.join(", ")}`,
    );
  if (uncovered.length)
    problems.push(
      `Spot nodes whose minutes the ${SPOT_PRODUCT_DESCRIPTION} Spot price history does not cover (EC2 keeps 90 days of history): ${uncovered.join("; ")}`,
    );
  return { priced, used };
}

/** prices.json: keys in a fixed order, so the same snapshot is the same bytes. */
export function renderPriceSnapshot(s: PriceSnapshot): Buffer {
  return Buffer.from(JSON.stringify(JSON.parse(stableStringify(s)), null, 2) + "\n", "utf8");
}

export function parsePriceSnapshot(text: string): PriceSnapshot {
  return PriceSnapshotSchema.parse(JSON.parse(text));
}

/** Each node's hourly price from a snapshot, by `cluster\0node`. */
export function nodeHourlyPrices(s: PriceSnapshot): Map<string, Dec> {
  return new Map(s.nodes.map((n) => [key(n.cluster, n.node), new D(n.hourly)]));
}

/**
 * Can an earlier run's snapshot price this month again? Only a snapshot of the same source,
 * region and period that prices every GPU node now in the usage; anything else is a different
 * input, priced afresh.
 */
export function snapshotCovers(s: PriceSnapshot, cfg: BaseConfig, bm: BillingMonth, records: readonly NodeRecord[]): boolean {
  if (s.source !== priceSourceOf(cfg) || s.region !== cfg.priceFeed?.region) return false;
  if (s.period.start !== new Date(bm.startMs).toISOString() || s.period.end !== new Date(bm.endMs).toISOString()) return false;
  // The table's GPUs and model per type are config, not price: a changed table is priced afresh.
  if (s.instanceTypes.some((t) => cfg.prices[t.instanceType]?.gpus !== t.gpus || cfg.prices[t.instanceType]?.gpuModel !== t.gpuModel))
    return false;
  const have = new Set(s.nodes.map((n) => `${key(n.cluster, n.node)}\u0000${n.instanceType}\u0000${n.capacityType}`));
  return pricedNodes(records).every((n) => have.has(`${key(n.cluster, n.node)}\u0000${n.instanceType}\u0000${n.capacityType}`));
}
