/**
 * A real Prometheus 2.42 (Debian's package) for tests, the demo and the
 * benchmark: backfill a generated month with promtool, start a server on a
 * free loopback port over a private copy of the blocks, stop and clean up.
 */
import { spawn, execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { cp, mkdir, mkdtemp, readdir, rm, writeFile, rename } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { ensureDebianPackages, PROMETHEUS, PROMETHEUS_PACKAGE, PROMTOOL } from "./system-packages.js";
import { generateMonth, writeOpenMetricsDays, type DcgmShape, type GeneratedMonth, type Scale } from "./month-generator.js";
import { packageFile } from "../package-files.js";

const run = promisify(execFile);

export function ensurePrometheusInstalled(): void {
  ensureDebianPackages([PROMETHEUS_PACKAGE], { purpose: "the local Prometheus", install: false });
}

/**
 * promtool's block length for backfilled data. promtool parses the whole input file once to
 * find its time range and once more per block range it spans (cmd/promtool/backfill.go,
 * createBlocks: ranges aligned to multiples of the block length from the epoch), and rounds
 * the flag down to a compaction range (2 h × 3^k: 2, 6, 18, 54, 162 h…). With its default 2 h
 * a generated day is parsed 13 times; with 18 h blocks 3 times; with 162 h a day file lies in
 * one block unless it crosses one of the boundaries a week apart, so 2.15 times on average:
 * measured on one demo day file, 4.4 → 3.6 s of CPU from 18 h to one block. The Prometheus
 * storage docs (Backfilling from OpenMetrics format) name the flag for this: larger blocks
 * speed up backfilling large datasets, at the cost of compaction granularity a read-only test
 * server does not need.
 */
export const BACKFILL_BLOCK_DURATION = "162h";

/**
 * Two promtool processes at a time on this 2-core machine, fed as day files arrive, so a
 * month is backfilled while the generator is still writing its later days. `removeAfter`
 * deletes each file once it is in blocks (a demo month is some 5 GB of text).
 */
export function backfillPool(
  dataDir: string,
  opts: { removeAfter?: boolean; workers?: number } = {},
): { add(file: string): void; done(): Promise<void> } {
  ensurePrometheusInstalled();
  const queue: string[] = [];
  const idle: (() => void)[] = [];
  const wakeAll = () => idle.splice(0).forEach((w) => w());
  let failure: Error | undefined;
  let closed = false;
  const ready = mkdir(dataDir, { recursive: true });
  const worker = async () => {
    await ready;
    for (;;) {
      if (failure) return;
      const f = queue.shift();
      if (f === undefined) {
        if (closed) return;
        await new Promise<void>((r) => idle.push(r));
        continue;
      }
      try {
        await run(
          PROMTOOL,
          ["tsdb", "create-blocks-from", "openmetrics", "--quiet", `--max-block-duration=${BACKFILL_BLOCK_DURATION}`, f, dataDir],
          { maxBuffer: 1 << 26 },
        );
        if (opts.removeAfter) await rm(f, { force: true });
      } catch (e) {
        failure ??= new Error(`promtool failed on ${f}: ${(e as { stderr?: string }).stderr ?? e}`);
        wakeAll();
      }
    }
  };
  const workers = Array.from({ length: opts.workers ?? 2 }, worker);
  return {
    add(file) {
      // A failed backfill stops the writer too, instead of generating days nobody will read.
      if (failure) throw failure;
      queue.push(file);
      wakeAll();
    },
    async done() {
      closed = true;
      wakeAll();
      await Promise.all(workers);
      if (failure) throw failure;
    },
  };
}

/** Backfills day files into `dataDir`. */
export async function backfill(files: string[], dataDir: string): Promise<void> {
  const pool = backfillPool(dataDir);
  for (const f of files) pool.add(f);
  await pool.done();
}

/** Writes a generated month as day files and backfills each as soon as it is written. */
export async function backfillMonth(gen: GeneratedMonth, dataDir: string): Promise<void> {
  const om = await mkdtemp(path.join(tmpdir(), "om-"));
  try {
    const pool = backfillPool(dataDir, { removeAfter: true });
    const written = writeOpenMetricsDays(gen, om, { onFile: (f) => pool.add(f) });
    // Both settle before either error is thrown, so no promtool outlives the call.
    const [w, p] = await Promise.allSettled([
      written,
      written.then(
        () => pool.done(),
        (e) => pool.done().then(() => Promise.reject(e)),
      ),
    ]);
    if (w.status === "rejected") throw w.reason;
    if (p.status === "rejected") throw p.reason;
  } finally {
    await rm(om, { recursive: true, force: true });
  }
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.listen(0, "127.0.0.1", () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
    s.on("error", reject);
  });
}

