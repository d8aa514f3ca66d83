import { createHash } from "node:crypto";
import type { Chargeback } from "./chargeback.js";
import type { Dec } from "./decimal.js";
import { DEFAULT_CLUSTER_ID } from "./config.js";
import type { QueryWindowStats } from "./query-windows.js";
import { PRICES_FILE, renderPriceSnapshot, type PriceSnapshot } from "./price-snapshot.js";
import type { ControllerMonth } from "./controller-savings.js";
import {
  CAPACITY_TABLE,
  CHARGEBACK_TABLE,
  CONTROLLER_TABLE,
  DAILY_TABLE,
  MONEY,
  NODE_TABLE,
  POD_TABLE,
  type Cell,
  type DatasetColumn,
} from "./dataset-tables.js";

const names = (table: readonly DatasetColumn<never>[]) => table.map((c) => c.name);

export const CHARGEBACK_COLUMNS = names(CHARGEBACK_TABLE);

export const DAILY_COLUMNS = names(DAILY_TABLE);

export const CAPACITY_COLUMNS = names(CAPACITY_TABLE);

export const POD_COLUMNS = names(POD_TABLE);

export const PODS_FILE = "pods.csv";

export const CONTROLLER_COLUMNS = names(CONTROLLER_TABLE);

export const CONTROLLER_FILE = "controller-actions.csv";

/** How the savings are estimated, recorded in the manifest beside the figures. */
export const CONTROLLER_ESTIMATE =
  "From the controller's audit log of the month: acted-on reclaims (outcome 'instance terminating') and scale-outs ('desired capacity set'), dry-run decisions excluded. " +
  "A reclaimed node saves its GPUs × the time from its reclaim to the month end, or to a later scale-out in the same node group, which ends the oldest outstanding reclaims first. " +
  "Reclaims of earlier months and capacity added by anyone else are not seen. saved_cost = gpu_node_hours_saved × the node group's capacity unit_price, rounded half-up to the currency's minor unit per row.";

export const NODE_COLUMNS = names(NODE_TABLE);

export const NODES_FILE = "nodes.csv";

export const MANIFEST_FILE = "manifest.json";
/**
 * 2: the per-cluster inputs in the manifest, and a `cluster` column in every CSV when the month
 * was metered from named clusters (config `clusters`). A single-cluster month keeps the layout
 * finance was promised (chargeback.csv with exactly its 15 columns), so readers go by the header.
 * pods.csv and nodes.csv were added within version 2: readers ignore files they do not know, and read them only when the manifest lists them.
 * prices.json (and `inputs.prices`) likewise: a month without it was priced from its config's table.
 */
export const DATASET_SCHEMA_VERSION = 2;

/**
 * The columns without `cluster`: a single-cluster month (and every schema-1 month) is written
 * this way; readers take its rows as the default cluster.
 */
export const SINGLE_CLUSTER_COLUMNS = {
  chargeback: CHARGEBACK_COLUMNS.filter((c) => c !== "cluster"),
  daily: DAILY_COLUMNS.filter((c) => c !== "cluster"),
  capacity: CAPACITY_COLUMNS.filter((c) => c !== "cluster"),
  pods: POD_COLUMNS.filter((c) => c !== "cluster"),
  controller: CONTROLLER_COLUMNS.filter((c) => c !== "cluster"),
  nodes: NODE_COLUMNS.filter((c) => c !== "cluster"),
};

/** Does the month come from named clusters (config `clusters`), so its files need a `cluster` column? */
export function hasNamedClusters(cb: Chargeback, inputs: DatasetInputs): boolean {
  const named = (id: string | undefined) => id !== undefined && id !== DEFAULT_CLUSTER_ID;
  return (
    (inputs.clusters ?? []).some((c) => named(c.id)) ||
    [...cb.rows, ...cb.capacity, ...cb.daily, ...(cb.pods ?? [])].some((r) => named(r.cluster))
  );
}

