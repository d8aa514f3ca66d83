import { describe, expect, it } from "vitest";
import { computeChargeback } from "../../functions/core/chargeback.js";
import {
  checkClusterStage,
  combineClusterUsage,
  renderClusterStage,
  tagClusterUsage,
  type StageIdentity,
} from "../../functions/core/cluster-stage.js";
import { parseDataset } from "../../functions/report/dataset-files.js";
import { buildReportModel } from "../../functions/report/report-model.js";
import { renderDataset, SINGLE_CLUSTER_COLUMNS, CHARGEBACK_COLUMNS } from "../../functions/core/dataset.js";
import { node, referenceConfig, use } from "./fixtures.js";

const cfg = referenceConfig();

describe("chargeback across clusters", () => {
  it("given the same node name in two clusters with different instance types, then they are two nodes, priced and grouped each in its cluster", () => {
    const cb = computeChargeback(
      {
        nodes: [
          node({ cluster: "east", node: "gpu-1", nodeGroup: "ng" }),
          node({ cluster: "west", node: "gpu-1", instanceType: "g5.12xlarge", nodeGroup: "ng" }),
        ],
        usage: [
          use({ cluster: "east", namespace: "suwon-a", node: "gpu-1", requestMinutes: 8 * 1440, usedMinutes: 8 * 1440 }),
          use({ cluster: "west", namespace: "suwon-a", node: "gpu-1", requestMinutes: 4 * 1440, usedMinutes: 4 * 1440 }),
        ],
        namespaces: [],
      },
      cfg,
      "2026-10",
    );
    expect(cb.rows.map((r) => [r.cluster, r.gpuModel, r.allocatedGpuHours.toString()])).toEqual([
      ["east", "A100", "192"],
      ["west", "A10G", "96"],
    ]);
    expect(cb.capacity.map((c) => [c.cluster, c.nodeGroup, c.instanceType, c.nodes, c.idleGpuHours.toString()])).toEqual([
      ["east", "ng", "p4d.24xlarge", 1, "0"],
      ["west", "ng", "g5.12xlarge", 1, "0"],
    ]);
    expect(cb.daily.map((d) => d.cluster)).toEqual(["east", "west"]);
  });

  it("given one namespace busy in one cluster and idle in another, then its correction factor is decided on both together (units span clusters)", () => {
    const cb = computeChargeback(
      {
        nodes: [node({ cluster: "east", node: "n" }), node({ cluster: "west", node: "n" })],
        usage: [
          use({ cluster: "east", namespace: "yongin-cctv", node: "n", requestMinutes: 600, usedMinutes: 540 }),
          use({ cluster: "west", namespace: "yongin-cctv", node: "n", requestMinutes: 600, usedMinutes: 0 }),
        ],
        namespaces: [],
      },
      cfg,
      "2026-10",
    );
    // A row's avg_utilization is its correction unit's (as within one cluster): 540 / 1200 across both clusters.
    expect(cb.rows.map((r) => [r.cluster, r.avgUtilization.toString(), r.correctionFactor.toString()])).toEqual([
      ["east", "0.45", "0.8"],
      ["west", "0.45", "0.8"],
    ]);
  });

  it("given a node that only one cluster reports, then usage on that name in the other cluster is unattributed, not billed to the first", () => {
    expect(() =>
      computeChargeback(
        {
          nodes: [node({ cluster: "east", node: "n" })],
          usage: [use({ cluster: "west", namespace: "suwon-a", node: "n" })],
          namespaces: [],
        },
        cfg,
        "2026-10",
      ),
    ).toThrow(/suwon-a on node west\/n/);
  });
});

describe("cluster stages", () => {
  const identity: StageIdentity = { month: "2026-10", cluster: "east", prometheusUrl: "http://p", start: "s", end: "e" };
  const usage = { nodes: [node({ node: "n" })], usage: [use({ namespace: "suwon-a", node: "n", usedMinutes: 1 / 3 })], namespaces: [] };

  it("given a stage rendered twice at different times, then its usage bytes and hash are identical and used minutes are quantised to 6 decimals", () => {
    const a = renderClusterStage(identity, tagClusterUsage(usage, "east"), [], new Date(0));
    const b = renderClusterStage(identity, tagClusterUsage(usage, "east"), [], new Date(1e12));
    expect(a.files.usage.equals(b.files.usage)).toBe(true);
    expect(a.stage.usageSha256).toBe(b.stage.usageSha256);
    expect(a.files.manifest.equals(b.files.manifest)).toBe(false); // metered-at differs
    expect(a.stage.usage.usage[0]!.usedMinutes).toBe(0.333333);
    expect(a.stage.usage.usage[0]!.cluster).toBe("east");
  });

  it("given a stored stage, then it is reused only if its bytes match its manifest and its window and endpoint match the run", () => {
    const { files } = renderClusterStage(identity, tagClusterUsage(usage, "east"), ["2026-10-02"], new Date(0));
    const ok = checkClusterStage(files, identity);
    expect(ok.ok && ok.stage.perTickDays).toEqual(["2026-10-02"]);
    expect(checkClusterStage({ usage: files.usage }, identity)).toEqual({ ok: false, reason: "no staged manifest" });
    expect(checkClusterStage({ ...files, usage: Buffer.concat([files.usage, Buffer.from(" ")]) }, identity)).toMatchObject({
      ok: false,
      reason: expect.stringMatching(/usage\.json has sha256 .* its manifest says/),
    });
    expect(checkClusterStage(files, { ...identity, prometheusUrl: "http://other" })).toMatchObject({
      ok: false,
      reason: expect.stringMatching(/staged prometheusUrl/),
    });
    expect(checkClusterStage(files, { ...identity, start: "other" })).toMatchObject({
      ok: false,
      reason: expect.stringMatching(/staged start/),
    });
  });

  it("given two stages, then the combined usage keeps both clusters' records apart and prefixes per-tick days with the cluster", () => {
    const c = combineClusterUsage([
      { cluster: "east", usage: tagClusterUsage(usage, "east"), perTickDays: ["2026-10-02"] },
      { cluster: "west", usage: tagClusterUsage(usage, "west"), perTickDays: [] },
    ]);
    expect(c.nodes.map((n) => [n.cluster, n.node])).toEqual([
      ["east", "n"],
      ["west", "n"],
    ]);
    expect(c.perTickDays).toEqual(["east:2026-10-02"]);
  });
});

