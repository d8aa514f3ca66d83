import { describe, expect, it } from "vitest";
import { D } from "../../functions/core/decimal.js";
import { FOCUS_COLUMNS, focusFiles } from "../../functions/export/focus-export.js";
import { computeChargeback } from "../../functions/core/chargeback.js";
import { node, referenceConfig, use } from "../core/fixtures.js";
import { fixtureChargeback } from "./month-fixture.js";
import { parseCsv } from "../../functions/report/dataset-files.js";

/**
 * FOCUS 1.1 columns a provider must supply (mandatory, and the conditional
 * ones that apply to a usage-priced GPU chargeback), written out here from
 * the specification rather than imported, so the test checks the exporter.
 */
const FOCUS_REQUIRED = [
  "BilledCost", "BillingAccountId", "BillingAccountName", "BillingCurrency", "BillingPeriodEnd", "BillingPeriodStart",
  "ChargeCategory", "ChargeClass", "ChargeDescription", "ChargeFrequency", "ChargePeriodEnd", "ChargePeriodStart",
  "ConsumedQuantity", "ConsumedUnit", "ContractedCost", "ContractedUnitPrice", "EffectiveCost", "InvoiceIssuerName",
  "ListCost", "ListUnitPrice", "PricingCategory", "PricingQuantity", "PricingUnit", "ProviderName", "PublisherName",
  "RegionId", "RegionName", "ResourceId", "ResourceName", "ResourceType", "ServiceCategory", "ServiceName",
  "SkuId", "SkuPriceId", "SubAccountId", "SubAccountName", "Tags",
];

