/**
 * `npm run bench`: times `npm start` from an empty and from a warm month cache
 * (test/bench/demo-bench.ts), meters generated months at three sizes against a real
 * Prometheus and prints, measured side by side in the same run:
 *  - the metering run's wall time, peak memory and queries issued;
 *  - one full scan of the same raw samples (count_over_time over the month);
 *  - a naive client-side approach: raw query_range per series, integrated in JS.
 * Figures are medians of --repeat runs (default 3); the machine is shared, so
 * read the ratios, not the absolute seconds.
 */
import { parseArgs } from "node:util";
import path from "node:path";
import { createPrometheusClient } from "../../functions/adapters/prometheus-client.js";
import { loadQueries, renderQuery } from "../../functions/adapters/query-files.js";
import { fetchMonthUsage } from "../../functions/adapters/prometheus-usage.js";
import { billingMonth, type BillingMonth } from "../../functions/core/month.js";
import { prepareMonthData, startPrometheus } from "../../functions/demo/local-prometheus.js";
import { BUSIEST_WEEK_START_DAY, busiestWeek, runPeerComparison, SIMPLIFICATIONS } from "./controller-sim.js";
import { formatReportBench, runReportBench } from "./report-bench.js";
import { formatDemoBench, runDemoBench } from "./demo-bench.js";
import { BACKFILL_BLOCK_DURATION } from "../../functions/demo/local-prometheus.js";

const { values } = parseArgs({
  options: {
    scales: { type: "string", default: "small,medium,large" },
    repeat: { type: "string", default: "3" },
    month: { type: "string", default: "2026-10" },
    "naive-budget": { type: "string", default: "300" },
    suites: { type: "string", default: "demo,metering,report,controller" },
    "sim-days": { type: "string", default: "7" },
    /** Trace start days of the weeks compared; 142 is the busiest week (checked below). */
    "sim-weeks": { type: "string", default: `121,128,${BUSIEST_WEEK_START_DAY}` },
  },
});
const repeat = Number(values.repeat);
const naiveBudgetMs = Number(values["naive-budget"]) * 1000;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

function trackPeakMemory() {
  let peak = process.memoryUsage().rss;
  const t = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 20);
  return () => {
    clearInterval(t);
    return Math.max(peak, process.memoryUsage().rss);
  };
}

async function meterOnce(url: string, bm: BillingMonth) {
  let queries = 0;
  const client = createPrometheusClient({ url, onRequest: () => queries++ });
  global.gc?.();
  const base = process.memoryUsage().rss;
  const stop = trackPeakMemory();
  const t0 = performance.now();
  const usage = await fetchMonthUsage(client, bm, {
    queries: loadQueries(),
    dcgmNamespaceLabel: "namespace",
    dcgmPodLabel: "pod",
    concurrency: 4,
  });
  const ms = performance.now() - t0;
  const peak = stop();
  const gpuMinutes = usage.usage.reduce((a, u) => a + u.requestMinutes, 0);
  return { ms, queries, peakMb: peak / 2 ** 20, deltaMb: (peak - base) / 2 ** 20, gpuMinutes, perTickDays: usage.perTickDays.length };
}

async function fullScan(url: string, bm: BillingMonth) {
  const client = createPrometheusClient({ url, timeoutMs: 1_800_000 });
  const q = renderQuery(loadQueries()["gpu-sample-scan"], { windowSeconds: (bm.endMs - bm.startMs) / 1000 });
  const t0 = performance.now();
  const r = await client.query(q, bm.endMs / 1000 - 1);
  return { ms: performance.now() - t0, samples: r[0]?.value ?? 0 };
}

/**
 * The approach this product replaces: pull every raw series with query_range
 * and integrate in JavaScript. Stops at the budget and reports how far it got.
 */
