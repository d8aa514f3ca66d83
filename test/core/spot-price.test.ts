import { describe, expect, it } from "vitest";
import { D } from "../../functions/core/decimal.js";
import { timeWeightedHourly, type PriceChange, type RunSpan } from "../../functions/core/spot-price.js";

const H = 3_600_000;
const T0 = Date.parse("2026-10-01T00:00:00Z");
const at = (hours: number) => T0 + hours * H;
const change = (hours: number, hourly: string): PriceChange => ({ atMs: at(hours), hourly: new D(hourly) });
const span = (fromH: number, toH: number): RunSpan => ({ startMs: at(fromH), endMs: at(toH) });

describe("timeWeightedHourly", () => {
  // Each expected value is worked out by hand: Σ price × hours in effect ÷ Σ hours.
  const cases: { name: string; changes: PriceChange[]; spans: RunSpan[]; hourly: string; minutes: number }[] = [
    {
      name: "one price in effect before the span (the change before StartTime) holds for all of it",
      changes: [change(-100, "1.4436")],
      spans: [span(0, 10)],
      hourly: "1.4436",
      minutes: 600,
    },
    {
      name: "a price change mid-span: 6 h at 1.20 and 4 h at 1.70 → (7.2 + 6.8) ÷ 10",
      changes: [change(-5, "1.20"), change(6, "1.70")],
      spans: [span(0, 10)],
      hourly: "1.4",
      minutes: 600,
    },
    {
      name: "changes given newest first (as EC2 returns them) weigh the same",
      changes: [change(6, "1.70"), change(-5, "1.20")],
      spans: [span(0, 10)],
      hourly: "1.4",
      minutes: 600,
    },
    {
      name: "two spans with a gap: the price during the gap does not count (3 h at 2.0, 1 h at 3.0) → 9 ÷ 4",
      changes: [change(0, "2.0"), change(3, "9.9"), change(5, "3.0")],
      spans: [span(0, 3), span(5, 6)],
      hourly: "2.25",
      minutes: 240,
    },
    {
      name: "a repeating quotient is rounded half-up at 10 decimals once: 1 h at 1 and 2 h at 2 → 5 ÷ 3",
      changes: [change(0, "1"), change(1, "2")],
      spans: [span(0, 3)],
      hourly: "1.6666666667",
      minutes: 180,
    },
    {
      name: "a change after the span ends is ignored",
      changes: [change(0, "0.5"), change(20, "5")],
      spans: [span(1, 2)],
      hourly: "0.5",
      minutes: 60,
    },
  ];
  for (const c of cases)
    it(`given ${c.name}, then the hourly price is ${c.hourly}`, () => {
      const w = timeWeightedHourly(c.changes, c.spans);
      expect(w.kind).toBe("priced");
      if (w.kind !== "priced") return;
      expect(w.hourly.toFixed()).toBe(c.hourly);
      expect(w.minutes).toBe(c.minutes);
    });

  it("given a span that starts before the first known change, then it is uncovered (never priced at a later price)", () => {
    expect(timeWeightedHourly([change(2, "1.0")], [span(0, 5)])).toEqual({ kind: "uncovered", fromMs: at(0), toMs: at(2) });
  });

  it("given no history at all, then every span is uncovered", () => {
    expect(timeWeightedHourly([], [span(0, 5)])).toEqual({ kind: "uncovered", fromMs: at(0), toMs: at(5) });
  });
});
