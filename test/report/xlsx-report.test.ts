import { beforeAll, describe, expect, it } from "vitest";
import { D } from "../../functions/core/decimal.js";
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import ExcelJS from "exceljs";
import { localDatasetSource } from "../../functions/adapters/dataset-source.js";
import { buildReportModel } from "../../functions/report/report-model.js";
import { renderReportWorkbook, SHEETS } from "../../functions/report/xlsx-report.js";
import { parseCsv, type ParsedDataset } from "../../functions/report/dataset-files.js";
import { demoDataset, MONTH } from "./fixtures.js";
import type { Config } from "../../functions/config/config-schema.js";

async function load(buf: Buffer): Promise<ExcelJS.Workbook> {
  const wb = new ExcelJS.Workbook();
  await wb.xlsx.load(buf as unknown as ArrayBuffer);
  return wb;
}

/** The last row whose first cell is the totals label. */
function totalsRow(ws: ExcelJS.Worksheet, label: string): ExcelJS.Row {
  let found: ExcelJS.Row | undefined;
  ws.eachRow((r) => {
    if (r.getCell(1).value === label) found = r;
  });
  return found!;
}

/**
 * Headless LibreOffice recomputes every formula and writes each sheet as CSV
 * (filter option token 12 = -1: all sheets, one file per sheet).
 */
function recalcToCsv(xlsx: string, outDir: string): (sheet: string) => string[][] {
  execFileSync(
    "soffice",
    [
      "--headless",
      "--norestore",
      `-env:UserInstallation=file://${outDir}/lo-profile`,
      "--convert-to",
      "csv:Text - txt - csv (StarCalc):44,34,76,1,,0,false,true,false,false,false,-1",
      "--outdir",
      outDir,
      xlsx,
    ],
    { stdio: "pipe", timeout: 120_000 },
  );
  const base = path.basename(xlsx, ".xlsx");
  return (sheet) => parseCsv(readFileSync(path.join(outDir, `${base}-${sheet}.csv`), "utf8"));
}

