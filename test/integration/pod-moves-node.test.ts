import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { createPrometheusClient } from "../../functions/adapters/prometheus-client.js";
import { loadQueries, renderQuery } from "../../functions/adapters/query-files.js";
import { fetchMonthUsage } from "../../functions/adapters/prometheus-usage.js";
import { billingMonth } from "../../functions/core/month.js";
import { backfill, startPrometheus, type RunningPrometheus } from "../support/prometheus-harness.js";

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
    const dir = await mkdtemp(path.join(tmpdir(), "moves-"));
    const lines: string[] = [];
    const series = (name: string, labels: string, fromMin: number, toMin: number, v: (m: number) => number) => {
      for (let m = fromMin; m < toMin; m++) lines.push(`${name}{${labels}} ${v(m)} ${(t0 + m * 60_000) / 1000}`);
      lines.push(`${name}{${labels}} NaN ${(t0 + toMin * 60_000) / 1000}`);
    };
    lines.push("# TYPE kube_pod_container_resource_requests gauge");
    series("kube_pod_container_resource_requests", 'container="db",namespace="team-data",node="spot-1",pod="db-0",resource="nvidia_com_gpu",unit="integer"', 0, 62, () => 2);
    series("kube_pod_container_resource_requests", 'container="db",namespace="team-data",node="od-1",pod="db-0",resource="nvidia_com_gpu",unit="integer"', 64, 96, () => 2);
    lines.push("# TYPE kube_pod_status_phase gauge");
    // Running 0–59 on spot-1 (Failed 60–61), Pending 64–65 then Running 66–95 on od-1
    series("kube_pod_status_phase", 'namespace="team-data",phase="Running",pod="db-0"', 0, 96, (m) => (m < 60 || m >= 66 ? 1 : 0));
    lines.push("# EOF");
    const file = path.join(dir, "day.om");
    await writeFile(file, lines.join("\n") + "\n");
    await backfill([file], path.join(dir, "data"));
    prom = await startPrometheus({ dataDir: path.join(dir, "data") });
  });
  afterAll(async () => prom?.stop());

  it("given the move, the day is metered per tick and each node bills only its own minutes", async () => {
    const client = createPrometheusClient({ url: prom.url });
    const usage = await fetchMonthUsage(client, { ...bm, days: [day] }, { queries: loadQueries(), dcgmNamespaceLabel: "namespace", dcgmPodLabel: "pod", concurrency: 2 });
    expect(usage.perTickDays).toEqual([day.day]);
    const byNode = Object.fromEntries(usage.usage.map((u) => [u.node, u.requestMinutes]));
    expect(byNode).toEqual({ "spot-1": 2 * 60, "od-1": 2 * 30 });
  });

  it("given the same data, the per-pod fast query alone would double-bill (why the guard exists)", async () => {
    const client = createPrometheusClient({ url: prom.url });
    const q = renderQuery(loadQueries()["allocated-gpu-minutes"], { windowSeconds: (day.endMs - day.startMs) / 1000 });
    const r = await client.query(q, day.endMs / 1000 - 1);
    expect(r.reduce((a, s) => a + s.value, 0)).toBe(2 * 90 * 2);
  });
});
