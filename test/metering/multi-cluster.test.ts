import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { existsSync } from "node:fs";
import { mkdtemp, readFile, readdir, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { computeChargeback, type Chargeback, type ChargebackRow, type DailyRow } from "../../functions/core/chargeback.js";
import type { MonthUsage } from "../../functions/core/usage.js";
import { createPrometheusClient, PrometheusUnavailableError } from "../../functions/adapters/prometheus-client.js";
import { loadQueries } from "../../functions/adapters/query-files.js";
import { localSink } from "../../functions/adapters/dataset-sink.js";
import { IncompleteMonthError, QUERIES_PER_DAY, type MeterResult } from "../../functions/metering/meter-month.js";
import { prometheusForClusters } from "../../functions/wiring/prometheus-from-config.js";

import { D } from "../../functions/core/decimal.js";
import { RerunRequestSchema } from "../../functions/metering/rerun-month.js";
import { localRerunStore } from "../../functions/adapters/rerun-records.js";
import { main } from "../../functions/cli/main.js";
import { exactAnswer, type GeneratedMonth } from "../../functions/demo/month-generator.js";
import { prepareMonthData, startPrometheus, type RunningPrometheus } from "../../functions/demo/local-prometheus.js";
import { referenceConfigText } from "../core/fixtures.js";
import { type Config, parseConfig } from "../../functions/config/config-schema.js";
import {
  meterMonthFromPrometheus,
  meterMonthToDateFromPrometheus,
  rerunMonthFromPrometheus,
} from "../../functions/wiring/prometheus-metering.js";
import { configWith, REMOVE } from "../support/config-edit.js";

/**
 * Two clusters, each a real Prometheus 2.42 over its own generated data (the
 * same scenario with different seeds, so every node name exists in both
 * clusters). Three generated days keep the backfill short; the month is
 * still metered whole (31 days of queries per cluster).
 */
const MONTH = "2026-10";
const NOW = new Date("2026-11-23T00:00:00Z");
const DAYS = 3;
const cacheDir = path.resolve(".tmp/month-cache");
const CLOSED_PORT = "http://127.0.0.1:9"; // nothing listens on discard: connection refused at once

const splitKey = (r: Pick<ChargebackRow, "tenantId" | "namespace" | "gpuModel" | "instanceType" | "capacityType">) =>
  [r.tenantId, r.namespace, r.gpuModel, r.instanceType, r.capacityType].join("|");
const rowKey = (r: ChargebackRow) => `${r.cluster}|${splitKey(r)}`;

/** The reference config with its top-level prometheus replaced by clusters a and b. */
function clustersConfigText(urlA: string, urlB: string, retriesB = 4): string {
  return configWith(
    referenceConfigText,
    [["prometheus"], REMOVE],
    [
      ["clusters"],
      [
        { id: "a", name: "Cluster A", prometheus: { url: urlA, retries: 1 } },
        { id: "b", name: "Cluster B", prometheus: { url: urlB, retries: retriesB } },
      ],
    ],
  );
}

/** The reference config (no clusters) pointed at one Prometheus, optionally with a clusterId. */
function singleConfig(url: string, clusterId?: string): Config {
  const text = configWith(
    referenceConfigText,
    [["prometheus", "url"], url],
    ...(clusterId ? [[["clusterId"], clusterId] as [string[], string]] : []),
  );
  return parseConfig(text, "single.yaml");
}

const tag = (u: MonthUsage, cluster: string): MonthUsage => ({
  usage: u.usage.map((r) => ({ ...r, cluster })),
  nodes: u.nodes.map((r) => ({ ...r, cluster })),
  namespaces: u.namespaces.map((r) => ({ ...r, cluster })),
});

const noPrometheusEnv = () => ({ ...process.env, PROMETHEUS_URL: undefined });

describe("multi-cluster metering against two real Prometheus 2.42 instances", () => {
  let genA: GeneratedMonth;
  let genB: GeneratedMonth;
  let promA: RunningPrometheus;
  let promB: RunningPrometheus;
  let cfg: Config;
  let expected: Chargeback;
  let combined: MeterResult;
  let outDir: string;

  beforeAll(async () => {
    const [a, b] = [
      await prepareMonthData({ month: MONTH, scale: "demo", cacheDir, days: DAYS, seed: 20261001 }),
      await prepareMonthData({ month: MONTH, scale: "demo", cacheDir, days: DAYS, seed: 20261002 }),
    ];
    genA = a.gen;
    genB = b.gen;
    [promA, promB] = await Promise.all([startPrometheus({ dataDir: a.dataDir }), startPrometheus({ dataDir: b.dataDir })]);
    cfg = parseConfig(clustersConfigText(promA.url, promB.url), "clusters.yaml");
    const exactA = exactAnswer(genA);
    const exactB = exactAnswer(genB);
    expected = computeChargeback(
      {
        usage: [...tag(exactA, "a").usage, ...tag(exactB, "b").usage],
        nodes: [...tag(exactA, "a").nodes, ...tag(exactB, "b").nodes],
        namespaces: [...tag(exactA, "a").namespaces, ...tag(exactB, "b").namespaces],
      },
      cfg,
      MONTH,
    );
    outDir = await mkdtemp(path.join(tmpdir(), "multi-"));
    combined = await meterMonthFromPrometheus(
      { prometheusFor: prometheusForClusters(cfg, {}), sink: localSink(outDir), queries: loadQueries() },
      cfg,
      MONTH,
      NOW,
    );
  }, 300_000);
  afterAll(async () => {
    await promA?.stop();
    await promB?.stop();
  });

  it("given two clusters whose data differ and whose node names all clash, then every generated node appears once per cluster in capacity", () => {
    expect(genA.nodes.map((n) => n.name).sort()).toEqual(genB.nodes.map((n) => n.name).sort()); // the clash is real
    expect(genA.jobs.map((j) => j.pod)).not.toEqual(genB.jobs.map((j) => j.pod)); // the data differ
    for (const c of ["a", "b"]) {
      const nodes = combined.chargeback.capacity.filter((r) => r.cluster === c).reduce((s, r) => s + r.nodes, 0);
      expect(nodes, `cluster ${c}`).toBe(genA.nodes.length);
    }
  });

  it("given both clusters metered, then every daily row of the generated days carries its cluster and matches that cluster's exact answer (1% or 0.5 GPU-h)", () => {
    // The exact answer covers the generated days; the data run 3 h into the next day, which Prometheus meters too.
    const days = new Set(expected.daily.map((d) => d.day));
    expect(days.size).toBe(DAYS);
    const dayKey = (d: DailyRow) => `${d.day}|${d.cluster}|${splitKey(d)}`;
    const got = new Map(combined.chargeback.daily.filter((d) => days.has(d.day)).map((d) => [dayKey(d), d]));
    expect([...got.keys()].sort()).toEqual(expected.daily.map(dayKey).sort());
    expect(new Set(combined.chargeback.rows.map((r) => r.cluster))).toEqual(new Set(["a", "b"]));
    const tol = (x: number) => Math.max(0.5, Math.abs(x) * 0.01);
    for (const want of expected.daily) {
      const r = got.get(dayKey(want))!;
      expect(Math.abs(r.allocatedGpuHours.toNumber() - want.allocatedGpuHours.toNumber()), dayKey(want)).toBeLessThanOrEqual(
        tol(want.allocatedGpuHours.toNumber()),
      );
      expect(Math.abs(r.usedGpuHours.toNumber() - want.usedGpuHours.toNumber()), dayKey(want)).toBeLessThanOrEqual(
        tol(want.usedGpuHours.toNumber()),
      );
    }
    const total = (rows: DailyRow[], c: string) =>
      rows.filter((r) => r.cluster === c && days.has(r.day)).reduce((s, r) => s + r.allocatedGpuHours.toNumber(), 0);
    for (const c of ["a", "b"]) {
      const want = total(expected.daily, c);
      expect(want).toBeGreaterThan(0);
      expect(Math.abs(total(combined.chargeback.daily, c) - want) / want, `cluster ${c}`).toBeLessThan(0.002);
    }
  });

  it("given each cluster metered alone, then the combined dataset's GPU-hours are exactly their sum, row by row and per day", async () => {
    const alone = async (url: string, id: string) => {
      const c = singleConfig(url, id);
      return meterMonthFromPrometheus(
        {
          prometheus: createPrometheusClient({ url }),
          sink: localSink(await mkdtemp(path.join(tmpdir(), `alone-${id}-`))),
          queries: loadQueries(),
        },
        c,
        MONTH,
        NOW,
      );
    };
    const [a, b] = [await alone(promA.url, "a"), await alone(promB.url, "b")];
    const byKey = (rows: ChargebackRow[]) => new Map(rows.map((r) => [rowKey(r), r]));
    const single = byKey([...a.chargeback.rows, ...b.chargeback.rows]);
    expect([...byKey(combined.chargeback.rows).keys()].sort()).toEqual([...single.keys()].sort());
    for (const r of combined.chargeback.rows) {
      expect(r.allocatedGpuHours.toFixed(), rowKey(r)).toBe(single.get(rowKey(r))!.allocatedGpuHours.toFixed());
      expect(r.usedGpuHours.toFixed(), rowKey(r)).toBe(single.get(rowKey(r))!.usedGpuHours.toFixed());
    }
    expect(combined.chargeback.totals.allocatedGpuHours.toFixed()).toBe(
      a.chargeback.totals.allocatedGpuHours.add(b.chargeback.totals.allocatedGpuHours).toFixed(),
    );
    expect(combined.chargeback.totals.nodeGpuHours.toFixed()).toBe(
      a.chargeback.totals.nodeGpuHours.add(b.chargeback.totals.nodeGpuHours).toFixed(),
    );
    expect(combined.chargeback.daily.length).toBe(a.chargeback.daily.length + b.chargeback.daily.length);
  });

  it("given the published month, then the CSVs have a cluster column and the manifest lists both clusters with their staged hashes; staging is cleared", async () => {
    const dir = path.join(outDir, `month=${MONTH}`);
    const csv = await readFile(path.join(dir, "chargeback.csv"), "utf8");
    expect(csv.split("\n")[0]!.split(",").slice(0, 3)).toEqual(["month", "cluster", "tenant_id"]);
    expect(
      new Set(
        csv
          .trim()
          .split("\n")
          .slice(1)
          .map((l) => l.split(",")[1]),
      ),
    ).toEqual(new Set(["a", "b"]));
    for (const f of ["usage-daily.csv", "capacity.csv"])
      expect((await readFile(path.join(dir, f), "utf8")).split("\n")[0]!.split(",")[1], f).toBe("cluster");
    const manifest = JSON.parse(await readFile(path.join(dir, "manifest.json"), "utf8"));
    expect(manifest.schemaVersion).toBe(2);
    expect(manifest.inputs.clusters.map((c: { id: string; prometheusUrl: string }) => [c.id, c.prometheusUrl])).toEqual([
      ["a", promA.url],
      ["b", promB.url],
    ]);
    for (const c of manifest.inputs.clusters) expect(c.usageSha256).toMatch(/^[0-9a-f]{64}$/);
    expect(combined.clusters.map((c) => c.status)).toEqual(["metered", "metered"]);
    expect(combined.queries).toBe(2 * 31 * QUERIES_PER_DAY);
    expect(existsSync(path.join(outDir, "staging"))).toBe(false);
  });

  it("given an ops re-run (dry run) of the published month, then it re-meters both clusters and reproduces every file byte for byte, writing nothing", async () => {
    let queries = 0;
    const prometheusFor = prometheusForClusters(cfg, {}, { onRequest: () => queries++ });
    const before = await readdir(outDir);
    const record = await rerunMonthFromPrometheus(
      { prometheusFor, sink: localSink(outDir), records: localRerunStore(outDir), queries: loadQueries() },
      cfg,
      RerunRequestSchema.parse({ month: MONTH, reason: "multi-cluster proof", dryRun: true }),
      NOW,
    );
    expect(queries).toBe(2 * 31 * QUERIES_PER_DAY);
    expect(record.changed).toEqual([]);
    expect(await readdir(outDir)).toEqual(before);
  });

  it("given cluster b's Prometheus down, then the CLI exits 3 naming b, publishes nothing and keeps a's stage; given b back, a retry meters only b and publishes the same bytes", async () => {
    const out = await mkdtemp(path.join(tmpdir(), "multi-down-"));
    const cfgFile = path.join(out, "..", `${path.basename(out)}-down.yaml`);
    await writeFile(cfgFile, clustersConfigText(promA.url, CLOSED_PORT, 0));
    const errors: string[] = [];
    const orig = console.error;
    console.error = (m: string) => errors.push(m);
    let code: number;
    try {
      code = await main(["meter", "--month", MONTH, "--config", cfgFile, "--out", out], noPrometheusEnv(), NOW);
    } finally {
      console.error = orig;
    }
    expect(code).toBe(3);
    const message = errors.join("\n");
    expect(message).toMatch(/month 2026-10 is incomplete: 1 of 2 cluster\(s\) failed \(b\); nothing was published/);
    expect(message).toMatch(/cluster b \(http:\/\/127\.0\.0\.1:9\): /);
    expect(message).toMatch(/staged and kept for a retry: a/);
    expect(await readdir(out)).toEqual(["staging"]);
    expect((await readdir(path.join(out, "staging", `month=${MONTH}`))).sort()).toEqual(["cluster=a"]);
    expect((await readdir(path.join(out, "staging", `month=${MONTH}`, "cluster=a"))).sort()).toEqual(["manifest.json", "usage.json"]);
    const staged = JSON.parse(await readFile(path.join(out, "staging", `month=${MONTH}`, "cluster=a", "manifest.json"), "utf8"));
    expect([staged.cluster, staged.month, staged.prometheusUrl]).toEqual(["a", MONTH, promA.url]);

    // The same failure through the API: the error type says which cluster, the cause says "retry later".
    const downCfg = parseConfig(clustersConfigText(promA.url, CLOSED_PORT, 0), "down.yaml");
    const err = await meterMonthFromPrometheus(
      { prometheusFor: prometheusForClusters(downCfg, {}), sink: localSink(out), queries: loadQueries() },
      downCfg,
      MONTH,
      NOW,
    ).catch((e) => e);
    expect(err).toBeInstanceOf(IncompleteMonthError);
    expect((err as IncompleteMonthError).cause).toBeInstanceOf(PrometheusUnavailableError);
    expect((err as IncompleteMonthError).outcomes.map((o) => [o.id, o.status])).toEqual([
      ["a", "reused"],
      ["b", "failed"],
    ]);

    // b is back (the configured URL again): a is reused, only b is queried, and the month is what a clean run publishes.
    let queries = 0;
    const counted = prometheusForClusters(cfg, {}, { onRequest: () => queries++ });
    const retry = await meterMonthFromPrometheus({ prometheusFor: counted, sink: localSink(out), queries: loadQueries() }, cfg, MONTH, NOW);
    expect(retry.clusters.map((c) => [c.id, c.status])).toEqual([
      ["a", "reused"],
      ["b", "metered"],
    ]);
    expect(queries).toBe(31 * QUERIES_PER_DAY);
    for (const f of ["chargeback.csv", "usage-daily.csv", "capacity.csv", "manifest.json"])
      expect((await readFile(path.join(out, `month=${MONTH}`, f))).equals(await readFile(path.join(outDir, `month=${MONTH}`, f))), f).toBe(
        true,
      );
    expect(await readdir(out)).toEqual([`month=${MONTH}`]);
  });

  it("given month-to-date quota metering, then tenants' GPU-hours span both clusters; given b down, then it fails naming b and takes no decision", async () => {
    const mtd = await meterMonthToDateFromPrometheus(
      { prometheusFor: prometheusForClusters(cfg, {}), queries: loadQueries() },
      cfg,
      MONTH,
      NOW,
    );
    expect(mtd.window.complete).toBe(true);
    for (const [id, t] of mtd.tenants) {
      const want = combined.chargeback.rows.filter((r) => r.tenantId === id).reduce((s, r) => s.add(r.allocatedGpuHours), new D(0));
      expect(t.allocated.toFixed(), id).toBe(want.toFixed());
    }
    expect(new Set(mtd.chargeback.rows.map((r) => r.cluster))).toEqual(new Set(["a", "b"]));
    const downCfg = parseConfig(clustersConfigText(promA.url, CLOSED_PORT, 0), "down.yaml");
    const err = await meterMonthToDateFromPrometheus(
      { prometheusFor: prometheusForClusters(downCfg, {}), queries: loadQueries() },
      downCfg,
      MONTH,
      NOW,
    ).catch((e) => e);
    expect(err).toBeInstanceOf(IncompleteMonthError);
    expect((err as Error).message).toMatch(/1 of 2 cluster\(s\) failed \(b\); no quota decision was taken/);
  });

  it("given a single-cluster config (no clusters), then the numbers are those of cluster a and every row says cluster=default", async () => {
    const out = await mkdtemp(path.join(tmpdir(), "single-"));
    const c = singleConfig(promA.url);
    const r = await meterMonthFromPrometheus(
      { prometheus: createPrometheusClient({ url: promA.url }), sink: localSink(out), queries: loadQueries() },
      c,
      MONTH,
      NOW,
    );
    expect(new Set(r.chargeback.rows.map((x) => x.cluster))).toEqual(new Set(["default"]));
    expect(new Set(r.chargeback.capacity.map((x) => x.cluster))).toEqual(new Set(["default"]));
    const fromA = new Map(combined.chargeback.rows.filter((x) => x.cluster === "a").map((x) => [splitKey(x), x]));
    expect(r.chargeback.rows.map(splitKey).sort()).toEqual([...fromA.keys()].sort());
    for (const x of r.chargeback.rows)
      expect(x.allocatedGpuHours.toFixed(), splitKey(x)).toBe(fromA.get(splitKey(x))!.allocatedGpuHours.toFixed());
    const manifest = JSON.parse(await readFile(path.join(out, `month=${MONTH}`, "manifest.json"), "utf8"));
    expect(manifest.inputs.prometheusUrl).toBe(promA.url); // as before: one URL, not a list
    expect(manifest.inputs.clusters.map((x: { id: string }) => x.id)).toEqual(["default"]);
    expect(await readdir(out)).toEqual([`month=${MONTH}`]);
  });
});
