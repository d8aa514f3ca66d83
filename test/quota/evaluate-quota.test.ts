import { describe, expect, it } from "vitest";
import { D } from "../../functions/core/decimal.js";
import { monthToDateWindow } from "../../functions/quota/month-to-date.js";
import { billingMonth } from "../../functions/core/month.js";
import { alertKey, decideAlerts, evaluateQuotas, type QuotaUsageInput } from "../../functions/quota/evaluate-quota.js";
import { decideEnforcement, type EnforcementRecord } from "../../functions/quota/enforcement-decision.js";
import { referenceConfigText } from "../core/fixtures.js";
import { type Config, parseConfig } from "../../functions/config/config-schema.js";
import { configWith } from "../support/config-edit.js";

const TZ = "Asia/Seoul";
const withQuota = (quota: object): Config => parseConfig(`${referenceConfigText}\nquota: ${JSON.stringify(quota)}\n`, "test");
const hours = (allocated: number, billable = allocated) => ({ allocated: new D(allocated), billable: new D(billable) });

function input(
  nowIso: string,
  tenants: Record<string, [number, number?]>,
  namespaces: Record<string, [string, number]> = {},
): QuotaUsageInput {
  const w = monthToDateWindow("2026-10", TZ, new Date(nowIso));
  return {
    month: "2026-10",
    timeZone: TZ,
    window: w,
    tenants: new Map(Object.entries(tenants).map(([id, [a, b]]) => [id, hours(a, b)])),
    namespaces: new Map(Object.entries(namespaces).map(([ns, [tenantId, a]]) => [ns, { ...hours(a), tenantId }])),
  };
}

describe("month-to-date window", () => {
  it.each([
    // now, days in window, last day, last day's end (UTC)
    ["2026-09-30T23:59:59+09:00", "not started", -1, "", ""],
    ["2026-10-01T00:00:30+09:00", "first minute: empty", 0, "", ""],
    ["2026-10-01T00:01:59+09:00", "one minute", 1, "2026-10-01", "2026-09-30T15:01:00.000Z"],
    ["2026-10-10T12:34:56+09:00", "partial 10th", 10, "2026-10-10", "2026-10-10T03:34:00.000Z"],
    ["2026-11-05T00:00:00+09:00", "month over", 31, "2026-10-31", "2026-10-31T15:00:00.000Z"],
  ])("given now %s (%s), then the window has %i days ending at the floored minute", (now, _what, days, last, end) => {
    if (days < 0) {
      expect(() => monthToDateWindow("2026-10", TZ, new Date(now))).toThrow(/has not started/);
      return;
    }
    const w = monthToDateWindow("2026-10", TZ, new Date(now));
    expect(w.days).toHaveLength(days);
    if (days === 0) return expect(w.asOfMs).toBe(w.startMs);
    expect(w.days.at(-1)!.day).toBe(last);
    expect(new Date(w.days.at(-1)!.endMs).toISOString()).toBe(end);
    expect(w.complete).toBe(days === 31);
    // Once the month is over, the window is exactly the bill's month.
    if (w.complete) expect(w.days).toEqual(billingMonth("2026-10", TZ).days);
  });
});

describe("quota config", () => {
  it.each([
    [{ thresholds: { warn: 1.0, block: 1.0 } }, /quota\.thresholds\.warn: warn must be below block/],
    [{ tenants: { yongin: { thresholds: { warn: 1.2 } } } }, /quota\.tenants\.yongin\.thresholds: warn \(1\.2\) must be below block \(1\)/],
    [{ tenants: { nosuch: {} } }, /quota\.tenants\.nosuch: no tenant with id "nosuch"/],
    [{ basis: "used" }, /quota\.basis/],
  ])("given quota settings %j, when the config is parsed, then the error names the field", (quota, msg) => {
    expect(() => withQuota(quota)).toThrow(msg);
  });

  it("given no quota block, when parsed, then the defaults apply: allocated basis, warn 80 %, block 100 %, dry-run", () => {
    const s = evaluateQuotas(input("2026-10-20T00:00:00+09:00", { suwon: [1] }), parseConfig(referenceConfigText, "t"))[0]!;
    expect([s.basis, s.thresholds]).toEqual(["allocated", { warn: 0.8, block: 1 }]);
  });
});

