import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createPrometheusClient } from "../../functions/adapters/prometheus-client.js";
import { loadQueries } from "../../functions/adapters/query-files.js";
import { fetchMonthUsage, UnattributableSeriesError } from "../../functions/adapters/prometheus-usage.js";
import { billingMonth } from "../../functions/core/month.js";
import { computeChargeback, type ChargebackRow } from "../../functions/core/chargeback.js";
import { exactAnswer, exactPodAnswer } from "../../functions/demo/month-generator.js";
import {
  prepareMonthData,
  startPrometheus,
  startScenarioPrometheus,
  type RunningPrometheus,
} from "../../functions/demo/local-prometheus.js";
import { MONTH_CACHE_DIR } from "../global-setup.js";
import { referenceConfig } from "../core/fixtures.js";

const bm = billingMonth("2026-10", "Asia/Seoul");
const day = bm.days[4]!;
const t0 = day.startMs + 10 * 3600_000;
const KSM = 'instance="10.0.1.11:8080",job="kube-state-metrics"';
const usageOf = (url: string) =>
  fetchMonthUsage(
    createPrometheusClient({ url }),
    { ...bm, days: [day] },
    { queries: loadQueries(), dcgmNamespaceLabel: "namespace", dcgmPodLabel: "pod", concurrency: 2 },
  );

/**
 * Hand-written kube-state-metrics shapes on a real Prometheus, each the way the exporter
 * writes it (internal/store/pod.go: `node` is the pod's spec.nodeName, `uid` on every pod series).
 */
describe("kube-state-metrics shapes a real cluster produces every day", () => {
  let prom: RunningPrometheus | undefined;
  afterAll(async () => prom?.stop());

  it("given a pod recreated under the same name on the same node (a new uid), when metered, then both lives bill", async () => {
    prom = await startScenarioPrometheus(t0, (series) => {
      series(
        "kube_node_labels",
        `${KSM},label_node_kubernetes_io_instance_type="g5.12xlarge",label_karpenter_sh_capacity_type="spot",node="g5-1"`,
        0,
        200,
        () => 1,
      );
      series(
        "kube_pod_container_resource_requests",
        `${KSM},container="m",namespace="team-ai",node="g5-1",pod="serve-0",resource="nvidia_com_gpu",uid="u-1",unit="integer"`,
        0,
        61,
        () => 1,
      );
      series(
        "kube_pod_container_resource_requests",
        `${KSM},container="m",namespace="team-ai",node="g5-1",pod="serve-0",resource="nvidia_com_gpu",uid="u-2",unit="integer"`,
        70,
        150,
        () => 1,
      );
      series("kube_pod_status_phase", `${KSM},namespace="team-ai",phase="Running",pod="serve-0",uid="u-1"`, 0, 61, (m) => (m < 60 ? 1 : 0));
      series("kube_pod_status_phase", `${KSM},namespace="team-ai",phase="Running",pod="serve-0",uid="u-2"`, 70, 150, (m) =>
        m >= 72 && m < 142 ? 1 : 0,
      );
    });
    const usage = await usageOf(prom.url);
    expect(usage.perTickDays).toEqual([]);
    expect(usage.usage.map((u) => u.requestMinutes)).toEqual([60 + 70]);
    await prom.stop();
    prom = undefined;
  });

  it("given a Running pod whose only GPU request series has no node, when metered, then the run stops and names the pod", async () => {
    prom = await startScenarioPrometheus(t0, (series) => {
      series(
        "kube_pod_container_resource_requests",
        `${KSM},container="m",namespace="team-ai",pod="ghost",resource="nvidia_com_gpu",uid="u-9",unit="integer"`,
        0,
        60,
        () => 1,
      );
      series("kube_pod_status_phase", `${KSM},namespace="team-ai",phase="Running",pod="ghost",uid="u-9"`, 0, 60, () => 1);
    });
    const err = await usageOf(prom.url).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UnattributableSeriesError);
    expect((err as Error).message).toContain("team-ai/ghost");
    await prom.stop();
    prom = undefined;
  });
});

/**
 * Two days of the demo month as dcgm-exporter looks through the GPU Operator's ServiceMonitor
 * (honor_labels: false: the workload arrives as exported_pod / exported_namespace) with
 * KUBERNETES_VIRTUAL_GPUS on (every pod sharing a time-sliced GPU gets a copy of its series).
 */
describe("dcgm-exporter scraped with honor_labels: false and virtual GPUs", () => {
  const cfg = referenceConfig();
  let prom: RunningPrometheus;
  let gen: Awaited<ReturnType<typeof prepareMonthData>>["gen"];
  beforeAll(async () => {
    const prepared = await prepareMonthData({
      month: "2026-10",
      scale: "demo",
      days: 2,
      cacheDir: MONTH_CACHE_DIR,
      dcgm: { labels: "exported", sharing: "virtual" },
    });
    gen = prepared.gen;
    prom = await startPrometheus({ dataDir: prepared.dataDir });
  });
  afterAll(async () => prom?.stop());

  it("given the exported_* labels in the config, when metered, then every row matches the exact answer and a time-shared GPU's utilization is counted once", async () => {
    const usage = await fetchMonthUsage(
      createPrometheusClient({ url: prom.url }),
      { ...bm, days: bm.days.slice(0, 2) },
      {
        queries: loadQueries(),
        dcgmNamespaceLabel: "exported_namespace",
        dcgmPodLabel: "exported_pod",
        concurrency: 2,
      },
    );
    const result = { chargeback: computeChargeback(usage, cfg, "2026-10") };
    const want = computeChargeback(exactAnswer(gen), cfg, "2026-10");
    const key = (r: ChargebackRow) => [r.namespace, r.instanceType, r.capacityType].join("|");
    const got = new Map(result.chargeback.rows.map((r) => [key(r), r]));
    expect([...got.keys()].sort()).toEqual(want.rows.map(key).sort());
    for (const w of want.rows) {
      const r = got.get(key(w))!;
      expect(Math.abs(r.allocatedGpuHours.toNumber() - w.allocatedGpuHours.toNumber()), key(w)).toBeLessThanOrEqual(
        Math.max(0.05, w.allocatedGpuHours.toNumber() * 0.01),
      );
      expect(Math.abs(r.usedGpuHours.toNumber() - w.usedGpuHours.toNumber()), key(w)).toBeLessThanOrEqual(
        Math.max(0.05, w.usedGpuHours.toNumber() * 0.01),
      );
    }
    // the time-sliced GPU: its pods' used GPU-hours add up to at most one GPU's busy time
    const ts = exactPodAnswer(gen).filter((p) => p.node === gen.facts.timeSlicedNode);
    expect(ts.length).toBeGreaterThan(1);
    const tsUsed = result.chargeback.rows
      .filter((r) => r.instanceType === "g4dn.xlarge")
      .reduce((a, r) => a + r.usedGpuHours.toNumber(), 0);
    const tsNodeHours = result.chargeback.capacity
      .filter((c) => c.instanceType === "g4dn.xlarge")
      .reduce((a, c) => a + c.nodeGpuHours.toNumber(), 0);
    expect(tsUsed).toBeGreaterThan(0);
    expect(tsUsed).toBeLessThanOrEqual(tsNodeHours);
  });
});
