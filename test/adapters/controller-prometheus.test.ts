// A stand-in Prometheus client that records the rendered PromQL and answers from
// a table; controller-prometheus-real.test.ts runs the same queries on a real Prometheus.
import { describe, expect, it } from "vitest";
import { fetchControllerMetrics } from "../../functions/adapters/controller-prometheus.js";
import { withGroupFreshness } from "../../functions/controller/snapshot.js";
import type { PrometheusClient, InstantSample } from "../../functions/adapters/prometheus-client.js";
import { node } from "../controller/fixtures.js";

const T = Date.parse("2026-11-21T03:00:00Z");

function client(answers: (q: string) => InstantSample[]) {
  const asked: string[] = [];
  const c: PrometheusClient = {
    url: "http://prom",
    query: async (q, t) => (asked.push(q), expect(t).toBe(T / 1000), answers(q.replace(/^#.*\n/gm, "").trim())),
  };
  return { c, asked };
}

describe("controller metrics from Prometheus", () => {
  it("given the window queries, then they are rendered with the window, step and dcgm labels", async () => {
    const { c, asked } = client(() => []);
    await fetchControllerMetrics(c, new Date(T), {
      idleWindowSeconds: 900,
      scaleOutWindowSeconds: 600,
      stepSeconds: 60,
      nodeLabel: "Hostname",
      gpuLabel: "gpu",
    });
    expect(asked).toHaveLength(7);
    expect(asked.some((q) => q.includes('count_over_time(DCGM_FI_DEV_GPU_UTIL{ Hostname!="" }[900s])'))).toBe(true);
    expect(asked.some((q) => q.includes("min_over_time((") && q.includes(")[600s:60s])"))).toBe(true);
  });

  it("given a GPU with samples but no max (a partial answer), then its max is +Infinity so it can never look idle", async () => {
    const { c } = client((q) => {
      const m = { Hostname: "n1", gpu: "0" };
      if (q.includes("label_eks_amazonaws_com_nodegroup"))
        return [{ metric: { label_eks_amazonaws_com_nodegroup: "g5-spot" }, value: q.startsWith("count") ? 10 : 42 }];
      if (q.startsWith("count_over_time")) return [{ metric: m, value: 15 }];
      if (q.startsWith("avg_over_time")) return [{ metric: m, value: 0 }];
      if (q.startsWith("timestamp")) return [{ metric: m, value: T / 1000 - 20 }];
      return [];
    });
    const m = await fetchControllerMetrics(c, new Date(T), { idleWindowSeconds: 900, scaleOutWindowSeconds: 600, stepSeconds: 60 });
    expect(m.gpus).toEqual([{ node: "n1", gpu: "0", samples: 15, maxUtil: Infinity, meanUtil: 0, lastSampleMs: T - 20_000 }]);
    expect(m.groups).toEqual([{ nodeGroup: "g5-spot", minUtil: 42, meanUtil: 42, steps: 10, lastSampleMs: 0 }]);
    // Group freshness = the stalest Ready GPU of the group, once nodes are known.
    expect(withGroupFreshness(m, [node("n1", "g5-spot")]).groups[0]!.lastSampleMs).toBe(T - 20_000);
  });
});
