/** CloudWatch metric the completeness check publishes: 1 = the month has no manifest (alarm), 0 = complete. */
export const MANIFEST_MISSING_METRIC = "MonthManifestMissing";

export interface CompletenessDecision {
  month: string;
  complete: boolean;
  /** Manifest keys expected but absent. */
  missing: string[];
  /** The value to publish as MANIFEST_MISSING_METRIC. */
  metricValue: 0 | 1;
  reason: string;
}

/**
 * Is the month complete? It is when every expected manifest exists (one per
 * dataset today; one per cluster when several clusters meter into the month).
 * Pure: the caller looked the keys up; this decides and says why.
 */
export function decideMonthComplete(
  month: string,
  present: Record<string, boolean>,
  clusterStages?: Record<string, boolean>,
): CompletenessDecision {
  const keys = Object.keys(present).sort();
  if (keys.length === 0) throw new Error("no manifest keys to check");
  const missing = keys.filter((k) => !present[k]);
  const complete = missing.length === 0;
  return {
    month,
    complete,
    missing,
    metricValue: complete ? 0 : 1,
    reason: complete
      ? `${month} is complete: ${keys.length === 1 ? "its manifest exists" : `all ${keys.length} manifests exist`}`
      : `${month} is not complete: no ${missing.join(", ")} — the month was not metered (or its run failed); re-run it${stagesNote(clusterStages)}`,
  };
}

/**
 * With several clusters, which ones a failed run left staged: the re-run (a retry) meters only
 * the others, and the clusters without a stage are where to look first (their Prometheus).
 */
function stagesNote(stages: Record<string, boolean> | undefined): string {
  if (!stages || Object.keys(stages).length === 0) return "";
  const ids = Object.keys(stages).sort();
  const staged = ids.filter((c) => stages[c]);
  const notStaged = ids.filter((c) => !stages[c]);
  return `. Clusters without a stage: ${notStaged.length ? notStaged.join(", ") : "none"}; staged by a failed run: ${staged.length ? staged.join(", ") : "none"}`;
}
