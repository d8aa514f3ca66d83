import { describe, expect, it } from "vitest";
import { D } from "../../functions/core/decimal.js";
import {
  ControllerAuditError,
  estimateSavedGpuHours,
  parseAuditObjects,
  summariseControllerMonth,
  type ControllerEvent,
} from "../../functions/core/controller-savings.js";
import type { CapacityRow } from "../../functions/core/chargeback.js";

const H = 3_600_000;
const T0 = Date.parse("2026-09-30T15:00:00Z"); // 2026-10-01 00:00 Asia/Seoul
const window = { startMs: T0, endMs: T0 + 100 * H };
const reclaim = (h: number, gpus = 4, nodeGroup = "ng-a"): ControllerEvent => ({
  kind: "reclaim",
  atMs: T0 + h * H,
  nodeGroup,
  node: `n-${h}`,
  gpus,
});
const scaleOut = (h: number, nodes = 1, nodeGroup = "ng-a"): ControllerEvent => ({ kind: "scale-out", atMs: T0 + h * H, nodeGroup, nodes });

/** A line as run-controller writes it (Decision + outcome + runId + at). */
const line = (over: Record<string, unknown>) =>
  JSON.stringify({
    runId: "r1",
    at: new Date(T0 + 10 * H).toISOString(),
    duty: "reclaim",
    action: "terminate-instance",
    code: "reclaim",
    dryRun: false,
    reason: "idle",
    nodeGroup: "ng-a",
    node: "n-1",
    instanceId: "i-1",
    capacityType: "on-demand",
    inputs: { gpuCapacity: 4 },
    outcome: "instance terminating (desired capacity decremented)",
    ...over,
  });

describe("estimateSavedGpuHours: each reclaimed node's GPUs × time until the month end or a scale-out in its group", () => {
  const cases: {
    name: string;
    events: ControllerEvent[];
    want: { nodeGroup: string; reclaimed: number; scaleOuts: number; added: number; hours: string }[];
  }[] = [
    { name: "no events", events: [], want: [] },
    {
      name: "one reclaim, never replaced: 4 GPUs × 90 h",
      events: [reclaim(10)],
      want: [{ nodeGroup: "ng-a", reclaimed: 1, scaleOuts: 0, added: 0, hours: "360" }],
    },
    {
      name: "a scale-out 5 h later ends it: 4 × 5 h",
      events: [reclaim(10), scaleOut(15)],
      want: [{ nodeGroup: "ng-a", reclaimed: 1, scaleOuts: 1, added: 1, hours: "20" }],
    },
    {
      name: "a scale-out before any reclaim ends nothing",
      events: [scaleOut(5), reclaim(10)],
      want: [{ nodeGroup: "ng-a", reclaimed: 1, scaleOuts: 1, added: 1, hours: "360" }],
    },
    {
      name: "two reclaims, one node added back: the oldest ends at the scale-out (4 × 10), the other runs to the end (4 × 80)",
      events: [reclaim(10), reclaim(20), scaleOut(20)],
      want: [{ nodeGroup: "ng-a", reclaimed: 2, scaleOuts: 1, added: 1, hours: "360" }],
    },
    {
      name: "a 2-node scale-out ends both outstanding reclaims",
      events: [reclaim(10), reclaim(20), scaleOut(30, 2)],
      want: [{ nodeGroup: "ng-a", reclaimed: 2, scaleOuts: 1, added: 2, hours: "120" }],
    },
    {
      name: "groups do not offset each other",
      events: [reclaim(10, 8, "ng-b"), scaleOut(15, 1, "ng-a")],
      want: [
        { nodeGroup: "ng-a", reclaimed: 0, scaleOuts: 1, added: 1, hours: "0" },
        { nodeGroup: "ng-b", reclaimed: 1, scaleOuts: 0, added: 0, hours: "720" },
      ],
    },
    {
      name: "a reclaim 20 minutes before the month end: 4 × 1/3 h, rounded at 6 decimals",
      events: [reclaim(100 - 1 / 3)],
      want: [{ nodeGroup: "ng-a", reclaimed: 1, scaleOuts: 0, added: 0, hours: "1.333333" }],
    },
    { name: "events outside the month are not counted", events: [reclaim(-1), reclaim(100)], want: [] },
  ];
  for (const c of cases)
    it(`given ${c.name}, when estimated, then the group rows are as expected`, () => {
      const got = estimateSavedGpuHours(c.events, window).map((g) => ({
        nodeGroup: g.nodeGroup,
        reclaimed: g.nodesReclaimed,
        scaleOuts: g.scaleOuts,
        added: g.nodesAdded,
        hours: g.gpuNodeHoursSaved.toFixed(),
      }));
      expect(got).toEqual(c.want);
    });
});

