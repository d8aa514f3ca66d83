import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mkdtemp, readFile, readdir } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { createPrometheusClient, PrometheusQueryTooLargeError, type PrometheusClient } from "../../functions/adapters/prometheus-client.js";
import { fetchMonthUsage, QueryWindowTooLargeError } from "../../functions/adapters/prometheus-usage.js";
import { loadQueries } from "../../functions/adapters/query-files.js";
import { localSink } from "../../functions/adapters/dataset-sink.js";
import { tagClusterUsage } from "../../functions/core/cluster-stage.js";
import { billingMonth } from "../../functions/core/month.js";

import { prepareMonthData, startPrometheus, type RunningPrometheus } from "../../functions/demo/local-prometheus.js";
import { DEMO_3_DAYS_DATA } from "../global-setup.js";
import { referenceConfig } from "../core/fixtures.js";
import { meterMonthFromPrometheus } from "../../functions/wiring/prometheus-metering.js";

const MONTH = "2026-10";
const NOW = new Date("2026-11-23T00:00:00Z");
/**
 * Measured on this data (stats=all, peakSamples of one billing day): node-minutes ~60,000,
 * pod-running-minutes ~45,000, pod-used-gpu-minutes ~23,000; of one hour: node-label-minutes
 * ~2,500, pod-running-minutes ~1,500. So 8,000 refuses every day and is met by hour windows,
 * and 2,000 refuses node-label-minutes even for one hour (it cannot be split by namespace).
 */
const SPLIT_MAX_SAMPLES = 8_000;
const TOO_SMALL_MAX_SAMPLES = 2_000;

type Manifest = {
  files: Record<string, unknown>;
  inputs: { prometheusUrl: string; clusters: { prometheusUrl: string; queryWindows?: unknown }[] };
};
/** The manifest but for queryWindows and the Prometheus URL (the two runs ask two servers, one per --query.max-samples). */
const withoutQueryWindows = (m: Manifest) => ({
  ...m,
  inputs: {
    ...m.inputs,
    prometheusUrl: "-",
    clusters: m.inputs.clusters.map(({ queryWindows: _, ...c }) => ({ ...c, prometheusUrl: "-" })),
  },
});

