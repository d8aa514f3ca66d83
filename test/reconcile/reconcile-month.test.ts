import { mkdtemp, readFile, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DuckDBInstance } from "@duckdb/node-api";
import { computeChargeback } from "../../functions/core/chargeback.js";
import { renderDataset } from "../../functions/core/dataset.js";
import { D, type Dec } from "../../functions/core/decimal.js";
import { billingMonth } from "../../functions/core/month.js";
import {
  capacityTypeOfUsage,
  CurNotYetAvailableError,
  instanceIdOf,
  instanceTypeOfUsage,
  RECONCILIATION_FILE,
} from "../../functions/core/reconciliation.js";
import { localSink } from "../../functions/adapters/dataset-sink.js";
import { curParquetFile } from "../../functions/adapters/cur-parquet.js";
import { localReconciliationSink } from "../../functions/adapters/reconciliation-sink.js";
import { localDatasetSource } from "../../functions/adapters/dataset-source.js";
import { parseCsv } from "../../functions/report/dataset-files.js";
import { reconcileMonth } from "../../functions/reconcile/reconcile-month.js";
import { main } from "../../functions/cli/main.js";
import { node, referenceConfig } from "../core/fixtures.js";
import { buildReportModel } from "../../functions/report/report-model.js";
import { renderReportPdf } from "../../functions/report/pdf-report.js";
import { writeFile } from "node:fs/promises";
import { fontFiles } from "../../functions/adapters/font-files.js";

/**
 * AWS cannot be reached here, so the CUR is a Parquet file this test writes with DuckDB in the
 * CUR 2.0 column layout (https://docs.aws.amazon.com/cur/latest/userguide/table-dictionary-cur2.html):
 * hourly line items, line_item_usage_type "APN2-BoxUsage:<type>" / "APN2-SpotUsage:<type>",
 * line_item_resource_id = the instance id, costs as DOUBLE, dates as TIMESTAMP.
 */
const MONTH = "2026-10";
const cfg = referenceConfig();
const bm = billingMonth(MONTH, cfg.timeZone); // Asia/Seoul: 2026-09-30T15:00Z … 2026-10-31T15:00Z
const HOUR = 3_600_000;
const MONTH_MINUTES = (bm.endMs - bm.startMs) / 60_000;

const OD = "i-0aaaaaaaaaaaaaaa1";
const SPOT = "i-0bbbbbbbbbbbbbbb2";
const GHOST = "i-0ccccccccccccccc3"; // billed by AWS, never a node Prometheus saw
const CPU = "i-0ddddddddddddddd4"; // a CPU instance: not the GPU platform's business

/** One CUR line item per hour from `fromMs` for `hours`, all with the same shape. */
interface Run {
  resourceId: string;
  lineItemType: string;
  usageType: string;
  fromMs: number;
  hours: number;
  unblended: string;
  spEffective?: string;
}

const odHours = MONTH_MINUTES / 60; // 744: the node lived the whole month
const runs: Run[] = [
  // On-Demand node: the first 9 hours of the KST month fall in AWS's September billing period; two hours before the window must not count.
  {
    resourceId: OD,
    lineItemType: "Usage",
    usageType: "APN2-BoxUsage:g5.12xlarge",
    fromMs: bm.startMs - 2 * HOUR,
    hours: 2,
    unblended: "5.672",
  },
  { resourceId: OD, lineItemType: "Usage", usageType: "APN2-BoxUsage:g5.12xlarge", fromMs: bm.startMs, hours: 400, unblended: "5.672" },
  // the rest of its hours a Savings Plan covered: unblended is the On-Demand rate, the effective cost is what was paid
  {
    resourceId: OD,
    lineItemType: "SavingsPlanCoveredUsage",
    usageType: "APN2-BoxUsage:g5.12xlarge",
    fromMs: bm.startMs + 400 * HOUR,
    hours: odHours - 400,
    unblended: "5.672",
    spEffective: "3.9704",
  },
  // its data transfer carries the instance id too, but is not capacity
  { resourceId: OD, lineItemType: "Usage", usageType: "APN2-DataTransfer-Out-Bytes", fromMs: bm.startMs, hours: 24, unblended: "0.126" },
  // Spot node, half the month, at a Spot price unlike the config's
  { resourceId: SPOT, lineItemType: "Usage", usageType: "APN2-SpotUsage:g5.12xlarge", fromMs: bm.startMs, hours: 372, unblended: "1.7016" },
  {
    resourceId: SPOT,
    lineItemType: "Credit",
    usageType: "APN2-SpotUsage:g5.12xlarge",
    fromMs: bm.startMs + 10 * HOUR,
    hours: 1,
    unblended: "-1.7016",
  },
  {
    resourceId: GHOST,
    lineItemType: "Usage",
    usageType: "APN2-BoxUsage:g5.12xlarge",
    fromMs: bm.startMs + 100 * HOUR,
    hours: 10,
    unblended: "5.672",
  },
  { resourceId: CPU, lineItemType: "Usage", usageType: "APN2-BoxUsage:m5.2xlarge", fromMs: bm.startMs, hours: odHours, unblended: "0.472" },
  // the export reaches past the month's end (AWS's October period runs to 2026-11-01T00:00Z)
  { resourceId: CPU, lineItemType: "Usage", usageType: "APN2-BoxUsage:m5.2xlarge", fromMs: bm.endMs, hours: 9, unblended: "0.472" },
];

