import { beforeAll, describe, expect, it, vi } from "vitest";
import { execFileSync } from "node:child_process";
import { mkdtemp, readdir, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { localDatasetSource } from "../../functions/adapters/dataset-source.js";
import { buildReportModel } from "../../functions/report/report-model.js";
import { renderReportPdf } from "../../functions/report/pdf-report.js";
import { FontNotFoundError, fontFiles } from "../../functions/adapters/font-files.js";
import { grouped } from "../../functions/report/i18n.js";
import type { ParsedDataset } from "../../functions/report/dataset-files.js";
import { D } from "../../functions/core/decimal.js";
import { demoDataset, MONTH } from "./fixtures.js";
import type { Config } from "../../functions/config/config-schema.js";

/** pdftotext (poppler) extracts what a reader's copy/paste or a search index would get. */
function pdfText(file: string): string {
  return execFileSync("pdftotext", ["-layout", file, "-"], { encoding: "utf8" });
}

describe("PDF report (pdfkit, Pretendard embedded)", () => {
  let ds: ParsedDataset;
  let cfg: Config;
  let dir: string;
  beforeAll(async () => {
    const d = await demoDataset();
    cfg = d.cfg;
    ds = await localDatasetSource(d.root).read(MONTH);
    dir = await mkdtemp(path.join(tmpdir(), "report-pdf-"));
  });

  it("given the platform report in Korean, the extracted text has the dataset's totals, every tenant's Korean name and the manifest hash, and every page renders", async () => {
    const file = path.join(dir, "all-ko.pdf");
    await writeFile(file, await renderReportPdf(buildReportModel(ds, cfg, { kind: "all" }), { lang: "ko", fonts: fontFiles() }));
    const text = pdfText(file);
    const t = ds.manifest.totals;
    expect(text).toContain(`USD ${grouped(new D(t.cost!), 2)}`);
    expect(text).toContain(grouped(new D(t.allocatedGpuHours!), 2));
    for (const name of ["수원시", "성남시", "용인시", "AI팀", "데이터팀", "LLM 프로젝트"]) expect(text).toContain(name);
    expect(text).toContain("산정 방법");
    expect(text).toContain(ds.manifestSha256);
    const pages = Number(/Pages:\s+(\d+)/.exec(execFileSync("pdfinfo", [file], { encoding: "utf8" }))![1]);
    expect(pages).toBeGreaterThanOrEqual(3);
    // pdftoppm exits non-zero on a page it cannot render
    execFileSync("pdftoppm", ["-r", "30", "-png", file, path.join(dir, "all")]);
    expect((await readdir(dir)).filter((f) => f.startsWith("all-") && f.endsWith(".png"))).toHaveLength(pages);
    // the font is embedded as a subset (pdffonts marks subsets with a random tag and "yes" under emb/sub)
    const fonts = execFileSync("pdffonts", [file], { encoding: "utf8" });
    expect(fonts).toMatch(/[A-Z]{6}\+Pretendard-Regular\s.*yes\s+yes/);
  });

  it("given a tenant's report in English, it holds that tenant's totals and no other tenant's name, namespace or numbers", async () => {
    const file = path.join(dir, "seongnam-en.pdf");
    const model = buildReportModel(ds, cfg, { kind: "tenant", tenantId: "seongnam" });
    await writeFile(file, await renderReportPdf(model, { lang: "en", fonts: fontFiles() }));
    const text = pdfText(file);
    expect(text).toContain("성남시");
    expect(text).toContain(`USD ${grouped(model.totals.cost, 2)}`);
    expect(text).toContain("Methodology");
    for (const other of cfg.tenants.filter((t) => t.id !== "seongnam")) expect(text).not.toContain(other.name);
    for (const r of ds.chargeback.filter((r) => r.tenantId !== "seongnam")) expect(text).not.toContain(r.namespace);
    const otherCosts = buildReportModel(ds, cfg, { kind: "all" })
      .tenants.filter((t) => t.tenantId !== "seongnam")
      .map((t) => grouped(t.cost, 2));
    for (const c of otherCosts) expect(text).not.toContain(`USD ${c}`);
    expect(text).not.toContain(grouped(ds.capacity[0]!.idleCost, 2)); // platform idle is not a tenant's business
  });

  it("given the same dataset twice, the PDF bytes are identical (no clock inside, parsed-font cache or not)", async () => {
    const m = buildReportModel(ds, cfg, { kind: "tenant", tenantId: "yongin" });
    const [a, b] = [
      await renderReportPdf(m, { lang: "ko", fonts: fontFiles() }),
      await renderReportPdf(m, { lang: "ko", fonts: fontFiles() }),
    ];
    expect(a.equals(b)).toBe(true);
    vi.resetModules(); // a fresh module parses the fonts again, as a new Lambda container would
    const fresh = (await import("../../functions/report/pdf-report.js")).renderReportPdf;
    const freshFonts = (await import("../../functions/adapters/font-files.js")).fontFiles;
    expect((await fresh(m, { lang: "ko", fonts: freshFonts() })).equals(a)).toBe(true);
  });

  it("given a font directory without the TTFs, it fails naming the file instead of writing a PDF with missing glyphs", async () => {
    await expect(renderReportPdf(buildReportModel(ds, cfg, { kind: "all" }), { lang: "ko", fonts: fontFiles(dir) })).rejects.toThrow(
      FontNotFoundError,
    );
  });
});
