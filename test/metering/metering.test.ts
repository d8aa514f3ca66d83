import { createHash } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { mkdtemp, readFile, readdir, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { GetObjectCommand } from "@aws-sdk/client-s3";
import { computeChargeback, type Chargeback, type ChargebackRow } from "../../functions/core/chargeback.js";
import { createPrometheusClient } from "../../functions/adapters/prometheus-client.js";
import { loadQueries } from "../../functions/adapters/query-files.js";
import { localSink } from "../../functions/adapters/dataset-sink.js";
import { QUERIES_PER_DAY, type MeterResult } from "../../functions/metering/meter-month.js";
import { main } from "../../functions/cli/main.js";
import { DEMO_MONTH_DATA } from "../global-setup.js";
import { generateMonth, exactAnswer, providerIdOf } from "../../functions/demo/month-generator.js";
import { prepareMonthData, startPrometheus } from "../../functions/demo/local-prometheus.js";
import { startS3 } from "../support/s3.js";
import { referenceConfig, referenceConfigText } from "../core/fixtures.js";
import { meterMonthFromPrometheus } from "../../functions/wiring/prometheus-metering.js";

const MONTH = "2026-10";
const NOW = new Date("2026-11-23T00:00:00Z");
const rowKey = (r: ChargebackRow) => [r.tenantId, r.namespace, r.gpuModel, r.instanceType, r.capacityType].join("|");

describe("metering a generated month against a real Prometheus 2.42", () => {
  const cfg = referenceConfig();
  let prom: { url: string; stop(): Promise<void> };
  let gen: ReturnType<typeof generateMonth>;
  let expected: Chargeback;
  let result: MeterResult;
  let outDir: string;
  let queriesIssued = 0;

  beforeAll(async () => {
    const prepared = await prepareMonthData({ ...DEMO_MONTH_DATA });
    gen = prepared.gen;
    prom = await startPrometheus({ dataDir: prepared.dataDir });
    expected = computeChargeback(exactAnswer(gen), cfg, MONTH);
    outDir = await mkdtemp(path.join(tmpdir(), "meter-"));
    const client = createPrometheusClient({ url: prom.url, onRequest: () => queriesIssued++ });
    result = await meterMonthFromPrometheus({ prometheus: client, sink: localSink(outDir), queries: loadQueries() }, cfg, MONTH, NOW);
  });
  afterAll(async () => prom?.stop());

  it("given the generated month, total allocated GPU-hours are within 0.2% of the exact answer", () => {
    const got = result.chargeback.totals.allocatedGpuHours.toNumber();
    const want = expected.totals.allocatedGpuHours.toNumber();
    expect(want).toBeGreaterThan(0);
    expect(Math.abs(got - want) / want).toBeLessThan(0.002);
  });

  it("given the generated month, every chargeback row is within 1% (or 0.5 GPU-h) and correction factors are exact", () => {
    const got = new Map(result.chargeback.rows.map((r) => [rowKey(r), r]));
    expect([...got.keys()].sort()).toEqual(expected.rows.map(rowKey).sort());
    for (const want of expected.rows) {
      const r = got.get(rowKey(want))!;
      const tol = (x: number) => Math.max(0.5, Math.abs(x) * 0.01);
      expect(Math.abs(r.allocatedGpuHours.toNumber() - want.allocatedGpuHours.toNumber()), rowKey(want)).toBeLessThanOrEqual(
        tol(want.allocatedGpuHours.toNumber()),
      );
      expect(Math.abs(r.usedGpuHours.toNumber() - want.usedGpuHours.toNumber()), rowKey(want)).toBeLessThanOrEqual(
        tol(want.usedGpuHours.toNumber()),
      );
      expect(r.correctionFactor.toString(), rowKey(want)).toBe(want.correctionFactor.toString());
      expect(r.unitPrice.toString()).toBe(want.unitPrice.toString());
    }
  });

  it("given the scenario's traps, the bill has the rows each one implies", () => {
    const rows = result.chargeback.rows;
    // all four correction tiers occur
    expect(new Set(rows.map((r) => r.correctionFactor.toString()))).toEqual(new Set(["1", "0.8", "0.6", "0.4"]));
    // an unlabelled namespace matching no glob is billed, as unallocated
    expect(rows.some((r) => r.tenantId === "unallocated")).toBe(true);
    // both capacity types and every GPU model
    expect(new Set(rows.map((r) => r.capacityType))).toEqual(new Set(["spot", "on-demand"]));
    expect(new Set(rows.map((r) => r.gpuModel))).toEqual(new Set(["T4", "A10G", "A100"]));
    // capacity covers every node group, idle is reported
    expect(result.chargeback.capacity.length).toBeGreaterThan(1);
    expect(result.chargeback.totals.idleGpuHours.toNumber()).toBeGreaterThan(0);
  });

  it("given kube_node_info on every node, each GPU node of the month carries the EC2 instance the generator gave it", () => {
    const nodes = result.chargeback.nodes!;
    expect(nodes.length).toBe(new Set(gen.nodes.map((n) => n.name)).size);
    for (const n of nodes) expect(n.providerId, n.node).toBe(providerIdOf(gen.nodes.find((g) => g.name === n.node)!));
    // per node group, the nodes' GPU-hours add up to the capacity row's (both round once, at 1e-6)
    for (const c of result.chargeback.capacity) {
      const sum = nodes
        .filter((n) => n.nodeGroup === c.nodeGroup && n.capacityType === c.capacityType && n.instanceType === c.instanceType)
        .reduce((a, n) => a + n.nodeGpuHours.toNumber(), 0);
      expect(sum).toBeCloseTo(c.nodeGpuHours.toNumber(), 4);
    }
  });

  it("given back-to-back daily windows, the daily rows add up to the month exactly", () => {
    const sumDaily = new Map<string, number>();
    for (const d of result.chargeback.daily) {
      const k = [d.tenantId, d.namespace, d.gpuModel, d.instanceType, d.capacityType].join("|");
      sumDaily.set(k, (sumDaily.get(k) ?? 0) + d.allocatedGpuHours.toNumber());
    }
    for (const r of result.chargeback.rows) expect(sumDaily.get(rowKey(r))).toBeCloseTo(r.allocatedGpuHours.toNumber(), 4);
    expect(new Set(result.chargeback.daily.map((d) => d.day)).size).toBe(31);
  });

  it("given a month full of pods that waited unbound for a node, no query pulls raw samples and only the kube-state-metrics rollout's day is metered per tick", () => {
    expect(gen.facts.waitedPods.length).toBeGreaterThan(100);
    expect(result.queries).toBe(31 * QUERIES_PER_DAY);
    expect(queriesIssued).toBe(31 * QUERIES_PER_DAY);
    // waiting unbound, then bound, is a pod's normal life: no day goes per tick for it
    const rolloutDay = new Intl.DateTimeFormat("en-CA", { timeZone: "Asia/Seoul" }).format(new Date(gen.ksmOutage.startMs));
    expect(result.perTickDays).toEqual([rolloutDay]);
  });

  it("given a re-run with the same inputs, every file is byte-identical", async () => {
    const again = await mkdtemp(path.join(tmpdir(), "meter-again-"));
    await meterMonthFromPrometheus(
      { prometheus: createPrometheusClient({ url: prom.url }), sink: localSink(again), queries: loadQueries() },
      cfg,
      MONTH,
      NOW,
    );
    const dir = `month=${MONTH}`;
    const files = (await readdir(path.join(outDir, dir))).sort();
    expect(files).toEqual([
      "capacity.csv",
      "chargeback.csv",
      "controller-actions.csv",
      "manifest.json",
      "nodes.csv",
      "pods.csv",
      "prices.json",
      "usage-daily.csv",
    ]);
    for (const f of files)
      expect((await readFile(path.join(again, dir, f))).equals(await readFile(path.join(outDir, dir, f))), f).toBe(true);
  });

  it("given an S3 bucket (s3rver), the CLI writes the same CSV bytes as to disk, plus the Parquet tables and focus.csv its manifest lists", async () => {
    const s3 = await startS3("finance");
    try {
      // The CLI's S3 client takes its credentials from the environment, as on a workstation; restored below.
      vi.stubEnv("AWS_ACCESS_KEY_ID", "S3RVER");
      vi.stubEnv("AWS_SECRET_ACCESS_KEY", "S3RVER");
      vi.stubEnv("AWS_REGION", "us-east-1");
      const code = await main(
        ["meter", "--month", MONTH, "--prometheus-url", prom.url, "--bucket", "finance", "--prefix", "cb", "--s3-endpoint", s3.endpoint],
        process.env,
        NOW,
      );
      expect(code).toBe(0);
      const get = async (f: string) =>
        Buffer.from(
          await (
            await s3.client.send(new GetObjectCommand({ Bucket: "finance", Key: `cb/month=${MONTH}/${f}` }))
          ).Body!.transformToByteArray(),
        );
      for (const f of ["chargeback.csv", "usage-daily.csv", "capacity.csv"])
        expect((await get(f)).equals(await readFile(path.join(outDir, `month=${MONTH}`, f))), f).toBe(true);
      const manifest = JSON.parse((await get("manifest.json")).toString()) as { files: Record<string, { sha256: string }> };
      expect(Object.keys(manifest.files)).toEqual(expect.arrayContaining(["focus.csv", "parquet/chargeback/data.parquet"]));
      for (const [name, f] of Object.entries(manifest.files))
        expect(
          createHash("sha256")
            .update(await get(name))
            .digest("hex"),
          name,
        ).toBe(f.sha256);
    } finally {
      vi.unstubAllEnvs();
      await s3.stop();
    }
  });

  it("given bad input, the CLI exits 2 and writes nothing; given Prometheus down, it exits 3", async () => {
    const out = await mkdtemp(path.join(tmpdir(), "meter-bad-"));
    const run = (args: string[]) => main(["meter", "--out", out, "--prometheus-url", prom.url, ...args], process.env, NOW);
    expect(await run(["--month", "2026-13"])).toBe(2);
    expect(await run(["--month", "2026-12"])).toBe(2); // future
    expect(await run(["--month", "2026-11"])).toBe(2); // not ended
    expect(await run(["--month", MONTH, "--exports", "parquet,xml"])).toBe(2);
    expect(await main(["meter", "--out", out, "--month", MONTH, "--prometheus-url", "http://127.0.0.1:9"], { ...process.env }, NOW)).toBe(
      3,
    );
    expect(await readdir(out)).toEqual([]);
  });

  it("given a config with no price for p4d.24xlarge and g5.12xlarge, the CLI lists both, exits 2 and writes nothing", async () => {
    const dir = await mkdtemp(path.join(tmpdir(), "meter-price-"));
    const cfgFile = path.join(dir, "cfg.yaml");
    const text = referenceConfigText
      .split("\n")
      .filter((l) => !/^\s+(p4d\.24xlarge|g5\.12xlarge):/.test(l))
      .join("\n");
    await writeFile(cfgFile, text);
    const errors: string[] = [];
    const orig = console.error;
    console.error = (m: string) => errors.push(m);
    try {
      const code = await main(
        ["meter", "--month", MONTH, "--config", cfgFile, "--prometheus-url", prom.url, "--out", path.join(dir, "out")],
        process.env,
        NOW,
      );
      expect(code).toBe(2);
    } finally {
      console.error = orig;
    }
    expect(errors.join("\n")).toMatch(/instance types with no price in the config: g5\.12xlarge, p4d\.24xlarge/);
    expect(await readdir(dir)).toEqual(["cfg.yaml"]);
  });
});
