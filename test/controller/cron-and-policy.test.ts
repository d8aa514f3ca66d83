import { describe, expect, it } from "vitest";
import { parseCron } from "../../functions/controller/cron.js";
import { budgetNodes, parsePolicy, thresholdsOf, validatePolicy } from "../../functions/controller/policy.js";

describe("freeze-window cron matcher (billing time zone)", () => {
  const rows: [string, string, string, boolean][] = [
    ["* 9-17 * * 1-5", "2026-11-23T00:00:00Z", "Mon 09:00 KST", true],
    ["* 9-17 * * 1-5", "2026-11-22T23:59:00Z", "Mon 08:59 KST", false],
    ["* 9-17 * * 1-5", "2026-11-23T08:59:00Z", "Mon 17:59 KST", true],
    ["* 9-17 * * 1-5", "2026-11-23T09:00:00Z", "Mon 18:00 KST", false],
    ["* 9-17 * * mon-fri", "2026-11-21T01:00:00Z", "Sat 10:00 KST", false],
    ["*/15 * * * *", "2026-11-21T01:30:00Z", "minute 30", true],
    ["*/15 * * * *", "2026-11-21T01:31:00Z", "minute 31", false],
    ["0 0 1 * 0", "2026-11-29T15:00:00Z", "Mon 30 Nov 00:00 KST: neither day matches", false],
    ["0 0 1 * 0", "2026-11-28T15:00:00Z", "Sun 29 Nov 00:00 KST: day-of-week matches (OR)", true],
    ["* * * dec 7", "2026-12-05T16:00:00Z", "Sun 6 Dec KST, 7 = Sunday", true],
  ];
  for (const [expr, at, what, want] of rows)
    it(`given "${expr}" at ${what}, then it ${want ? "matches" : "does not match"}`, () => {
      expect(parseCron(expr).matches(Date.parse(at), "Asia/Seoul")).toBe(want);
    });
  it("given malformed expressions, then the error says which field", () => {
    expect(() => parseCron("* * * *")).toThrow(/expected 5 fields/);
    expect(() => parseCron("61 * * * *")).toThrow(/minute value "61"/);
    expect(() => parseCron("* 18-9 * * *")).toThrow(/runs backwards/);
    expect(() => parseCron("*/0 * * * *")).toThrow(/step/);
  });
});

describe("controller policy schema", () => {
  const g = { name: "g", autoScalingGroupName: "a", capacityType: "spot", instanceType: "g5.xlarge", gpusPerNode: 1 };
  it("given workload classes, then thresholds are inference 70/30, batch 85/40, interactive 60/25, overridable per group", () => {
    const p = validatePolicy({
      nodeGroups: [
        g,
        { ...g, name: "b", workloadClass: "batch" },
        { ...g, name: "i", workloadClass: "interactive" },
        { ...g, name: "o", scaleOutAtPercent: 90 },
      ],
    });
    expect(p.nodeGroups.map(thresholdsOf)).toEqual([
      { scaleOutAt: 70, scaleInAt: 30 },
      { scaleOutAt: 85, scaleInAt: 40 },
      { scaleOutAt: 60, scaleInAt: 25 },
      { scaleOutAt: 90, scaleInAt: 30 },
    ]);
  });
  it("given defaults, then groups are dry-run with a budget of 1 and 15-minute idle windows at a 5% noise floor", () => {
    const p = validatePolicy({ nodeGroups: [g] });
    expect(p).toMatchObject({ killSwitch: false, noiseFloorPercent: 5, idleMinutes: 15, minSampleCoverage: 0.9, timeZone: "Asia/Seoul" });
    expect(p.nodeGroups[0]).toMatchObject({ dryRun: true, disruptionBudget: 1 });
  });
  it("given bad fields, then every error names its field", () => {
    const bad = () =>
      parsePolicy(
        JSON.stringify({ timeZone: "Mars/Base", nodeGroups: [{ ...g, freezeWindows: ["nope"], disruptionBudget: "150%" }] }),
        "p.yaml",
      );
    expect(bad).toThrow(/^p.yaml: invalid controller policy/);
    expect(bad).toThrow(/nodeGroups.0.disruptionBudget: must be an integer N or a percentage/);
    expect(bad).toThrow(/nodeGroups.0.freezeWindows.0: is not a 5-field cron/);
    expect(bad).toThrow(/timeZone: is not an IANA time zone/);
    expect(() => validatePolicy({ nodeGroups: [g, g] })).toThrow(/nodeGroups: node group names must be unique/);
    expect(() => validatePolicy({ nodeGroups: [{ ...g, scaleInAtPercent: 80, scaleOutAtPercent: 70 }] })).toThrow(
      /scaleInAtPercent must be below/,
    );
  });
  it("given N or N% budgets, then N% rounds up like maxUnavailable", () => {
    expect([budgetNodes(2, 10), budgetNodes("25%", 10), budgetNodes("10%", 3), budgetNodes("0%", 10)]).toEqual([2, 3, 1, 0]);
  });
});