/** One cluster's contribution to a month, as its staged manifest vouched for it. */
export interface ClusterInput {
  id: string;
  /** Redacted (no credentials). */
  prometheusUrl: string;
  /**
   * sha256 of the cluster's staged usage.json the month was combined from (its
   * staged manifest vouches for the same hash). Not the staged manifest's own
   * hash: that carries the metering time, and a re-run must stay byte-identical.
   */
  usageSha256: string;
  /** Days metered with the per-tick fallback queries. */
  perTickDays: string[];
  /**
   * How the cluster's query windows went: billing days, how many were split because the query
   * engine refused them, the smallest window queried (seconds). The one manifest field a split
   * run of the same data changes: the files are byte-identical.
   */
  queryWindows?: QueryWindowStats;
}

/** What the run was asked to do; recorded in the manifest so a re-run can be compared. */
export interface DatasetInputs {
  month: string;
  timeZone: string;
  startIso: string;
  endIso: string;
  prometheusUrl: string;
  configHash: string;
  /** Per-cluster inputs (the combine step fills them; absent only for callers rendering a bare chargeback). */
  clusters?: ClusterInput[];
}

export interface DatasetFile {
  name: string;
  body: Buffer;
  rows: number;
}

export interface Dataset {
  files: DatasetFile[];
  manifest: DatasetFile;
}

/**
 * Spreadsheet programs run text that starts with = + - @ (or a tab/CR) as a
 * formula; labels come from tenants' namespaces and config, so neutralise them.
 * A plain decimal ("-4127.63", a negative amount) runs nothing and must stay a
 * number for the spreadsheet, so it is left alone.
 */
export function neutraliseFormula(text: string): string {
  if (/^-?\d+(\.\d+)?$/.test(text)) return text;
  return /^[=+\-@\t\r]/.test(text) ? `'${text}` : text;
}