async function naive(url: string, bm: BillingMonth) {
  const t0 = performance.now();
  let gpuMinutes = 0;
  let points = 0;
  for (const day of bm.days) {
    if (performance.now() - t0 > naiveBudgetMs)
      return { ms: performance.now() - t0, finished: false, daysDone: bm.days.indexOf(day), gpuMinutes, points };
    const range = async (query: string) => {
      const p = new URLSearchParams({ query, start: String(day.startMs / 1000), end: String(day.endMs / 1000 - 60), step: "60" });
      const res = await fetch(`${url}/api/v1/query_range`, {
        method: "POST",
        body: p,
        headers: { "content-type": "application/x-www-form-urlencoded" },
      });
      const json = (await res.json()) as { data: { result: { metric: Record<string, string>; values: [number, string][] }[] } };
      return json.data.result;
    };
    // Utilization is pulled as the naive approach must, though only allocated minutes are integrated here.
    const [reqs, phases] = await Promise.all([
      range('kube_pod_container_resource_requests{resource=~"nvidia_com_gpu|nvidia_com_mig_.+"}'),
      range('kube_pod_status_phase{phase="Running"}'),
      range("DCGM_FI_DEV_GPU_UTIL"),
    ]);
    const running = new Set<string>();
    for (const s of phases) for (const [t, v] of s.values) if (v === "1") running.add(`${s.metric.namespace}/${s.metric.pod}@${t}`);
    const seen = new Set<string>();
    for (const s of reqs) {
      for (const [t, v] of s.values) {
        points++;
        const k = `${s.metric.namespace}/${s.metric.pod}/${s.metric.container}@${t}`;
        if (seen.has(k)) continue; // kube-state-metrics replicas
        seen.add(k);
        if (running.has(`${s.metric.namespace}/${s.metric.pod}@${t}`) && Number.isFinite(Number(v))) gpuMinutes += Number(v);
      }
    }
  }
  return { ms: performance.now() - t0, finished: true, daysDone: bm.days.length, gpuMinutes, points };
}

async function meteringBench() {
  const cacheDir = path.resolve(".tmp/month-cache");
  const bm0 = billingMonth(values.month!, "Asia/Seoul");
  const rows: string[][] = [];
  for (const scale of values.scales!.split(",") as ("small" | "medium" | "large")[]) {
    console.error(`[${scale}] preparing data…`);
    const t0 = performance.now();
    // Larger sizes generate fewer days so a benchmark run fits a work session; figures are per day covered.
    const days = { small: 7, medium: 2, large: 1 }[scale];
    // The week-long size keeps the demo's kube-state-metrics rollout (one day of it metered per
    // tick, as in a real month); the one- and two-day sizes leave it out so they measure the fast path.
    const { dataDir, gen } = await prepareMonthData({ month: values.month!, scale, cacheDir, days, ksmRollout: days >= 7 });
    console.error(`[${scale}] data ready in ${((performance.now() - t0) / 1000).toFixed(0)} s`);
    const prom = await startPrometheus({ dataDir });
    try {
      // Generated data may cover only part of the month at the largest size; bench the days it covers.
      const covered = bm0.days.filter((d) => d.endMs <= gen.facts.dataEndMs);
      const bm: BillingMonth = { ...bm0, days: covered, startMs: covered[0]!.startMs, endMs: covered.at(-1)!.endMs };
      const meters = [];
      const scans = [];
      for (let i = 0; i < repeat; i++) {
        meters.push(await meterOnce(prom.url, bm));
        scans.push(await fullScan(prom.url, bm));
      }
      const nv = await naive(prom.url, bm);
      const m = median(meters.map((x) => x.ms));
      const s = median(scans.map((x) => x.ms));
      rows.push([
        scale,
        String(gen.facts.gpus),
        String(covered.length),
        String(gen.facts.waitedPods.length),
        String(meters[0]!.perTickDays),
        (scans[0]!.samples / 1e6).toFixed(1),
        (m / 1000).toFixed(2),
        (s / 1000).toFixed(2),
        (m / s).toFixed(2),
        nv.finished ? (nv.ms / 1000).toFixed(1) : `>${(nv.ms / 1000).toFixed(0)} (${nv.daysDone}/${covered.length} days)`,
        nv.finished ? (nv.ms / m).toFixed(1) : `>${((nv.ms / m) * (covered.length / Math.max(1, nv.daysDone))).toFixed(0)}`,
        String(meters[0]!.queries),
        median(meters.map((x) => x.peakMb)).toFixed(0),
        median(meters.map((x) => x.deltaMb)).toFixed(0),
      ]);
      console.error(`[${scale}] done`);
    } finally {
      await prom.stop();
    }
  }
  const head = [
    "scale",
    "GPUs",
    "days",
    "pods that waited unbound",
    "per-tick days",
    "raw samples (M)",
    "meter s",
    "full scan s",
    "meter/scan",
    "naive s",
    "naive/meter",
    "queries",
    "peak RSS MB",
    "RSS growth MB",
  ];
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (r: string[]) => r.map((c, i) => c.padStart(w[i]!)).join("  ");
  console.log(`\nmetering benchmark, ${values.month}, medians of ${repeat} runs (naive: one run, budget ${naiveBudgetMs / 1000} s)`);
  console.log(line(head));
  for (const r of rows) console.log(line(r));
}

