// The controller's PromQL against a real Prometheus (the repo's harness): a
// small backfilled cluster — node n1 idle, node n2 busy with one GPU that
// misses every other scrape — checks syntax and what each query returns.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { backfill, startPrometheus, type RunningPrometheus } from "../../functions/demo/local-prometheus.js";
import { createPrometheusClient } from "../../functions/adapters/prometheus-client.js";
import { fetchControllerMetrics } from "../../functions/adapters/controller-prometheus.js";

const T0 = Date.parse("2026-11-21T02:30:00Z") / 1000; // first sample
const MINUTES = 30;
const NOW_MS = (T0 + (MINUTES - 1) * 60 + 30) * 1000; // 30 s after the last sample

let prom: RunningPrometheus;
let work: string;
beforeAll(async () => {
  work = await mkdtemp(path.join(tmpdir(), "ctl-prom-"));
  const lines = ["# TYPE DCGM_FI_DEV_GPU_UTIL gauge"];
  const gpus: [string, string, (m: number) => number | undefined][] = [
    ["n1", "0", () => 0],
    ["n1", "1", () => 2],
    ["n2", "0", () => 80],
    ["n2", "1", (m) => (m % 2 ? undefined : 40)],
  ];
  for (const [n, g, f] of gpus)
    for (let m = 0; m < MINUTES; m++) {
      const v = f(m);
      if (v !== undefined) lines.push(`DCGM_FI_DEV_GPU_UTIL{Hostname="${n}",gpu="${g}"} ${v} ${T0 + m * 60}`);
    }
  lines.push("# TYPE kube_node_labels gauge");
  for (const n of ["n1", "n2"])
    for (let m = 0; m < MINUTES; m++)
      lines.push(`kube_node_labels{node="${n}",label_eks_amazonaws_com_nodegroup="g5-spot"} 1 ${T0 + m * 60}`);
  lines.push("# EOF");
  const file = path.join(work, "data.om");
  await writeFile(file, lines.join("\n") + "\n");
  await backfill([file], path.join(work, "tsdb"));
  prom = await startPrometheus({ dataDir: path.join(work, "tsdb") });
});
afterAll(async () => {
  await prom?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

describe("controller PromQL on a real Prometheus", () => {
  it("given 30 minutes of dcgm samples, then per-GPU samples, max and newest sample, and per-group sustained utilization come back right", async () => {
    const m = await fetchControllerMetrics(createPrometheusClient({ url: prom.url, retries: 0 }), new Date(NOW_MS), {
      idleWindowSeconds: 900,
      scaleOutWindowSeconds: 600,
      stepSeconds: 60,
    });
    const g = (n: string, i: string) => m.gpus.find((x) => x.node === n && x.gpu === i);
    expect(g("n1", "0")).toEqual({ node: "n1", gpu: "0", samples: 15, maxUtil: 0, meanUtil: 0, lastSampleMs: NOW_MS - 30_000 });
    expect(g("n1", "1")).toMatchObject({ samples: 15, maxUtil: 2 });
    expect(g("n2", "0")).toMatchObject({ samples: 15, maxUtil: 80, meanUtil: 80 });
    // Every other scrape missing: 7 or 8 of 15 — below 90 % coverage, so never idle.
    expect(g("n2", "1")!.samples).toBeLessThan(9);
    // Per step the group mean is (0 + 2 + 80 + 40) / 4 = 30.5 (the lookback bridges n2/1's gaps), over 10 steps.
    // Prometheus' avg is an incremental mean whose float error depends on series order: compare to 9 places.
    expect(m.groups).toEqual([
      { nodeGroup: "g5-spot", steps: 10, minUtil: expect.closeTo(30.5, 9), meanUtil: expect.closeTo(30.5, 9), lastSampleMs: 0 },
    ]);
  });
});
