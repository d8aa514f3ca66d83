import type { Dataset } from "../core/dataset.js";
import type { StageFiles } from "../core/cluster-stage.js";
import type { MeteredCluster } from "../core/config.js";
import type { BillingMonth } from "../core/month.js";
import type { MonthUsage } from "../core/usage.js";
import type { QueryWindowStats } from "../core/query-windows.js";
import type { RunSpan } from "../core/spot-price.js";

/*
 * Where metering writes, defined here where it is used; functions/adapters/dataset-sink.ts
 * implements both on disk and in S3, and the composition roots pass one in.
 */

/** Where a month's dataset lives, the same layout on disk and in S3: `<prefix>/month=YYYY-MM/<file>`. */
export interface DatasetSink {
  readonly location: string;
  write(month: string, dataset: Dataset): Promise<string>;
  readManifest(month: string): Promise<string | undefined>;
  /** One file of the published month (undefined: none). Absent: nothing of a published month is reused (its price snapshot). */
  readFile?(month: string, name: string): Promise<Buffer | undefined>;
  /** Per-cluster staging beside the datasets (absent: metering stages in memory, nothing survives the run). */
  readonly staging?: ClusterStaging;
}

/**
 * Per-cluster results of a month not yet published, at
 * `<prefix>/staging/month=YYYY-MM/cluster=<id>/{usage.json,manifest.json}`.
 * Outside every `month=` directory, so no dataset reader ever sees them.
 */
export interface ClusterStaging {
  readonly location: string;
  /** Stores a stage; the manifest goes last, so a stage without one is incomplete. */
  write(month: string, cluster: string, files: StageFiles): Promise<string>;
  /** What is stored (either file may be missing); undefined when nothing is. */
  read(month: string, cluster: string): Promise<Partial<StageFiles> | undefined>;
  /** Removes the month's stages of these clusters (after publishing). */
  clear(month: string, clusters: string[]): Promise<void>;
}

/** Staging that lives as long as the process (dry runs, sinks without a staging area). */
export function memoryStaging(): ClusterStaging {
  const m = new Map<string, StageFiles>();
  return {
    location: "(memory)",
    async write(month, cluster, files) {
      m.set(`${month}/${cluster}`, files);
      return `(memory)/${month}/${cluster}`;
    },
    async read(month, cluster) {
      return m.get(`${month}/${cluster}`);
    },
    async clear(month, clusters) {
      for (const c of clusters) m.delete(`${month}/${c}`);
    },
  };
}

/** One cluster's usage of a window, as its source measured it (records not yet tagged with the cluster). */
export type SourcedUsage = MonthUsage & { perTickDays: string[]; queryWindows: QueryWindowStats; queries: number };

/**
 * Where one cluster's usage comes from; functions/adapters/prometheus-usage-source.ts implements
 * it over the cluster's Prometheus, and the composition roots pass it in (functions/wiring).
 */
export interface UsageSource {
  /** Where it reads, without credentials: it goes into outcomes, the stage identity and the manifest. */
  readonly location: string;
  fetchMonthUsage(window: BillingMonth, onProgress?: (done: number, total: number) => void): Promise<SourcedUsage>;
  /** The minutes each of `nodes` ran in the window (for `prices.source: aws`). */
  fetchNodeRunSpans(window: BillingMonth, nodes: ReadonlySet<string>): Promise<Map<string, RunSpan[]>>;
}

/**
 * The source of each configured cluster. Called once per run with the config's clusters, so
 * wiring that cannot serve them (one client for several clusters) fails before any query.
 */
export type UsageSources = (clusters: MeteredCluster[]) => (cluster: MeteredCluster) => UsageSource;
