/**
 * Benchmark: the monthly reports of a large month (hundreds of namespaces, thousands of
 * chargeback rows, tens of thousands of daily rows). A dataset is synthesized and written
 * like `meter` writes it; then, in a fresh child process (so its peak RSS is the report's
 * alone, as in a Lambda), the dataset is read back and the platform PDF + workbook and
 * every tenant's PDF + workbook are rendered, timing each step.
 *
 *   npx tsx test/bench/report-bench.ts [--namespaces 400] [--tenants 40]
 */
import { spawnSync } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { computeChargeback } from "../../functions/core/chargeback.js";
import { configHash, stableStringify } from "../../functions/core/config.js";
import { renderDataset } from "../../functions/core/dataset.js";
import { billingMonth } from "../../functions/core/month.js";
import { localSink } from "../../functions/adapters/dataset-sink.js";
import type { MonthUsage, NodeRecord, UsageRecord } from "../../functions/core/usage.js";
import { referenceConfigText } from "../core/fixtures.js";
import { type Config, parseConfig } from "../../functions/config/config-schema.js";
import { fontFiles } from "../../functions/adapters/font-files.js";

const MONTH = "2026-10";
const self = fileURLToPath(import.meta.url);

export interface ReportBenchResult {
  namespaces: number;
  tenants: number;
  chargebackRows: number;
  dailyRows: number;
  capacityRows: number;
  datasetBytes: number;
  readMs: number;
  fullPdfMs: number;
  fullPdfBytes: number;
  fullPdfPages: number;
  fullXlsxMs: number;
  fullXlsxBytes: number;
  tenantReportsMs: number;
  totalMs: number;
  peakRssMb: number;
}

/** A deterministic large month: `tenants` tenants, `namespaces` namespaces spread over 4 instance types × Spot/On-Demand. */
export function synthesizeLargeMonth(namespaces: number, tenants: number): { cfg: Config; usage: MonthUsage } {
  const base = parseConfig(referenceConfigText, "reference-customer.yaml");
  const cfg: Config = {
    ...base,
    tenants: Array.from({ length: tenants }, (_, i) => ({
      id: `t${String(i).padStart(3, "0")}`,
      name: `테넌트 ${i}`,
      namespaces: [`t${String(i).padStart(3, "0")}-*`],
      monthlyQuotaGpuHours: i % 3 === 0 ? undefined : 500 + i * 10,
      recipients: [`t${i}@example.com`],
    })),
  };
  let seed = 42;
  const rnd = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  const types = Object.keys(cfg.prices);
  const bm = billingMonth(MONTH, cfg.timeZone);
  const nodeNames: { name: string; type: string; cap: string }[] = [];
  for (const type of types)
    for (const cap of ["spot", "on-demand"])
      for (let k = 0; k < Math.ceil(namespaces / 8); k++) nodeNames.push({ name: `${type}-${cap}-${k}`, type, cap });
  const nodes: NodeRecord[] = [];
  for (const d of bm.days)
    for (const n of nodeNames)
      nodes.push({
        day: d.day,
        node: n.name,
        instanceType: n.type,
        capacityLabel: n.cap,
        gpuReplicas: 1,
        nodeMinutes: 1440,
        nodeGroup: `${n.type}-${n.cap}`,
      });
  const usage: UsageRecord[] = [];
  for (let i = 0; i < namespaces; i++) {
    const ns = `t${String(i % tenants).padStart(3, "0")}-ns-${i}`;
    const level = 0.1 + rnd() * 0.85;
    const used = Array.from({ length: 3 }, () => nodeNames[Math.floor(rnd() * nodeNames.length)]!.name);
    for (const d of bm.days)
      for (const node of used) {
        const req = Math.floor(rnd() * 240) + 30; // stays within the nodes' capacity
        usage.push({
          day: d.day,
          namespace: ns,
          node,
          resource: "nvidia_com_gpu",
          requestMinutes: req,
          usedMinutes: Math.round(req * level * 1e6) / 1e6,
        });
      }
  }
  return { cfg, usage: { usage, nodes, namespaces: [] } };
}

