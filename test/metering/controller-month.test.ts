import { execFileSync } from "node:child_process";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mkdtemp, readFile, readdir, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { DeleteObjectCommand, PutObjectCommand } from "@aws-sdk/client-s3";
import ExcelJS from "exceljs";
import { createPrometheusClient } from "../../functions/adapters/prometheus-client.js";
import { loadQueries } from "../../functions/adapters/query-files.js";
import { localSink } from "../../functions/adapters/dataset-sink.js";
import { s3AuditSource, writeAuditLog } from "../../functions/adapters/controller-audit-log.js";
import type { MeterResult } from "../../functions/metering/meter-month.js";
import { meterMonthFromPrometheus } from "../../functions/wiring/prometheus-metering.js";
import { ControllerAuditError } from "../../functions/core/controller-savings.js";
import { billingMonth } from "../../functions/core/month.js";
import { D, type Dec } from "../../functions/core/decimal.js";
import { demoAuditRecords } from "../../functions/demo/demo-controller-audit.js";
import { prepareMonthData, startPrometheus } from "../../functions/demo/local-prometheus.js";
import type { generateMonth } from "../../functions/demo/month-generator.js";
import { localDatasetSource } from "../../functions/adapters/dataset-source.js";
import { buildReportModel } from "../../functions/report/report-model.js";
import { renderReportPdf } from "../../functions/report/pdf-report.js";
import { renderReportWorkbook, SHEETS } from "../../functions/report/xlsx-report.js";
import { DEMO_MONTH_DATA } from "../global-setup.js";
import { startS3, type LocalS3 } from "../support/s3.js";
import { referenceConfig } from "../core/fixtures.js";
import { fontFiles } from "../../functions/adapters/font-files.js";

const MONTH = "2026-10";
const NOW = new Date("2026-11-23T00:00:00Z");
const BUCKET = "ops";
const AUDIT = "controller/audit";
const H = 3_600_000;

/**
 * The month's controller summary end to end with real parts: a real Prometheus 2.42 serving the
 * demo month, the controller's own audit writer into a real local S3 (s3rver), the meter reading
 * it back through its port, the dataset on disk, and the PDF and workbook rendered from it.
 */
