import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import { computeChargeback, UnbillableInputError, type Chargeback } from "../../functions/core/chargeback.js";
import { apportion } from "../../functions/core/pod-detail.js";
import {
  joinPodMinutes,
  joinPodUsage,
  namespaceUsageFromPods,
  podKey,
  sumPodDays,
  type PodRequestSeries,
} from "../../functions/core/pod-minutes.js";
import {
  checkClusterStage,
  combineClusterUsage,
  renderClusterStage,
  stageUsage,
  tagClusterUsage,
} from "../../functions/core/cluster-stage.js";
import { SINGLE_CLUSTER_COLUMNS, renderDataset } from "../../functions/core/dataset.js";
import { parseCsv } from "../../functions/report/dataset-files.js";
import { D, type Dec } from "../../functions/core/decimal.js";
import type { MonthUsage, PodDayRecord } from "../../functions/core/usage.js";
import { node, referenceConfig } from "./fixtures.js";

const cfg = referenceConfig();
const MONTH = "2026-10";
const sum = (xs: Dec[]) => xs.reduce((a, b) => a.add(b), new D(0));
const splitKey = (r: {
  cluster: string;
  tenantId: string;
  namespace: string;
  gpuModel: string;
  instanceType: string;
  capacityType: string;
}) => [r.cluster, r.tenantId, r.namespace, r.gpuModel, r.instanceType, r.capacityType].join("|");

const pd = (o: Partial<PodDayRecord> & { namespace: string; pod: string; node: string }): PodDayRecord => ({
  day: "2026-10-05",
  resource: "nvidia_com_gpu",
  requestMinutes: 0,
  usedMinutes: 0,
  ...o,
});

/**
 * A per-tick day as the per-tick queries return it (one sample per pod × node × resource,
 * allocated and used separately): a MIG pod, three time-sliced pods of one GPU-minute
 * each (1/4 ÷ 60 GPU-h, which rounds up on its own), and db-0, which moved from a spot to
 * an on-demand node the same day; plus a fast-path day for the MIG pod.
 */
function perTickMonth(): MonthUsage {
  const day5: PodDayRecord[] = [
    pd({ namespace: "team-ai", pod: "mig-a", node: "mig", resource: "nvidia_com_mig_3g_40gb", requestMinutes: 7 }),
    pd({ namespace: "team-ai", pod: "mig-a", node: "mig", resource: "nvidia_com_mig_3g_40gb", usedMinutes: 3.5 }),
    pd({ namespace: "team-ai", pod: "mig-b", node: "mig", resource: "nvidia_com_mig_3g_40gb", requestMinutes: 1, usedMinutes: 0.1 }),
    ...["ts-1", "ts-2", "ts-3"].map((pod) => pd({ namespace: "team-data", pod, node: "ts", requestMinutes: 1, usedMinutes: 0.3 })),
    pd({ namespace: "team-data", pod: "db-0", node: "ts", requestMinutes: 2 * 60 }),
    pd({ namespace: "team-data", pod: "db-0", node: "ts", usedMinutes: 2 * 60 * 0.55 }),
    pd({ namespace: "team-data", pod: "db-0", node: "od", requestMinutes: 2 * 30, usedMinutes: 2 * 30 * 0.2 }),
  ];
  const series: PodRequestSeries[] = [
    { namespace: "team-ai", pod: "mig-a", container: "c", node: "mig", resource: "nvidia_com_mig_3g_40gb", max: 1, min: 1 },
  ];
  const running = new Map([[podKey("team-ai", "mig-a"), 13]]);
  const used = new Map([[podKey("team-ai", "mig-a"), 4.2]]);
  const day6 = joinPodUsage("2026-10-06", series, running, used);
  return {
    nodes: [
      node({ node: "mig", instanceType: "p4d.24xlarge", capacityLabel: "ON_DEMAND" }),
      node({ node: "ts", instanceType: "g4dn.xlarge", capacityLabel: "SPOT", gpuReplicas: 4 }),
      node({ node: "od", instanceType: "g4dn.xlarge", capacityLabel: "on-demand", gpuReplicas: 4 }),
    ],
    usage: [...namespaceUsageFromPods(day5), ...joinPodMinutes("2026-10-06", series, running, used)],
    pods: sumPodDays([...day5, ...day6]),
    namespaces: [],
  };
}

function expectPodsAddUpToRows(cb: Chargeback) {
  expect(cb.pods!.length).toBeGreaterThan(0);
  for (const r of cb.rows) {
    const pods = cb.pods!.filter((p) => splitKey(p) === splitKey(r));
    expect(pods.length, splitKey(r)).toBeGreaterThan(0);
    expect(sum(pods.map((p) => p.allocatedGpuHours)).eq(r.allocatedGpuHours), `${splitKey(r)} allocated`).toBe(true);
    expect(sum(pods.map((p) => p.usedGpuHours)).eq(r.usedGpuHours), `${splitKey(r)} used`).toBe(true);
  }
  // and no pod row belongs to a split that has no chargeback row
  const rowKeys = new Set(cb.rows.map(splitKey));
  for (const p of cb.pods!) expect(rowKeys.has(splitKey(p)), `${p.pod} on ${p.node}`).toBe(true);
}

