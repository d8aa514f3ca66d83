import { TZDate } from "@date-fns/tz";
import { billingMonth, InvalidMonthError, type BillingMonth } from "../core/month.js";
import { D, type Dec } from "../core/decimal.js";

const MINUTE = 60_000;

/** The part of a billing month that has happened by `asOfMs`: its days, the last one cut at `asOfMs`. */
export interface MonthToDateWindow extends BillingMonth {
  /** End of the metered part: `now` floored to the minute, or the month end once the month is over. */
  asOfMs: number;
  /** End of the whole month (BillingMonth.endMs is the month end too; kept explicit for readers). */
  monthEndMs: number;
  complete: boolean;
}

/**
 * The month-to-date window of `month` at `now`. `now` is floored to the minute
 * because the metering model counts 1-minute ticks: the tick at minute m stands
 * for [m, m+1), so only ticks before the floored `now` have happened. The days
 * are the month's billing days up to that point, the last one partial, so the
 * same queries (and the same model) as the monthly bill apply unchanged.
 */
export function monthToDateWindow(month: string, timeZone: string, now: Date): MonthToDateWindow {
  const bm = billingMonth(month, timeZone);
  const floored = Math.floor(now.getTime() / MINUTE) * MINUTE;
  if (now.getTime() < bm.startMs) throw new InvalidMonthError(`month ${month} has not started at ${now.toISOString()} in ${timeZone}`);
  // In the month's first minute nothing has happened yet: an empty window (zero usage), not an error,
  // so the run at the month rollover still lifts last month's blocks.
  const asOfMs = Math.min(floored, bm.endMs);
  const days = bm.days.filter((d) => d.startMs < asOfMs).map((d) => ({ ...d, endMs: Math.min(d.endMs, asOfMs) }));
  return { ...bm, days, asOfMs, monthEndMs: bm.endMs, complete: asOfMs === bm.endMs };
}

/** Hours between two instants, exact (whole minutes ÷ 60). */
export function hoursBetween(fromMs: number, toMs: number): Dec {
  return new D(toMs - fromMs).div(3_600_000);
}

/** `MM-DD` of an instant in the billing time zone, as alerts print it ("reaches its quota on 10-23"). */
export function localMonthDay(ms: number, timeZone: string): string {
  const t = new TZDate(ms, timeZone);
  return `${String(t.getMonth() + 1).padStart(2, "0")}-${String(t.getDate()).padStart(2, "0")}`;
}

/** `YYYY-MM-DD HH:mm` of an instant in the billing time zone. */
export function localDateTime(ms: number, timeZone: string): string {
  const t = new TZDate(ms, timeZone);
  const p = (n: number) => String(n).padStart(2, "0");
  return `${t.getFullYear()}-${p(t.getMonth() + 1)}-${p(t.getDate())} ${p(t.getHours())}:${p(t.getMinutes())}`;
}