function csvField(v: string | number | Dec, isText: boolean): string {
  let s = typeof v === "string" ? v : v.toString();
  if (typeof v !== "string" && typeof v !== "number") s = (v as Dec).toFixed();
  if (isText) s = neutraliseFormula(s);
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/** RFC 4180 CSV, CRLF-free, UTF-8 without BOM; numbers printed in plain notation. */
export function toCsv(columns: readonly string[], rows: (string | number | Dec)[][]): Buffer {
  const lines = [columns.join(",")];
  for (const r of rows) lines.push(r.map((v) => csvField(v, typeof v === "string")).join(","));
  return Buffer.from(lines.join("\n") + "\n", "utf8");
}

const sha256 = (b: Buffer) => createHash("sha256").update(b).digest("hex");

/**
 * Renders the month's chargeback as its dataset files. Nothing time-dependent
 * goes inside, so the same inputs give byte-identical files on every re-run.
 */
export function renderDataset(cb: Chargeback, inputs: DatasetInputs, prices?: PriceSnapshot, controller?: ControllerMonth): Dataset {
  const files = datasetFiles(cb, inputs, prices, controller);
  const manifest = datasetManifest(cb, inputs, files, prices, controller);
  const body = Buffer.from(JSON.stringify(manifest, null, 2) + "\n", "utf8");
  return { files, manifest: { name: MANIFEST_FILE, body, rows: 0 } };
}

/** The month's files, in the order the manifest lists them: the CSV tables and prices.json. */
function datasetFiles(cb: Chargeback, inputs: DatasetInputs, prices?: PriceSnapshot, controller?: ControllerMonth): DatasetFile[] {
  const money = (d: Dec) => d.toFixed(cb.currencyDecimals);
  // Rows are built with every column; a single-cluster month drops `cluster` (always the second field).
  const withCluster = hasNamedClusters(cb, inputs);
  const csv = <R>(table: DatasetColumn<R>[], rows: R[]) => {
    const cells = rows.map((r) =>
      table.map((c): Cell => {
        const v = c.value(r, cb);
        return c.type === MONEY ? money(v as Dec) : v;
      }),
    );
    const columns = names(table as DatasetColumn<never>[]);
    return withCluster
      ? toCsv(columns, cells)
      : toCsv(
          columns.filter((c) => c !== "cluster"),
          cells.map((r) => r.filter((_, i) => i !== 1)),
        );
  };
  const files: DatasetFile[] = [
    { name: "chargeback.csv", body: csv(CHARGEBACK_TABLE, cb.rows), rows: cb.rows.length },
    { name: "usage-daily.csv", body: csv(DAILY_TABLE, cb.daily), rows: cb.daily.length },
    { name: "capacity.csv", body: csv(CAPACITY_TABLE, cb.capacity), rows: cb.capacity.length },
  ];
  if (cb.pods) files.push({ name: PODS_FILE, body: csv(POD_TABLE, cb.pods), rows: cb.pods.length });
  // Every price the month was billed at, and where it came from (price-snapshot.ts).
  if (prices) files.push({ name: PRICES_FILE, body: renderPriceSnapshot(prices), rows: prices.nodes.length });
  // Always written when metering summarised the controller, even empty: "no actions" is a fact the report states.
  if (controller) files.push({ name: CONTROLLER_FILE, body: csv(CONTROLLER_TABLE, controller.rows), rows: controller.rows.length });
  if (cb.nodes) files.push({ name: NODES_FILE, body: csv(NODE_TABLE, cb.nodes), rows: cb.nodes.length });
  return files;
}

/** manifest.json: the month's inputs, every file with its hash, the totals and how they were rounded. */
function datasetManifest(
  cb: Chargeback,
  inputs: DatasetInputs,
  files: DatasetFile[],
  prices?: PriceSnapshot,
  controller?: ControllerMonth,
): Record<string, unknown> {
  const money = (d: Dec) => d.toFixed(cb.currencyDecimals);
  const t = cb.totals;
  return {
    schemaVersion: DATASET_SCHEMA_VERSION,
    month: inputs.month,
    timeZone: inputs.timeZone,
    period: { start: inputs.startIso, end: inputs.endIso },
    currency: cb.currency,
    inputs: {
      prometheusUrl: inputs.prometheusUrl,
      configHash: inputs.configHash,
      ...(inputs.clusters ? { clusters: inputs.clusters } : {}),
      ...(prices ? { prices: { source: prices.source, ...(prices.region ? { region: prices.region } : {}) } } : {}),
    },
    files: Object.fromEntries(files.map((f) => [f.name, { rows: f.rows, bytes: f.body.length, sha256: sha256(f.body) }])),
    totals: {
      allocatedGpuHours: t.allocatedGpuHours.toFixed(),
      usedGpuHours: t.usedGpuHours.toFixed(),
      billableGpuHours: t.billableGpuHours.toFixed(),
      cost: money(t.cost),
      nodeGpuHours: t.nodeGpuHours.toFixed(),
      idleGpuHours: t.idleGpuHours.toFixed(),
      idleCost: money(t.idleCost),
    },
    rounding: roundingNote(cb, prices),
    ...(controller
      ? {
          controller: {
            clusters: controller.clusters,
            totals: {
              nodesReclaimed: controller.totals.nodesReclaimed,
              scaleOuts: controller.totals.scaleOuts,
              nodesAdded: controller.totals.nodesAdded,
              gpuNodeHoursSaved: controller.totals.gpuNodeHoursSaved.toFixed(),
              savedCost: money(controller.totals.savedCost),
            },
            estimate: CONTROLLER_ESTIMATE,
          },
        }
      : {}),
    warnings: cb.warnings,
  };
}

/** How the dataset's numbers were rounded, with a sentence for each file that has rules of its own. */
function roundingNote(cb: Chargeback, prices?: PriceSnapshot): string {
  return (
    "GPU-hours rounded half-up to 6 decimals; billable = allocated × correction_factor; cost = billable_gpu_hours × unit_price as printed, rounded half-up to the currency's minor unit once per row; totals are sums of the rows." +
    (cb.pods
      ? " pods.csv apportions each row's published allocated and used GPU-hours over its pods (largest remainder at 1e-6), so a row's pods add up to it exactly; a pod has no cost of its own (cost is rounded per row): its share is allocated_gpu_hours × the row's correction_factor × unit_price."
      : "") +
    (prices
      ? " unit_price is a node's hourly price in prices.json ÷ its GPUs, to 10 decimals; a row (or node group) over nodes at different prices takes their GPU-hours-weighted mean."
      : "") +
    (cb.nodes ? " nodes.csv: capacity_cost = node_gpu_hours × unit_price, rounded half-up to the currency's minor unit once per node." : "")
  );
}
