import { createHash } from "node:crypto";
import { parsePriceSnapshot, PRICES_FILE, type PriceSnapshot } from "../core/price-snapshot.js";
import { RECONCILIATION_FILE } from "../core/reconciliation.js";
import {
  CAPACITY_COLUMNS,
  CHARGEBACK_COLUMNS,
  CONTROLLER_COLUMNS,
  CONTROLLER_FILE,
  DAILY_COLUMNS,
  SINGLE_CLUSTER_COLUMNS,
  MANIFEST_FILE,
  NODE_COLUMNS,
  NODES_FILE,
  POD_COLUMNS,
  PODS_FILE,
  type ClusterInput,
} from "../core/dataset.js";
import { DEFAULT_CLUSTER_ID } from "../core/config.js";
import { D, type Dec } from "../core/decimal.js";
import type { CapacityType } from "../core/attribution.js";
import type { CapacityRow, ChargebackRow, DailyRow, NodeRow } from "../core/chargeback.js";
import type { PodRow } from "../core/pod-detail.js";
import type { ControllerClusterMonth } from "../core/controller-savings.js";

/** A controller-actions.csv line read back. */
export interface ControllerLine {
  cluster: string;
  nodeGroup: string;
  instanceType: string;
  capacityType: string;
  nodesReclaimed: number;
  scaleOuts: number;
  nodesAdded: number;
  gpuNodeHoursSaved: Dec;
  unitPrice: Dec;
  savedCost: Dec;
}
import { monthDirName } from "./month-dir.js";
import { BadInputError } from "../core/errors.js";

/** The raw bytes of one month's dataset as a reader found them. */
export interface DatasetBytes {
  manifest: Buffer;
  files: Record<string, Buffer>;
}

export interface Manifest {
  schemaVersion: number;
  month: string;
  timeZone: string;
  period: { start: string; end: string };
  currency: string;
  /** `clusters` since schema 2 (multi-cluster metering). */
  inputs: { prometheusUrl: string; configHash: string; clusters?: ClusterInput[] };
  files: Record<string, { rows: number; bytes: number; sha256: string }>;
  totals: Record<string, string>;
  /** Since controller-actions.csv (within schema 2): what the idle-node controller did. */
  controller?: {
    clusters: ControllerClusterMonth[];
    totals: { nodesReclaimed: number; scaleOuts: number; nodesAdded: number; gpuNodeHoursSaved: string; savedCost: string };
    estimate: string;
  };
  rounding: string;
  warnings: string[];
}

/** A chargeback row read back ("default" cluster for single-cluster and schema-1 months); month and currency are the manifest's. */
export type ChargebackLine = Omit<ChargebackRow, "month" | "currency">;

/** A daily row read back (its utilization follows from used ÷ allocated). */
export type DailyLine = Omit<DailyRow, "avgUtilization">;

export type CapacityLine = CapacityRow;

/** A pods.csv line read back. */
export type PodLine = PodRow;

/** A nodes.csv line read back. */
export type NodeLine = NodeRow;

/** A completed month's dataset, parsed back from its files and checked against its manifest. */
export interface ParsedDataset {
  manifest: Manifest;
  /** sha256 of manifest.json as stored: ties a report to exactly this data. */
  manifestSha256: string;
  chargeback: ChargebackLine[];
  daily: DailyLine[];
  capacity: CapacityLine[];
  /** pods.csv, when the manifest lists it (months metered before pod detail have none). */
  pods?: PodLine[];
  /** controller-actions.csv, when the manifest lists it (months metered before it have none). */
  controller?: ControllerLine[];
  /** nodes.csv, when the manifest lists it (months metered before it have none: they cannot be reconciled). */
  nodes?: NodeLine[];
  /** reconciliation.csv, when `reconcile` has written it beside the dataset (its lines as written). */
  reconciliation?: Record<string, string>[];
  /** chargeback.csv exactly as stored, for finance (the file the manifest hashes). */
  chargebackCsv: Buffer;
  /** prices.json, when the manifest lists it (months metered before the price snapshot have none). */
  prices?: PriceSnapshot;
}

/** A month with no manifest has not been metered to completion: nothing may be reported from it. */
export class DatasetNotFoundError extends BadInputError {
  constructor(
    readonly month: string,
    readonly location: string,
  ) {
    super(
      `no completed dataset for ${month} at ${location}: ${monthDirName(month)}/${MANIFEST_FILE} is missing (run \`gpu-billing meter --month ${month}\` first)`,
    );
    this.name = "DatasetNotFoundError";
  }
}

/** The files do not match their manifest (edited, truncated, or from two runs). */
export class DatasetIntegrityError extends BadInputError {
  constructor(readonly problems: string[]) {
    super(`dataset does not match its manifest:\n  ${problems.join("\n  ")}`);
    this.name = "DatasetIntegrityError";
  }
}

