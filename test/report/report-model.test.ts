import { describe, expect, it } from "vitest";
import { rm, unlink, appendFile } from "node:fs/promises";
import path from "node:path";
import { localDatasetSource } from "../../functions/adapters/dataset-source.js";
import { DatasetIntegrityError, DatasetNotFoundError, parseCsv, parseDataset } from "../../functions/report/dataset-files.js";
import { computeChargeback } from "../../functions/core/chargeback.js";
import { renderDataset } from "../../functions/core/dataset.js";
import { node, referenceConfig, use } from "../core/fixtures.js";
import { buildReportModel } from "../../functions/report/report-model.js";
import { D } from "../../functions/core/decimal.js";
import { demoDataset, MONTH } from "./fixtures.js";
import { execFileSync } from "node:child_process";
import ExcelJS from "exceljs";
import { QuotaSettingsSchema } from "../../functions/quota/quota-config.js";
import { renderReportPdf } from "../../functions/report/pdf-report.js";
import { renderReportWorkbook } from "../../functions/report/xlsx-report.js";
import { fontFiles } from "../../functions/adapters/font-files.js";

describe("report model from the dataset read back", () => {
  it("given the demo month's dataset, the model's totals equal the manifest's and the chargeback's", async () => {
    const { root, chargeback, cfg } = await demoDataset();
    const ds = await localDatasetSource(root).read(MONTH);
    const m = buildReportModel(ds, cfg, { kind: "all" });
    const t = chargeback.totals;
    expect(m.totals.allocatedGpuHours.toFixed()).toBe(t.allocatedGpuHours.toFixed());
    expect(m.totals.billableGpuHours.toFixed()).toBe(t.billableGpuHours.toFixed());
    expect(m.totals.cost.toFixed(2)).toBe(ds.manifest.totals.cost);
    expect(m.idle!.idleCost.toFixed(2)).toBe(ds.manifest.totals.idleCost);
    // per-tenant, per-capacity-type and per-day views each add up to the same total
    const sum = (xs: { cost: InstanceType<typeof D> }[]) => xs.reduce((a, x) => a.add(x.cost), new D(0)).toFixed(2);
    expect(sum(m.tenants)).toBe(ds.manifest.totals.cost);
    expect(sum(m.capacityTypes)).toBe(ds.manifest.totals.cost);
    expect(sum(m.namespaces)).toBe(ds.manifest.totals.cost);
    // daily rows are rounded to 6 decimals each, so their sum may differ from the monthly rows' by half a unit per row
    const dailySum = m.daily.reduce((a, d) => a.add(d.allocatedGpuHours), new D(0));
    expect(dailySum.sub(t.allocatedGpuHours).abs().lte(new D("0.0000005").mul(chargeback.daily.length))).toBe(true);
    expect(m.daily).toHaveLength(31);
    expect(m.methodology.configChanged).toBe(false);
    expect(m.tenants.map((x) => x.tenantName)).toContain("수원시");
  });

  it("given Spot rows, the savings are the On-Demand price of the same billable hours minus what was charged", async () => {
    const { root, cfg, chargeback } = await demoDataset();
    const m = buildReportModel(await localDatasetSource(root).read(MONTH), cfg, { kind: "all" });
    const spot = m.capacityTypes.find((c) => c.capacityType === "spot")!;
    let expected = new D(0);
    for (const r of chargeback.rows.filter((r) => r.capacityType === "spot")) {
      const p = cfg.prices[r.instanceType]!;
      expected = expected
        .add(r.billableGpuHours.mul(new D(p.onDemandHourly).div(p.gpus).toDecimalPlaces(10)).toDecimalPlaces(2))
        .sub(r.cost);
    }
    expect(spot.savings.toFixed(2)).toBe(expected.toFixed(2));
    expect(spot.savings.gt(0)).toBe(true);
    expect(m.capacityTypes.find((c) => c.capacityType === "on-demand")!.savings.isZero()).toBe(true);
  });

  it("given a tenant scope, the model holds only that tenant's rows, no idle capacity and no manifest warnings", async () => {
    const { root, cfg, chargeback } = await demoDataset();
    const m = buildReportModel(await localDatasetSource(root).read(MONTH), cfg, { kind: "tenant", tenantId: "suwon" });
    expect(m.tenants.map((t) => t.tenantId)).toEqual(["suwon"]);
    expect(new Set(m.namespaces.map((n) => n.tenantId))).toEqual(new Set(["suwon"]));
    expect(m.quota.map((q) => q.tenantId)).toEqual(["suwon"]);
    expect(m.idle).toBeUndefined();
    expect(m.methodology.warnings).toEqual([]);
    const own = chargeback.rows.filter((r) => r.tenantId === "suwon").reduce((a, r) => a.add(r.cost), new D(0));
    expect(m.totals.cost.toFixed(2)).toBe(own.toFixed(2));
    expect(m.quota[0]!.quotaGpuHours!.toNumber()).toBe(100);
    expect(m.quota[0]!.ratio!.toFixed(4)).toBe(m.totals.allocatedGpuHours.div(100).toDecimalPlaces(4).toFixed(4));
  });

  it("given quota.basis billable, quota usage counts billable GPU-hours as the quota check does, and the PDF and workbook state that basis", async () => {
    const { root, cfg } = await demoDataset();
    const ds = await localDatasetSource(root).read(MONTH);
    const billableCfg = { ...cfg, quota: QuotaSettingsSchema.parse({ basis: "billable" }) };
    const allocated = buildReportModel(ds, cfg, { kind: "all" });
    const billable = buildReportModel(ds, billableCfg, { kind: "all" });
    expect(allocated.quotaBasis).toBe("allocated");
    expect(billable.quotaBasis).toBe("billable");
    for (const q of billable.quota) {
      const t = billable.tenants.find((x) => x.tenantId === q.tenantId)!;
      expect(q.usedGpuHours.toFixed()).toBe(t.billableGpuHours.toFixed());
      if (q.quotaGpuHours) expect(q.ratio!.toFixed(4)).toBe(t.billableGpuHours.div(q.quotaGpuHours).toDecimalPlaces(4).toFixed(4));
    }
    // The correction makes the two differ for a tenant below 70 % utilization (yongin: 8.8 %).
    const yongin = (m: typeof billable) => m.quota.find((q) => q.tenantId === "yongin")!.usedGpuHours;
    expect(yongin(billable).lt(yongin(allocated))).toBe(true);

    const text = execFileSync("pdftotext", ["-layout", "-", "-"], {
      input: await renderReportPdf(billable, { lang: "en", fonts: fontFiles() }),
      encoding: "utf8",
    });
    expect(text).toContain("Basis: billable GPU-h (the same basis as the quota check)");
    expect(text).toContain("Quota usage = billable GPU-h ÷ monthly quota");
    expect(text).not.toContain("Quota usage = allocated GPU-h");
    const wb = new ExcelJS.Workbook();
    await wb.xlsx.load((await renderReportWorkbook(billable, { lang: "en" })) as never);
    expect(wb.getWorksheet("Quota")!.getRow(1).getCell(2).value).toBe("Used (billable GPU-h)");
  });

  it("given a month with no manifest, reading it fails with a clear error naming the month", async () => {
    const { root } = await demoDataset();
    await unlink(path.join(root, `month=${MONTH}`, "manifest.json"));
    await expect(localDatasetSource(root).read(MONTH)).rejects.toThrow(DatasetNotFoundError);
    await expect(localDatasetSource(root).read(MONTH)).rejects.toThrow(/no completed dataset for 2026-10.*manifest\.json is missing/);
    await rm(root, { recursive: true });
  });

  it("given a data file changed after the manifest was written, reading it fails instead of reporting other numbers", async () => {
    const { root } = await demoDataset();
    await appendFile(path.join(root, `month=${MONTH}`, "chargeback.csv"), "x\n");
    await expect(localDatasetSource(root).read(MONTH)).rejects.toThrow(DatasetIntegrityError);
  });

  it("given an oversubscribed node group, its negative idle cost is written as a plain number and reads back as one", () => {
    const cfg = referenceConfig();
    const cb = computeChargeback(
      {
        nodes: [node({ node: "a", nodeMinutes: 60 })],
        usage: [use({ namespace: "suwon-a", node: "a", requestMinutes: 960, usedMinutes: 960 })],
        namespaces: [],
      },
      cfg,
      MONTH,
    );
    const ds = renderDataset(cb, { month: MONTH, timeZone: "Asia/Seoul", startIso: "a", endIso: "b", prometheusUrl: "p", configHash: "h" });
    const capacityCsv = ds.files.find((f) => f.name === "capacity.csv")!.body.toString();
    expect(capacityCsv).toMatch(/,-\d+\.\d{2},USD\n$/);
    expect(capacityCsv).not.toContain(",'-");
    const parsed = parseDataset(MONTH, { manifest: ds.manifest.body, files: Object.fromEntries(ds.files.map((f) => [f.name, f.body])) });
    expect(parsed.capacity[0]!.idleCost.toFixed(2)).toBe(cb.capacity[0]!.idleCost.toFixed(2));
    expect(parsed.capacity[0]!.idleCost.isNegative()).toBe(true);
  });

  it("given quoted CSV fields, the parser reads them back as written", () => {
    expect(parseCsv('a,b\n"x,""y""",1\n')).toEqual([
      ["a", "b"],
      ['x,"y"', "1"],
    ]);
  });
});
