/**
 * The embedded default (`npm start`): meters a generated demo month end to end
 * against a real local Prometheus, writes the chargeback dataset to ./out and
 * prints the per-tenant summary, then checks it against the generator's exact answer.
 */
import { spawn } from "node:child_process";
import path from "node:path";
import { parseArgs } from "node:util";
import { main } from "./main.js";
import { DEFAULT_CONFIG, loadConfig } from "./cli-args.js";
import { computeChargeback } from "../core/chargeback.js";
import { ensureDebianPackages, PROMETHEUS_PACKAGE } from "../demo/system-packages.js";
import { packageFile } from "../package-files.js";

/**
 * `--cache-dir` and `--out` let the benchmark time a first run (an empty cache) beside
 * cached ones without touching the checkout's own cache and ./out.
 */
async function demo(argv: string[]): Promise<number> {
  const { values } = parseArgs({ args: argv, options: { "cache-dir": { type: "string" }, out: { type: "string" } } });
  ensureDebianPackages([PROMETHEUS_PACKAGE], { purpose: "npm start", install: true });
  const { prepareMonthData, startPrometheus } = await import("../demo/local-prometheus.js");
  const { DEMO_MONTH: DEMO_SPEC, exactAnswer } = await import("../demo/month-generator.js");
  const DEMO_MONTH = DEMO_SPEC.month;
  const cacheDir = values["cache-dir"] ? path.resolve(values["cache-dir"]) : packageFile(".tmp", "month-cache");
  console.log(`Generating and backfilling the demo month ${DEMO_MONTH} (cached in ${path.relative(process.cwd(), cacheDir)})…`);
  const t0 = Date.now();
  const { dataDir, gen } = await prepareMonthData({ ...DEMO_SPEC, cacheDir });
  console.log(`  ready in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  const prom = await startPrometheus({ dataDir });
  console.log(`Prometheus 2.42 running at ${prom.url}`);
  // The quota status reads the month through Prometheus as the hourly check does — the same
  // queries as the meter, seconds of Prometheus CPU — so it runs beside the meter, as its own
  // `gpu-billing` process whose output is printed in its place below.
  const quotaStatus = runQuietly(["quota", "status", "--month", DEMO_MONTH, "--config", DEFAULT_CONFIG, "--prometheus-url", prom.url]);
  try {
    const out = path.resolve(values.out ?? "out");
    // The demo's controller audit log (from the generator's node lifecycle, not a controller run), so the report shows what reclaiming saved.
    const { demoAuditRecords, writeDemoAuditLog } = await import("../demo/demo-controller-audit.js");
    const { billingMonth } = await import("../core/month.js");
    const { rm } = await import("node:fs/promises");
    const auditDir = path.join(out, "demo-controller-audit");
    await rm(auditDir, { recursive: true, force: true });
    const records = demoAuditRecords(gen, billingMonth(DEMO_MONTH, gen.timeZone).endMs);
    await writeDemoAuditLog(auditDir, gen.timeZone, records);
    console.log(
      `Demo controller audit log: ${records.length} reclaim(s) derived from the generator's node lifecycle → ${path.relative(process.cwd(), auditDir)}/`,
    );
    const code = await main([
      "meter",
      "--month",
      DEMO_MONTH,
      "--config",
      DEFAULT_CONFIG,
      "--prometheus-url",
      prom.url,
      "--out",
      out,
      "--controller-audit",
      auditDir,
    ]);
    if (code !== 0) return code;
    const cfg = await loadConfig(DEFAULT_CONFIG);
    const expected = computeChargeback(exactAnswer(gen), cfg, DEMO_MONTH).totals;
    const { readFile } = await import("node:fs/promises");
    const manifest = JSON.parse(await readFile(path.join(out, `month=${DEMO_MONTH}`, "manifest.json"), "utf8"));
    const got = Number(manifest.totals.allocatedGpuHours);
    const want = Number(expected.allocatedGpuHours.toFixed());
    console.log(
      `\nCheck against the generator's exact answer: allocated ${got.toFixed(3)} GPU-h metered vs ${want.toFixed(3)} exact ` +
        `(${(((got - want) / want) * 100).toFixed(4)}%), cost ${manifest.totals.cost} vs ${expected.cost.toFixed(cfg.currencyDecimals)} ${manifest.currency}.`,
    );
    // The manifest's own list, so a file added to the dataset is never missing here.
    const listed = [
      ...new Set(Object.keys(manifest.files as Record<string, unknown>).map((f) => (f.includes("/") ? `${f.split("/")[0]}/` : f))),
    ];
    console.log(`Dataset: ${path.join(out, `month=${DEMO_MONTH}`)}/ (${[...listed, "manifest.json"].join(", ")})`);
    // The municipalities' quotas (100 / 100 / 50 GPU-h): one comfortably under, one past the 80 % warning, one past 100 %.
    console.log(`\nQuota status for ${DEMO_MONTH} (what the hourly quota check sees; nothing is sent or enforced here):`);
    const quota = await quotaStatus;
    process.stdout.write(quota.stdout);
    process.stderr.write(quota.stderr);
    if (quota.code !== 0) return quota.code;
    // Reports from the dataset just written: PDFs, workbooks and the emails as .eml (nothing is sent).
    console.log(`\nRendering the ${DEMO_MONTH} reports (PDF, Excel) and their emails…`);
    return await main(["report", "--month", DEMO_MONTH, "--config", DEFAULT_CONFIG, "--out", out]);
  } finally {
    await prom.stop();
  }
}

/** Runs a `gpu-billing` command in a child process, its output kept until the caller prints it. */
function runQuietly(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [packageFile("bin", "gpu-billing.mjs"), ...args], { stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code: code ?? 1, stdout, stderr }));
  });
}

demo(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (e) => {
    console.error(`error: ${(e as Error).message}`);
    process.exit(1);
  },
);
