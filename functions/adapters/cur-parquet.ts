import { readFile } from "node:fs/promises";
import path from "node:path";
import { parquetMetadata, parquetReadObjects, parquetSchema } from "hyparquet";
import { D } from "../core/decimal.js";
import { BadInputError } from "../core/errors.js";
import { capacityTypeOfUsage, type CurExtract, type CurLineItem } from "../core/reconciliation.js";
import type { CurSource } from "../reconcile/reconcile-month.js";

/**
 * A CUR 2.0 export (AWS Data Exports, Parquet) on local disk, read with hyparquet: pure JavaScript,
 * no native code, small enough for a Lambda bundle (DuckDB, which the tests use to write the file,
 * is a native module of tens of MB). hyparquet decodes the Snappy compression Data Exports writes
 * by default; a GZIP/ZSTD export needs hyparquet-compressors passed in as `compressors`.
 * Column names and types: https://docs.aws.amazon.com/cur/latest/userguide/table-dictionary-cur2.html
 */
const REQUIRED = [
  "line_item_resource_id",
  "line_item_line_item_type",
  "line_item_usage_type",
  "line_item_usage_start_date",
  "line_item_usage_end_date",
  "line_item_currency_code",
  "line_item_unblended_cost",
  "bill_invoice_id",
] as const;
/** Present in every CUR 2.0 export (fixed schema), but a hand-made extract may leave them out: then no hour was covered. */
const OPTIONAL = ["savings_plan_savings_plan_effective_cost", "reservation_effective_cost"] as const;

export class NotACurFileError extends BadInputError {
  constructor(file: string, detail: string) {
    super(`${file} is not a CUR 2.0 Parquet export: ${detail}`);
    this.name = "NotACurFileError";
  }
}

/** Parquet timestamps arrive as Date (TIMESTAMP logical type) or, from older writers, as bigint micros / ISO text. */
function ms(v: unknown, file: string, column: string): number {
  if (v instanceof Date) return v.getTime();
  if (typeof v === "bigint") return Number(v / 1000n);
  if (typeof v === "string" && !Number.isNaN(Date.parse(v))) return Date.parse(v);
  throw new NotACurFileError(file, `${column} holds ${String(v)}, not a timestamp`);
}

/** CUR cost columns are doubles: the shortest text that round-trips is the decimal AWS wrote. */
const money = (v: unknown) => (v === null || v === undefined ? undefined : new D(String(v)));

export function curParquetFile(file: string): CurSource {
  return {
    location: path.resolve(file),
    async read(window): Promise<CurExtract> {
      const bytes = await readFile(file).catch((e: NodeJS.ErrnoException) => {
        if (e.code === "ENOENT") throw new BadInputError(`CUR file ${file} does not exist`);
        throw e;
      });
      const buffer = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
      let names: Set<string>;
      try {
        const metadata = parquetMetadata(buffer);
        names = new Set(parquetSchema(metadata).children.map((c) => c.element.name));
      } catch (e) {
        throw new NotACurFileError(file, (e as Error).message);
      }
      const missing = REQUIRED.filter((c) => !names.has(c));
      if (missing.length) throw new NotACurFileError(file, `no column ${missing.join(", ")}`);
      const columns = [...REQUIRED, ...OPTIONAL.filter((c) => names.has(c))];
      const rows = (await parquetReadObjects({ file: buffer, columns })) as Record<string, unknown>[];

      let coveredUntilMs: number | undefined;
      let invoiced = true;
      const items: CurLineItem[] = [];
      for (const r of rows) {
        const end = ms(r.line_item_usage_end_date, file, "line_item_usage_end_date");
        coveredUntilMs = Math.max(coveredUntilMs ?? end, end);
        const usageType = String(r.line_item_usage_type ?? "");
        // Only instance hours are capacity; the rest of the bill (EBS, data transfer…) is not what nodes cost.
        if (!capacityTypeOfUsage(usageType)) continue;
        const start = ms(r.line_item_usage_start_date, file, "line_item_usage_start_date");
        if (start < window.startMs || start >= window.endMs) continue;
        if (!r.bill_invoice_id) invoiced = false;
        items.push({
          resourceId: String(r.line_item_resource_id ?? ""),
          lineItemType: String(r.line_item_line_item_type ?? ""),
          usageType,
          usageStartMs: start,
          currency: String(r.line_item_currency_code ?? ""),
          unblendedCost: money(r.line_item_unblended_cost) ?? new D(0),
          ...(money(r.savings_plan_savings_plan_effective_cost)
            ? { savingsPlanEffectiveCost: money(r.savings_plan_savings_plan_effective_cost)! }
            : {}),
          ...(money(r.reservation_effective_cost) ? { reservationEffectiveCost: money(r.reservation_effective_cost)! } : {}),
        });
      }
      return { items, coveredUntilMs, invoiced: invoiced && items.length > 0 };
    },
  };
}