describe("reading datasets back", () => {
  it("given a single-cluster month, then its files have no cluster column (as schema 1 wrote them too) and the report reader takes every row as the default cluster", () => {
    const cb = computeChargeback(
      { nodes: [node({ node: "n" })], usage: [use({ namespace: "suwon-a", node: "n" })], namespaces: [] },
      cfg,
      "2026-10",
    );
    const ds = renderDataset(cb, {
      month: "2026-10",
      timeZone: cfg.timeZone,
      startIso: "s",
      endIso: "e",
      prometheusUrl: "http://p",
      configHash: "h",
    });
    const files = Object.fromEntries(ds.files.map((f) => [f.name, f.body]));
    expect(files["chargeback.csv"]!.toString().split("\n")[0]).toBe(SINGLE_CLUSTER_COLUMNS.chargeback.join(","));
    expect(SINGLE_CLUSTER_COLUMNS.chargeback.length).toBe(CHARGEBACK_COLUMNS.length - 1);
    for (const [name, columns] of [
      ["usage-daily.csv", SINGLE_CLUSTER_COLUMNS.daily],
      ["capacity.csv", SINGLE_CLUSTER_COLUMNS.capacity],
    ] as const)
      expect(files[name]!.toString().split("\n")[0]).toBe(columns.join(","));
    // A schema-1 month has the same layout; only its manifest's version differs.
    for (const schemaVersion of [2, 1]) {
      const manifest = { ...JSON.parse(ds.manifest.body.toString("utf8")), schemaVersion };
      const parsed = parseDataset("2026-10", { manifest: Buffer.from(JSON.stringify(manifest)), files });
      expect(parsed.chargeback.map((r) => [r.cluster, r.tenantId, r.cost.toFixed(2)])).toEqual([
        ["default", "suwon", cb.rows[0]!.cost.toFixed(2)],
      ]);
      expect(parsed.capacity.map((c) => c.cluster)).toEqual(["default"]);
      expect(parsed.daily.map((d) => d.cluster)).toEqual(["default"]);
    }
  });
});

describe("reports over a two-cluster month", () => {
  it("given two clusters with a node group of the same name, then the report model keeps a tenant's namespace as one line and shows idle capacity per cluster/node group", () => {
    const cb = computeChargeback(
      {
        nodes: [node({ cluster: "east", node: "n", nodeGroup: "a100" }), node({ cluster: "west", node: "n", nodeGroup: "a100" })],
        usage: [
          use({ cluster: "east", namespace: "suwon-a", node: "n", requestMinutes: 600, usedMinutes: 600 }),
          use({ cluster: "west", namespace: "suwon-a", node: "n", requestMinutes: 300, usedMinutes: 300 }),
        ],
        namespaces: [],
      },
      cfg,
      "2026-10",
    );
    const ds = renderDataset(cb, {
      month: "2026-10",
      timeZone: cfg.timeZone,
      startIso: "s",
      endIso: "e",
      prometheusUrl: "http://p",
      configHash: "h",
    });
    const parsed = parseDataset("2026-10", {
      manifest: ds.manifest.body,
      files: Object.fromEntries(ds.files.map((f) => [f.name, f.body])),
    });
    const m = buildReportModel(parsed, cfg, { kind: "all" });
    expect(m.namespaces.map((n) => [n.namespace, n.allocatedGpuHours.toFixed()])).toEqual([["suwon-a", "15"]]);
    expect(m.idle!.lines.map((l) => l.nodeGroup)).toEqual(["east/a100", "west/a100"]);
    expect(m.idle!.idleCost.toFixed(2)).toBe(cb.totals.idleCost.toFixed(2));
  });
});