describe("Excel workbook (exceljs)", () => {
  let ds: ParsedDataset;
  let cfg: Config;
  let dir: string;
  beforeAll(async () => {
    const d = await demoDataset();
    cfg = d.cfg;
    ds = await localDatasetSource(d.root).read(MONTH);
    dir = await mkdtemp(path.join(tmpdir(), "report-xlsx-"));
  });

  it("given the platform report in Korean, the workbook has the Korean sheets with frozen headers, autofilters, formats and the dataset's numbers", async () => {
    const wb = await load(await renderReportWorkbook(buildReportModel(ds, cfg, { kind: "all" }), { lang: "ko" }));
    expect(wb.worksheets.map((w) => w.name)).toEqual(["요약", "테넌트", "네임스페이스", "일별", "용량 및 유휴", "단가", "쿼터"]);
    const tenants = wb.getWorksheet("테넌트")!;
    expect(tenants.views[0]).toMatchObject({ state: "frozen", ySplit: 1 });
    expect(tenants.autoFilter).toBeTruthy();
    const suwon = ds.chargeback.filter((r) => r.tenantId === "suwon").reduce((a, r) => a + Number(r.cost.toFixed()), 0);
    const row = tenants.getRow(2);
    expect(row.getCell(1).value).toBe("수원시");
    expect(row.getCell(7).value).toBeCloseTo(suwon, 6);
    expect(row.getCell(7).numFmt).toContain("USD");
    expect(row.getCell(5).numFmt).toBe("0.0%");
    const total = totalsRow(tenants, "합계");
    expect((total.getCell(7).value as { formula: string }).formula).toMatch(/^SUM\(G2:G\d+\)$/);
    expect((total.getCell(7).value as { result: number }).result).toBeCloseTo(Number(ds.manifest.totals.cost), 6);
  });

  it("given the workbook recalculated by LibreOffice, every formula total equals the dataset's totals", async () => {
    // Drop the cached formula results first, so the numbers below can only come from LibreOffice computing them.
    const wb = await load(await renderReportWorkbook(buildReportModel(ds, cfg, { kind: "all" }), { lang: "en" }));
    let formulas = 0;
    wb.eachSheet((ws) =>
      ws.eachRow((r) =>
        r.eachCell((c) => {
          const v = c.value as { formula?: string } | null;
          if (v && typeof v === "object" && v.formula) {
            c.value = { formula: v.formula } as ExcelJS.CellFormulaValue;
            formulas++;
          }
        }),
      ),
    );
    expect(formulas).toBeGreaterThan(20);
    const file = path.join(dir, "recalc.xlsx");
    await wb.xlsx.writeFile(file);
    const sheet = recalcToCsv(file, dir);
    const S = SHEETS.en;
    const t = ds.manifest.totals;
    const last = (rows: string[][]) => rows.filter((r) => r[0] === "Total").at(-1)!;
    const close = (got: string | undefined, want: string | undefined, eps = 1e-6) =>
      expect(Math.abs(Number(got) - Number(want))).toBeLessThan(eps);
    const tenants = last(sheet(S.tenants));
    close(tenants[2], t.allocatedGpuHours);
    close(tenants[3], t.usedGpuHours);
    close(tenants[5], t.billableGpuHours);
    close(tenants[6], t.cost);
    const ns = last(sheet(S.namespaces));
    close(ns[3], t.allocatedGpuHours);
    close(ns[8], t.cost);
    const cap = last(sheet(S.capacity));
    close(cap[5], t.nodeGpuHours);
    close(cap[7], t.idleGpuHours);
    close(cap[10], t.idleCost);
    // daily rows are each rounded to 6 decimals: their sum is within half a unit per row
    close(last(sheet(S.daily))[1], t.allocatedGpuHours, ds.daily.length * 5e-7);
    const summary = Object.fromEntries(sheet(S.summary).map((r) => [r[0], r[1]]));
    close(summary["Total cost (USD)"], t.cost);
    close(summary["Allocated GPU-h"], t.allocatedGpuHours);
    close(summary["Idle cost (USD)"], t.idleCost);
  });

  it("given tenant names that look like formulas, the cells hold neutralised text, not formulas", async () => {
    const evil: Config = {
      ...cfg,
      tenants: cfg.tenants.map((t) =>
        t.id === "team-data" ? { ...t, name: '=HYPERLINK("http://x")' } : t.id === "team-ai" ? { ...t, name: "@SUM(1)" } : t,
      ),
    };
    const wb = await load(await renderReportWorkbook(buildReportModel(ds, evil, { kind: "all" }), { lang: "en" }));
    const names: unknown[] = [];
    wb.getWorksheet("Tenants")!.eachRow((r) => names.push(r.getCell(1).value));
    expect(names).toContain('\'=HYPERLINK("http://x")');
    expect(names).toContain("'@SUM(1)");
    expect(
      names.some(
        (v) =>
          typeof v === "object" &&
          v !== null &&
          "formula" in (v as object) &&
          String((v as { formula: string }).formula).includes("HYPERLINK"),
      ),
    ).toBe(false);
  });

  it("given a tenant's workbook, it has no capacity sheet and only that tenant's rows and pods", async () => {
    const wb = await load(await renderReportWorkbook(buildReportModel(ds, cfg, { kind: "tenant", tenantId: "yongin" }), { lang: "en" }));
    expect(wb.worksheets.map((w) => w.name)).toEqual(["Summary", "Tenants", "Namespaces", "Daily", "Pods", "Rates", "Quota"]);
    const tenants = new Set<unknown>();
    wb.getWorksheet("Namespaces")!.eachRow((r, i) => i > 1 && r.getCell(1).value !== "Total" && tenants.add(r.getCell(2).value));
    expect([...tenants]).toEqual(["용인시"]);
    // Pods: only yongin's, every one of them, and their total is the tenant's allocated GPU-hours
    const mine = ds.pods!.filter((p) => p.tenantId === "yongin");
    const others = new Set(ds.pods!.filter((p) => p.tenantId !== "yongin").map((p) => p.pod));
    expect(mine.length).toBeGreaterThan(0);
    const pods: string[] = [];
    const sheet = wb.getWorksheet("Pods")!;
    sheet.eachRow((r, i) => i > 1 && r.getCell(1).value !== "Total" && pods.push(String(r.getCell(2).value)));
    expect(pods.sort()).toEqual(mine.map((p) => p.pod).sort());
    expect(pods.filter((p) => others.has(p))).toEqual([]);
    const total = sheet.getRow(mine.length + 2).getCell(7).value as { result: number };
    const allocated = ds.chargeback.filter((r) => r.tenantId === "yongin").reduce((a, r) => a.add(r.allocatedGpuHours), new D(0));
    expect(total.result).toBeCloseTo(allocated.toNumber(), 6);
  });

  it("given the platform workbook, it has no pods sheet (finance has pods.csv)", async () => {
    const wb = await load(await renderReportWorkbook(buildReportModel(ds, cfg, { kind: "all" }), { lang: "en" }));
    expect(wb.worksheets.map((w) => w.name)).not.toContain("Pods");
  });
});
