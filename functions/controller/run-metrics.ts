import type { ControllerPolicy } from "./policy.js";
import type { ControllerRecord } from "./run-controller.js";

/** One node group's figures for a run, as the controller's metrics publish them. */
export interface RunMetrics {
  nodeGroup: string;
  dryRun: boolean;
  nodesReclaimed: number;
  nodesAdded: number;
  /** GPU-hours of reclaimed capacity not given back by scale-outs, over this run's interval (see gpuHoursSavedEstimate). */
  gpuHoursSaved: number;
}

/**
 * Per node group of the policy: reclaims and added nodes that took effect, or that a dry-run
 * would have made (so a dry-run week shows what acting would have done). Counted from the
 * outcome codes, never from the prose. An instance already gone when terminated counts as
 * reclaimed here (the node left the group) though the month's savings do not count it.
 */
export function runMetricsOf(records: ControllerRecord[], policy: ControllerPolicy, gpuHoursSaved: Record<string, number>): RunMetrics[] {
  return policy.nodeGroups.map((g) => {
    let nodesReclaimed = 0;
    let nodesAdded = 0;
    for (const r of records) {
      const counted = r.outcome.code === "dry-run" || r.outcome.status === "done";
      if (!counted) continue;
      if (r.action === "terminate-instance" && r.nodeGroup === g.name) nodesReclaimed++;
      if (r.action === "set-desired-capacity" && r.nodeGroup === g.name) nodesAdded += r.desiredTo - r.desiredFrom;
    }
    return {
      nodeGroup: g.name,
      dryRun: g.dryRun || policy.killSwitch,
      nodesReclaimed,
      nodesAdded,
      gpuHoursSaved: gpuHoursSaved[g.name] ?? 0,
    };
  });
}