describe("metering records what the controller did in the month (real Prometheus, s3rver audit log)", () => {
  const cfg = referenceConfig();
  let prom: { url: string; stop(): Promise<void> };
  let s3: LocalS3;
  let gen: ReturnType<typeof generateMonth>;
  const dirs: Record<"a" | "b" | "none", string> = { a: "", b: "", none: "" };
  let first: MeterResult;
  let badError: unknown;
  let badDirHadManifest = true;
  const endMs = billingMonth(MONTH, cfg.timeZone).endMs;

  beforeAll(async () => {
    const prepared = await prepareMonthData({ ...DEMO_MONTH_DATA });
    gen = prepared.gen;
    prom = await startPrometheus({ dataDir: prepared.dataDir });
    s3 = await startS3(BUCKET);
    for (const k of Object.keys(dirs) as (keyof typeof dirs)[]) dirs[k] = await mkdtemp(path.join(tmpdir(), `ctl-month-${k}-`));
    // The demo's reclaims, and a dry-run decision a day earlier that must not count, written by the controller's own audit writer.
    const records = demoAuditRecords(gen, endMs);
    for (const r of records) await writeAuditLog(s3.client, BUCKET, AUDIT, cfg.timeZone, new Date(r.at), r.runId, [r]);
    const dry = {
      ...records[0]!,
      runId: "dry",
      at: new Date(Date.parse(records[0]!.at) - 24 * H).toISOString(),
      dryRun: true,
      outcome: "dry-run: not acted on",
    };
    await writeAuditLog(s3.client, BUCKET, AUDIT, cfg.timeZone, new Date(dry.at), dry.runId, [dry]);

    const deps = (sinkDir: string, audit = true) => ({
      prometheus: createPrometheusClient({ url: prom.url }),
      sink: localSink(sinkDir),
      queries: loadQueries(),
      ...(audit ? { controllerAudit: s3AuditSource(s3.client, BUCKET, AUDIT) } : {}),
    });
    // A broken line first: the run must fail as bad input and publish nothing.
    const badKey = `${AUDIT}/day=2026-10-15/20261015T000000Z-broken.jsonl`;
    await s3.client.send(new PutObjectCommand({ Bucket: BUCKET, Key: badKey, Body: "{truncated\n" }));
    badError = await meterMonthFromPrometheus(deps(dirs.a), cfg, MONTH, NOW).catch((e: unknown) => e);
    badDirHadManifest = await stat(path.join(dirs.a, `month=${MONTH}`, "manifest.json")).then(
      () => true,
      () => false,
    );
    await s3.client.send(new DeleteObjectCommand({ Bucket: BUCKET, Key: badKey }));
    first = await meterMonthFromPrometheus(deps(dirs.a), cfg, MONTH, NOW);
    await meterMonthFromPrometheus(deps(dirs.b), cfg, MONTH, NOW);
    await meterMonthFromPrometheus(deps(dirs.none, false), cfg, MONTH, NOW);
  }, 600_000);
  afterAll(async () => {
    await prom?.stop();
    await s3?.stop();
  });

  const file = (dir: string, name: string) => readFile(path.join(dir, `month=${MONTH}`, name));

  it("given an audit line that is not JSON, when metering, then it fails as bad input naming the object and line, and no dataset is published", () => {
    expect(badError).toBeInstanceOf(ControllerAuditError);
    expect((badError as ControllerAuditError).problems).toEqual([
      expect.stringMatching(/^day=2026-10-15\/20261015T000000Z-broken\.jsonl line 1: not JSON/),
    ]);
    expect(badDirHadManifest).toBe(false);
  });

  it("given the demo's reclaim of g4dn-od-late, then controller-actions.csv has its group, its GPUs × the hours to the month end, priced at the group's capacity unit price", async () => {
    const node = gen.nodes.find((n) => n.name === "g4dn-od-late")!;
    const hours = new D(node.gpus)
      .mul(endMs - node.endMs)
      .div(H)
      .toDecimalPlaces(6);
    const capacity = first.chargeback.capacity.find((c) => c.nodeGroup === node.group)!;
    const csv = (await file(dirs.a, "controller-actions.csv")).toString("utf8").trimEnd().split("\n");
    expect(csv).toEqual([
      "month,node_group,instance_type,capacity_type,nodes_reclaimed,scale_outs,nodes_added,gpu_node_hours_saved,unit_price,saved_cost,currency",
      `2026-10,${node.group},g4dn.12xlarge,on-demand,1,0,0,${hours.toFixed()},${capacity.unitPrice.toFixed()},${hours.mul(capacity.unitPrice).toFixed(2)},USD`,
    ]);
    expect(hours.toNumber()).toBeGreaterThan(0);
  });

  it("given the month metered twice from the same inputs, then every dataset file and the manifest are byte-identical, and the manifest lists and hashes controller-actions.csv", async () => {
    const names = (await readdir(path.join(dirs.a, `month=${MONTH}`), { recursive: true })).filter((n) => n.includes("."));
    expect(names).toContain("controller-actions.csv");
    for (const n of names) expect((await file(dirs.b, n)).equals(await file(dirs.a, n)), n).toBe(true);
    const manifest = JSON.parse((await file(dirs.a, "manifest.json")).toString("utf8"));
    expect(manifest.files["controller-actions.csv"]).toMatchObject({ rows: 1 });
    expect(manifest.controller.clusters).toEqual([
      { cluster: "default", status: "acted", auditObjects: 2, auditRecords: 2, auditSha256: expect.stringMatching(/^[0-9a-f]{64}$/) },
    ]);
    expect(manifest.controller.totals.nodesReclaimed).toBe(1);
  });

  it("given no controller audit log wired, then the dataset still carries controller-actions.csv (header only) and the manifest says not-deployed", async () => {
    expect((await file(dirs.none, "controller-actions.csv")).toString("utf8").trimEnd().split("\n")).toHaveLength(1);
    const manifest = JSON.parse((await file(dirs.none, "manifest.json")).toString("utf8"));
    expect(manifest.controller.clusters).toEqual([{ cluster: "default", status: "not-deployed", auditObjects: 0, auditRecords: 0 }]);
    expect(manifest.controller.totals).toEqual({
      nodesReclaimed: 0,
      scaleOuts: 0,
      nodesAdded: 0,
      gpuNodeHoursSaved: "0",
      savedCost: "0.00",
    });
  });

  it("given the dataset, when the platform PDF is rendered, then the controller section shows what reclaiming saved beside the idle GPU-hours and their cost", async () => {
    const ds = await localDatasetSource(dirs.a).read(MONTH);
    const model = buildReportModel(ds, cfg, { kind: "all" });
    const pdf = path.join(dirs.a, "all-en.pdf");
    await writeFile(pdf, await renderReportPdf(model, { lang: "en", fonts: fontFiles() }));
    const text = execFileSync("pdftotext", ["-layout", pdf, "-"], { encoding: "utf8" });
    const saved = ds.controller![0]!;
    const fmt = (d: Dec, dp: number) =>
      Number(d.toFixed(dp)).toLocaleString("en-US", { minimumFractionDigits: dp, maximumFractionDigits: dp });
    expect(text).toContain("Idle-node controller: what reclaiming saved");
    expect(text).toContain(
      `${fmt(new D(ds.manifest.totals.idleGpuHours!), 2)} GPU-h stayed idle (USD ${fmt(new D(ds.manifest.totals.idleCost!), 2)}); reclaiming saved an estimated ${fmt(saved.gpuNodeHoursSaved, 2)} GPU-h (USD ${fmt(saved.savedCost, 2)})`,
    );
    expect(text).toMatch(
      new RegExp(`ng-g4dn-on-demand\\s+g4dn\\.12xlarge\\s+1\\s+0\\s+${fmt(saved.gpuNodeHoursSaved, 2).replace(/[.,]/g, "\\$&")}`),
    );
    // A tenant's report carries none of it: the platform's capacity is not a tenant's business.
    expect(buildReportModel(ds, cfg, { kind: "tenant", tenantId: "suwon" }).controller).toBeUndefined();
  });

  it("given the dataset, when the workbook is rendered, then its Controller sheet has the group's figures and the Summary links to its totals", async () => {
    const ds = await localDatasetSource(dirs.a).read(MONTH);
    const wb = new ExcelJS.Workbook();
    await wb.xlsx.load((await renderReportWorkbook(buildReportModel(ds, cfg, { kind: "all" }), { lang: "en" })) as unknown as ArrayBuffer);
    const ws = wb.getWorksheet(SHEETS.en.controller)!;
    const row = ws.getRow(2);
    const saved = ds.controller![0]!;
    expect([row.getCell(1).value, row.getCell(4).value, row.getCell(5).value, row.getCell(7).value, row.getCell(9).value]).toEqual([
      "ng-g4dn-on-demand",
      1,
      0,
      saved.gpuNodeHoursSaved.toNumber(),
      saved.savedCost.toNumber(),
    ]);
    const summary = wb.getWorksheet(SHEETS.en.summary)!;
    const cells: unknown[] = [];
    summary.eachRow((r) => cells.push(r.getCell(2).value));
    expect(cells).toContainEqual(expect.objectContaining({ formula: `'${SHEETS.en.controller}'!I3`, result: saved.savedCost.toNumber() }));
  });
});
