import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createPrometheusClient } from "../../functions/adapters/prometheus-client.js";
import { LabelMatcher, loadQueries, renderQuery } from "../../functions/adapters/query-files.js";
import { fetchMonthUsage } from "../../functions/adapters/prometheus-usage.js";
import { billingMonth } from "../../functions/core/month.js";
import { fastPathExceptions, joinPodMinutes, podKey } from "../../functions/core/pod-minutes.js";
import { startScenarioPrometheus, type RunningPrometheus } from "../../functions/demo/local-prometheus.js";
import { dbPodMovesNode } from "./pod-moves-node-scenario.js";

/**
 * A StatefulSet pod keeps its name when a Spot interruption reschedules it: given
 * db-0 Running 60 min on a spot node, then 30 min on an on-demand node the same day,
 * the per-pod fast path would bill 90 min on both nodes; the guard must route the
 * day to the per-tick queries.
 */
describe("a pod rescheduled under the same name on another node", () => {
  const bm = billingMonth("2026-10", "Asia/Seoul");
  const day = bm.days[4]!;
  const t0 = day.startMs + 10 * 3600_000;
  let prom: RunningPrometheus;

  beforeAll(async () => {
    prom = await startScenarioPrometheus(t0, (series) => {
      dbPodMovesNode(series);
      // Running 0–59 on spot-1 (Failed 60–61), Pending 64–65 then Running 66–95 on od-1
      series("kube_pod_status_phase", 'namespace="team-data",phase="Running",pod="db-0"', 0, 96, (m) => (m < 60 || m >= 66 ? 1 : 0));
    });
  });
  afterAll(async () => prom?.stop());

  it("given the move, the day is metered per tick and each node bills only its own minutes", async () => {
    const client = createPrometheusClient({ url: prom.url });
    const usage = await fetchMonthUsage(
      client,
      { ...bm, days: [day] },
      { queries: loadQueries(), dcgmNamespaceLabel: "namespace", dcgmPodLabel: "pod", concurrency: 2 },
    );
    expect(usage.perTickDays).toEqual([day.day]);
    const byNode = Object.fromEntries(usage.usage.map((u) => [u.node, u.requestMinutes]));
    expect(byNode).toEqual({ "spot-1": 2 * 60, "od-1": 2 * 30 });
  });

  it("given the same data, the per-pod fast path alone would double-bill (why the guard exists)", async () => {
    const client = createPrometheusClient({ url: prom.url });
    const qs = loadQueries();
    const render = (name: "pod-gpu-requests" | "pod-running-minutes") =>
      renderQuery(qs[name], { windowSeconds: (day.endMs - day.startMs) / 1000, namespaceMatcher: LabelMatcher.none });
    const at = day.endMs / 1000 - 1;
    const requests = (await client.query(render("pod-gpu-requests"), at)).filter((s) => s.metric.stat === "max");
    const series = requests.map((s) => ({
      namespace: s.metric.namespace!,
      pod: s.metric.pod!,
      container: s.metric.container!,
      node: s.metric.node!,
      resource: s.metric.resource!,
      max: s.value,
      min: s.value,
    }));
    expect(fastPathExceptions(series)).toEqual(["team-data/db-0 requests GPUs on od-1/nvidia_com_gpu and on spot-1/nvidia_com_gpu"]);
    const running = await client.query(render("pod-running-minutes"), at);
    expect(running.map((s) => s.value)).toEqual([90]);
    const joined = joinPodMinutes(day.day, series, new Map([[podKey("team-data", "db-0"), 90]]), new Map());
    expect(joined.reduce((a, u) => a + u.requestMinutes, 0)).toBe(2 * 90 * 2);
  });
});
