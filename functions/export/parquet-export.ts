import { parquetWriteBuffer, type SchemaElement } from "hyparquet-writer";
import type { Chargeback } from "../core/chargeback.js";
import type { DatasetFile } from "../core/dataset.js";
import { D, type Dec } from "../core/decimal.js";
import { CAPACITY_TABLE, CHARGEBACK_TABLE, DAILY_TABLE, POD_TABLE, type Cell, type DatasetColumn } from "../core/dataset-tables.js";

/**
 * The month's dataset as Parquet, one directory per table under the month:
 * `<prefix>/month=YYYY-MM/parquet/<table>/data.parquet`. The month is the
 * partition (from the path), so it is not a column in the files; `cluster`
 * is a column (one month spans every cluster). Months written before it read
 * it as NULL in Athena (Parquet columns resolve by name). The Glue
 * tables of the CDK app are generated from these same column lists.
 */

/** A Parquet column: its Glue/Athena type decides the physical encoding. */
export interface ParquetColumn {
  name: string;
  /** `string`, `int`, `date` or `decimal(p,s)` with p ≤ 18 (INT64-backed). */
  type: string;
}

/** A table's Parquet columns: its dataset columns with a type (the month is the partition, not a column). */
function parquetColumns<R>(table: DatasetColumn<R>[]): ParquetColumn[] {
  return table.filter((c) => c.type !== undefined).map((c) => ({ name: c.name, type: c.type! }));
}

const TABLES = {
  chargeback: { columns: CHARGEBACK_TABLE, rows: (cb: Chargeback) => cb.rows },
  usage_daily: { columns: DAILY_TABLE, rows: (cb: Chargeback) => cb.daily },
  capacity: { columns: CAPACITY_TABLE, rows: (cb: Chargeback) => cb.capacity },
  /** pods.csv: the pods of each chargeback row (they add up to it exactly). Written only when the chargeback has pod detail. */
  pods: { columns: POD_TABLE, rows: (cb: Chargeback) => cb.pods ?? [] },
};

export const PARQUET_TABLES: Record<keyof typeof TABLES, ParquetColumn[]> = {
  chargeback: parquetColumns(TABLES.chargeback.columns),
  usage_daily: parquetColumns(TABLES.usage_daily.columns),
  capacity: parquetColumns(TABLES.capacity.columns),
  pods: parquetColumns(TABLES.pods.columns),
};

export type ParquetTable = keyof typeof PARQUET_TABLES;

/** Dataset-relative file name of a table's Parquet file (the Glue location template matches it). */
export const parquetFileName = (table: ParquetTable) => `parquet/${table}/data.parquet`;

/** Pure mapping: the chargeback's rows as cells per table, in PARQUET_TABLES column order. */
export function parquetRows(cb: Chargeback): Record<ParquetTable, Cell[][]> {
  const cells = <R>(t: { columns: DatasetColumn<R>[]; rows: (cb: Chargeback) => R[] }) => {
    const typed = t.columns.filter((c) => c.type !== undefined);
    return t.rows(cb).map((r) => typed.map((c) => c.value(r, cb)));
  };
  return {
    chargeback: cells(TABLES.chargeback),
    usage_daily: cells(TABLES.usage_daily),
    capacity: cells(TABLES.capacity),
    pods: cells(TABLES.pods),
  };
}

/**
 * A decimal as the unscaled INT64 Parquet stores: exact, or an error — a value
 * with more decimals than the column holds is never rounded silently.
 */
export function unscaledDecimal(v: Dec, scale: number, column: string): bigint {
  const scaled = new D(v).times(new D(10).pow(scale));
  if (!scaled.isInteger()) throw new Error(`parquet column ${column}: ${v.toFixed()} has more than ${scale} decimals`);
  if (scaled.abs().gte(new D(10).pow(18))) throw new Error(`parquet column ${column}: ${v.toFixed()} exceeds 18 digits`);
  return BigInt(scaled.toFixed(0));
}

function schemaElement(c: ParquetColumn): SchemaElement {
  const dec = /^decimal\((\d+),(\d+)\)$/.exec(c.type);
  if (dec)
    return {
      name: c.name,
      type: "INT64",
      converted_type: "DECIMAL",
      precision: Number(dec[1]),
      scale: Number(dec[2]),
      repetition_type: "REQUIRED",
    };
  if (c.type === "int") return { name: c.name, type: "INT32", repetition_type: "REQUIRED" };
  if (c.type === "date") return { name: c.name, type: "INT32", converted_type: "DATE", repetition_type: "REQUIRED" };
  return { name: c.name, type: "BYTE_ARRAY", converted_type: "UTF8", repetition_type: "REQUIRED" };
}

function columnValues(c: ParquetColumn, cells: Cell[]): unknown[] {
  const dec = /^decimal\(\d+,(\d+)\)$/.exec(c.type);
  if (dec) return cells.map((v) => unscaledDecimal(v as Dec, Number(dec[1]), c.name));
  if (c.type === "int") return cells.map((v) => Number(v));
  if (c.type === "date") return cells.map((v) => new Date(`${String(v)}T00:00:00Z`));
  return cells.map((v) => String(v));
}

/** Encodes one table. Nothing time-dependent is written, so re-runs are byte-identical. */
export function writeParquetTable(table: ParquetTable, rows: Cell[][]): Buffer {
  const cols: readonly ParquetColumn[] = PARQUET_TABLES[table];
  const schema: SchemaElement[] = [{ name: "root", num_children: cols.length }, ...cols.map(schemaElement)];
  const columnData = cols.map((c, i) => ({
    name: c.name,
    data: columnValues(
      c,
      rows.map((r) => r[i]!),
    ) as never,
  }));
  const ab = parquetWriteBuffer({ columnData, schema, createdBy: "gpu-billing", kvMetadata: [{ key: "gpu-billing.table", value: table }] });
  return Buffer.from(ab);
}

/**
 * The Parquet files of a month, ready to join the dataset. `pods` only when the chargeback
 * has pod detail: an empty pods table would claim a month had no pods.
 */
export function parquetFiles(cb: Chargeback): DatasetFile[] {
  const rows = parquetRows(cb);
  return (Object.keys(PARQUET_TABLES) as ParquetTable[])
    .filter((t) => t !== "pods" || cb.pods)
    .map((t) => ({
      name: parquetFileName(t),
      body: writeParquetTable(t, rows[t]),
      rows: rows[t].length,
    }));
}
