import { describe, expect, it } from "vitest";
import { computeChargeback } from "../../functions/core/chargeback.js";
import { ConfigError } from "../../functions/core/config.js";
import { parseConfig } from "../../functions/config/config-schema.js";
import { renderDataset } from "../../functions/core/dataset.js";
import {
  awsPriceSnapshot,
  configPriceSnapshot,
  MissingPricesError,
  parsePriceSnapshot,
  renderPriceSnapshot,
  snapshotCovers,
} from "../../functions/core/price-snapshot.js";
import type { MonthUsage } from "../../functions/core/usage.js";
import { node, referenceConfigText } from "./fixtures.js";
import { awsConfig, bm, inputs, MONTH, usage } from "./price-fixtures.js";
import { configWith } from "../support/config-edit.js";

describe("awsPriceSnapshot", () => {
  it("given Spot history in two zones with a change mid-run, then each Spot node gets its zone's time-weighted price and On-Demand the price list's", () => {
    const s = awsPriceSnapshot(awsConfig(), bm, usage.nodes, inputs());
    const byNode = Object.fromEntries(s.nodes.map((n) => [n.node, n]));
    // spot-a: 6 h at 1.20 + 4 h at 1.70 = 14.0 over 10 h → 1.4; spot-c: 1.5 throughout.
    expect(byNode["spot-a"]).toMatchObject({
      hourly: "1.4",
      origin: "aws-spot-price-history",
      zone: "ap-northeast-2a",
      spans: [{ start: "2026-10-05T00:00:00.000Z", end: "2026-10-05T10:00:00.000Z" }],
    });
    expect(byNode["spot-c"]).toMatchObject({ hourly: "1.5", origin: "aws-spot-price-history", zone: "ap-northeast-2c" });
    expect(byNode["od-1"]).toMatchObject({ hourly: "4.812", origin: "aws-price-list" });
    expect(s.instanceTypes).toEqual([
      {
        instanceType: "g4dn.12xlarge",
        gpus: 4,
        gpuModel: "T4",
        onDemandHourly: "4.812",
        onDemandOrigin: "aws-price-list",
        sku: "SKU123",
        effectiveDate: "2026-10-01T00:00:00Z",
      },
    ]);
    expect(s.spotHistory.map((h) => [h.zone, h.changes.map((c) => c.hourly)])).toEqual([
      ["ap-northeast-2a", ["1.2", "1.7"]],
      ["ap-northeast-2c", ["1.5"]],
    ]);
    expect(s).toMatchObject({
      source: "aws",
      region: "ap-northeast-2",
      period: { start: "2026-09-30T15:00:00.000Z", end: "2026-10-31T15:00:00.000Z" },
    });
  });

  it("given the snapshot, then the Spot row's unit price is the GPU-hours-weighted price of its nodes and its cost follows", () => {
    const cfg = awsConfig();
    const cb = computeChargeback(usage, cfg, MONTH, awsPriceSnapshot(cfg, bm, usage.nodes, inputs()));
    const spot = cb.rows.find((r) => r.capacityType === "spot")!;
    // 40 GPU-h at 1.4/4 = 0.35 and 20 GPU-h at 1.5/4 = 0.375: (14 + 7.5) ÷ 60 = 0.358333…
    expect(spot.allocatedGpuHours.toFixed()).toBe("60");
    expect(spot.unitPrice.toFixed()).toBe("0.3583333333");
    expect(spot.cost.toFixed(2)).toBe("21.50");
    const od = cb.rows.find((r) => r.capacityType === "on-demand")!;
    expect(od.unitPrice.toFixed()).toBe("1.203");
    // capacity: the Spot node group weighs node GPU-hours (40 and 20) the same way
    expect(cb.capacity.find((c) => c.capacityType === "spot")!.unitPrice.toFixed()).toBe("0.3583333333");
  });

  it("given a Spot node with no zone, a type missing from the price list and minutes the history does not cover, then every gap is listed in one error", () => {
    const nodes = [
      ...usage.nodes.map((n) => (n.node === "spot-c" ? { ...n, zone: undefined } : n)),
      node({ node: "p4d-od", day: "2026-10-05", instanceType: "p4d.24xlarge", capacityLabel: "on-demand" }),
    ];
    const i = inputs();
    i.spot = i.spot.filter((q) => q.at !== "2026-09-28T03:00:00.000Z"); // spot-a's first 6 h have no price in effect
    let err: unknown;
    try {
      awsPriceSnapshot(awsConfig(), bm, nodes, i);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(MissingPricesError);
    const problems = (err as MissingPricesError).problems.join("\n");
    expect(problems).toMatch(/no On-Demand price in the AWS Price List for ap-northeast-2 .*: p4d\.24xlarge/);
    expect(problems).toMatch(/Spot nodes with no zone label .*: spot-c/);
    expect(problems).toMatch(
      /spot-a \(g4dn\.12xlarge, ap-northeast-2a\): no Spot price in effect from 2026-10-05T00:00:00.000Z to 2026-10-05T06:00:00.000Z/,
    );
  });

  it("given two price-list SKUs with different prices for one type, then it is an error naming both, never a pick", () => {
    const i = inputs();
    i.onDemand = [...i.onDemand, { instanceType: "g4dn.12xlarge", hourly: "5.0", sku: "SKU999" }];
    expect(() => awsPriceSnapshot(awsConfig(), bm, usage.nodes, i)).toThrow(/more than one .* g4dn\.12xlarge \(SKUs SKU123, SKU999\)/);
  });
});

describe("override: true under prices.source aws", () => {
  it("given a type marked override, then its nodes are billed at the config's prices (origin config) and need no zone, history or price-list entry", () => {
    const cfg = parseConfig(
      referenceConfigText
        .replace("\nprices:\n", "\nprices:\n  source: aws\n  region: ap-northeast-2\n")
        .replace(
          'g4dn.12xlarge: { gpus: 4, gpuModel: T4,   onDemandHourly: "4.812",    spotHourly: "1.4436" }',
          'g4dn.12xlarge: { gpus: 4, gpuModel: T4, onDemandHourly: "4.812", spotHourly: "1.4436", override: true }',
        ),
      "override.yaml",
    );
    expect(cfg.prices["g4dn.12xlarge"]!.override).toBe(true);
    const nodes = usage.nodes.map((n) => ({ ...n, zone: undefined }));
    const s = awsPriceSnapshot(cfg, bm, nodes, { region: "ap-northeast-2", onDemand: [], spot: [], spans: new Map() });
    expect(s.nodes.map((n) => [n.node, n.hourly, n.origin])).toEqual([
      ["od-1", "4.812", "config"],
      ["spot-a", "1.4436", "config"],
      ["spot-c", "1.4436", "config"],
    ]);
    expect(s.instanceTypes[0]).toMatchObject({ onDemandOrigin: "config", spotHourly: "1.4436" });
  });
});

describe("prices.json", () => {
  it("given the same inputs twice, then the rendered snapshot is byte-identical and parses back to itself", () => {
    const a = renderPriceSnapshot(awsPriceSnapshot(awsConfig(), bm, usage.nodes, inputs()));
    const b = renderPriceSnapshot(awsPriceSnapshot(awsConfig(), bm, [...usage.nodes].reverse(), inputs()));
    expect(a.equals(b)).toBe(true);
    expect(renderPriceSnapshot(parsePriceSnapshot(a.toString("utf8"))).equals(a)).toBe(true);
  });

  it("given a snapshot, then it covers the same usage and config, and not a new node or another source", () => {
    const cfg = awsConfig();
    const s = awsPriceSnapshot(cfg, bm, usage.nodes, inputs());
    expect(snapshotCovers(s, cfg, bm, usage.nodes)).toBe(true);
    expect(
      snapshotCovers(s, cfg, bm, [
        ...usage.nodes,
        node({ node: "new", instanceType: "g4dn.12xlarge", capacityLabel: "spot", zone: "ap-northeast-2a" }),
      ]),
    ).toBe(false);
    expect(snapshotCovers(s, parseConfig(referenceConfigText, "ref.yaml"), bm, usage.nodes)).toBe(false);
  });

  it("given prices.source config, then every node is at the config's price and the chargeback is the one without a snapshot", () => {
    const cfg = parseConfig(referenceConfigText, "ref.yaml");
    const s = configPriceSnapshot(cfg, bm, usage.nodes);
    expect(s.source).toBe("config");
    expect(s.note).toBe(cfg.priceSource);
    expect(s.nodes.map((n) => [n.node, n.hourly, n.origin])).toEqual([
      ["od-1", "4.812", "config"],
      ["spot-a", "1.4436", "config"],
      ["spot-c", "1.4436", "config"],
    ]);
    const inputs = { month: MONTH, timeZone: "Asia/Seoul", startIso: "", endIso: "", prometheusUrl: "p", configHash: "h" };
    const withSnapshot = renderDataset(computeChargeback(usage, cfg, MONTH, s), inputs);
    const without = renderDataset(computeChargeback(usage, cfg, MONTH), inputs);
    expect(withSnapshot.files.map((f) => f.body.toString())).toEqual(without.files.map((f) => f.body.toString()));
  });

  it("given a snapshot, then the dataset has prices.json listed in the manifest with its source", () => {
    const cfg = awsConfig();
    const s = awsPriceSnapshot(cfg, bm, usage.nodes, inputs());
    const ds = renderDataset(
      computeChargeback(usage, cfg, MONTH, s),
      { month: MONTH, timeZone: "Asia/Seoul", startIso: "", endIso: "", prometheusUrl: "p", configHash: "h" },
      s,
    );
    const manifest = JSON.parse(ds.manifest.body.toString()) as { files: Record<string, { rows: number }>; inputs: { prices: unknown } };
    expect(manifest.files["prices.json"]!.rows).toBe(3);
    expect(manifest.inputs.prices).toEqual({ source: "aws", region: "ap-northeast-2" });
    expect(ds.files.find((f) => f.name === "prices.json")!.body.equals(renderPriceSnapshot(s))).toBe(true);
  });

  it("given a node the snapshot does not price, then the chargeback refuses to bill it", () => {
    const cfg = awsConfig();
    const s = awsPriceSnapshot(cfg, bm, usage.nodes, inputs());
    const more: MonthUsage = {
      ...usage,
      nodes: [...usage.nodes, node({ node: "od-2", day: "2026-10-05", instanceType: "g4dn.12xlarge" })],
    };
    expect(() => computeChargeback(more, cfg, MONTH, s)).toThrow(/GPU nodes with no price in the month's price snapshot \(aws\): od-2/);
  });
});

describe("prices.source in the config", () => {
  it("given prices.source aws and a region, then the table keeps its instance types and the feed is read", () => {
    const cfg = awsConfig();
    expect(cfg.priceFeed).toEqual({ source: "aws", region: "ap-northeast-2" });
    expect(Object.keys(cfg.prices).sort()).toEqual(["g4dn.12xlarge", "g4dn.xlarge", "g5.12xlarge", "p4d.24xlarge"]);
  });
  it("given prices.source aws without a region, or a non-USD currency, then the config is refused naming the field", () => {
    expect(() => parseConfig(configWith(referenceConfigText, [["prices", "source"], "aws"]), "x.yaml")).toThrow(
      /prices\.region: prices\.source aws needs the region/,
    );
    const krw = configWith(
      referenceConfigText,
      [["currency"], "KRW"],
      [["prices", "source"], "aws"],
      [["prices", "region"], "ap-northeast-2"],
    );
    expect(() => parseConfig(krw, "x.yaml")).toThrow(ConfigError);
  });
  it("given no prices.source, then the config (and its hash) is what it was: no priceFeed", () => {
    expect(parseConfig(referenceConfigText, "ref.yaml").priceFeed).toBeUndefined();
  });
});
