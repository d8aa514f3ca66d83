/**
 * Benchmark: `npm start` as a new user meets it. The demo runs as a child process, first
 * with an empty month cache (a fresh clone: generate, write and backfill the month), then
 * with the cache it left (`repeat` times); each phase is timed from the demo's own progress
 * lines. Beside it, the backfill of one generated day with promtool's default block length
 * and with ours, the change that cut the first run most.
 */
import { execFile, spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { fileURLToPath } from "node:url";
import { DEMO_MONTH, generateMonth, writeOpenMetricsDays } from "../../functions/demo/month-generator.js";
import { PROMTOOL } from "../../functions/demo/system-packages.js";

const run = promisify(execFile);
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");

/** The demo's progress lines that end each phase, in order. */
const PHASES = [
  ["start-up", /^Generating and backfilling/],
  ["month data", /^Prometheus 2\.42 running/],
  ["meter", /metered from/],
  ["exact-answer check", /^Quota status for/],
  ["quota status", /^Rendering the/],
] as const;
const PHASE_NAMES = [...PHASES.map(([n]) => n), "reports", "total"];

/** Seconds per phase of one `npm start` (bin/demo.mjs, as npm runs it: the build, rebuilt first if stale). */
async function timeDemo(cacheDir: string, out: string): Promise<number[]> {
  const t0 = performance.now();
  const marks: number[] = [];
  const child = spawn(process.execPath, ["bin/demo.mjs", "--cache-dir", cacheDir, "--out", out], {
    cwd: ROOT,
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stderr = "";
  let pending = "";
  child.stderr.on("data", (d) => (stderr += d));
  child.stdout.on("data", (d: Buffer) => {
    const lines = (pending + d.toString("utf8")).split("\n");
    pending = lines.pop()!;
    for (const l of lines) if (marks.length < PHASES.length && PHASES[marks.length]![1].test(l.trim())) marks.push(performance.now());
  });
  const code = await new Promise<number>((r) => child.on("exit", (c) => r(c ?? 1)));
  const end = performance.now();
  if (code !== 0 || marks.length !== PHASES.length)
    throw new Error(`npm start failed (exit ${code}, ${marks.length}/${PHASES.length} phases seen): ${stderr.slice(-2000)}`);
  const bounds = [t0, ...marks, end];
  return [...bounds.slice(1).map((b, i) => (b - bounds[i]!) / 1000), (end - t0) / 1000];
}

/** Wall seconds for promtool to backfill one generated day file with `--max-block-duration` (undefined: its default). */
async function timePromtool(file: string, blockDuration: string | undefined): Promise<number> {
  const out = await mkdtemp(path.join(tmpdir(), "bench-blocks-"));
  try {
    const t0 = performance.now();
    await run(PROMTOOL, [
      "tsdb",
      "create-blocks-from",
      "openmetrics",
      "--quiet",
      ...(blockDuration ? [`--max-block-duration=${blockDuration}`] : []),
      file,
      out,
    ]);
    return (performance.now() - t0) / 1000;
  } finally {
    await rm(out, { recursive: true, force: true });
  }
}

export interface DemoBenchResult {
  first: number[];
  cached: number[];
  promtoolDefault: number;
  promtoolOurs: number;
  dayFileMb: number;
}

export async function runDemoBench(opts: { repeat: number; blockDuration: string }): Promise<DemoBenchResult> {
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  const work = await mkdtemp(path.join(tmpdir(), "bench-demo-"));
  try {
    const cacheDir = path.join(work, "cache");
    const out = path.join(work, "out");
    const first = await timeDemo(cacheDir, out);
    const cachedRuns: number[][] = [];
    for (let i = 0; i < opts.repeat; i++) cachedRuns.push(await timeDemo(cacheDir, out));
    const cached = PHASE_NAMES.map((_, i) => median(cachedRuns.map((r) => r[i]!)));
    // One full day of the demo month (the second file: the first starts 3 h before the month).
    const files = await writeOpenMetricsDays(generateMonth({ ...DEMO_MONTH, days: 2 }), path.join(work, "om"));
    const day = files[1]!;
    const { size } = await import("node:fs/promises").then((fs) => fs.stat(day));
    const def: number[] = [];
    const ours: number[] = [];
    for (let i = 0; i < opts.repeat; i++) {
      def.push(await timePromtool(day, undefined));
      ours.push(await timePromtool(day, opts.blockDuration));
    }
    return { first, cached, promtoolDefault: median(def), promtoolOurs: median(ours), dayFileMb: size / 1e6 };
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

export function formatDemoBench(r: DemoBenchResult, repeat: number, blockDuration: string): string {
  const w = Math.max(...PHASE_NAMES.map((n) => n.length));
  const lines = [
    `npm start (the demo month 2026-10), seconds per phase; cached: median of ${repeat} runs`,
    `${"phase".padEnd(w)}  ${"first run".padStart(9)}  ${"cached".padStart(7)}`,
  ];
  PHASE_NAMES.forEach((n, i) =>
    lines.push(`${n.padEnd(w)}  ${r.first[i]!.toFixed(1).padStart(9)}  ${r.cached[i]!.toFixed(1).padStart(7)}`),
  );
  lines.push(
    "",
    `promtool backfill of one demo day (${r.dayFileMb.toFixed(0)} MB of OpenMetrics), median of ${repeat}: default block length ${r.promtoolDefault.toFixed(1)} s, ` +
      `--max-block-duration=${blockDuration} ${r.promtoolOurs.toFixed(1)} s (${(r.promtoolDefault / r.promtoolOurs).toFixed(1)}× faster)`,
  );
  return lines.join("\n");
}
