import { D, type Dec } from "./decimal.js";

/** One Spot price change: the price holds from `atMs` until the next change of the same instance type and zone. */
export interface PriceChange {
  atMs: number;
  /** Hourly price, exact decimal. */
  hourly: Dec;
}

/** A half-open time span [startMs, endMs) a node ran. */
export interface RunSpan {
  startMs: number;
  endMs: number;
}

export type TimeWeighted =
  | { kind: "priced"; hourly: Dec; minutes: number }
  /** Part of a span lies before the first known price change: pricing it at a later price would be a guess. */
  | { kind: "uncovered"; fromMs: number; toMs: number };

/** Hourly prices are kept to this many decimals (the price list and Spot history quote at most 8). */
export const HOURLY_DP = 10;

/**
 * The time-weighted hourly price over a node's run spans: Σ price × time it was in effect ÷ Σ time.
 * `changes` may come in any order; a price holds from its change until the next one (the Spot price
 * history semantics: EC2 DescribeSpotPriceHistory "returns the last price change before the start
 * time, which is the effective price as of the start time", AWS EC2 API reference), so the history
 * asked for from the month's start covers every minute of the month. Exact in decimal.js; the
 * result is rounded half-up to HOURLY_DP once.
 */
export function timeWeightedHourly(changes: readonly PriceChange[], spans: readonly RunSpan[]): TimeWeighted {
  const sorted = [...changes].sort((a, b) => a.atMs - b.atMs);
  let weighted = new D(0);
  let totalMs = 0;
  for (const s of spans) {
    if (s.endMs <= s.startMs) continue;
    const first = sorted[0];
    if (!first || first.atMs > s.startMs) return { kind: "uncovered", fromMs: s.startMs, toMs: Math.min(s.endMs, first?.atMs ?? s.endMs) };
    for (let i = 0; i < sorted.length; i++) {
      const from = Math.max(s.startMs, sorted[i]!.atMs);
      const to = Math.min(s.endMs, sorted[i + 1]?.atMs ?? Infinity);
      if (to <= from) continue;
      weighted = weighted.add(sorted[i]!.hourly.mul(to - from));
      totalMs += to - from;
    }
  }
  if (totalMs === 0) return { kind: "uncovered", fromMs: spans[0]?.startMs ?? 0, toMs: spans[0]?.endMs ?? 0 };
  return { kind: "priced", hourly: weighted.div(totalMs).toDecimalPlaces(HOURLY_DP), minutes: totalMs / 60_000 };
}