describe("FOCUS export (focus.csv)", () => {
  const cfg = referenceConfig();
  const cb = fixtureChargeback("2026-10", 10);
  const [file] = focusFiles(cb, cfg);
  const [header, ...body] = parseCsv(file!.body.toString("utf8"));
  const rows = body.map((r) => Object.fromEntries(header!.map((h, i) => [h, r[i]!])));

  it("given a month, then the header carries every required FOCUS column once, custom columns are x_-prefixed, and each row has every column", () => {
    expect(file!.name).toBe("focus.csv");
    expect(header).toEqual([...FOCUS_COLUMNS]);
    for (const c of FOCUS_REQUIRED) expect(header, c).toContain(c);
    expect(new Set(header).size).toBe(header!.length);
    for (const c of header!.filter((h) => !FOCUS_REQUIRED.includes(h) && !/^(AvailabilityZone|CapacityReservation|CommitmentDiscount|ServiceSubcategory)/.test(h))) expect(c).toMatch(/^x_/);
    expect(body.every((r) => r.length === header!.length)).toBe(true);
    expect(rows).toHaveLength(cb.rows.length);
  });

  it("given Seoul's October, then charge and billing periods are the month in UTC (2026-09-30T15:00:00Z to 2026-10-31T15:00:00Z)", () => {
    for (const r of rows) {
      expect(r).toMatchObject({
        ChargePeriodStart: "2026-09-30T15:00:00Z",
        ChargePeriodEnd: "2026-10-31T15:00:00Z",
        BillingPeriodStart: "2026-09-30T15:00:00Z",
        BillingPeriodEnd: "2026-10-31T15:00:00Z",
        ChargeCategory: "Usage",
        ChargeClass: "",
        BillingCurrency: "USD",
        ConsumedUnit: "GPU-Hours",
        PricingUnit: "GPU-Hours",
      });
    }
  });

  it("given Spot and On-Demand rows, then PricingCategory is Dynamic and Standard, and list cost is the On-Demand price of the billed hours", () => {
    for (const [i, r] of rows.entries()) {
      const src = cb.rows[i]!;
      expect(r.PricingCategory).toBe(src.capacityType === "spot" ? "Dynamic" : "Standard");
      const p = cfg.prices[src.instanceType]!;
      const listUnit = new D(p.onDemandHourly).div(p.gpus);
      expect(new D(r.ListUnitPrice!).eq(listUnit)).toBe(true);
      expect(r.ListCost).toBe(src.billableGpuHours.mul(listUnit).toFixed(2));
      if (src.capacityType === "spot") expect(new D(r.ListCost!).gt(r.BilledCost!)).toBe(true);
      else expect(r.ListCost).toBe(r.BilledCost);
    }
    expect(new Set(rows.map((r) => r.PricingCategory))).toEqual(new Set(["Dynamic", "Standard"]));
  });

  it("given the chargeback rows, then costs, quantities, tenant and tags carry over exactly and BilledCost adds up to the month's total", () => {
    for (const [i, r] of rows.entries()) {
      const src = cb.rows[i]!;
      expect(r.BilledCost).toBe(src.cost.toFixed(2));
      expect(r.EffectiveCost).toBe(r.BilledCost);
      expect(r.ContractedCost).toBe(r.BilledCost);
      expect(new D(r.ConsumedQuantity!).eq(src.allocatedGpuHours)).toBe(true);
      expect(new D(r.PricingQuantity!).eq(src.billableGpuHours)).toBe(true);
      expect(r.SubAccountId).toBe(src.tenantId);
      expect(r.SubAccountName).toBe(src.tenantName);
      expect(JSON.parse(r.Tags!)).toEqual({
        cluster: "default",
        tenant: src.tenantId,
        namespace: src.namespace,
        capacity_type: src.capacityType,
        gpu_model: src.gpuModel,
        instance_type: src.instanceType,
      });
    }
    expect(rows.reduce((s, r) => s.plus(r.BilledCost!), new D(0)).toFixed(2)).toBe(cb.totals.cost.toFixed(2));
    expect(new Set(rows.map((r) => r.ResourceId)).size).toBe(rows.length);
  });

  it("given a namespace that looks like a formula, then its cells are neutralised like every other CSV of the dataset", () => {
    const evil = rows.filter((r) => r.ResourceName!.includes("cmd|x"));
    expect(evil.length).toBeGreaterThan(0);
    for (const r of evil) {
      expect(r.ResourceName).toBe("'=cmd|x");
      // ResourceId starts with the cluster id (letters, digits, '-' by config), so it can never start a formula.
      expect(r.ResourceId!.startsWith("default/=cmd|x/")).toBe(true);
    }
  });

  it("given the same namespace in two clusters, then it is two FOCUS resources, each with its cluster in ResourceId, Tags and x_Cluster", () => {
    const cfg = referenceConfig();
    const usage = ["east", "west"].flatMap((cluster) => [use({ cluster, namespace: "team-ai", node: "gpu-1" })]);
    const nodes = ["east", "west"].map((cluster) => node({ cluster, node: "gpu-1" }));
    const two = computeChargeback({ usage, nodes, namespaces: [] }, cfg, "2026-10");
    const [head, ...body] = parseCsv(focusFiles(two, cfg)[0]!.body.toString("utf8"));
    const recs = body.map((r) => Object.fromEntries(head!.map((h, i) => [h, r[i]!])));
    expect(recs.map((r) => [r.x_Cluster, r.ResourceId, JSON.parse(r.Tags!).cluster])).toEqual([
      ["east", "east/team-ai/A100/p4d.24xlarge/on-demand", "east"],
      ["west", "west/team-ai/A100/p4d.24xlarge/on-demand", "west"],
    ]);
  });

  it("given the config names the provider, account and region, then focus.csv carries them; without, the defaults", () => {
    const named = { ...referenceConfig(), focus: { providerName: "Gyeonggi AI Platform", billingAccountId: "gg-ai-2026", regionId: "ap-northeast-2", regionName: "Asia Pacific (Seoul)" } };
    const [head, ...body] = parseCsv(focusFiles(cb, named)[0]!.body.toString("utf8"));
    const first = Object.fromEntries(head!.map((h, i) => [h, body[0]![i]!]));
    expect(first).toMatchObject({ ProviderName: "Gyeonggi AI Platform", InvoiceIssuerName: "Gyeonggi AI Platform", BillingAccountId: "gg-ai-2026", RegionId: "ap-northeast-2", RegionName: "Asia Pacific (Seoul)" });
    expect(first.BillingAccountName).toBe(rows[0]!.BillingAccountName);
    expect(rows[0]).toMatchObject({ ProviderName: "GPU Platform", RegionId: "" });
  });
});
