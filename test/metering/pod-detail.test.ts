import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mkdtemp, readFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { computeChargeback, type Chargeback } from "../../functions/core/chargeback.js";
import { SINGLE_CLUSTER_COLUMNS } from "../../functions/core/dataset.js";
import { D, type Dec } from "../../functions/core/decimal.js";
import { createPrometheusClient } from "../../functions/adapters/prometheus-client.js";
import { loadQueries } from "../../functions/adapters/query-files.js";
import { localSink } from "../../functions/adapters/dataset-sink.js";
import { type MeterResult } from "../../functions/metering/meter-month.js";
import { parseCsv } from "../../functions/report/dataset-files.js";
import { DEMO_MONTH_DATA } from "../global-setup.js";
import { exactAnswer, exactPodAnswer } from "../../functions/demo/month-generator.js";
import {
  prepareMonthData,
  startPrometheus,
  startScenarioPrometheus,
  type RunningPrometheus,
} from "../../functions/demo/local-prometheus.js";
import { fetchMonthUsage } from "../../functions/adapters/prometheus-usage.js";
import { billingMonth } from "../../functions/core/month.js";
import { referenceConfig } from "../core/fixtures.js";
import { meterMonthFromPrometheus } from "../../functions/wiring/prometheus-metering.js";
import { dbPodMovesNode } from "./pod-moves-node-scenario.js";

const MONTH = "2026-10";
const NOW = new Date("2026-11-23T00:00:00Z");
// chargeback.csv and pods.csv of a single-cluster month have no cluster column: their rows are the default cluster.
const splitOf = (r: Record<string, string>) =>
  [r.cluster ?? "default", r.tenant_id, r.namespace, r.gpu_model, r.instance_type, r.capacity_type].join("|");

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
    result = await meterMonthFromPrometheus(
      { prometheus: createPrometheusClient({ url: prom.url }), sink: localSink(out), queries: loadQueries() },
      cfg,
      MONTH,
      NOW,
    );
    const dir = path.join(out, `month=${MONTH}`);
    chargeback = records(await readFile(path.join(dir, "chargeback.csv")));
    podsBody = await readFile(path.join(dir, "pods.csv"));
    pods = records(podsBody);
  });
  afterAll(async () => prom?.stop());

  it("given the metered month, then pods.csv has the documented header and the manifest vouches for it", () => {
    // A single-cluster month: no cluster column.
    expect(parseCsv(podsBody.toString("utf8"))[0]).toEqual([...SINGLE_CLUSTER_COLUMNS.pods]);
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

  it("given the generator's exact per-pod answer, then every pod's allocated and used GPU-hours are within 1% (or 0.5 GPU-h) of it, and allocated equals it exactly", () => {
    const key = (p: Record<string, string>) => `${p.namespace}|${p.pod}|${p.node}`;
    const want = new Map(expected.pods!.map((p) => [key({ namespace: p.namespace, pod: p.pod, node: p.node }), p]));
    expect(pods.map(key).sort()).toEqual([...want.keys()].sort());
    const tol = (x: number) => Math.max(0.5, Math.abs(x) * 0.01);
    for (const p of pods) {
      const w = want.get(key(p))!;
      expect(Math.abs(Number(p.allocated_gpu_hours) - w.allocatedGpuHours.toNumber()), key(p)).toBeLessThanOrEqual(
        tol(w.allocatedGpuHours.toNumber()),
      );
      // Stricter than the rows' tolerance, and true here: Running minutes are whole ticks, so the
      // metered allocation per pod is the exact answer's to the last published digit.
      expect(p.allocated_gpu_hours, key(p)).toBe(w.allocatedGpuHours.toFixed());
      expect(Math.abs(Number(p.used_gpu_hours) - w.usedGpuHours.toNumber()), key(p)).toBeLessThanOrEqual(tol(w.usedGpuHours.toNumber()));
      expect(splitOf(p), key(p)).toBe([w.cluster, w.tenantId, w.namespace, w.gpuModel, w.instanceType, w.capacityType].join("|"));
    }
  });
});

/**
 * The per-tick queries now keep the pod: given db-0 Running 60 min on a spot node and then
 * 30 min on an on-demand node the same day (as in pod-moves-node.test.ts) next to a pod
 * that stays put, the day is metered per tick and the pod records carry each node's minutes.
 */
describe("per-pod records of a per-tick day, from a real Prometheus 2.42", () => {
  const bm = billingMonth("2026-10", "Asia/Seoul");
  const day = bm.days[4]!;
  const t0 = day.startMs + 10 * 3600_000;
  let prom: RunningPrometheus;

  beforeAll(async () => {
    prom = await startScenarioPrometheus(t0, (series) => {
      dbPodMovesNode(series);
      series(
        "kube_pod_container_resource_requests",
        'container="w",namespace="team-data",node="spot-1",pod="web-0",resource="nvidia_com_gpu",unit="integer"',
        0,
        40,
        () => 1,
      );
      series("kube_pod_status_phase", 'namespace="team-data",phase="Running",pod="db-0"', 0, 96, (m) => (m < 60 || m >= 66 ? 1 : 0));
      series("kube_pod_status_phase", 'namespace="team-data",phase="Running",pod="web-0"', 0, 40, () => 1);
    });
  });
  afterAll(async () => prom?.stop());

  it("given a pod that moved node, when the day is metered per tick, then each pod keeps its minutes per node and the namespace records are their sums", async () => {
    const usage = await fetchMonthUsage(
      createPrometheusClient({ url: prom.url }),
      { ...bm, days: [day] },
      { queries: loadQueries(), dcgmNamespaceLabel: "namespace", dcgmPodLabel: "pod", concurrency: 2 },
    );
    expect(usage.perTickDays).toEqual([day.day]);
    const pods = Object.fromEntries(usage.pods!.map((p) => [`${p.pod}@${p.node}`, p.requestMinutes]));
    expect(pods).toEqual({ "db-0@spot-1": 2 * 60, "db-0@od-1": 2 * 30, "web-0@spot-1": 40 });
    expect(Object.fromEntries(usage.usage.map((u) => [u.node, u.requestMinutes]))).toEqual({ "spot-1": 2 * 60 + 40, "od-1": 2 * 30 });
  });
});