/** The controller against Karpenter, the Cluster Autoscaler and the ideal, on the same trace weeks and the same simulated cluster. */
function controllerBench() {
  const t0 = performance.now();
  const busiest = busiestWeek();
  if (busiest.startDay !== BUSIEST_WEEK_START_DAY)
    console.error(`note: the busiest week now starts on day ${busiest.startDay}, not ${BUSIEST_WEEK_START_DAY}`);
  const weeks = values["sim-weeks"]!.split(",").map(Number);
  const reps = weeks.map((startDay) => runPeerComparison({ startDay, days: Number(values["sim-days"]) }));
  for (const r of reps) console.log(`\n${r.table}`);
  const names = reps[0]!.columns.map((c) => c.name).filter((n) => n !== "ideal (bound)");
  const share = (r: (typeof reps)[number], name: string) => {
    const ideal = r.columns.find((c) => c.name === "ideal (bound)")!.gpuNodeHours;
    const c = r.columns.find((x) => x.name === name)!;
    return (r.baseline.gpuNodeHours - c.gpuNodeHours) / (r.baseline.gpuNodeHours - ideal);
  };
  const p95 = (xs: number[]) => (xs.length ? [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(0.95 * xs.length))]! : 0);
  console.log(`\nSummary per week (share of the ideal's savings; pods interrupted; p95 wait for capacity, min):`);
  console.log(
    `| ${"".padEnd(36)} | ${reps.map((r) => `days ${r.startDay}–${r.startDay + r.days}${r.startDay === BUSIEST_WEEK_START_DAY ? " (busiest)" : ""}`.padStart(24)).join(" | ")} |`,
  );
  for (const n of names) {
    const cells = reps.map((r) => {
      const res = r.columns.find((c) => c.name === n)!.result!;
      return `${(100 * share(r, n)).toFixed(0)}%; ${res.interruptedPods}; ${p95(res.waits)}`.padStart(24);
    });
    console.log(`| ${n.padEnd(36)} | ${cells.join(" | ")} |`);
  }
  console.log(`\nSimplifications:\n${SIMPLIFICATIONS.map((x) => `- ${x}`).join("\n")}`);
  console.log(`(simulated in ${((performance.now() - t0) / 1000).toFixed(1)} s)`);
}

async function main() {
  const suites = new Set(values.suites!.split(","));
  if (suites.has("demo"))
    console.log(
      `\n${formatDemoBench(await runDemoBench({ repeat, blockDuration: BACKFILL_BLOCK_DURATION }), repeat, BACKFILL_BLOCK_DURATION)}`,
    );
  if (suites.has("metering")) await meteringBench();
  if (suites.has("report")) console.log(`\n${formatReportBench(await runReportBench())}`);
  if (suites.has("controller")) controllerBench();
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
