import { describe, expect, it } from "vitest";
import { execFileSync } from "node:child_process";
import { mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { computeChargeback } from "../../functions/core/chargeback.js";
import { renderDataset, type Dataset } from "../../functions/core/dataset.js";
import { awsPriceSnapshot, configPriceSnapshot, type PriceSnapshot } from "../../functions/core/price-snapshot.js";
import { parseConfig, type Config } from "../../functions/config/config-schema.js";
import { parseDataset } from "../../functions/report/dataset-files.js";
import { buildReportModel } from "../../functions/report/report-model.js";
import { renderReportPdf } from "../../functions/report/pdf-report.js";
import { awsConfig, bm, inputs, MONTH, usage } from "../core/price-fixtures.js";
import { referenceConfigText } from "../core/fixtures.js";
import { fontFiles } from "../../functions/adapters/font-files.js";

const bytesOf = (d: Dataset) => ({ manifest: d.manifest.body, files: Object.fromEntries(d.files.map((f) => [f.name, f.body])) });
const datasetWith = (cfg: Config, prices: PriceSnapshot) =>
  parseDataset(
    MONTH,
    bytesOf(
      renderDataset(
        computeChargeback(usage, cfg, MONTH, prices),
        {
          month: MONTH,
          timeZone: cfg.timeZone,
          startIso: new Date(bm.startMs).toISOString(),
          endIso: new Date(bm.endMs).toISOString(),
          prometheusUrl: "http://prom",
          configHash: "h",
        },
        prices,
      ),
    ),
  );

describe("the report's price table and methodology from prices.json", () => {
  it("given a month priced from AWS, then the table is the snapshot's: price-list On-Demand, minutes-weighted Spot, and the Spot prices by zone", () => {
    const cfg = awsConfig();
    const m = buildReportModel(datasetWith(cfg, awsPriceSnapshot(cfg, bm, usage.nodes, inputs())), cfg, { kind: "all" });
    expect(m.methodology.priceFeed).toEqual({ source: "aws", region: "ap-northeast-2", skus: ["SKU123"] });
    expect(m.methodology.prices).toHaveLength(1);
    const p = m.methodology.prices[0]!;
    expect([p.instanceType, p.onDemandHourly.toFixed(), p.onDemandOrigin, p.spotOrigin]).toEqual([
      "g4dn.12xlarge",
      "4.812",
      "aws-price-list",
      "aws-spot-price-history",
    ]);
    // 600 min at 1.4 and 300 min at 1.5: (840 + 450) ÷ 900 = 1.4333…
    expect(p.spotHourly!.toFixed()).toBe("1.4333333333");
    expect(
      m.methodology.spotByZone.map((z) => [
        z.zone,
        z.nodes,
        z.hourly.toFixed(),
        z.perGpu.toFixed(),
        z.changes,
        z.lowest.toFixed(),
        z.highest.toFixed(),
      ]),
    ).toEqual([
      ["ap-northeast-2a", 1, "1.4", "0.35", 2, "1.2", "1.7"],
      ["ap-northeast-2c", 1, "1.5", "0.375", 1, "1.5", "1.5"],
    ]);
  });

  it("given a month priced from the config, then the table lists the types it used at the config's prices and the config's note", () => {
    const cfg = parseConfig(referenceConfigText, "ref.yaml");
    const m = buildReportModel(datasetWith(cfg, configPriceSnapshot(cfg, bm, usage.nodes)), cfg, { kind: "all" });
    expect(m.methodology.priceFeed?.source).toBe("config");
    expect(
      m.methodology.prices.map((p) => [p.instanceType, p.onDemandHourly.toFixed(), p.spotHourly!.toFixed(), p.onDemandOrigin]),
    ).toEqual([["g4dn.12xlarge", "4.812", "1.4436", "config"]]);
    expect(m.methodology.spotByZone).toEqual([]);
    expect(m.methodology.priceSource).toBe(cfg.priceSource);
  });

  it("given a month priced from AWS, when rendered in English and Korean, then the methodology names the Price List, the Spot history and each zone", async () => {
    const cfg = awsConfig();
    const m = buildReportModel(datasetWith(cfg, awsPriceSnapshot(cfg, bm, usage.nodes, inputs())), cfg, { kind: "all" });
    const dir = await mkdtemp(path.join(tmpdir(), "price-pdf-"));
    for (const lang of ["en", "ko"] as const) {
      const file = path.join(dir, `${lang}.pdf`);
      await writeFile(file, await renderReportPdf(m, { lang, fonts: fontFiles() }));
      const text = execFileSync("pdftotext", ["-layout", file, "-"], { encoding: "utf8" });
      expect(text).toContain("pricing:GetProducts");
      expect(text).toContain("DescribeSpotPriceHistory");
      expect(text).toContain("ap-northeast-2c");
      expect(text).toContain("SKU123");
      expect(text).toContain("1.2–1.7");
    }
  });
});