export interface RunningPrometheus {
  url: string;
  pid: number;
  stop(): Promise<void>;
}

/** Adds one series of 1-minute samples [fromMin, toMin) after the scenario's t0, then its end marker. */
export type ScenarioSeries = (name: string, labels: string, fromMin: number, toMin: number, value: (minute: number) => number) => void;

/**
 * A hand-written scenario (one OpenMetrics file, one block) backfilled and served by a real
 * Prometheus. End markers stand in for staleness as the month generator's do: 0 for the 0/1
 * phase series, NaN for the rest. A metric's series must be added one after another (OpenMetrics
 * keeps a family together); its `# TYPE` line is written before its first series.
 */
export async function startScenarioPrometheus(t0Ms: number, scenario: (series: ScenarioSeries) => void): Promise<RunningPrometheus> {
  const dir = await mkdtemp(path.join(tmpdir(), "scenario-"));
  const lines: string[] = [];
  const families: string[] = [];
  const at = (minute: number) => (t0Ms + minute * 60_000) / 1000;
  scenario((name, labels, fromMin, toMin, value) => {
    if (families.at(-1) !== name) {
      if (families.includes(name)) throw new Error(`scenario: ${name} series must be added one after another`);
      families.push(name);
      lines.push(`# TYPE ${name} gauge`);
    }
    for (let m = fromMin; m < toMin; m++) lines.push(`${name}{${labels}} ${value(m)} ${at(m)}`);
    lines.push(`${name}{${labels}} ${name === "kube_pod_status_phase" ? 0 : "NaN"} ${at(toMin)}`);
  });
  lines.push("# EOF");
  const file = path.join(dir, "scenario.om");
  await writeFile(file, lines.join("\n") + "\n");
  await backfill([file], path.join(dir, "data"));
  return startPrometheus({ dataDir: path.join(dir, "data") });
}

export interface StartPrometheusOptions {
  dataDir: string;
  port?: number;
  /** `--query.max-samples`: the most samples one query may hold in memory (default here 500,000,000; Prometheus' own default is 50,000,000). */
  maxSamples?: number;
  /** `--query.timeout` (default here 30m; Prometheus' own default is 2m). */
  queryTimeout?: string;
}

