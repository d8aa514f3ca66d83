import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { generateMonth, type GeneratedMonth } from "../../functions/demo/month-generator.js";
import { backfill, backfillMonth, startPrometheus, type RunningPrometheus } from "../../functions/demo/local-prometheus.js";

/**
 * The harness itself, against the real Prometheus 2.42: two days of the demo
 * scenario (the whole scenario compressed into them, so the Spot interruption
 * and a scrape gap fall inside) backfilled with promtool, then instant queries.
 * Its own temp dir, not the shared month cache: no race with the integration
 * suites, and well under a minute on a fresh clone.
 */
const MIN = 60_000;

describe("the Prometheus harness", () => {
  let gen: GeneratedMonth;
  let prom: RunningPrometheus;
  let work: string;

  beforeAll(async () => {
    gen = generateMonth({ month: "2026-10", scale: "demo", days: 2 });
    work = await mkdtemp(path.join(tmpdir(), "harness-"));
    await backfillMonth(gen, path.join(work, "blocks"));
    prom = await startPrometheus({ dataDir: path.join(work, "blocks") });
  });
  afterAll(async () => {
    await prom?.stop();
    if (work) await rm(work, { recursive: true, force: true });
  });

  const query = async (q: string, tMs: number) => {
    const r = await fetch(`${prom.url}/api/v1/query`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ query: q, time: String(tMs / 1000) }),
    });
    const body = (await r.json()) as { status: string; data: { result: { metric: Record<string, string>; value: [number, string] }[] } };
    expect(body.status, q).toBe("success");
    return body.data.result;
  };
  /** GPU nodes alive at t, plus the CPU system node; each exported by both kube-state-metrics replicas. */
  const liveNodes = (t: number) => gen.nodes.filter((n) => n.startMs <= t && t < n.endMs).length + 1;

  it("given the backfilled days, count(kube_node_labels) at a mid-span instant is the generated node count twice over (two KSM replicas)", async () => {
    const t = gen.dataStartMs + 24 * 60 * MIN + 7 * 60 * MIN; // whole minute, mid-span
    const [total] = await query("count(kube_node_labels == 1)", t);
    expect(Number(total!.value[1])).toBe(2 * liveNodes(t));
    const byNode = await query("count by (node) (kube_node_labels == 1)", t);
    expect(byNode.length).toBe(liveNodes(t));
    expect(byNode.every((s) => s.value[1] === "2")).toBe(true);
  });

  it("given the Spot interruption, the node's NaN end sample drops it at once under `== 1` and promtool stored the NaN", async () => {
    const { node, atMs } = gen.facts.spotInterruption;
    const before = await query(`count(kube_node_labels{node="${node}"} == 1)`, atMs - MIN);
    expect(Number(before[0]!.value[1])).toBe(2);
    expect(await query(`kube_node_labels{node="${node}"} == 1`, atMs + MIN)).toHaveLength(0);
    const raw = await query(`kube_node_labels{node="${node}"}`, atMs + MIN);
    expect(raw).toHaveLength(2);
    expect(raw.every((s) => s.value[1] === "NaN")).toBe(true);
    const [total] = await query("count(kube_node_labels == 1)", atMs + MIN);
    expect(Number(total!.value[1])).toBe(2 * liveNodes(atMs + MIN));
  });

  it("given a scrape gap, the 5-minute lookback bridges it: nodes are still counted inside the gap", async () => {
    const gap = gen.gaps.find((g) => g.endMs < gen.facts.dataEndMs)!;
    expect(gap).toBeDefined();
    const t = gap.endMs - MIN; // last minute without samples
    const [total] = await query("count(kube_node_labels == 1)", t);
    expect(Number(total!.value[1])).toBe(2 * liveNodes(t));
    // and the gap really has no samples: no series has a sample in the last 30 s before t
    expect(await query("count(count_over_time(kube_node_labels[30s]))", t)).toHaveLength(0);
  });
});

describe("the backfill pool", () => {
  it("given day files where one is not OpenMetrics, when backfilled, then it rejects naming that file and the good days are in blocks, one block per day", async () => {
    const work = await mkdtemp(path.join(tmpdir(), "pool-"));
    try {
      const day = (i: number) =>
        `# TYPE m gauge\n${Array.from({ length: 144 }, (_, k) => `m{d="${i}"} 1 ${86400 * (20000 + i) + 600 * k}`).join("\n")}\n# EOF\n`;
      const files = [0, 1, 2].map((i) => path.join(work, `day-${i}.om`));
      await Promise.all(files.map((f, i) => writeFile(f, i === 1 ? "not openmetrics\n" : day(i))));
      await expect(backfill(files, path.join(work, "blocks"))).rejects.toThrow(/promtool failed on .*day-1\.om/);
      const good = await backfill([files[0]!, files[2]!], path.join(work, "good"));
      expect(good).toBeUndefined();
      // Day-long data: promtool's default (2 h) cuts each day into 12 blocks; ours into at most 2 (162 h blocks, aligned to the epoch).
      const metas = await Promise.all(
        (await readdir(path.join(work, "good"))).map(
          async (b) => JSON.parse(await readFile(path.join(work, "good", b, "meta.json"), "utf8")) as { minTime: number; maxTime: number },
        ),
      );
      expect(metas.length).toBeLessThanOrEqual(4);
      expect(Math.max(...metas.map((m) => m.maxTime - m.minTime))).toBeGreaterThan(2 * 3600_000);
    } finally {
      await rm(work, { recursive: true, force: true });
    }
  });
});