describe("quota evaluation", () => {
  const cfg = withQuota({ forecastMinElapsedHours: 24 });

  it("given a tenant without monthlyQuotaGpuHours, when evaluated, then it is unlimited (not 0) and never alerted", () => {
    const st = evaluateQuotas(input("2026-10-10T00:00:00+09:00", { "team-ai": [5000] }), cfg);
    const s = st.find((x) => x.subject.key === "tenant=team-ai")!;
    expect(s.level).toBe("unlimited");
    expect(s.quotaGpuHours).toBeUndefined();
    expect(decideAlerts(st, "2026-10", new Set(), TZ).filter((d) => d.status.subject.tenantId === "team-ai")).toEqual([]);
  });

  it.each([
    // used h of suwon's 100 h quota → level
    [0, "ok"],
    [79.999999, "ok"],
    [80, "warn"],
    [99.999999, "warn"],
    [100, "block"],
    [250, "block"],
  ])("given suwon used %f h of 100 h, then its level is %s", (used, level) => {
    const s = evaluateQuotas(input("2026-10-20T00:00:00+09:00", { suwon: [used] }), cfg).find((x) => x.subject.key === "tenant=suwon")!;
    expect(s.level).toBe(level);
  });

  it("given per-tenant thresholds (warn 0.5, block 0.9), when 45 h of 50 h are used, then yongin is blocked", () => {
    const c = withQuota({ tenants: { yongin: { thresholds: { warn: 0.5, block: 0.9 } } } });
    const s = evaluateQuotas(input("2026-10-20T00:00:00+09:00", { yongin: [45] }), c).find((x) => x.subject.key === "tenant=yongin")!;
    expect(s.level).toBe("block");
    expect(s.thresholds).toEqual({ warn: 0.5, block: 0.9 });
  });

  it("given the billable basis, when allocated is over quota but billable is not, then the level follows billable", () => {
    const c = withQuota({ basis: "billable" });
    const s = evaluateQuotas(input("2026-10-20T00:00:00+09:00", { suwon: [120, 60] }), c).find((x) => x.subject.key === "tenant=suwon")!;
    expect([s.basis, s.usedGpuHours.toFixed(), s.level]).toEqual(["billable", "60", "ok"]);
  });

  it("given a namespace limit, when that namespace passes it, then the namespace (not the tenant) is at block", () => {
    const c = withQuota({ tenants: { suwon: { namespaceLimits: { "suwon-train": 30 } } } });
    const st = evaluateQuotas(input("2026-10-20T00:00:00+09:00", { suwon: [40] }, { "suwon-train": ["suwon", 31] }), c);
    expect(st.find((x) => x.subject.key === "namespace=suwon-train")!.level).toBe("block");
    expect(st.find((x) => x.subject.key === "tenant=suwon")!.level).toBe("ok");
  });

  it.each([
    // now (KST), used h → month-end forecast h, crossing of 100 h (KST date) or none
    // 9 days × 24 h = 216 h elapsed of 744 h; 30 h → rate 0.13889 h/h → 103.333333 h at month end, 100 h at hour 720 = 10-31 00:00
    ["2026-10-10T00:00:00+09:00", 30, "103.333333", "10-31"],
    // 40 h in 216 h → 100 h at hour 540 = 10-23 12:00
    ["2026-10-10T00:00:00+09:00", 40, "137.777778", "10-23"],
    ["2026-10-10T00:00:00+09:00", 20, "68.888889", undefined],
    // before forecastMinElapsedHours (24 h) no crossing is predicted, however steep
    ["2026-10-01T12:00:00+09:00", 10, "620", undefined],
    // already past the quota: nothing left to cross
    ["2026-10-20T00:00:00+09:00", 120, "195.789474", undefined],
  ])("given now %s and %f h used, then month end is %s h and 100 h is crossed on %s", (now, used, monthEnd, on) => {
    const s = evaluateQuotas(input(now, { suwon: [used] }), cfg).find((x) => x.subject.key === "tenant=suwon")!;
    expect(s.forecast.monthEndGpuHours.toFixed()).toBe(monthEnd);
    expect(s.forecast.crossesBlockOn).toBe(on);
  });
});