/** Starts Prometheus over a copy of `dataDir` (it writes to its data dir), waiting until it is ready. */
export async function startPrometheus(opts: StartPrometheusOptions): Promise<RunningPrometheus> {
  ensurePrometheusInstalled();
  const work = await mkdtemp(path.join(tmpdir(), "prom-"));
  const data = path.join(work, "data");
  await cp(opts.dataDir, data, { recursive: true });
  const cfg = path.join(work, "prometheus.yml");
  await writeFile(cfg, "global:\n  scrape_interval: 1m\nscrape_configs: []\n");
  const port = opts.port ?? (await freePort());
  const proc = spawn(
    PROMETHEUS,
    [
      `--config.file=${cfg}`,
      `--storage.tsdb.path=${data}`,
      "--storage.tsdb.retention.time=10y",
      // Equal min and max block durations switch local compaction off (Thanos' sidecar docs
      // ask for the same): otherwise a minute after start-up Prometheus merges the backfilled
      // blocks of its private copy, seconds of CPU on every run, for data it only reads.
      "--storage.tsdb.min-block-duration=2h",
      "--storage.tsdb.max-block-duration=2h",
      `--web.listen-address=127.0.0.1:${port}`,
      `--query.max-samples=${opts.maxSamples ?? 500_000_000}`,
      `--query.timeout=${opts.queryTimeout ?? "30m"}`,
    ],
    { stdio: ["ignore", "ignore", "pipe"] },
  );
  let stderr = "";
  proc.stderr!.on("data", (d) => (stderr = (stderr + d).slice(-4000)));
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 120_000;
  for (;;) {
    if (proc.exitCode !== null) throw new Error(`prometheus exited with ${proc.exitCode}: ${stderr}`);
    try {
      const r = await fetch(`${url}/-/ready`);
      if (r.ok) break;
    } catch {
      /* not listening yet */
    }
    if (Date.now() > deadline) {
      proc.kill("SIGKILL");
      throw new Error(`prometheus not ready after 120 s: ${stderr}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  return {
    url,
    pid: proc.pid!,
    async stop() {
      if (proc.exitCode === null) {
        const exited = new Promise((r) => proc.once("exit", r));
        proc.kill("SIGTERM");
        await Promise.race([exited, new Promise((r) => setTimeout(r, 10_000))]);
        if (proc.exitCode === null) proc.kill("SIGKILL");
      }
      await rm(work, { recursive: true, force: true });
    },
  };
}

/**
 * A short hash of a generated month and of the generator's TypeScript source: the same key
 * whether the tests (sources) or `npm start` (the build in dist/) ask, so they share the cache.
 */
function generatorFingerprint(gen: GeneratedMonth): string {
  const h = createHash("sha256").update(JSON.stringify(gen)).update(BACKFILL_BLOCK_DURATION);
  const source = packageFile("functions/demo/month-generator.ts");
  const built = path.join(path.dirname(fileURLToPath(import.meta.url)), "month-generator.js");
  h.update(readFileSync(existsSync(source) ? source : built));
  return h.digest("hex").slice(0, 12);
}

/**
 * Generates and backfills a month once per (month, scale, seed, days) into
 * `cacheDir`, so the tests, the demo and the benchmark share the work.
 */
export async function prepareMonthData(opts: {
  month: string;
  scale: Scale;
  cacheDir: string;
  seed?: number;
  days?: number;
  dcgm?: Partial<DcgmShape>;
  ksmRollout?: boolean;
  ksmReplicas?: 1 | 2;
}): Promise<{ dataDir: string; gen: GeneratedMonth }> {
  const gen = generateMonth({
    month: opts.month,
    scale: opts.scale,
    seed: opts.seed,
    days: opts.days,
    dcgm: opts.dcgm,
    ksmRollout: opts.ksmRollout,
    ksmReplicas: opts.ksmReplicas,
  });
  // Keyed by what is generated and by the generator's own code, so a stale cache is never reused.
  const key = `${opts.month}-${opts.scale}-${gen.seed}${opts.days ? `-${opts.days}d` : ""}-${generatorFingerprint(gen)}`;
  const dataDir = path.join(opts.cacheDir, key);
  if (existsSync(path.join(dataDir, ".complete"))) return { dataDir, gen };
  const tmp = await mkdtemp(path.join(tmpdir(), "gen-"));
  try {
    const blocks = path.join(tmp, "blocks");
    await backfillMonth(gen, blocks);
    await writeFile(path.join(blocks, ".complete"), `${(await readdir(blocks)).length} blocks\n`);
    await mkdir(opts.cacheDir, { recursive: true });
    // Another process (a parallel test run, a helper's worktree sharing the cache) may have
    // published the same month meanwhile and be reading it: keep theirs.
    if (existsSync(path.join(dataDir, ".complete"))) return { dataDir, gen };
    await rm(dataDir, { recursive: true, force: true });
    await rename(blocks, dataDir).catch(async () => {
      await cp(blocks, dataDir, { recursive: true });
    });
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
  return { dataDir, gen };
}
