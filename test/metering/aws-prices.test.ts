// Spot and On-Demand prices from AWS over a generated month on a real Prometheus 2.42: the
// node run spans come from the real query (queries/node-run-spans.promql); EC2 and the Price
// List have no local server here, so they answer through aws-sdk-client-mock in the APIs' shapes.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mkdtemp, readFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { mockClient } from "aws-sdk-client-mock";
import { DescribeSpotPriceHistoryCommand, EC2Client } from "@aws-sdk/client-ec2";
import { GetProductsCommand, PricingClient } from "@aws-sdk/client-pricing";
import { createPrometheusClient } from "../../functions/adapters/prometheus-client.js";
import { loadQueries } from "../../functions/adapters/query-files.js";
import { localSink } from "../../functions/adapters/dataset-sink.js";

import { priceFeedFromConfig } from "../../functions/wiring/price-feed-from-config.js";
import { parseConfig } from "../../functions/config/config-schema.js";
import { billingMonth } from "../../functions/core/month.js";
import { parsePriceSnapshot, type PriceSnapshot } from "../../functions/core/price-snapshot.js";
import { D } from "../../functions/core/decimal.js";
import { timeWeightedHourly } from "../../functions/core/spot-price.js";
import { prepareMonthData, startPrometheus } from "../../functions/demo/local-prometheus.js";
import type { GeneratedMonth } from "../../functions/demo/month-generator.js";
import { DEMO_3_DAYS_DATA } from "../global-setup.js";
import { referenceConfigText } from "../core/fixtures.js";
import { meterMonthFromPrometheus } from "../../functions/wiring/prometheus-metering.js";
import { configWith } from "../support/config-edit.js";

const MONTH = "2026-10";
const NOW = new Date("2026-11-23T00:00:00Z");
const MIN = 60_000;
const cfg = parseConfig(
  configWith(referenceConfigText, [["prices", "source"], "aws"], [["prices", "region"], "ap-northeast-2"]),
  "aws.yaml",
);
const bm = billingMonth(MONTH, cfg.timeZone);

/** The minutes a node was seen each billing day (kube-state-metrics down: not seen), as [first, last + 1 min) per day, adjacent days joined. */
function expectedSpans(g: GeneratedMonth, name: string): { start: string; end: string }[] {
  const n = g.nodes.find((x) => x.name === name)!;
  // The backfilled data stops at dataEndMs with no staleness marker, so Prometheus' 5-minute lookback
  // carries a node's last sample on for 5 minutes there (a node that ends earlier gets a marker).
  const endMs = n.endMs === g.dataEndMs ? n.endMs + 5 * MIN : n.endMs;
  const spans: { startMs: number; endMs: number }[] = [];
  for (const d of bm.days) {
    let from = Math.max(n.startMs, d.startMs);
    let to = Math.min(endMs, d.endMs);
    if (to <= from) continue;
    const o = g.ksmOutage;
    if (o.startMs <= from && o.endMs > from) from = Math.min(o.endMs, to);
    if (o.startMs < to && o.endMs >= to) to = Math.max(o.startMs, from);
    if (to <= from) continue;
    const prev = spans[spans.length - 1];
    if (prev && prev.endMs === from) prev.endMs = to;
    else spans.push({ startMs: from, endMs: to });
  }
  return spans.map((s) => ({ start: new Date(s.startMs).toISOString(), end: new Date(s.endMs).toISOString() }));
}

const ec2 = mockClient(EC2Client);
const pricing = mockClient(PricingClient);
const ON_DEMAND: Record<string, string> = {
  "g4dn.12xlarge": "4.8120000000",
  "g4dn.xlarge": "0.6470000000",
  "g5.12xlarge": "6.9744200000",
  "p4d.24xlarge": "30.4102800000",
};
const product = (instanceType: string) =>
  JSON.stringify({
    product: {
      sku: `SKU-${instanceType}`,
      attributes: {
        instanceType,
        regionCode: "ap-northeast-2",
        operatingSystem: "Linux",
        tenancy: "Shared",
        capacitystatus: "Used",
        preInstalledSw: "NA",
      },
    },
    serviceCode: "AmazonEC2",
    terms: {
      OnDemand: {
        [`SKU-${instanceType}.JRTCKXETXF`]: {
          effectiveDate: "2026-10-01T00:00:00Z",
          offerTermCode: "JRTCKXETXF",
          priceDimensions: { d: { unit: "Hrs", pricePerUnit: { USD: ON_DEMAND[instanceType] } } },
        },
      },
    },
  });
/** Per zone: a price in effect before the month, and a change on 2026-10-02 at 06:00 UTC (within the generated days). */
let spotAfterChange = "1.700000";
function answerSpot(): void {
  ec2.reset();
  const items = (type: string) =>
    ["ap-northeast-2a", "ap-northeast-2c"].flatMap((zone, i) => [
      {
        AvailabilityZone: zone,
        InstanceType: type,
        ProductDescription: "Linux/UNIX",
        SpotPrice: i ? spotAfterChange : "2.100000",
        Timestamp: new Date("2026-10-02T06:00:00Z"),
      },
      {
        AvailabilityZone: zone,
        InstanceType: type,
        ProductDescription: "Linux/UNIX",
        SpotPrice: i ? "1.200000" : "1.900000",
        Timestamp: new Date("2026-09-29T00:00:00Z"),
      },
    ]);
  // Two pages, newest first on each, as EC2 pages its history.
  ec2
    .on(DescribeSpotPriceHistoryCommand)
    .callsFake((input: { NextToken?: string; InstanceTypes: string[] }) =>
      input.NextToken
        ? { SpotPriceHistory: input.InstanceTypes.slice(1).flatMap(items), NextToken: "" }
        : { SpotPriceHistory: items(input.InstanceTypes[0]!), NextToken: "p2" },
    );
  pricing.reset();
  pricing.on(GetProductsCommand).callsFake((input: { Filters: { Field: string; Value: string }[] }) => ({
    FormatVersion: "aws_v1",
    PriceList: [product(input.Filters.find((f) => f.Field === "instanceType")!.Value)],
  }));
}