describe("a query engine that refuses a day's queries for their size (real Prometheus 2.42, small --query.max-samples)", () => {
  const cfg = referenceConfig();
  let unlimited: RunningPrometheus;
  let limited: RunningPrometheus;
  let tooSmall: RunningPrometheus;
  let unsplitDir: string;

  beforeAll(async () => {
    const { dataDir } = await prepareMonthData({ ...DEMO_3_DAYS_DATA });
    [unlimited, limited, tooSmall] = await Promise.all([
      startPrometheus({ dataDir }),
      startPrometheus({ dataDir, maxSamples: SPLIT_MAX_SAMPLES }),
      startPrometheus({ dataDir, maxSamples: TOO_SMALL_MAX_SAMPLES }),
    ]);
    unsplitDir = await mkdtemp(path.join(tmpdir(), "meter-unsplit-"));
    await meterMonthFromPrometheus(
      { prometheus: createPrometheusClient({ url: unlimited.url }), sink: localSink(unsplitDir), queries: loadQueries() },
      cfg,
      MONTH,
      NOW,
    );
  });
  afterAll(async () => Promise.all([unlimited?.stop(), limited?.stop(), tooSmall?.stop()]));

  it("given every day refused, when the month is metered, then its windows are split down to hours and every data file is byte-identical to the unsplit run", async () => {
    const splitDir = await mkdtemp(path.join(tmpdir(), "meter-split-"));
    const result = await meterMonthFromPrometheus(
      { prometheus: createPrometheusClient({ url: limited.url }), sink: localSink(splitDir), queries: loadQueries() },
      cfg,
      MONTH,
      NOW,
    );
    expect(result.queries).toBeGreaterThan(31 * 5);

    const dir = `month=${MONTH}`;
    const files = (await readdir(path.join(unsplitDir, dir))).sort();
    expect((await readdir(path.join(splitDir, dir))).sort()).toEqual(files);
    for (const f of files.filter((f) => f !== "manifest.json"))
      expect((await readFile(path.join(splitDir, dir, f))).equals(await readFile(path.join(unsplitDir, dir, f))), f).toBe(true);

    const unsplit = JSON.parse(await readFile(path.join(unsplitDir, dir, "manifest.json"), "utf8")) as Manifest;
    const split = JSON.parse(await readFile(path.join(splitDir, dir, "manifest.json"), "utf8")) as Manifest;
    expect(unsplit.inputs.clusters[0]!.queryWindows).toEqual({ days: 31, split: 0, smallestSeconds: 86_400 });
    // The three days with pods are split down to one-hour windows, and the fourth for its nodes (the data
    // runs 3 h past the third day); the 27 empty days fit whole.
    expect(split.inputs.clusters[0]!.queryWindows).toEqual({ days: 31, split: 4, smallestSeconds: 3_600 });
    expect(withoutQueryWindows(split)).toEqual(withoutQueryWindows(unsplit));
  });

  it("given a limit that refuses even a one-hour window, when the month is metered, then it fails naming the query, the window and the flag to raise, and writes nothing", async () => {
    const out = await mkdtemp(path.join(tmpdir(), "meter-refused-"));
    const err = await meterMonthFromPrometheus(
      { prometheus: createPrometheusClient({ url: tooSmall.url }), sink: localSink(out), queries: loadQueries() },
      cfg,
      MONTH,
      NOW,
    ).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(QueryWindowTooLargeError);
    const e = err as QueryWindowTooLargeError;
    expect(e.window.endMs - e.window.startMs).toBe(3_600_000);
    expect(e.message).toMatch(
      /^[a-z-]+\.promql was refused for window 2026-10-0[123] \[.+\) \(3600 s\), the smallest window it can be split into: execution: query processing would load too many samples into memory/,
    );
    expect(e.message).toContain("--query.max-samples");
    expect(await readdir(out)).toEqual([]);
  });

  it("given the pod queries refused unless they cover at most two namespaces, when a day is metered, then one-hour windows split by namespace add up to the whole day exactly", async () => {
    const real = createPrometheusClient({ url: unlimited.url });
    // Real data and engine; the refusal is scripted (with Prometheus' own error) because on this data every
    // query that fits in one hour for the nodes also fits for the pods.
    const refusing: PrometheusClient = {
      url: real.url,
      async query(promql, t) {
        const matcher = /,namespace=~"([^"]+)"/.exec(promql);
        const podQuery = /kube_pod_status_phase\{phase="Running"/.test(promql);
        if (podQuery && (!matcher || matcher[1]!.split("|").length > 2)) {
          const detail = "execution: query processing would load too many samples into memory in query execution";
          throw new PrometheusQueryTooLargeError(`${real.url} refused the query (samples limit): ${detail}`, "samples", detail);
        }
        return real.query(promql, t);
      },
    };
    const bm = billingMonth(MONTH, cfg.timeZone);
    const oneDay = { ...bm, days: [bm.days[1]!] };
    const opts = { queries: loadQueries(), dcgmNamespaceLabel: "namespace", dcgmPodLabel: "pod", concurrency: 2 };
    const whole = await fetchMonthUsage(real, oneDay, opts);
    const parts = await fetchMonthUsage(refusing, oneDay, opts);
    expect(parts.queryWindows).toEqual({ days: 1, split: 1, smallestSeconds: 3_600 });
    expect(parts.queries).toBeGreaterThan(24 * 4);
    const staged = (u: typeof whole) => JSON.stringify(tagClusterUsage(u, "default"));
    expect(whole.usage.length).toBeGreaterThan(0);
    expect(staged(parts)).toBe(staged(whole));
  });
});