async function renderPhase(dir: string, cfgText: string): Promise<void> {
  const { localDatasetSource } = await import("../../functions/adapters/dataset-source.js");
  const { buildReportModel } = await import("../../functions/report/report-model.js");
  const { renderReportPdf } = await import("../../functions/report/pdf-report.js");
  const { renderReportWorkbook } = await import("../../functions/report/xlsx-report.js");
  const cfg = parseConfig(cfgText, "bench");
  const t0 = performance.now(); // after module loading: a warm Lambda has its modules loaded
  const ds = await localDatasetSource(dir).read(MONTH);
  const t1 = performance.now();
  const full = buildReportModel(ds, cfg, { kind: "all" });
  const pdf = await renderReportPdf(full, { lang: "ko", fonts: fontFiles() });
  const t2 = performance.now();
  const xlsx = await renderReportWorkbook(full, { lang: "ko" });
  const t3 = performance.now();
  for (const t of cfg.tenants) {
    const m = buildReportModel(ds, cfg, { kind: "tenant", tenantId: t.id });
    await renderReportPdf(m, { lang: "ko", fonts: fontFiles() });
    await renderReportWorkbook(m, { lang: "ko" });
  }
  const t4 = performance.now();
  const pages = (pdf.toString("latin1").match(/\/Type \/Page\b/g) ?? []).length;
  process.stdout.write(
    JSON.stringify({
      readMs: t1 - t0,
      fullPdfMs: t2 - t1,
      fullPdfBytes: pdf.length,
      fullPdfPages: pages,
      fullXlsxMs: t3 - t2,
      fullXlsxBytes: xlsx.length,
      tenantReportsMs: t4 - t3,
      totalMs: t4 - t0,
      peakRssMb: process.resourceUsage().maxRSS / 1024,
    }) + "\n",
  );
}

/** Synthesizes the month, then renders it in a child process; returns timings and the child's peak RSS. */
export async function runReportBench(opts: { namespaces?: number; tenants?: number } = {}): Promise<ReportBenchResult> {
  const namespaces = opts.namespaces ?? 400;
  const tenants = opts.tenants ?? 40;
  const { cfg, usage } = synthesizeLargeMonth(namespaces, tenants);
  const cb = computeChargeback(usage, cfg, MONTH);
  const bm = billingMonth(MONTH, cfg.timeZone);
  const ds = renderDataset(cb, {
    month: MONTH,
    timeZone: cfg.timeZone,
    startIso: new Date(bm.startMs).toISOString(),
    endIso: new Date(bm.endMs).toISOString(),
    prometheusUrl: "bench",
    configHash: configHash(cfg),
  });
  const dir = await mkdtemp(path.join(tmpdir(), "report-bench-"));
  try {
    await localSink(dir).write(MONTH, ds);
    const cfgText = stableStringify(cfg);
    const r = spawnSync(process.execPath, ["--import", "tsx", self, "--phase", "render", "--dir", dir], {
      input: cfgText,
      encoding: "utf8",
      maxBuffer: 16 * 1024 * 1024,
      cwd: path.resolve(path.dirname(self), "../.."),
    });
    if (r.status !== 0) throw new Error(`render phase failed: ${r.stderr}`);
    const line = r.stdout.trim().split("\n").at(-1)!;
    return {
      namespaces,
      tenants,
      chargebackRows: cb.rows.length,
      dailyRows: cb.daily.length,
      capacityRows: cb.capacity.length,
      datasetBytes: ds.files.reduce((a, f) => a + f.body.length, 0),
      ...(JSON.parse(line) as Omit<
        ReportBenchResult,
        "namespaces" | "tenants" | "chargebackRows" | "dailyRows" | "capacityRows" | "datasetBytes"
      >),
    };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

export function formatReportBench(r: ReportBenchResult): string {
  const s = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
  return [
    `report benchmark: ${r.namespaces} namespaces, ${r.tenants} tenants → ${r.chargebackRows} chargeback rows, ${r.dailyRows} daily rows, ${r.capacityRows} node groups (${(r.datasetBytes / 1e6).toFixed(1)} MB of CSV)`,
    `  read + verify dataset   ${s(r.readMs)}`,
    `  platform PDF            ${s(r.fullPdfMs)}  (${r.fullPdfPages} pages, ${(r.fullPdfBytes / 1e6).toFixed(2)} MB)`,
    `  platform workbook       ${s(r.fullXlsxMs)}  (${(r.fullXlsxBytes / 1e6).toFixed(2)} MB)`,
    `  ${r.tenants} tenant PDFs+workbooks ${s(r.tenantReportsMs)}`,
    `  total ${s(r.totalMs)}, peak RSS ${r.peakRssMb.toFixed(0)} MB (the render process alone)`,
  ].join("\n");
}

if (process.argv[1] && path.resolve(process.argv[1]) === self) {
  const { values } = parseArgs({
    options: { phase: { type: "string" }, dir: { type: "string" }, namespaces: { type: "string" }, tenants: { type: "string" } },
    strict: true,
  });
  if (values.phase === "render") {
    const chunks: Buffer[] = [];
    for await (const c of process.stdin) chunks.push(c as Buffer);
    await renderPhase(values.dir!, Buffer.concat(chunks).toString("utf8"));
  } else {
    const r = await runReportBench({
      namespaces: values.namespaces ? Number(values.namespaces) : undefined,
      tenants: values.tenants ? Number(values.tenants) : undefined,
    });
    console.log(formatReportBench(r));
  }
}
