import { describe, expect, it } from "vitest";
import { assertMonthClosed, billingMonth, InvalidMonthError, parseMonth, previousMonth } from "../../functions/core/month.js";

describe("billing months in the billing time zone", () => {
  it.each([
    ["2026-10", "Asia/Seoul", "2026-09-30T15:00:00.000Z", "2026-10-31T15:00:00.000Z", 31],
    ["2026-02", "Asia/Seoul", "2026-01-31T15:00:00.000Z", "2026-02-28T15:00:00.000Z", 28],
    ["2028-02", "UTC", "2028-02-01T00:00:00.000Z", "2028-03-01T00:00:00.000Z", 29],
    ["2026-12", "Asia/Seoul", "2026-11-30T15:00:00.000Z", "2026-12-31T15:00:00.000Z", 31],
  ])("given %s in %s, the month is [%s, %s) with %i days", (month, tz, start, end, days) => {
    const bm = billingMonth(month, tz);
    expect(new Date(bm.startMs).toISOString()).toBe(start);
    expect(new Date(bm.endMs).toISOString()).toBe(end);
    expect(bm.days).toHaveLength(days);
    expect(bm.days[0]!.startMs).toBe(bm.startMs);
    expect(bm.days.at(-1)!.endMs).toBe(bm.endMs);
  });

  it("given a DST month, days are 23 and 25 hours long and still tile the month", () => {
    const bm = billingMonth("2026-03", "America/New_York");
    const lengths = bm.days.map((d) => (d.endMs - d.startMs) / 3_600_000);
    expect(lengths.filter((h) => h === 23)).toHaveLength(1);
    for (let i = 1; i < bm.days.length; i++) expect(bm.days[i]!.startMs).toBe(bm.days[i - 1]!.endMs);
    const nov = billingMonth("2026-11", "America/New_York").days.map((d) => (d.endMs - d.startMs) / 3_600_000);
    expect(nov.filter((h) => h === 25)).toHaveLength(1);
  });

  it.each(["2026-13", "2026-1", "26-10", "2026-10/../x", "", "2026-00"])("given the malformed month %j, it is rejected", (m) => {
    expect(() => parseMonth(m)).toThrow(InvalidMonthError);
  });

  it("given now just after Seoul midnight on Nov 1 (still Oct 31 in UTC), the previous month is October", () => {
    expect(previousMonth(new Date("2026-10-31T15:30:00Z"), "Asia/Seoul")).toBe("2026-10");
    expect(previousMonth(new Date("2026-10-31T14:30:00Z"), "Asia/Seoul")).toBe("2026-09");
    expect(previousMonth(new Date("2026-01-05T00:00:00Z"), "Asia/Seoul")).toBe("2025-12");
  });

  it("given a running or future month, billing it is refused", () => {
    const now = new Date("2026-11-23T00:00:00Z");
    expect(() => assertMonthClosed("2026-11", "Asia/Seoul", now)).toThrow(/has not ended/);
    expect(() => assertMonthClosed("2027-01", "Asia/Seoul", now)).toThrow(/future/);
    expect(assertMonthClosed("2026-10", "Asia/Seoul", now).days).toHaveLength(31);
  });
});