describe("prices.source aws over a generated month on a real Prometheus 2.42", () => {
  let prom: { url: string; stop(): Promise<void> };
  let gen: GeneratedMonth;
  let out: string;
  const run = async (refreshPrices = false) => {
    const client = createPrometheusClient({ url: prom.url });
    const feed = priceFeedFromConfig(cfg, {
      ec2: new EC2Client({ region: "ap-northeast-2" }),
      pricing: new PricingClient({ region: "us-east-1" }),
    });
    return meterMonthFromPrometheus(
      { prometheus: client, sink: localSink(out), queries: loadQueries(), priceFeed: feed },
      cfg,
      MONTH,
      NOW,
      { refreshPrices },
    );
  };
  const pricesJson = async () => readFile(path.join(out, `month=${MONTH}`, "prices.json"));
  const manifest = async () => readFile(path.join(out, `month=${MONTH}`, "manifest.json"), "utf8");
  let first: PriceSnapshot;
  let firstManifest: string;

  beforeAll(async () => {
    const prepared = await prepareMonthData({ ...DEMO_3_DAYS_DATA });
    gen = prepared.gen;
    prom = await startPrometheus({ dataDir: prepared.dataDir });
    out = await mkdtemp(path.join(tmpdir(), "aws-prices-"));
    answerSpot();
    const r = await run();
    expect(r.prices).toBe("fetched");
    first = parsePriceSnapshot((await pricesJson()).toString("utf8"));
    firstManifest = await manifest();
  }, 300_000);
  afterAll(async () => prom?.stop());

  it("given the generated Spot nodes, when metered, then each one's run spans are the minutes kube-state-metrics saw it, day by day", () => {
    const spot = first.nodes.filter((n) => n.capacityType === "spot");
    expect(spot.map((n) => n.node).sort()).toEqual(
      gen.nodes
        .filter((n) => n.capacity === "spot")
        .map((n) => n.name)
        .sort(),
    );
    for (const n of spot) expect(n.spans, n.node).toEqual(expectedSpans(gen, n.node));
    // the Spot node that started late and the one interrupted mid-month have partial spans
    expect(spot.find((n) => n.node === "g4dn-spot-new")!.spans![0]!.start).not.toBe(new Date(bm.startMs).toISOString());
    expect(spot.find((n) => n.node === "g5-spot-doomed")!.spans!.at(-1)!.end).toBe(new Date(gen.facts.spotInterruption.atMs).toISOString());
  });

  it("given a price change mid-month, then each Spot node's price is its zone's history weighted over its spans, On-Demand the price list's", () => {
    for (const n of first.nodes) {
      const g = gen.nodes.find((x) => x.name === n.node)!;
      expect(n.zone, n.node).toBe(g.zone);
      if (n.capacityType === "on-demand") {
        expect(n, n.node).toMatchObject({ origin: "aws-price-list", hourly: new D(ON_DEMAND[n.instanceType]!).toFixed() });
        continue;
      }
      const [before, after] = g.zone === "ap-northeast-2a" ? ["1.9", "2.1"] : ["1.2", "1.7"];
      const want = timeWeightedHourly(
        [
          { atMs: Date.parse("2026-09-29T00:00:00Z"), hourly: new D(before) },
          { atMs: Date.parse("2026-10-02T06:00:00Z"), hourly: new D(after) },
        ],
        n.spans!.map((s) => ({ startMs: Date.parse(s.start), endMs: Date.parse(s.end) })),
      );
      expect(want.kind).toBe("priced");
      expect(n.hourly, n.node).toBe(want.kind === "priced" ? want.hourly.toFixed() : "");
      // a time-weighted price lies between the two prices it weighs
      const h = new D(n.hourly);
      expect(h.gte(D.min(before, after)) && h.lte(D.max(before, after)), n.node).toBe(true);
    }
    expect(JSON.parse(firstManifest).inputs.prices).toEqual({ source: "aws", region: "ap-northeast-2" });
    expect(JSON.parse(firstManifest).files["prices.json"]).toBeDefined();
  });

  it("given the published month, when metered again, then the snapshot is reused: AWS is not asked and the dataset is byte-identical", async () => {
    answerSpot();
    const r = await run();
    expect(r.prices).toBe("reused");
    expect(ec2.commandCalls(DescribeSpotPriceHistoryCommand)).toHaveLength(0);
    expect(pricing.commandCalls(GetProductsCommand)).toHaveLength(0);
    expect(await manifest()).toBe(firstManifest);
  });

  it("given Spot history that changed, when metered with refreshPrices, then prices are fetched again and the Spot costs change; without it they stay", async () => {
    spotAfterChange = "0.900000";
    answerSpot();
    const refreshed = await run(true);
    expect(refreshed.prices).toBe("fetched");
    const now = parsePriceSnapshot((await pricesJson()).toString("utf8"));
    const c = (s: PriceSnapshot, node: string) => s.nodes.find((n) => n.node === node)!.hourly;
    const zoneC = first.nodes.find((n) => n.capacityType === "spot" && n.zone === "ap-northeast-2c")!.node;
    expect(new D(c(now, zoneC)).lt(c(first, zoneC))).toBe(true);
    expect(await manifest()).not.toBe(firstManifest);
    const again = await run();
    expect(again.prices).toBe("reused");
    expect(parsePriceSnapshot((await pricesJson()).toString("utf8"))).toEqual(now);
  });
});