async function writeCur(file: string, rs: Run[], invoiceId: string): Promise<void> {
  const conn = await (await DuckDBInstance.create(":memory:")).connect();
  try {
    const ts = (ms: number) => `TIMESTAMP '${new Date(ms).toISOString().replace("T", " ").replace(".000Z", "")}'`;
    const selects = rs.map(
      (r) => `SELECT
        date_trunc('month', ${ts(r.fromMs)} + INTERVAL (h) HOUR) AS bill_billing_period_start_date,
        date_trunc('month', ${ts(r.fromMs)} + INTERVAL (h) HOUR) + INTERVAL 1 MONTH AS bill_billing_period_end_date,
        '${invoiceId}' AS bill_invoice_id,
        '111122223333' AS line_item_usage_account_id,
        '${r.lineItemType}' AS line_item_line_item_type,
        'AmazonEC2' AS line_item_product_code,
        '${r.usageType}' AS line_item_usage_type,
        '${r.resourceId}' AS line_item_resource_id,
        ${ts(r.fromMs)} + INTERVAL (h) HOUR AS line_item_usage_start_date,
        ${ts(r.fromMs)} + INTERVAL (h + 1) HOUR AS line_item_usage_end_date,
        1.0::DOUBLE AS line_item_usage_amount,
        'USD' AS line_item_currency_code,
        ${r.unblended}::DOUBLE AS line_item_unblended_cost,
        ${r.spEffective ?? "0"}::DOUBLE AS savings_plan_savings_plan_effective_cost,
        0::DOUBLE AS reservation_effective_cost,
        split_part('${r.usageType}', ':', 2) AS product_instance_type
      FROM range(${r.hours}) t(h)`,
    );
    await conn.run(`COPY (${selects.join("\nUNION ALL\n")}) TO '${file}' (FORMAT PARQUET)`);
  } finally {
    conn.closeSync();
  }
}

/** What the test expects AWS charged one instance in the window, summed in decimal from the runs above. */
function expectedAws(id: string): Dec {
  let sum = new D(0);
  for (const r of runs) {
    if (r.resourceId !== id || !capacityTypeOfUsage(r.usageType) || r.lineItemType === "Credit") continue;
    for (let h = 0; h < r.hours; h++) {
      const t = r.fromMs + h * HOUR;
      if (t >= bm.startMs && t < bm.endMs) sum = sum.add(r.lineItemType === "SavingsPlanCoveredUsage" ? r.spEffective! : r.unblended);
    }
  }
  return sum;
}