describe("parseAuditObjects: the audit log's lines, acted on and inside the month", () => {
  it("given acted reclaims and scale-outs, dry-run and failed decisions and guard lines, when parsed, then only the acted changes inside the window are events and every line is counted", () => {
    const body = [
      line({}),
      line({ dryRun: true, outcome: "dry-run: not acted on" }),
      line({ outcome: "aborted after the taint: pod arrived; taint removed" }),
      line({ outcome: "already gone: terminated by someone else" }),
      line({
        duty: "scale-out",
        action: "set-desired-capacity",
        desiredFrom: 2,
        desiredTo: 4,
        at: new Date(T0 + 12 * H).toISOString(),
        outcome: "desired capacity set 2 → 4",
        inputs: {},
      }),
      line({
        duty: "scale-out",
        action: "set-desired-capacity",
        desiredFrom: 2,
        desiredTo: 3,
        outcome: "skipped: desired capacity changed",
        inputs: {},
      }),
      line({ duty: "guard", action: "none", nodeGroup: undefined, node: undefined, outcome: "skipped", inputs: {} }),
      line({ at: new Date(T0 - H).toISOString() }),
      "",
    ].join("\n");
    const p = parseAuditObjects([{ key: "day=2026-10-01/x.jsonl", body }], window);
    expect(p.records).toBe(8);
    expect(p.events).toEqual([
      { kind: "reclaim", atMs: T0 + 10 * H, nodeGroup: "ng-a", node: "n-1", gpus: 4, capacityType: "on-demand" },
      { kind: "scale-out", atMs: T0 + 12 * H, nodeGroup: "ng-a", nodes: 2 },
    ]);
    expect(p.sha256).toMatch(/^[0-9a-f]{64}$/);
  });

  it("given the same objects in another order, then the events and the hash are the same", () => {
    const a = { key: "day=2026-10-01/a.jsonl", body: line({}) + "\n" };
    const b = { key: "day=2026-10-02/b.jsonl", body: line({ node: "n-2", at: new Date(T0 + 30 * H).toISOString() }) + "\n" };
    expect(parseAuditObjects([b, a], window)).toEqual(parseAuditObjects([a, b], window));
  });

  it("given lines that are not JSON, miss fields or a reclaim without its GPUs, then one bad-input error lists every one of them by object and line", () => {
    const body = [line({}), "{not json", JSON.stringify({ runId: "r" }), line({ inputs: {} })].join("\n");
    let err: unknown;
    try {
      parseAuditObjects([{ key: "day=2026-10-01/x.jsonl", body }], window);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ControllerAuditError);
    const problems = (err as ControllerAuditError).problems;
    expect(problems).toHaveLength(3);
    expect(problems[0]).toMatch(/^day=2026-10-01\/x\.jsonl line 2: not JSON/);
    expect(problems[1]).toMatch(/^day=2026-10-01\/x\.jsonl line 3: .*at/);
    expect(problems[2]).toMatch(/^day=2026-10-01\/x\.jsonl line 4: a reclaim without .*gpuCapacity/);
  });
});

describe("summariseControllerMonth: status per cluster, savings priced at the group's capacity unit price", () => {
  const cap = (nodeGroup: string, unitPrice: string, cluster = "default"): CapacityRow => ({
    cluster,
    nodeGroup,
    gpuModel: "T4",
    instanceType: "g4dn.12xlarge",
    capacityType: "on-demand",
    nodes: 1,
    nodeGpuHours: new D(100),
    allocatedGpuHours: new D(50),
    idleGpuHours: new D(50),
    idleRatio: new D("0.5"),
    unitPrice: new D(unitPrice),
    idleCost: new D(1),
  });
  const obj = (...lines: string[]) => [{ key: "day=2026-10-01/x.jsonl", body: lines.join("\n") + "\n" }];

  it("given no audit source, an empty log, a dry-run-only log and an acting log, then the statuses are not-deployed, no-records, no-actions and acted", () => {
    const m = summariseControllerMonth(
      [
        { cluster: "a", deployed: false },
        { cluster: "b", deployed: true, objects: [] },
        { cluster: "c", deployed: true, objects: obj(line({ dryRun: true, outcome: "dry-run: not acted on" })) },
        { cluster: "d", deployed: true, objects: obj(line({})) },
      ],
      window,
      [cap("ng-a", "1.203", "d")],
      2,
    );
    expect(m.clusters.map((c) => [c.cluster, c.status, c.auditRecords])).toEqual([
      ["a", "not-deployed", 0],
      ["b", "no-records", 0],
      ["c", "no-actions", 1],
      ["d", "acted", 1],
    ]);
    expect(m.rows).toHaveLength(1);
    // 4 GPUs × 90 h = 360 GPU-h × 1.203 = 433.08
    expect([m.rows[0]!.cluster, m.rows[0]!.gpuNodeHoursSaved.toFixed(), m.rows[0]!.unitPrice, m.rows[0]!.savedCost.toFixed(2)]).toEqual([
      "d",
      "360",
      "1.203",
      "433.08",
    ]);
    expect([m.totals.nodesReclaimed, m.totals.gpuNodeHoursSaved.toFixed(), m.totals.savedCost.toFixed(2)]).toEqual([1, "360", "433.08"]);
  });

  it("given a reclaim in a node group metering never saw, then it is a bad-input error naming the group, not a row without a price", () => {
    expect(() =>
      summariseControllerMonth(
        [{ cluster: "default", deployed: true, objects: obj(line({ nodeGroup: "ng-typo" })) }],
        window,
        [cap("ng-a", "1")],
        2,
      ),
    ).toThrow(/ng-typo.*no capacity row/);
  });

  it("given a node group whose capacity rows carry two unit prices, then its savings are ambiguous and rejected", () => {
    expect(() =>
      summariseControllerMonth(
        [{ cluster: "default", deployed: true, objects: obj(line({})) }],
        window,
        [cap("ng-a", "1"), cap("ng-a", "2")],
        2,
      ),
    ).toThrow(/different unit prices/);
  });
});
