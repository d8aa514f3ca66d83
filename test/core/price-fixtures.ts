import { parseConfig, type Config } from "../../functions/config/config-schema.js";
import { billingMonth } from "../../functions/core/month.js";
import { spotSpanKey, type AwsPriceInputs } from "../../functions/core/price-snapshot.js";
import type { MonthUsage } from "../../functions/core/usage.js";
import { node, referenceConfigText, use } from "./fixtures.js";
import { configWith } from "../support/config-edit.js";

/** A small month priced from AWS: two Spot nodes in two zones (one with a price change mid-run) and one On-Demand node. */
export const MONTH = "2026-10";
export const bm = billingMonth(MONTH, "Asia/Seoul");
export const awsConfig = (): Config =>
  parseConfig(configWith(referenceConfigText, [["prices", "source"], "aws"], [["prices", "region"], "ap-northeast-2"]), "aws.yaml");
const ms = (iso: string) => Date.parse(iso);

// Given: two Spot g4dn.12xlarge nodes in two zones and one On-Demand node, on 2026-10-05 (UTC hours).
export const usage: MonthUsage = {
  nodes: [
    node({
      node: "spot-a",
      day: "2026-10-05",
      instanceType: "g4dn.12xlarge",
      capacityLabel: "spot",
      zone: "ap-northeast-2a",
      nodeMinutes: 600,
    }),
    node({
      node: "spot-c",
      day: "2026-10-05",
      instanceType: "g4dn.12xlarge",
      capacityLabel: "SPOT",
      zone: "ap-northeast-2c",
      nodeMinutes: 300,
    }),
    node({
      node: "od-1",
      day: "2026-10-05",
      instanceType: "g4dn.12xlarge",
      capacityLabel: "on-demand",
      zone: "ap-northeast-2a",
      nodeMinutes: 600,
    }),
  ],
  usage: [
    use({ day: "2026-10-05", namespace: "suwon-traffic", node: "spot-a", requestMinutes: 4 * 600, usedMinutes: 4 * 600 }),
    use({ day: "2026-10-05", namespace: "suwon-traffic", node: "spot-c", requestMinutes: 4 * 300, usedMinutes: 4 * 300 }),
    use({ day: "2026-10-05", namespace: "suwon-traffic", node: "od-1", requestMinutes: 4 * 600, usedMinutes: 4 * 600 }),
  ],
  namespaces: [],
};

export const inputs = (): AwsPriceInputs => ({
  region: "ap-northeast-2",
  onDemand: [{ instanceType: "g4dn.12xlarge", hourly: "4.8120000000", sku: "SKU123", effectiveDate: "2026-10-01T00:00:00Z" }],
  spot: [
    // 2a: the change before the month (what EC2 returns as "effective as of StartTime"), then a change mid-run.
    {
      instanceType: "g4dn.12xlarge",
      zone: "ap-northeast-2a",
      productDescription: "Linux/UNIX",
      at: "2026-09-28T03:00:00.000Z",
      hourly: "1.200000",
    },
    {
      instanceType: "g4dn.12xlarge",
      zone: "ap-northeast-2a",
      productDescription: "Linux/UNIX",
      at: "2026-10-05T06:00:00.000Z",
      hourly: "1.700000",
    },
    {
      instanceType: "g4dn.12xlarge",
      zone: "ap-northeast-2c",
      productDescription: "Linux/UNIX",
      at: "2026-09-30T11:00:00.000Z",
      hourly: "1.500000",
    },
    // the same change twice (overlapping pages) counts once
    {
      instanceType: "g4dn.12xlarge",
      zone: "ap-northeast-2c",
      productDescription: "Linux/UNIX",
      at: "2026-09-30T11:00:00.000Z",
      hourly: "1.5",
    },
  ],
  spans: new Map([
    [spotSpanKey({ cluster: "default", node: "spot-a" }), [{ startMs: ms("2026-10-05T00:00:00Z"), endMs: ms("2026-10-05T10:00:00Z") }]],
    [spotSpanKey({ cluster: "default", node: "spot-c" }), [{ startMs: ms("2026-10-05T00:00:00Z"), endMs: ms("2026-10-05T05:00:00Z") }]],
  ]),
});