describe("reconcile: the month's metered capacity against a CUR 2.0 Parquet export (DuckDB-written, read with hyparquet)", () => {
  let dir: string;
  let curFile: string;
  const price = cfg.prices["g5.12xlarge"]!;

  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), "reconcile-"));
    // given a metered month: an On-Demand node all month, a Spot node half of it, and a node kube-state-metrics gave no provider id
    const cb = computeChargeback(
      {
        usage: [],
        namespaces: [],
        nodes: [
          node({
            node: "g5-od",
            instanceType: "g5.12xlarge",
            capacityLabel: "ON_DEMAND",
            nodeGroup: "ng-g5",
            nodeMinutes: MONTH_MINUTES,
            providerId: `aws:///ap-northeast-2a/${OD}`,
          }),
          node({
            node: "g5-spot",
            instanceType: "g5.12xlarge",
            capacityLabel: "spot",
            nodeGroup: "np-g5-spot",
            nodeMinutes: 372 * 60,
            providerId: `aws:///ap-northeast-2c/${SPOT}`,
          }),
          node({ node: "g5-noid", instanceType: "g5.12xlarge", capacityLabel: "spot", nodeGroup: "np-g5-spot", nodeMinutes: 60 }),
        ],
      },
      cfg,
      MONTH,
    );
    await localSink(dir).write(
      MONTH,
      renderDataset(cb, {
        month: MONTH,
        timeZone: cfg.timeZone,
        startIso: new Date(bm.startMs).toISOString(),
        endIso: new Date(bm.endMs).toISOString(),
        prometheusUrl: "http://prom",
        configHash: "x",
      }),
    );
    curFile = path.join(dir, "cur.parquet");
    await writeCur(curFile, runs, "EUINKR26-123456");
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  const deps = () => ({ dataset: localDatasetSource(dir), cur: curParquetFile(curFile), sink: localReconciliationSink(dir) });

  it("given EKS provider ids and CUR usage types, when parsed, then the instance id, capacity type and instance type come out", () => {
    expect(instanceIdOf("aws:///ap-northeast-2a/i-0abc1234def567890")).toBe("i-0abc1234def567890");
    expect(instanceIdOf("gce://project/zone/name")).toBeUndefined();
    expect(capacityTypeOfUsage("APN2-SpotUsage:g5.12xlarge")).toBe("spot");
    expect(capacityTypeOfUsage("APN2-BoxUsage:g5.12xlarge")).toBe("on-demand");
    expect(capacityTypeOfUsage("BoxUsage:p4d.24xlarge")).toBe("on-demand");
    expect(capacityTypeOfUsage("APN2-DataTransfer-Out-Bytes")).toBeUndefined();
    expect(instanceTypeOfUsage("APN2-SpotUsage:g5.12xlarge")).toBe("g5.12xlarge");
  });

  it("given the month's nodes and the CUR, when reconciled, then each node group's AWS cost, metered cost and difference are exact, and the unmatched instances on either side are listed", async () => {
    const { reconciliation: r, location } = await reconcileMonth(deps(), cfg, MONTH);
    const od = r.groups.find((g) => g.nodeGroup === "ng-g5")!;
    const spot = r.groups.find((g) => g.nodeGroup === "np-g5-spot")!;
    // metered = node GPU-hours × unit price (hourly ÷ 4 GPUs), rounded to cents per node
    const metered = (hours: number, hourly: string) => new D(hours * 4).mul(new D(hourly).div(4).toDecimalPlaces(10)).toDecimalPlaces(2);
    expect(od.meteredCost.toFixed(2)).toBe(metered(odHours, price.onDemandHourly).toFixed(2));
    expect(od.awsCost.toFixed(2)).toBe(expectedAws(OD).toDecimalPlaces(2).toFixed(2));
    expect(od.difference.toFixed(2)).toBe(od.awsCost.sub(od.meteredCost).toFixed(2));
    expect(od.differencePct!.toFixed(2)).toBe(od.difference.div(od.awsCost).mul(100).toDecimalPlaces(2).toFixed(2));
    // the Spot group holds the matched Spot node and the node with no provider id (metered, nothing billed for it)
    expect(spot.nodes).toBe(2);
    expect(spot.awsCost.toFixed(2)).toBe(expectedAws(SPOT).toDecimalPlaces(2).toFixed(2));
    expect(spot.meteredCost.toFixed(2)).toBe(metered(372, price.spotHourly).add(metered(1, price.spotHourly)).toFixed(2));
    expect(r.billedNotMetered.map((b) => [b.instanceId, b.awsCost.toFixed(2)])).toEqual([[GHOST, expectedAws(GHOST).toFixed(2)]]);
    expect(r.meteredNotBilled.map((n) => [n.node, n.reason])).toEqual([["g5-noid", "no-instance-id"]]);
    // the Spot credit is shown, not folded into the cost; the CPU instance and the data transfer are not GPU capacity
    expect(r.otherLineItems.map((o) => [o.lineItemType, o.items, o.unblendedCost.toFixed(2)])).toEqual([["Credit", 1, "-1.70"]]);
    expect(r.totals.awsCost.toFixed(2)).toBe(od.awsCost.add(spot.awsCost).add(expectedAws(GHOST)).toFixed(2));
    expect(r.invoiced).toBe(true);

    // reconciliation.csv beside the dataset says the same
    expect(location).toBe(path.join(dir, `month=${MONTH}`, RECONCILIATION_FILE));
    const [head, ...lines] = parseCsv(await readFile(location, "utf8"));
    const at = (line: string[], col: string) => line[head!.indexOf(col)];
    const odLine = lines.find((l) => at(l, "node_group") === "ng-g5")!;
    expect([at(odLine, "kind"), at(odLine, "aws_cost"), at(odLine, "metered_cost"), at(odLine, "difference")]).toEqual([
      "node_group",
      od.awsCost.toFixed(2),
      od.meteredCost.toFixed(2),
      od.difference.toFixed(2),
    ]);
    expect(lines.filter((l) => at(l, "kind") === "billed_not_metered").map((l) => at(l, "instance_id"))).toEqual([GHOST]);
    expect(lines.filter((l) => at(l, "kind") === "metered_not_billed").map((l) => at(l, "node"))).toEqual(["g5-noid"]);
    expect(at(lines.at(-1)!, "kind")).toBe("total");
  });

  it("given the same dataset and CUR, when reconciled again, then reconciliation.csv is byte-identical", async () => {
    const file = path.join(dir, `month=${MONTH}`, RECONCILIATION_FILE);
    const first = await readFile(file);
    await reconcileMonth(deps(), cfg, MONTH);
    expect((await readFile(file)).equals(first)).toBe(true);
  });

  it("given a CUR that ends before the metered month does (AWS not yet delivered), when reconciled, then it is 'not yet available' (bad input, exit 2) and nothing is written", async () => {
    const early = path.join(dir, "cur-early.parquet");
    await writeCur(
      early,
      runs.filter((r) => r.resourceId === SPOT),
      "",
    );
    const other = await mkdtemp(path.join(tmpdir(), "reconcile-early-"));
    try {
      await expect(
        reconcileMonth({ ...deps(), cur: curParquetFile(early), sink: localReconciliationSink(other) }, cfg, MONTH),
      ).rejects.toBeInstanceOf(CurNotYetAvailableError);
      expect(await readdir(path.join(other, `month=${MONTH}`)).catch(() => [])).not.toContain(RECONCILIATION_FILE);
      const code = await main(["reconcile", "--month", MONTH, "--cur", early, "--out", dir]);
      expect(code).toBe(2);
    } finally {
      await rm(other, { recursive: true, force: true });
    }
  });

  it("given reconciliation.csv beside the dataset, when the finance report is built, then the platform report carries the section and a tenant's does not", async () => {
    const { reconciliation: r } = await reconcileMonth(deps(), cfg, MONTH);
    const ds = await localDatasetSource(dir).read(MONTH);
    const model = buildReportModel(ds, cfg, { kind: "all" });
    expect(model.reconciliation!.lines.map((l) => [l.nodeGroup, l.awsCost.toFixed(2), l.meteredCost.toFixed(2)])).toEqual(
      r.groups.map((g) => [g.nodeGroup, g.awsCost.toFixed(2), g.meteredCost.toFixed(2)]),
    );
    expect(model.reconciliation!.total.difference.toFixed(2)).toBe(r.totals.difference.toFixed(2));
    expect([model.reconciliation!.billedNotMetered, model.reconciliation!.meteredNotBilled]).toEqual([1, 1]);
    expect(buildReportModel(ds, cfg, { kind: "tenant", tenantId: "suwon" }).reconciliation).toBeUndefined();
    const pdf = await renderReportPdf(model, { lang: "en", fonts: fontFiles() });
    expect(pdf.subarray(0, 5).toString()).toBe("%PDF-");
    if (process.env.KEEP_REPORT_PDF) await writeFile(process.env.KEEP_REPORT_PDF, pdf);
  });

  it("given the CLI, when reconcile runs on the month, then it exits 0 and prints the table", async () => {
    expect(await main(["reconcile", "--month", MONTH, "--cur", curFile, "--out", dir])).toBe(0);
  });
});