/** RFC 4180 parser for the dataset's own CSVs (quoted fields, doubled quotes, LF or CRLF). */
export function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = "";
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (quoted) {
      if (c === '"') {
        if (text[i + 1] === '"') {
          field += '"';
          i++;
        } else quoted = false;
      } else field += c;
    } else if (c === '"') quoted = true;
    else if (c === ",") {
      row.push(field);
      field = "";
    } else if (c === "\n" || c === "\r") {
      if (c === "\r" && text[i + 1] === "\n") i++;
      row.push(field);
      rows.push(row);
      row = [];
      field = "";
    } else field += c;
  }
  if (field !== "" || row.length) {
    row.push(field);
    rows.push(row);
  }
  return rows;
}

/** Undoes the writer's formula neutralising (`'=x` → `=x`); renderers neutralise again for their own medium. */
const text = (s: string) => (/^'[=+\-@\t\r]/.test(s) ? s.slice(1) : s);

/**
 * A CSV as records by column name, in either layout: with a `cluster` column
 * (named clusters) or without it (a single-cluster month, and every schema-1
 * month), whose rows are the default cluster.
 */
function table(
  name: string,
  body: Buffer,
  columns: readonly string[],
  withoutCluster: readonly string[],
  problems: string[],
): Record<string, string>[] {
  const rows = parseCsv(body.toString("utf8"));
  const head = rows.shift() ?? [];
  const singleCluster = head.join(",") === withoutCluster.join(",");
  if (head.join(",") !== columns.join(",") && !singleCluster) {
    problems.push(
      `${name}: header is "${head.join(",")}", expected "${withoutCluster.join(",")}" (one cluster) or "${columns.join(",")}" (named clusters)`,
    );
    return [];
  }
  const cols = singleCluster ? withoutCluster : columns;
  return rows.map((r, i) => {
    if (r.length !== cols.length) problems.push(`${name} line ${i + 2}: ${r.length} fields, expected ${cols.length}`);
    const rec: Record<string, string> = Object.fromEntries(cols.map((c, j) => [c, r[j] ?? ""]));
    if (singleCluster) rec.cluster = DEFAULT_CLUSTER_ID;
    return rec;
  });
}

/** A CSV's lines as header-keyed records. */
function csvRecords(body: Buffer): Record<string, string>[] {
  const [head = [], ...rows] = parseCsv(body.toString("utf8"));
  return rows.map((r) => Object.fromEntries(head.map((h, i) => [h, (r[i] ?? "").replace(/^'(?=-)/, "")])));
}

/**
 * The dataset writer neutralises every string cell, including money it prints as a string,
 * so a negative amount (idle cost of an oversubscribed node group) arrives as `'-12.34`.
 */
const dec = (s: string | undefined) => new D(s && s !== "" ? s.replace(/^'(?=-)/, "") : "0");
const cap = (s: string | undefined): CapacityType => (s === "spot" ? "spot" : "on-demand");

/**
 * Parses a month's dataset read back from disk or S3 and checks every file against the
 * manifest (bytes and sha256), so a report always stands on exactly the data it names.
 */
export function parseDataset(month: string, bytes: DatasetBytes): ParsedDataset {
  let manifest: Manifest;
  try {
    manifest = JSON.parse(bytes.manifest.toString("utf8")) as Manifest;
  } catch (e) {
    throw new DatasetIntegrityError([`${MANIFEST_FILE}: not JSON: ${(e as Error).message}`]);
  }
  const problems: string[] = [];
  if (manifest.month !== month) problems.push(`${MANIFEST_FILE} is for month ${manifest.month}, not ${month}`);
  // pods.csv is optional (added within schema 2), but when the manifest lists it, it is checked like the rest.
  const hasPods = !!manifest.files?.[PODS_FILE];
  const hasPrices = !!manifest.files?.[PRICES_FILE];
  const hasController = !!manifest.files?.[CONTROLLER_FILE];
  const hasNodes = !!manifest.files?.[NODES_FILE];
  for (const name of [
    "chargeback.csv",
    "usage-daily.csv",
    "capacity.csv",
    ...(hasPods ? [PODS_FILE] : []),
    ...(hasNodes ? [NODES_FILE] : []),
    ...(hasPrices ? [PRICES_FILE] : []),
    ...(hasController ? [CONTROLLER_FILE] : []),
  ]) {
    const want = manifest.files?.[name];
    const got = bytes.files[name];
    if (!want) problems.push(`${MANIFEST_FILE} lists no ${name}`);
    else if (!got) problems.push(`${name} is missing`);
    else if (createHash("sha256").update(got).digest("hex") !== want.sha256)
      problems.push(`${name}: sha256 differs from the manifest (${got.length} bytes, manifest says ${want.bytes})`);
  }
  if (problems.length) throw new DatasetIntegrityError(problems);

  const cb = table("chargeback.csv", bytes.files["chargeback.csv"]!, CHARGEBACK_COLUMNS, SINGLE_CLUSTER_COLUMNS.chargeback, problems);
  const dl = table("usage-daily.csv", bytes.files["usage-daily.csv"]!, DAILY_COLUMNS, SINGLE_CLUSTER_COLUMNS.daily, problems);
  const cp = table("capacity.csv", bytes.files["capacity.csv"]!, CAPACITY_COLUMNS, SINGLE_CLUSTER_COLUMNS.capacity, problems);
  const pd = hasPods ? table(PODS_FILE, bytes.files[PODS_FILE]!, POD_COLUMNS, SINGLE_CLUSTER_COLUMNS.pods, problems) : undefined;
  let prices: PriceSnapshot | undefined;
  if (hasPrices)
    try {
      prices = parsePriceSnapshot(bytes.files[PRICES_FILE]!.toString("utf8"));
    } catch (e) {
      problems.push(`${PRICES_FILE}: not a price snapshot: ${(e as Error).message.slice(0, 300)}`);
    }
  const ct = hasController
    ? table(CONTROLLER_FILE, bytes.files[CONTROLLER_FILE]!, CONTROLLER_COLUMNS, SINGLE_CLUSTER_COLUMNS.controller, problems)
    : undefined;
  const nd = hasNodes ? table(NODES_FILE, bytes.files[NODES_FILE]!, NODE_COLUMNS, SINGLE_CLUSTER_COLUMNS.nodes, problems) : undefined;
  if (problems.length) throw new DatasetIntegrityError(problems);

  // cluster × tenant × namespace × GPU model × instance type × capacity type, as every row file spells it
  const rowSplit = (r: Record<string, string>) => ({
    cluster: text(r.cluster!),
    tenantId: text(r.tenant_id!),
    tenantName: text(r.tenant_name!),
    namespace: text(r.namespace!),
    gpuModel: text(r.gpu_model!),
    instanceType: text(r.instance_type!),
    capacityType: cap(r.capacity_type),
  });
  return {
    manifest,
    manifestSha256: createHash("sha256").update(bytes.manifest).digest("hex"),
    chargebackCsv: bytes.files["chargeback.csv"]!,
    ...(prices ? { prices } : {}),
    chargeback: cb.map((r) => ({
      ...rowSplit(r),
      allocatedGpuHours: dec(r.allocated_gpu_hours),
      usedGpuHours: dec(r.used_gpu_hours),
      avgUtilization: dec(r.avg_utilization),
      correctionFactor: dec(r.correction_factor),
      billableGpuHours: dec(r.billable_gpu_hours),
      unitPrice: dec(r.unit_price),
      cost: dec(r.cost),
    })),
    daily: dl.map((r) => ({
      day: r.day!,
      ...rowSplit(r),
      allocatedGpuHours: dec(r.allocated_gpu_hours),
      usedGpuHours: dec(r.used_gpu_hours),
    })),
    capacity: cp.map((r) => ({
      cluster: text(r.cluster!),
      nodeGroup: text(r.node_group!),
      gpuModel: text(r.gpu_model!),
      instanceType: text(r.instance_type!),
      capacityType: cap(r.capacity_type),
      nodes: Number(r.nodes),
      nodeGpuHours: dec(r.node_gpu_hours),
      allocatedGpuHours: dec(r.allocated_gpu_hours),
      idleGpuHours: dec(r.idle_gpu_hours),
      idleRatio: dec(r.idle_ratio),
      unitPrice: dec(r.unit_price),
      idleCost: dec(r.idle_cost),
    })),
    ...(pd
      ? {
          pods: pd.map((r) => ({
            ...rowSplit(r),
            pod: text(r.pod!),
            node: text(r.node!),
            allocatedGpuHours: dec(r.allocated_gpu_hours),
            usedGpuHours: dec(r.used_gpu_hours),
            avgUtilization: dec(r.avg_utilization),
          })),
        }
      : {}),
    ...(ct
      ? {
          controller: ct.map((r) => ({
            cluster: text(r.cluster!),
            nodeGroup: text(r.node_group!),
            instanceType: text(r.instance_type!),
            capacityType: text(r.capacity_type!),
            nodesReclaimed: Number(r.nodes_reclaimed),
            scaleOuts: Number(r.scale_outs),
            nodesAdded: Number(r.nodes_added),
            gpuNodeHoursSaved: dec(r.gpu_node_hours_saved),
            unitPrice: dec(r.unit_price),
            savedCost: dec(r.saved_cost),
          })),
        }
      : {}),
    ...(bytes.files[RECONCILIATION_FILE] ? { reconciliation: csvRecords(bytes.files[RECONCILIATION_FILE]) } : {}),
    ...(nd
      ? {
          nodes: nd.map((r) => ({
            cluster: text(r.cluster!),
            node: text(r.node!),
            providerId: text(r.provider_id!),
            nodeGroup: text(r.node_group!),
            gpuModel: text(r.gpu_model!),
            instanceType: text(r.instance_type!),
            capacityType: cap(r.capacity_type),
            nodeGpuHours: dec(r.node_gpu_hours),
            unitPrice: dec(r.unit_price),
            capacityCost: dec(r.capacity_cost),
          })),
        }
      : {}),
  };
}
