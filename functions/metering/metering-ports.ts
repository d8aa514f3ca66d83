import type { Dataset } from "../core/dataset.js";
import type { StageFiles } from "../core/cluster-stage.js";

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
