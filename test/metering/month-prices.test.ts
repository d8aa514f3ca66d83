import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import { parseConfig } from "../../functions/config/config-schema.js";
import { renderPriceSnapshot, type SpotQuote } from "../../functions/core/price-snapshot.js";
import type { MeteredCluster } from "../../functions/core/config.js";
import { monthPrices, readPublishedFile, type AwsPriceFeed, type NodeRunSpans } from "../../functions/metering/month-prices.js";
import { node, referenceConfigText } from "../core/fixtures.js";
import { awsConfig, bm } from "../core/price-fixtures.js";

// The ports are faked here (they are the domain's own interfaces); their AWS and Prometheus
// adapters are tested against aws-sdk-client-mock and a real Prometheus elsewhere.
const clusters: MeteredCluster[] = [
  { id: "seoul-a", name: "seoul-a" },
  { id: "seoul-b", name: "seoul-b" },
];
// The same node name in two clusters, in two zones: prices are per cluster and node.
const nodes = [
  node({
    cluster: "seoul-a",
    node: "spot-1",
    day: "2026-10-05",
    instanceType: "g5.12xlarge",
    capacityLabel: "spot",
    zone: "ap-northeast-2a",
  }),
  node({
    cluster: "seoul-b",
    node: "spot-1",
    day: "2026-10-05",
    instanceType: "g5.12xlarge",
    capacityLabel: "spot",
    zone: "ap-northeast-2c",
  }),
  node({ cluster: "seoul-b", node: "od-1", day: "2026-10-05", instanceType: "g5.12xlarge", capacityLabel: "on-demand" }),
];
const span = { startMs: Date.parse("2026-10-05T00:00:00Z"), endMs: Date.parse("2026-10-05T12:00:00Z") };

function fakes() {
  const asked: { spans: string[]; spot: unknown[]; onDemand: unknown[] } = { spans: [], spot: [], onDemand: [] };
  const runSpans: NodeRunSpans = async (c, names) => {
    asked.spans.push(`${c.id}:${[...names].join(",")}`);
    return new Map([...names].map((n) => [n, [span]]));
  };
  const quote = (zone: string, hourly: string): SpotQuote => ({
    instanceType: "g5.12xlarge",
    zone,
    productDescription: "Linux/UNIX",
    at: "2026-10-01T00:00:00.000Z",
    hourly,
  });
  const feed: AwsPriceFeed = {
    spot: { changes: async (req) => (asked.spot.push(req), [quote("ap-northeast-2a", "2.0"), quote("ap-northeast-2c", "2.4")]) },
    onDemand: { onDemand: async (req) => (asked.onDemand.push(req), [{ instanceType: "g5.12xlarge", hourly: "6.97442", sku: "G5" }]) },
  };
  return { asked, runSpans, feed };
}

describe("monthPrices", () => {
  it("given two clusters with a Spot node of the same name, when fetched, then each cluster's Prometheus is asked for its own Spot nodes and each node gets its own zone's price", async () => {
    const { asked, runSpans, feed } = fakes();
    const r = await monthPrices({ feed, runSpans }, awsConfig(), bm, nodes, clusters);
    expect(r.status).toBe("fetched");
    expect(asked.spans).toEqual(["seoul-a:spot-1", "seoul-b:spot-1"]);
    expect(asked.spot).toEqual([
      { instanceTypes: ["g5.12xlarge"], zones: ["ap-northeast-2a", "ap-northeast-2c"], startMs: bm.startMs, endMs: bm.endMs },
    ]);
    expect(asked.onDemand).toEqual([{ region: "ap-northeast-2", instanceTypes: ["g5.12xlarge"] }]);
    expect(r.snapshot.nodes.map((n) => [n.cluster, n.node, n.hourly, n.origin])).toEqual([
      ["seoul-a", "spot-1", "2", "aws-spot-price-history"],
      ["seoul-b", "od-1", "6.97442", "aws-price-list"],
      ["seoul-b", "spot-1", "2.4", "aws-spot-price-history"],
    ]);
  });

  it("given a published prices.json the manifest vouches for, then it is reused and nothing is asked; with refresh, or a hash that differs, it is fetched", async () => {
    const cfg = awsConfig();
    const first = await monthPrices(fakes(), cfg, bm, nodes, clusters);
    const body = renderPriceSnapshot(first.snapshot);
    const manifest = JSON.stringify({ files: { "prices.json": { sha256: createHash("sha256").update(body).digest("hex") } } });
    const published = (m: string, b: Buffer) => (name: string) =>
      readPublishedFile(
        async () => m,
        async () => b,
        name,
      );

    const f = fakes();
    const reused = await monthPrices({ ...f, published: published(manifest, body) }, cfg, bm, nodes, clusters);
    expect(reused.status).toBe("reused");
    expect(renderPriceSnapshot(reused.snapshot).equals(body)).toBe(true);
    expect(f.asked).toEqual({ spans: [], spot: [], onDemand: [] });

    const g = fakes();
    expect((await monthPrices({ ...g, published: published(manifest, body) }, cfg, bm, nodes, clusters, { refresh: true })).status).toBe(
      "fetched",
    );
    expect(g.asked.spot).toHaveLength(1);
    const edited = Buffer.from(body.toString().replace('"2.4"', '"0.1"'));
    expect((await monthPrices({ ...fakes(), published: published(manifest, edited) }, cfg, bm, nodes, clusters)).status).toBe("fetched");
  });

  it("given prices.source config, then the config's table is the snapshot and no port is called", async () => {
    const { asked, runSpans, feed } = fakes();
    const r = await monthPrices({ feed, runSpans }, parseConfig(referenceConfigText, "ref.yaml"), bm, nodes, clusters);
    expect(r.status).toBe("config");
    expect(r.snapshot.nodes.map((n) => n.hourly)).toEqual(["2.092326", "6.97442", "2.092326"]);
    expect(asked).toEqual({ spans: [], spot: [], onDemand: [] });
  });

  it("given prices.source aws without the feed wired in, then it says so instead of pricing from the config", async () => {
    await expect(monthPrices({}, awsConfig(), bm, nodes, clusters)).rejects.toThrow(/wired without the AWS price feed/);
  });
});
