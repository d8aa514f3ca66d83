import { decideMonthComplete, type CompletenessDecision } from "../core/month-completeness.js";

/** Where a month's published manifest and each cluster's stage manifest are, and whether they exist. */
export interface MonthManifests {
  /** The manifest's location, as the decision names it when it is missing. */
  manifestLocation(month: string): string;
  manifestExists(month: string): Promise<boolean>;
  /** Whether a failed run left this cluster's stage of the month (its stage manifest). */
  stageExists(month: string, cluster: string): Promise<boolean>;
}

/** Publishes the completeness metric (1 = the month has no manifest, so the alarm fires). */
export interface CompletenessMetric {
  publish(value: 0 | 1, at: Date): Promise<void>;
}

/**
 * Is the month metered? Looks the manifest up, and with several clusters and no manifest
 * which clusters a failed run staged, then publishes the decision's metric. A failure to look
 * or to publish throws: the function's error alarm fires instead of a false "complete".
 */
export async function checkMonthComplete(
  month: string,
  clusterIds: readonly string[] | undefined,
  manifests: MonthManifests,
  metric: CompletenessMetric,
  now: Date,
): Promise<CompletenessDecision> {
  const present = await manifests.manifestExists(month);
  const stages =
    !present && clusterIds?.length
      ? Object.fromEntries(await Promise.all(clusterIds.map(async (c) => [c, await manifests.stageExists(month, c)] as const)))
      : undefined;
  const decision = decideMonthComplete(month, { [manifests.manifestLocation(month)]: present }, stages);
  await metric.publish(decision.metricValue, now);
  return decision;
}