describe("alert decisions", () => {
  const cfg = withQuota({});
  const at = (used: number) =>
    evaluateQuotas(input("2026-10-20T00:00:00+09:00", { suwon: [used] }), cfg).filter((s) => s.subject.key === "tenant=suwon");

  it.each([
    // used, already fired kinds, expected [kind, action]
    [50, [], []],
    [65, [], [["forecast", "send"]]],
    [65, ["forecast"], []],
    [
      85,
      [],
      [
        ["warn", "send"],
        ["forecast", "suppress"],
      ],
    ],
    [85, ["forecast"], [["warn", "send"]]],
    [85, ["forecast", "warn"], []],
    [105, ["forecast", "warn"], [["block", "send"]]],
    [
      105,
      [],
      [
        ["block", "send"],
        ["warn", "suppress"],
        ["forecast", "suppress"],
      ],
    ],
    [105, ["forecast", "warn", "block"], []],
  ] as const)("given %f h of 100 h and fired %j, then the decisions are %j", (used, fired, want) => {
    const st = at(used);
    const firedKeys = new Set(fired.map((k) => alertKey("2026-10", st[0]!, k)));
    const got = decideAlerts(st, "2026-10", firedKeys, TZ).map((d) => [d.kind, d.action]);
    expect(got).toEqual(want);
  });

  it("given warn fired at quota 100 h, when the quota is raised to 120 h and 100 h are used, then warn re-arms (a new key)", () => {
    const before = at(85)[0]!;
    const c = parseConfig(configWith(referenceConfigText, [["tenants", { id: "suwon" }, "monthlyQuotaGpuHours"], 120]), "t");
    const after = evaluateQuotas(input("2026-10-20T00:00:00+09:00", { suwon: [100] }), c).filter((s) => s.subject.key === "tenant=suwon");
    const fired = new Set([alertKey("2026-10", before, "warn"), alertKey("2026-10", before, "forecast")]);
    const d = decideAlerts(after, "2026-10", fired, TZ);
    expect(d.map((x) => [x.kind, x.action, x.key])).toEqual([
      ["warn", "send", "month=2026-10/tenant=suwon/warn-q120"],
      ["forecast", "suppress", "month=2026-10/tenant=suwon/forecast-q120"],
    ]);
    expect(d[0]!.reason).toMatch(/100\.00 h of 120\.00 h allocated GPU-hours \(83\.3%\)/);
  });
});

describe("enforcement decisions", () => {
  const cfg = withQuota({});
  const st = (used: number, c = cfg) =>
    evaluateQuotas(input("2026-10-20T00:00:00+09:00", { suwon: [used] }), c).find((s) => s.subject.key === "tenant=suwon")!;
  const rec = (over: Partial<EnforcementRecord>): EnforcementRecord => ({
    subjectKey: "tenant=suwon",
    tenantId: "suwon",
    month: "2026-10",
    quotaGpuHours: "100",
    status: "enforced",
    namespaces: {},
    reason: "",
    updatedAt: "2026-10-19T00:00:00Z",
    ...over,
  });
  const raised = parseConfig(configWith(referenceConfigText, [["tenants", { id: "suwon" }, "monthlyQuotaGpuHours"], 150]), "t");

  it.each([
    ["at block, nothing recorded, enforce on", "apply", false, 105, undefined, true, /reached the block threshold/],
    ["at block, nothing recorded, dry-run", "apply", true, 105, undefined, false, /reached the block threshold/],
    ["at block, already enforced", "none", false, 105, rec({}), true, /already blocked/],
    [
      "at block, apply pending (K8s was down)",
      "apply",
      false,
      105,
      rec({ status: "apply-pending", lastError: "ECONNREFUSED" }),
      true,
      /retrying a block.*ECONNREFUSED/,
    ],
    ["below block, enforced (quota raised)", "lift", false, 120, rec({}), true, /quota changed from 100 h to 150 h/],
    ["enforced last month", "lift", false, 10, rec({ month: "2026-09" }), true, /month rollover/],
    ["below block, lifted", "none", false, 50, rec({ status: "lifted" }), true, /nothing to enforce/],
  ] as const)("given %s, then the action is %s (dry-run %s)", (_what, action, dryRun, used, record, enforce, reason) => {
    const s = used === 120 ? st(used, raised) : st(used);
    const d = decideEnforcement("tenant=suwon", s, record, "2026-10", enforce);
    expect([d.action, d.dryRun]).toEqual([action, dryRun]);
    expect(d.reason).toMatch(reason);
  });
});