describe("per-pod detail of the chargeback", () => {
  it("given a per-tick day's pod records, when summed, then each namespace record is its pods' sum and each pod keeps one record per node", () => {
    const usage = perTickMonth();
    const dbSpot = usage.usage.find((u) => u.day === "2026-10-05" && u.namespace === "team-data" && u.node === "ts")!;
    expect(dbSpot.requestMinutes).toBe(3 + 120);
    expect(usage.pods!.filter((p) => p.pod === "db-0").map((p) => [p.node, p.requestMinutes])).toEqual([
      ["ts", 120],
      ["od", 60],
    ]);
    // the MIG pod's fast-path day and per-tick day are one month record
    expect(usage.pods!.find((p) => p.pod === "mig-a")!.requestMinutes).toBe(7 + 13);
  });

  it("given a MIG pod, time-sliced pods and a pod that moved node on a per-tick day, when charged back, then each row's pods add up to its allocated and used GPU-hours exactly", () => {
    const cb = computeChargeback(perTickMonth(), cfg, MONTH);
    expectPodsAddUpToRows(cb);
    const db = cb.pods!.filter((p) => p.pod === "db-0");
    expect(db.map((p) => [p.node, p.capacityType, p.allocatedGpuHours.toFixed()])).toEqual([
      ["od", "on-demand", "0.25"], // 60 GPU-minutes ÷ 4 replicas ÷ 60
      ["ts", "spot", "0.5"],
    ]);
    const mig = cb.pods!.find((p) => p.pod === "mig-a")!;
    // 20 slice-minutes × 3/7 GPU ÷ 60 = 1/7 GPU-h; utilization (3.5 + 4.2) ÷ 20
    expect(mig.allocatedGpuHours.sub(new D(1).div(7)).abs().lt("0.000001")).toBe(true);
    expect(mig.avgUtilization.toFixed()).toBe("0.385");
  });

  it("given three time-sliced pods whose own rounding adds up to 1e-6 more than their row, then the row is apportioned and each pod stays within 1e-6 of its exact hours", () => {
    const cb = computeChargeback(perTickMonth(), cfg, MONTH);
    const ts = cb.pods!.filter((p) => p.pod.startsWith("ts-"));
    const exact = new D(1).div(4).div(60); // 0.0041666…
    // rounded alone each would be 0.004167: 3 × 0.004167 = 0.012501, but the three pods' 3/240 GPU-h is 0.0125
    expect(exact.toDecimalPlaces(6).mul(3).toFixed()).toBe("0.012501");
    expect(sum(ts.map((p) => p.allocatedGpuHours)).toFixed()).toBe(new D(3).div(240).toFixed(6).replace(/0+$/, ""));
    for (const p of ts) expect(p.allocatedGpuHours.sub(exact).abs().lt("0.000001"), p.pod).toBe(true);
    expectPodsAddUpToRows(cb);
  });

  it("given pod records that do not add up to the namespace usage, when charged back, then it refuses rather than publish detail that is not the bill's", () => {
    const usage = perTickMonth();
    usage.pods = usage.pods!.filter((p) => p.pod !== "ts-2");
    expect(() => computeChargeback(usage, cfg, MONTH)).toThrow(UnbillableInputError);
    expect(() => computeChargeback(usage, cfg, MONTH)).toThrow(/pod detail of team-data on node ts/);
  });

  it("given usage without pod records, then the chargeback has no pod rows and the dataset no pods.csv", () => {
    const { pods: _pods, ...usage } = perTickMonth();
    const cb = computeChargeback(usage, cfg, MONTH);
    expect(cb.pods).toBeUndefined();
    expect(renderDataset(cb, inputs).files.map((f) => f.name)).not.toContain("pods.csv");
  });

  it("given a pod named like a formula, when the dataset is rendered twice from shuffled input, then pods.csv is byte-identical, neutralised and vouched for by the manifest", () => {
    const a = perTickMonth();
    a.pods = a.pods!.map((p) => (p.pod === "ts-1" ? { ...p, pod: '=HYPERLINK("x")' } : p));
    const b: MonthUsage = { ...a, usage: [...a.usage].reverse(), pods: [...a.pods].reverse() };
    const da = renderDataset(computeChargeback(a, cfg, MONTH), inputs);
    const db = renderDataset(computeChargeback(b, cfg, MONTH), inputs);
    const pa = da.files.find((f) => f.name === "pods.csv")!;
    expect(pa.body.equals(db.files.find((f) => f.name === "pods.csv")!.body)).toBe(true);
    expect(da.manifest.body.equals(db.manifest.body)).toBe(true);
    const lines = parseCsv(pa.body.toString("utf8"));
    // One cluster: no cluster column, so the pod is the fifth field.
    expect(lines[0]).toEqual([...SINGLE_CLUSTER_COLUMNS.pods]);
    expect(lines.some((l) => l[4] === `'=HYPERLINK("x")`)).toBe(true);
    const manifest = JSON.parse(da.manifest.body.toString("utf8"));
    expect(manifest.files["pods.csv"]).toEqual({
      rows: lines.length - 1,
      bytes: pa.body.length,
      sha256: createHash("sha256").update(pa.body).digest("hex"),
    });
    expect(manifest.rounding).toMatch(/pods\.csv apportions/);
  });

  it("given a staged cluster, when the stage is checked and reused, then its pod records come back and still add up to the rows", () => {
    const tagged = tagClusterUsage(perTickMonth(), "seoul");
    const identity = { month: MONTH, cluster: "seoul", prometheusUrl: "http://p", start: "a", end: "b" };
    const { files } = renderClusterStage(identity, tagged, ["2026-10-05"], new Date("2026-11-01T00:00:00Z"));
    const check = checkClusterStage(files, identity);
    expect(check.ok).toBe(true);
    if (!check.ok) return;
    const combined = combineClusterUsage([stageUsage(check.stage)]);
    expect(combined.pods!.every((p) => p.cluster === "seoul")).toBe(true);
    const cb = computeChargeback(combined, cfg, MONTH);
    expect(cb.pods!.every((p) => p.cluster === "seoul")).toBe(true);
    expectPodsAddUpToRows(cb);
  });

  it("given two clusters with the same node and pod names, when combined, then each cluster's pods stay apart and add up to that cluster's rows", () => {
    const stage = (cluster: string) =>
      stageUsage(
        renderClusterStage(
          { month: MONTH, cluster, prometheusUrl: `http://${cluster}`, start: "a", end: "b" },
          tagClusterUsage(perTickMonth(), cluster),
          [],
          new Date(0),
        ).stage,
      );
    const cb = computeChargeback(combineClusterUsage([stage("seoul"), stage("busan")]), cfg, MONTH);
    expectPodsAddUpToRows(cb);
    const db = cb
      .pods!.filter((p) => p.pod === "db-0")
      .map((p) => `${p.cluster}/${p.node}`)
      .sort();
    expect(db).toEqual(["busan/od", "busan/ts", "seoul/od", "seoul/ts"]);
  });

  it("given one cluster without pod detail next to one with, when combined, then the month has no pod detail rather than half of it", () => {
    const { pods: _p, ...bare } = perTickMonth();
    const combined = combineClusterUsage([
      { cluster: "seoul", usage: tagClusterUsage(perTickMonth(), "seoul"), perTickDays: [] },
      { cluster: "busan", usage: tagClusterUsage(bare, "busan"), perTickDays: [] },
    ]);
    expect(combined.pods).toBeUndefined();
  });

  it("given a stage written before pod detail (schema 1), then it is not reused", () => {
    const identity = { month: MONTH, cluster: "seoul", prometheusUrl: "http://p", start: "a", end: "b" };
    const { files } = renderClusterStage(identity, tagClusterUsage(perTickMonth(), "seoul"), [], new Date());
    const old = JSON.parse(files.manifest.toString("utf8"));
    old.schemaVersion = 1;
    const check = checkClusterStage({ ...files, manifest: Buffer.from(JSON.stringify(old)) }, identity);
    expect(check).toEqual({ ok: false, reason: expect.stringMatching(/not a version-2 cluster stage/) });
  });

  it("given a target and weights, when apportioned, then the parts sum to the target exactly, follow the largest remainders and fall back when all weights are 0", () => {
    const parts = apportion(
      new D("0.0125"),
      [1, 1, 1].map((x) => new D(x)),
      6,
    );
    expect(parts.map((p) => p.toFixed())).toEqual(["0.004167", "0.004167", "0.004166"]);
    expect(apportion(new D("0.3"), [new D(0), new D(0)], 6, [new D(1), new D(2)]).map((p) => p.toFixed())).toEqual(["0.1", "0.2"]);
    expect(apportion(new D(0), [new D(0)], 6).map((p) => p.toFixed())).toEqual(["0"]);
  });
});

const inputs = {
  month: MONTH,
  timeZone: "Asia/Seoul",
  startIso: "2026-09-30T15:00:00.000Z",
  endIso: "2026-10-31T15:00:00.000Z",
  prometheusUrl: "http://p",
  configHash: "x",
};
