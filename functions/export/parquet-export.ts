import { parquetWriteBuffer, type SchemaElement } from "hyparquet-writer";
import type { Chargeback } from "../core/chargeback.js";
import type { DatasetFile } from "../core/dataset.js";
import { D, type Dec } from "../core/decimal.js";

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

const STR = "string";
const HOURS = "decimal(18,6)";
const RATIO = "decimal(9,4)";
const FACTOR = "decimal(12,6)";
const PRICE = "decimal(18,10)";
/** Cost carries the currency's minor unit (≤ 4 decimals by config), stored exactly at scale 4. */
const MONEY = "decimal(18,4)";

export const PARQUET_TABLES = {
  chargeback: [
    { name: "cluster", type: STR },
    { name: "tenant_id", type: STR },
    { name: "tenant_name", type: STR },
    { name: "namespace", type: STR },
    { name: "gpu_model", type: STR },
    { name: "instance_type", type: STR },
    { name: "capacity_type", type: STR },
    { name: "allocated_gpu_hours", type: HOURS },
    { name: "used_gpu_hours", type: HOURS },
    { name: "avg_utilization", type: RATIO },
    { name: "correction_factor", type: FACTOR },
    { name: "billable_gpu_hours", type: HOURS },
    { name: "unit_price", type: PRICE },
    { name: "cost", type: MONEY },
    { name: "currency", type: STR },
  ],
  usage_daily: [
    { name: "day", type: "date" },
    { name: "cluster", type: STR },
    { name: "tenant_id", type: STR },
    { name: "tenant_name", type: STR },
    { name: "namespace", type: STR },
    { name: "gpu_model", type: STR },
    { name: "instance_type", type: STR },
    { name: "capacity_type", type: STR },
    { name: "allocated_gpu_hours", type: HOURS },
    { name: "used_gpu_hours", type: HOURS },
    { name: "avg_utilization", type: RATIO },
  ],
  capacity: [
    { name: "cluster", type: STR },
    { name: "node_group", type: STR },
    { name: "gpu_model", type: STR },
    { name: "instance_type", type: STR },
    { name: "capacity_type", type: STR },
    { name: "nodes", type: "int" },
    { name: "node_gpu_hours", type: HOURS },
    { name: "allocated_gpu_hours", type: HOURS },
    { name: "idle_gpu_hours", type: HOURS },
    { name: "idle_ratio", type: RATIO },
    { name: "unit_price", type: PRICE },
    { name: "idle_cost", type: MONEY },
    { name: "currency", type: STR },
  ],
  /** pods.csv: the pods of each chargeback row (they add up to it exactly). Written only when the chargeback has pod detail. */
  pods: [
    { name: "cluster", type: STR },
    { name: "tenant_id", type: STR },
    { name: "tenant_name", type: STR },
    { name: "namespace", type: STR },
    { name: "pod", type: STR },
    { name: "node", type: STR },
    { name: "gpu_model", type: STR },
    { name: "instance_type", type: STR },
    { name: "capacity_type", type: STR },
    { name: "allocated_gpu_hours", type: HOURS },
    { name: "used_gpu_hours", type: HOURS },
    { name: "avg_utilization", type: RATIO },
  ],
} as const satisfies Record<string, readonly ParquetColumn[]>;

export type ParquetTable = keyof typeof PARQUET_TABLES;

/** Dataset-relative file name of a table's Parquet file (the Glue location template matches it). */
export const parquetFileName = (table: ParquetTable) => `parquet/${table}/data.parquet`;

type Cell = string | number | Dec | Date;

/** Pure mapping: the chargeback's rows as cells per table, in PARQUET_TABLES column order. */
export function parquetRows(cb: Chargeback): Record<ParquetTable, Cell[][]> {
  return {
    chargeback: cb.rows.map((r) => [
      r.cluster,
      r.tenantId,
      r.tenantName,
      r.namespace,
      r.gpuModel,
      r.instanceType,
      r.capacityType,
      r.allocatedGpuHours,
      r.usedGpuHours,
      r.avgUtilization,
      r.correctionFactor,
      r.billableGpuHours,
      r.unitPrice,
      r.cost,
      r.currency,
    ]),
    usage_daily: cb.daily.map((r) => [
      r.day,
      r.cluster,
      r.tenantId,
      r.tenantName,
      r.namespace,
      r.gpuModel,
      r.instanceType,
      r.capacityType,
      r.allocatedGpuHours,
      r.usedGpuHours,
      r.avgUtilization,
    ]),
    capacity: cb.capacity.map((r) => [
      r.cluster,
      r.nodeGroup,
      r.gpuModel,
      r.instanceType,
      r.capacityType,
      r.nodes,
      r.nodeGpuHours,
      r.allocatedGpuHours,
      r.idleGpuHours,
      r.idleRatio,
      r.unitPrice,
      r.idleCost,
      cb.currency,
    ]),
    pods: (cb.pods ?? []).map((r) => [
      r.cluster,
      r.tenantId,
      r.tenantName,
      r.namespace,
      r.pod,
      r.node,
      r.gpuModel,
      r.instanceType,
      r.capacityType,
      r.allocatedGpuHours,
      r.usedGpuHours,
      r.avgUtilization,
    ]),
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
