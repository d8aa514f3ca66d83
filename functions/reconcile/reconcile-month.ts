import type { BaseConfig } from "../core/config.js";
import { BadInputError } from "../core/errors.js";
import { billingMonth } from "../core/month.js";
import { RECONCILIATION_FILE, reconcile, reconciliationCsv, type CurExtract, type Reconciliation } from "../core/reconciliation.js";
import type { ParsedDataset } from "../report/dataset-files.js";

/** Where the AWS cost comes from: a CUR 2.0 / Data Exports table (a local Parquet file; Athena would be another adapter). */
export interface CurSource {
  readonly location: string;
  /** The export's EC2 instance-hour line items whose usage starts inside the window, and how far the export reaches. */
  read(window: { startMs: number; endMs: number }): Promise<CurExtract>;
}

/** Where reconciliation.csv goes: beside the month's dataset (not in its manifest: the CUR arrives after the dataset is published). */
export interface ReconciliationSink {
  write(month: string, name: string, body: Buffer): Promise<string>;
}

/** The published month reconcile reads (delivery's dataset sources implement it, on disk or in S3). */
export interface MonthDataset {
  readonly location: string;
  read(month: string): Promise<ParsedDataset>;
}

export interface ReconcileDeps {
  dataset: MonthDataset;
  cur: CurSource;
  sink: ReconciliationSink;
}

/** The month was metered before nodes.csv existed: there is nothing to match the bill to. */
export class NoNodeDetailError extends BadInputError {
  constructor(month: string) {
    super(
      `the dataset of ${month} has no nodes.csv (metered before node detail): meter the month again (gpu-billing meter --month ${month} --refresh) to reconcile it`,
    );
    this.name = "NoNodeDetailError";
  }
}

/**
 * Reconciles one metered month with the AWS bill: the dataset's nodes (never Prometheus)
 * against the CUR's instance hours over the same window, written as reconciliation.csv.
 */
export async function reconcileMonth(
  deps: ReconcileDeps,
  cfg: BaseConfig,
  month: string,
): Promise<{ reconciliation: Reconciliation; location: string; manifestSha256: string }> {
  const ds = await deps.dataset.read(month);
  if (!ds.nodes) throw new NoNodeDetailError(month);
  const bm = billingMonth(month, cfg.timeZone);
  const window = { startMs: bm.startMs, endMs: bm.endMs };
  const cur = await deps.cur.read(window);
  const reconciliation = reconcile({
    month,
    currency: ds.manifest.currency,
    currencyDecimals: cfg.currencyDecimals,
    window,
    gpuInstanceTypes: new Set(Object.keys(cfg.prices)),
    nodes: ds.nodes,
    cur,
  });
  const location = await deps.sink.write(month, RECONCILIATION_FILE, reconciliationCsv(reconciliation, cfg.currencyDecimals));
  return { reconciliation, location, manifestSha256: ds.manifestSha256 };
}
