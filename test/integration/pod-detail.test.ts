import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mkdtemp, readFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { computeChargeback, type Chargeback } from "../../functions/core/chargeback.js";
import { POD_COLUMNS } from "../../functions/core/dataset.js";
import { D, type Dec } from "../../functions/core/decimal.js";
import { createPrometheusClient } from "../../functions/adapters/prometheus-client.js";
import { loadQueries } from "../../functions/adapters/query-files.js";
import { localSink } from "../../functions/adapters/dataset-sink.js";
import { meterMonth, type MeterResult } from "../../functions/metering/meter-month.js";
import { parseCsv } from "../../functions/report/dataset-files.js";
import { DEMO_MONTH_DATA } from "../global-setup.js";
import { exactAnswer, exactPodAnswer } from "../support/month-generator.js";
import { prepareMonthData, startPrometheus, type RunningPrometheus } from "../support/prometheus-harness.js";
import { referenceConfig } from "../core/fixtures.js";

const MONTH = "2026-10";
const NOW = new Date("2026-11-23T00:00:00Z");
const splitOf = (r: Record<string, string>) => [r.cluster, r.tenant_id, r.namespace, r.gpu_model, r.instance_type, r.capacity_type].join("|");

describe("pods.csv of the generated demo month, metered from a real Prometheus 2.42", () => {
  const cfg = referenceConfig();
  let prom: RunningPrometheus;
  let result: MeterResult;
  let expected: Chargeback;
  let chargeback: Record<string, string>[];
  let pods: Record<string, string>[];
  let podsBody: Buffer;

  const records = (body: Buffer) => {
    const [head, ...rows] = parseCsv(body.toString("utf8"));
    return rows.map((r) => Object.fromEntries(head!.map((c, i) => [c, r[i]!])));
  };

  beforeAll(async () => {
    const prepared = await prepareMonthData({ ...DEMO_MONTH_DATA });
    prom = await startPrometheus({ dataDir: prepared.dataDir });
    expected = computeChargeback({ ...exactAnswer(prepared.gen), pods: exactPodAnswer(prepared.gen) }, cfg, MONTH);
    const out = await mkdtemp(path.join(tmpdir(), "meter-pods-"));
    result = await meterMonth({ prometheus: createPrometheusClient({ url: prom.url }), sink: localSink(out), queries: loadQueries() }, cfg, MONTH, NOW);
    const dir = path.join(out, `month=${MONTH}`);
    chargeback = records(await readFile(path.join(dir, "chargeback.csv")));
    podsBody = await readFile(path.join(dir, "pods.csv"));
    pods = records(podsBody);
  });
  afterAll(async () => prom?.stop());

  it("given the metered month, then pods.csv has the documented header and the manifest vouches for it", () => {
    expect(parseCsv(podsBody.toString("utf8"))[0]).toEqual([...POD_COLUMNS]);
    expect(pods.length).toBeGreaterThan(0);
    const listed = JSON.parse(result.dataset.manifest.body.toString("utf8")).files["pods.csv"];
    expect(listed).toMatchObject({ rows: pods.length, bytes: podsBody.length });
  });

  it("given the metered month, then each chargeback row's pods in pods.csv add up to its allocated and used GPU-hours exactly", () => {
    const sums = new Map<string, { alloc: Dec; used: Dec }>();
    for (const p of pods) {
      const s = sums.get(splitOf(p)) ?? sums.set(splitOf(p), { alloc: new D(0), used: new D(0) }).get(splitOf(p))!;
      s.alloc = s.alloc.add(p.allocated_gpu_hours!);
      s.used = s.used.add(p.used_gpu_hours!);
    }
    expect([...sums.keys()].sort()).toEqual(chargeback.map(splitOf).sort());
    for (const r of chargeback) {
      const s = sums.get(splitOf(r))!;
      expect(s.alloc.toFixed(), splitOf(r)).toBe(new D(r.allocated_gpu_hours!).toFixed());
      expect(s.used.toFixed(), splitOf(r)).toBe(new D(r.used_gpu_hours!).toFixed());
    }
  });

  it("given the generator's exact per-pod answer, then every pod's allocated and used GPU-hours are within 1% (or 0.5 GPU-h) of it", () => {
    const key = (p: { namespace: string; pod: string; node: string }) => `${p.namespace}|${p.pod}|${p.node}`;
    const want = new Map(expected.pods!.map((p) => [key(p), p]));
    expect(pods.map(key).sort()).toEqual([...want.keys()].sort());
    const tol = (x: number) => Math.max(0.5, Math.abs(x) * 0.01);
    for (const p of pods) {
      const w = want.get(key(p))!;
      expect(Math.abs(Number(p.allocated_gpu_hours) - w.allocatedGpuHours.toNumber()), key(p)).toBeLessThanOrEqual(tol(w.allocatedGpuHours.toNumber()));
      expect(Math.abs(Number(p.used_gpu_hours) - w.usedGpuHours.toNumber()), key(p)).toBeLessThanOrEqual(tol(w.usedGpuHours.toNumber()));
      expect(splitOf(p), key(p)).toBe([w.cluster, w.tenantId, w.namespace, w.gpuModel, w.instanceType, w.capacityType].join("|"));
    }
  });
});
