import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { D } from "../../functions/core/decimal.js";
import { FOCUS_COLUMNS, FOCUS_SPEC_COLUMNS, focusFiles } from "../../functions/export/focus-export.js";
import { computeChargeback } from "../../functions/core/chargeback.js";
import { node, referenceConfig, use } from "../core/fixtures.js";
import { fixtureChargeback } from "./month-fixture.js";
import { parseCsv } from "../../functions/report/dataset-files.js";

/**
 * FOCUS 1.3's Cost and Usage columns as the specification's own repository lists them
 * (functions/export/focus-1.3-columns.json, vendored from FinOps-Open-Cost-and-Usage-Spec/FOCUS_Spec
 * with the commit of each file): the test reads the list from there, not from the exporter.
 */
const SPEC = JSON.parse(readFileSync(new URL("../../functions/export/focus-1.3-columns.json", import.meta.url), "utf8")) as {
  version: string;
  columns: { name: string; featureLevel: string; dataType: string; allowsNulls: boolean }[];
};

describe("FOCUS 1.3 export (focus.csv)", () => {
  const cfg = referenceConfig();
  const cb = fixtureChargeback("2026-10", 10);
  const [file] = focusFiles(cb, cfg);
  const [header, ...body] = parseCsv(file!.body.toString("utf8"));
  const rows = body.map((r) => Object.fromEntries(header!.map((h, i) => [h, r[i]!])));
  const resourceIdOf = (r: (typeof cb.rows)[number]) => `${r.cluster}/${r.namespace}/${r.gpuModel}/${r.instanceType}/${r.capacityType}`;
  /** The FOCUS rows of each chargeback row (its origin charge), by ResourceId. */
  const charges = cb.rows.map((src) => ({ src, parts: rows.filter((r) => r.ResourceId === resourceIdOf(src)) }));

  it("given a month, then the header is FOCUS 1.3's column list in the spec's order, then only x_-prefixed custom columns, and each row has every column", () => {
    expect(file!.name).toBe("focus.csv");
    expect(SPEC.version).toBe("1.3");
    expect(SPEC.columns).toHaveLength(65);
    expect(header!.slice(0, SPEC.columns.length)).toEqual(SPEC.columns.map((c) => c.name));
    expect(header).toEqual([...FOCUS_COLUMNS]);
    expect([...FOCUS_SPEC_COLUMNS]).toEqual(SPEC.columns.map((c) => c.name));
    for (const c of header!.slice(SPEC.columns.length)) expect(c).toMatch(/^x_[A-Z]/);
    expect(new Set(header).size).toBe(header!.length);
    expect(body.every((r) => r.length === header!.length)).toBe(true);
  });

  it("given the spec's nullability, then no column that allows no nulls is ever empty, and Mandatory columns are filled", () => {
    for (const c of SPEC.columns.filter((c) => !c.allowsNulls)) for (const r of rows) expect(r[c.name], c.name).not.toBe("");
    for (const c of SPEC.columns.filter((c) => c.featureLevel === "Mandatory" && !["ChargeClass"].includes(c.name)))
      for (const r of rows) expect(r[c.name], c.name).not.toBe("");
  });

  it("given pod detail, then each chargeback row is split into one allocated charge per pod whose costs and quantities add up exactly to the row, and whose AllocatedRatio adds up to exactly 1", () => {
    expect(cb.pods!.length).toBeGreaterThan(cb.rows.length);
    expect(rows).toHaveLength(
      cb.rows
        .filter((r) => !r.allocatedGpuHours.isZero())
        .reduce((n, r) => n + cb.pods!.filter((p) => resourceIdOf(p as never) === resourceIdOf(r)).length, 0) +
        cb.rows.filter((r) => r.allocatedGpuHours.isZero()).length,
    );
    for (const { src, parts } of charges) {
      expect(parts.length, resourceIdOf(src)).toBeGreaterThan(0);
      const sum = (col: string) => parts.reduce((a, r) => a.add(r[col]!), new D(0));
      expect(sum("BilledCost").toFixed(2)).toBe(src.cost.toFixed(2));
      expect(sum("EffectiveCost").toFixed(2)).toBe(src.cost.toFixed(2));
      expect(sum("ContractedCost").toFixed(2)).toBe(src.cost.toFixed(2));
      expect(sum("ConsumedQuantity").eq(src.allocatedGpuHours)).toBe(true);
      expect(sum("PricingQuantity").eq(src.billableGpuHours)).toBe(true);
      const ratios = parts.map((r) => JSON.parse(r.AllocatedMethodDetails!).Elements[0].AllocatedRatio as number);
      expect(ratios.reduce((a, x) => a.add(new D(String(x))), new D(0)).eq(1)).toBe(true);
      for (const r of parts) {
        expect(r.AllocatedMethodId).toBe("gpu-platform:pod-allocated-gpu-hours");
        // the name cell is neutralised like every text cell ('=cmd|x…); the id starts with the cluster and needs none
        const pod = r.AllocatedResourceName!.replace(/^'/, "");
        expect(r.AllocatedResourceId).toBe(`${src.cluster}/${src.namespace}/${pod}`);
        expect(JSON.parse(r.AllocatedTags!)).toEqual({ pod, node: r.x_Node });
        expect(r.SubAccountId).toBe(src.tenantId);
      }
    }
  });

  it("given a chargeback without pod detail, then each row is one unallocated charge with the allocation columns null", () => {
    const { pods: _pods, ...noPods } = cb;
    const [f] = focusFiles(noPods, cfg);
    const [h, ...b] = parseCsv(f!.body.toString("utf8"));
    expect(b).toHaveLength(cb.rows.length);
    for (const r of b)
      for (const c of ["AllocatedMethodId", "AllocatedMethodDetails", "AllocatedResourceId", "AllocatedResourceName", "AllocatedTags"])
        expect(r[h!.indexOf(c)]).toBe("");
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
    for (const { src, parts } of charges) {
      const p = cfg.prices[src.instanceType]!;
      const listUnit = new D(p.onDemandHourly).div(p.gpus);
      const listCost = parts.reduce((a, r) => a.add(r.ListCost!), new D(0));
      const billed = parts.reduce((a, r) => a.add(r.BilledCost!), new D(0));
      for (const r of parts) {
        expect(r.PricingCategory).toBe(src.capacityType === "spot" ? "Dynamic" : "Standard");
        expect(new D(r.ListUnitPrice!).eq(listUnit)).toBe(true);
      }
      expect(listCost.toFixed(2)).toBe(src.billableGpuHours.mul(listUnit).toFixed(2));
      if (src.capacityType === "spot") expect(listCost.gt(billed)).toBe(true);
      else expect(listCost.eq(billed)).toBe(true);
    }
    expect(new Set(rows.map((r) => r.PricingCategory))).toEqual(new Set(["Dynamic", "Standard"]));
  });

  it("given the chargeback rows, then tenant and tags carry over exactly and BilledCost adds up to the month's total", () => {
    for (const { src, parts } of charges)
      for (const r of parts) {
        expect(r.SubAccountName).toBe(src.tenantName);
        expect(r.ServiceProviderName).toBe(r.ProviderName);
        expect(r.HostProviderName).toBe("Amazon Web Services");
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
    // a pod that ran on two nodes (two instance types) is an allocated charge of each row it ran in
    expect(new Set(rows.map((r) => `${r.ResourceId}|${r.AllocatedResourceId}|${r.x_Node}`)).size).toBe(rows.length);
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
    const named = {
      ...referenceConfig(),
      focus: {
        providerName: "Gyeonggi AI Platform",
        billingAccountId: "gg-ai-2026",
        regionId: "ap-northeast-2",
        regionName: "Asia Pacific (Seoul)",
      },
    };
    const [head, ...body] = parseCsv(focusFiles(cb, named)[0]!.body.toString("utf8"));
    const first = Object.fromEntries(head!.map((h, i) => [h, body[0]![i]!]));
    expect(first).toMatchObject({
      ProviderName: "Gyeonggi AI Platform",
      InvoiceIssuerName: "Gyeonggi AI Platform",
      BillingAccountId: "gg-ai-2026",
      RegionId: "ap-northeast-2",
      RegionName: "Asia Pacific (Seoul)",
    });
    expect(first.BillingAccountName).toBe(rows[0]!.BillingAccountName);
    expect(rows[0]).toMatchObject({ ProviderName: "GPU Platform", RegionId: "" });
  });
});
