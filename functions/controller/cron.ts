import { TZDate } from "@date-fns/tz";
import { BadInputError } from "../core/errors.js";

/**
 * A five-field cron expression (minute hour day-of-month month day-of-week)
 * used as a *minute matcher*: a freeze window is "every minute the expression
 * matches", evaluated in the billing time zone. `* 9-17 * * 1-5` freezes
 * weekdays 09:00–17:59. Supports `*`, numbers, ranges `a-b`, steps `* /n`
 * and `a-b/n`, lists `a,b`, and day/month names (`mon-fri`, `jan`).
 * Day-of-month and day-of-week follow Vixie cron: when both are restricted a
 * minute matches if either does. No dependency exists for this in the tree.
 */
export interface CronMatcher {
  readonly source: string;
  matches(epochMs: number, timeZone: string): boolean;
}

export class CronSyntaxError extends BadInputError {
  constructor(message: string) {
    super(message);
    this.name = "CronSyntaxError";
  }
}

const MONTHS = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"];
const DAYS = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"];

interface FieldSpec {
  name: string;
  min: number;
  max: number;
  names?: string[];
  namesStart?: number;
}
const FIELDS: FieldSpec[] = [
  { name: "minute", min: 0, max: 59 },
  { name: "hour", min: 0, max: 23 },
  { name: "day-of-month", min: 1, max: 31 },
  { name: "month", min: 1, max: 12, names: MONTHS, namesStart: 1 },
  { name: "day-of-week", min: 0, max: 7, names: DAYS, namesStart: 0 },
];

function parseValue(raw: string, f: FieldSpec, expr: string): number {
  const lower = raw.toLowerCase();
  const named = f.names?.indexOf(lower) ?? -1;
  const v = named >= 0 ? named + (f.namesStart ?? 0) : /^\d+$/.test(raw) ? Number(raw) : NaN;
  if (!Number.isInteger(v) || v < f.min || v > f.max)
    throw new CronSyntaxError(`"${expr}": ${f.name} value "${raw}" is not in ${f.min}-${f.max}`);
  return v;
}

function parseField(text: string, f: FieldSpec, expr: string): { set: Set<number>; star: boolean } {
  const set = new Set<number>();
  let star = false;
  for (const part of text.split(",")) {
    const [range, stepText] = part.split("/");
    if (range === undefined || range === "") throw new CronSyntaxError(`"${expr}": empty ${f.name} field`);
    const step = stepText === undefined ? 1 : Number(stepText);
    if (!Number.isInteger(step) || step < 1)
      throw new CronSyntaxError(`"${expr}": ${f.name} step "${stepText}" must be a positive integer`);
    let lo: number;
    let hi: number;
    if (range === "*") {
      lo = f.min;
      hi = f.max;
      if (stepText === undefined) star = true;
    } else if (range.includes("-")) {
      const [a, b] = range.split("-");
      lo = parseValue(a ?? "", f, expr);
      hi = parseValue(b ?? "", f, expr);
      if (lo > hi) throw new CronSyntaxError(`"${expr}": ${f.name} range ${range} runs backwards`);
    } else {
      lo = parseValue(range, f, expr);
      hi = stepText === undefined ? lo : f.max;
    }
    for (let v = lo; v <= hi; v += step) set.add(f.name === "day-of-week" && v === 7 ? 0 : v);
  }
  return { set, star };
}

export function parseCron(expr: string): CronMatcher {
  const parts = expr.trim().split(/\s+/);
  if (parts.length !== 5)
    throw new CronSyntaxError(`"${expr}": expected 5 fields (minute hour day-of-month month day-of-week), got ${parts.length}`);
  const [min, hour, dom, mon, dow] = parts.map((p, i) => parseField(p, FIELDS[i]!, expr));
  return {
    source: expr,
    matches(epochMs, timeZone) {
      const d = new TZDate(epochMs, timeZone);
      if (!min!.set.has(d.getMinutes()) || !hour!.set.has(d.getHours()) || !mon!.set.has(d.getMonth() + 1)) return false;
      const domOk = dom!.set.has(d.getDate());
      const dowOk = dow!.set.has(d.getDay());
      if (dom!.star || dow!.star) return domOk && dowOk;
      return domOk || dowOk;
    },
  };
}
