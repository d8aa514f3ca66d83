import { describe, expect, it } from "vitest";
import {
  describeWindow,
  HOUR_MS,
  MINUTE_MS,
  planSplit,
  queryWindowStats,
  splitByNamespace,
  type QueryWindow,
} from "../../functions/core/query-windows.js";

const DAY_START = Date.parse("2026-09-30T15:00:00Z"); // 2026-10-01 00:00 in Asia/Seoul
const day = (hours: number, extraMinutes = 0): QueryWindow => ({
  day: "2026-10-01",
  startMs: DAY_START,
  endMs: DAY_START + hours * HOUR_MS + extraMinutes * MINUTE_MS,
});
const hours = (w: QueryWindow) => (w.endMs - w.startMs) / HOUR_MS;

describe("planSplit: the next windows for a window the engine refused", () => {
  it("given a refused 24-hour day, when planned, then two 12-hour halves that tile it, on the same billing day", () => {
    const plan = planSplit(day(24), { byNamespace: true });
    expect(plan.kind).toBe("split");
    const [a, b] = plan.kind === "split" ? plan.windows : [];
    expect([a!.startMs, a!.endMs, b!.startMs, b!.endMs]).toEqual([
      DAY_START,
      DAY_START + 12 * HOUR_MS,
      DAY_START + 12 * HOUR_MS,
      DAY_START + 24 * HOUR_MS,
    ]);
    expect([a!.day, b!.day]).toEqual(["2026-10-01", "2026-10-01"]);
  });

  it("given a 23-hour or 25-hour DST day, when planned, then it splits on a whole hour (11 + 12, 12 + 13)", () => {
    for (const [h, parts] of [
      [23, [11, 12]],
      [25, [12, 13]],
      [3, [1, 2]],
      [2, [1, 1]],
    ] as const) {
      const plan = planSplit(day(h), { byNamespace: true });
      expect(plan.kind === "split" && plan.windows.map(hours), `${h} h`).toEqual(parts);
    }
  });

  it("given a month-to-date day cut at 1 h 37 min, when planned, then 1 h and 37 min: every boundary stays on a whole minute", () => {
    const plan = planSplit(day(1, 37), { byNamespace: true });
    expect(plan.kind === "split" && plan.windows.map((w) => (w.endMs - w.startMs) / MINUTE_MS)).toEqual([60, 37]);
  });

  it("given splitting a day over and over, then the parts always tile the day and end at one-hour windows", () => {
    let windows = [day(24)];
    for (let round = 0; round < 10; round++)
      windows = windows.flatMap((w) => {
        const p = planSplit(w, { byNamespace: false });
        return p.kind === "split" ? p.windows : [w];
      });
    expect(windows.map(hours)).toEqual(Array(24).fill(1));
    for (let i = 1; i < windows.length; i++) expect(windows[i]!.startMs).toBe(windows[i - 1]!.endMs);
  });

  it("given a refused one-hour window, when the query can be split by namespace, then list its namespaces; when it cannot, then it is the smallest", () => {
    expect(planSplit(day(1), { byNamespace: true })).toEqual({ kind: "list-namespaces" });
    expect(planSplit(day(0, 30), { byNamespace: true })).toEqual({ kind: "list-namespaces" });
    expect(planSplit(day(1), { byNamespace: false })).toEqual({ kind: "smallest" });
  });

  it("given a refused one-hour window of five namespaces, when planned, then halves of the namespace list, down to one namespace, which is the smallest", () => {
    const w = { ...day(1), namespaces: ["a", "b", "c", "d", "e"] };
    const plan = planSplit(w, { byNamespace: true });
    expect(plan.kind === "split" && plan.windows.map((p) => p.namespaces)).toEqual([
      ["a", "b", "c"],
      ["d", "e"],
    ]);
    expect(plan.kind === "split" && plan.windows.every((p) => p.startMs === w.startMs && p.endMs === w.endMs)).toBe(true);
    expect(planSplit({ ...w, namespaces: ["a"] }, { byNamespace: true })).toEqual({ kind: "smallest" });
  });

  it("given a window that is not whole minutes, when planned, then it is an error (its ticks would not be the day's minutes)", () => {
    expect(() => planSplit({ ...day(1), endMs: DAY_START + 90_000 }, { byNamespace: true })).toThrow(/whole number of minutes/);
  });
});

describe("splitByNamespace: a one-hour window restricted to the namespaces found in it", () => {
  it("given namespaces in any order with repeats, then one window over all of them, sorted", () => {
    expect(splitByNamespace(day(1), ["team-b", "team-a", "team-b"]).map((w) => w.namespaces)).toEqual([["team-a", "team-b"]]);
  });
  it("given no pod requests GPUs in the window, then nothing is left to query", () => {
    expect(splitByNamespace(day(1), [])).toEqual([]);
  });
});

describe("queryWindowStats and describeWindow", () => {
  it("given the windows a run queried, then days, days split and the smallest window in seconds", () => {
    const [a, b] = (planSplit(day(24), { byNamespace: true }) as { windows: QueryWindow[] }).windows;
    const other = { day: "2026-10-02", startMs: DAY_START + 24 * HOUR_MS, endMs: DAY_START + 48 * HOUR_MS };
    expect(queryWindowStats(2, [a!, b!, other], new Set(["2026-10-01"]))).toEqual({ days: 2, split: 1, smallestSeconds: 43_200 });
    expect(queryWindowStats(0, [], new Set())).toEqual({ days: 0, split: 0, smallestSeconds: 0 });
  });
  it("given a window, then its day, UTC bounds and namespaces", () => {
    expect(describeWindow({ ...day(1), namespaces: ["a", "b"] })).toBe(
      "2026-10-01 [2026-09-30T15:00:00.000Z, 2026-09-30T16:00:00.000Z) namespaces a, b",
    );
  });
});
