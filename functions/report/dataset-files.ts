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
import { monthDirName } from "./month-dir.js";
import { BadInputError } from "../core/errors.js";

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
 * The dataset writer neutralises every string cell, including money it prints as a string,
 * so a negative amount (idle cost of an oversubscribed node group) arrives as `'-12.34`.
 */
const dec = (s: string | undefined) => new D(s && s !== "" ? s.replace(/^'(?=-)/, "") : "0");
const cap = (s: string | undefined): CapacityType => (s === "spot" ? "spot" : "on-demand");
const verbatim = (s: string) => s;

type CsvRecord = Record<string, string>;

/** How each field of a line is read from its cell; the cell is the column the writer names after the field (`nodeGpuHours` → `node_gpu_hours`). */
type LineReader<T> = { [K in keyof T]-?: (cell: string) => T[K] };

/** A row file of the dataset: its name, its columns with and without `cluster`, and how a line of it reads back. */
interface RowFile<T> {
  name: string;
  columns: readonly string[];
  withoutCluster: readonly string[];
  line: (r: CsvRecord) => T;
}

function rowFile<T>(name: string, columns: readonly string[], withoutCluster: readonly string[], reader: LineReader<T>): RowFile<T> {
  const fields = Object.entries<(cell: string) => unknown>(reader).map(([field, read]) => ({
    field,
    column: field.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`),
    read,
  }));
  return { name, columns, withoutCluster, line: (r) => Object.fromEntries(fields.map((f) => [f.field, f.read(r[f.column]!)])) as T };
}

/** cluster × tenant × namespace × GPU model × instance type × capacity type, as every row file spells it */
const ROW_SPLIT = {
  cluster: text,
  tenantId: text,
  tenantName: text,
  namespace: text,
  gpuModel: text,
  instanceType: text,
  capacityType: cap,
};

const CHARGEBACK_ROWS = rowFile<ChargebackLine>("chargeback.csv", CHARGEBACK_COLUMNS, SINGLE_CLUSTER_COLUMNS.chargeback, {
  ...ROW_SPLIT,
  allocatedGpuHours: dec,
  usedGpuHours: dec,
  avgUtilization: dec,
  correctionFactor: dec,
  billableGpuHours: dec,
  unitPrice: dec,
  cost: dec,
});

const DAILY_ROWS = rowFile<DailyLine>("usage-daily.csv", DAILY_COLUMNS, SINGLE_CLUSTER_COLUMNS.daily, {
  day: verbatim,
  ...ROW_SPLIT,
  allocatedGpuHours: dec,
  usedGpuHours: dec,
});

const CAPACITY_ROWS = rowFile<CapacityLine>("capacity.csv", CAPACITY_COLUMNS, SINGLE_CLUSTER_COLUMNS.capacity, {
  cluster: text,
  nodeGroup: text,
  gpuModel: text,
  instanceType: text,
  capacityType: cap,
  nodes: Number,
  nodeGpuHours: dec,
  allocatedGpuHours: dec,
  idleGpuHours: dec,
  idleRatio: dec,
  unitPrice: dec,
  idleCost: dec,
});

const POD_ROWS = rowFile<PodLine>(PODS_FILE, POD_COLUMNS, SINGLE_CLUSTER_COLUMNS.pods, {
  ...ROW_SPLIT,
  pod: text,
  node: text,
  allocatedGpuHours: dec,
  usedGpuHours: dec,
  avgUtilization: dec,
});

const CONTROLLER_ROWS = rowFile<ControllerLine>(CONTROLLER_FILE, CONTROLLER_COLUMNS, SINGLE_CLUSTER_COLUMNS.controller, {
  cluster: text,
  nodeGroup: text,
  instanceType: text,
  capacityType: text,
  nodesReclaimed: Number,
  scaleOuts: Number,
  nodesAdded: Number,
  gpuNodeHoursSaved: dec,
  unitPrice: dec,
  savedCost: dec,
});

const NODE_ROWS = rowFile<NodeLine>(NODES_FILE, NODE_COLUMNS, SINGLE_CLUSTER_COLUMNS.nodes, {
  cluster: text,
  node: text,
  providerId: text,
  nodeGroup: text,
  gpuModel: text,
  instanceType: text,
  capacityType: cap,
  nodeGpuHours: dec,
  unitPrice: dec,
  capacityCost: dec,
});

/**
 * A row file's CSV as records by column name, in either layout: with a `cluster` column
 * (named clusters) or without it (a single-cluster month, and every schema-1
 * month), whose rows are the default cluster.
 */
function table({ name, columns, withoutCluster }: RowFile<unknown>, body: Buffer, problems: string[]): CsvRecord[] {
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
    const rec: CsvRecord = Object.fromEntries(cols.map((c, j) => [c, r[j] ?? ""]));
    if (singleCluster) rec.cluster = DEFAULT_CLUSTER_ID;
    return rec;
  });
}

/** A CSV's lines as header-keyed records. */
function csvRecords(body: Buffer): CsvRecord[] {
  const [head = [], ...rows] = parseCsv(body.toString("utf8"));
  return rows.map((r) => Object.fromEntries(head.map((h, i) => [h, (r[i] ?? "").replace(/^'(?=-)/, "")])));
}

const sha256 = (b: Buffer) => createHash("sha256").update(b).digest("hex");

/** `{ [key]: value }`, or nothing when there is no value: a file the month does not have leaves its field out. */
const optional = <K extends string, V>(key: K, value: V | undefined) =>
  (value === undefined ? {} : { [key]: value }) as Partial<Record<K, V>>;

/**
 * Parses a month's dataset read back from disk or S3 and checks every file against the
 * manifest (bytes and sha256), so a report always stands on exactly the data it names.
 */
export function parseDataset(month: string, bytes: DatasetBytes): ParsedDataset {
  const manifest = readManifest(bytes.manifest);
  // The files added within schema 2 are optional, but when the manifest lists one, it is checked like the rest.
  const listed = (name: string) => !!manifest.files?.[name];
  checkAgainstManifest(month, manifest, bytes, listed);

  const problems: string[] = [];
  const records = (file: RowFile<unknown>) => table(file, bytes.files[file.name]!, problems);
  const cb = records(CHARGEBACK_ROWS);
  const dl = records(DAILY_ROWS);
  const cp = records(CAPACITY_ROWS);
  const pd = listed(PODS_FILE) ? records(POD_ROWS) : undefined;
  const prices = listed(PRICES_FILE) ? priceSnapshot(bytes.files[PRICES_FILE]!, problems) : undefined;
  const ct = listed(CONTROLLER_FILE) ? records(CONTROLLER_ROWS) : undefined;
  const nd = listed(NODES_FILE) ? records(NODE_ROWS) : undefined;
  if (problems.length) throw new DatasetIntegrityError(problems);

  const reconciliation = bytes.files[RECONCILIATION_FILE];
  return {
    manifest,
    manifestSha256: sha256(bytes.manifest),
    chargebackCsv: bytes.files[CHARGEBACK_ROWS.name]!,
    ...optional("prices", prices),
    chargeback: cb.map(CHARGEBACK_ROWS.line),
    daily: dl.map(DAILY_ROWS.line),
    capacity: cp.map(CAPACITY_ROWS.line),
    ...optional("pods", pd?.map(POD_ROWS.line)),
    ...optional("controller", ct?.map(CONTROLLER_ROWS.line)),
    ...optional("reconciliation", reconciliation && csvRecords(reconciliation)),
    ...optional("nodes", nd?.map(NODE_ROWS.line)),
  };
}

function readManifest(body: Buffer): Manifest {
  try {
    return JSON.parse(body.toString("utf8")) as Manifest;
  } catch (e) {
    throw new DatasetIntegrityError([`${MANIFEST_FILE}: not JSON: ${(e as Error).message}`]);
  }
}

/** Every file the month must have, and every optional one its manifest lists, is there with the manifest's sha256. */
function checkAgainstManifest(month: string, manifest: Manifest, bytes: DatasetBytes, listed: (name: string) => boolean): void {
  const problems: string[] = [];
  if (manifest.month !== month) problems.push(`${MANIFEST_FILE} is for month ${manifest.month}, not ${month}`);
  const required = [CHARGEBACK_ROWS.name, DAILY_ROWS.name, CAPACITY_ROWS.name];
  for (const name of [...required, ...[PODS_FILE, NODES_FILE, PRICES_FILE, CONTROLLER_FILE].filter(listed)]) {
    const want = manifest.files?.[name];
    const got = bytes.files[name];
    if (!want) problems.push(`${MANIFEST_FILE} lists no ${name}`);
    else if (!got) problems.push(`${name} is missing`);
    else if (sha256(got) !== want.sha256)
      problems.push(`${name}: sha256 differs from the manifest (${got.length} bytes, manifest says ${want.bytes})`);
  }
  if (problems.length) throw new DatasetIntegrityError(problems);
}

function priceSnapshot(body: Buffer, problems: string[]): PriceSnapshot | undefined {
  try {
    return parsePriceSnapshot(body.toString("utf8"));
  } catch (e) {
    problems.push(`${PRICES_FILE}: not a price snapshot: ${(e as Error).message.slice(0, 300)}`);
    return undefined;
  }
}
