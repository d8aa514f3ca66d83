import { TZDate } from "@date-fns/tz";
import { BadInputError } from "./errors.js";

/** A billing day: [start, end) in epoch milliseconds, named YYYY-MM-DD in the billing time zone. */
export interface BillingDay {
  day: string;
  startMs: number;
  endMs: number;
}

export interface BillingMonth {
  month: string;
  timeZone: string;
  startMs: number;
  endMs: number;
  days: BillingDay[];
}

export class InvalidMonthError extends BadInputError {
  constructor(message: string) {
    super(message);
    this.name = "InvalidMonthError";
  }
}

/** `YYYY-MM`, month 01–12: the one month pattern of events, paths and S3 keys. */
export const MONTH_RE = /^(\d{4})-(0[1-9]|1[0-2])$/;

/** Parses `YYYY-MM` strictly (it becomes an S3 key, so nothing else may pass). */
export function parseMonth(month: string): { year: number; monthIndex: number } {
  const m = MONTH_RE.exec(month);
  if (!m) throw new InvalidMonthError(`month "${month}" is not of the form YYYY-MM`);
  return { year: Number(m[1]), monthIndex: Number(m[2]) - 1 };
}

/**
 * The calendar month in the billing time zone, split into its billing days.
 * Days are built from local midnights, so a DST day is 23 or 25 hours long.
 */
export function billingMonth(month: string, timeZone: string): BillingMonth {
  const { year, monthIndex } = parseMonth(month);
  const start = new TZDate(year, monthIndex, 1, timeZone).getTime();
  const end = new TZDate(year, monthIndex + 1, 1, timeZone).getTime();
  const days: BillingDay[] = [];
  for (let d = 1; ; d++) {
    const s = new TZDate(year, monthIndex, d, timeZone).getTime();
    if (s >= end) break;
    const e = new TZDate(year, monthIndex, d + 1, timeZone).getTime();
    days.push({ day: `${month}-${String(d).padStart(2, "0")}`, startMs: s, endMs: e });
  }
  return { month, timeZone, startMs: start, endMs: end, days };
}

/** The month before the one containing `now`, in the billing time zone: what the scheduled run bills. */
export function previousMonth(now: Date, timeZone: string): string {
  const local = new TZDate(now.getTime(), timeZone);
  const prev = new TZDate(local.getFullYear(), local.getMonth() - 1, 1, timeZone);
  return `${prev.getFullYear()}-${String(prev.getMonth() + 1).padStart(2, "0")}`;
}

/** The month containing `now` in the billing time zone. */
export function currentMonth(now: Date, timeZone: string): string {
  const local = new TZDate(now.getTime(), timeZone);
  return `${local.getFullYear()}-${String(local.getMonth() + 1).padStart(2, "0")}`;
}

/**
 * A bill is only for a month that has ended: metering a running month would
 * write a dataset that looks complete but is not.
 */
export function assertMonthClosed(month: string, timeZone: string, now: Date): BillingMonth {
  const bm = billingMonth(month, timeZone);
  if (bm.endMs > now.getTime()) {
    const what = bm.startMs > now.getTime() ? "is in the future" : "has not ended yet";
    throw new InvalidMonthError(`month ${month} ${what} in ${timeZone}; only closed months can be billed`);
  }
  return bm;
}
