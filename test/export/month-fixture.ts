import { computeChargeback, type Chargeback } from "../../functions/core/chargeback.js";
import { billingMonth } from "../../functions/core/month.js";
import type { MonthUsage, NodeRecord, PodUsageRecord, UsageRecord } from "../../functions/core/usage.js";
import { sumPodDays } from "../../functions/core/pod-minutes.js";
import { referenceConfig } from "../core/fixtures.js";
import { mulberry32 } from "../../functions/demo/month-generator.js";

const rng = mulberry32;

const NODES = [
  { node: "p4d-od-1", instanceType: "p4d.24xlarge", capacityLabel: "on-demand", gpus: 8, nodeGroup: "a100-od" },
  { node: "p4d-spot-1", instanceType: "p4d.24xlarge", capacityLabel: "spot", gpus: 8, nodeGroup: "a100-spot" },
  { node: "g5-spot-1", instanceType: "g5.12xlarge", capacityLabel: "SPOT", gpus: 4, nodeGroup: "a10g-spot" },
  { node: "g4dn-od-1", instanceType: "g4dn.12xlarge", capacityLabel: "ON_DEMAND", gpus: 4, nodeGroup: "t4-od" },
];
const NAMESPACES = ["suwon-traffic", "seongnam-cctv", "yongin-ai", "team-ai", "team-data-etl", "project-llm-train", "orphan-ns", "=cmd|x"];

/**
 * A month of usage across every tenant, Spot and On-Demand, four instance
 * types, idle capacity and an unallocated namespace, priced by the real core.
 */
export function fixtureChargeback(month: string, seed: number): Chargeback {
  const cfg = referenceConfig();
  const r = rng(seed);
  const usage: UsageRecord[] = [];
  const nodes: NodeRecord[] = [];
  const pods: PodUsageRecord[] = [];
  for (const d of billingMonth(month, cfg.timeZone).days) {
    for (const n of NODES) {
      nodes.push({
        day: d.day,
        node: n.node,
        instanceType: n.instanceType,
        capacityLabel: n.capacityLabel,
        gpuReplicas: 1,
        nodeMinutes: 1440,
        nodeGroup: n.nodeGroup,
      });
      let free = n.gpus;
      for (const ns of NAMESPACES) {
        if (free === 0 || r() < 0.6) continue;
        const gpus = 1 + Math.floor(r() * Math.min(free, 3));
        free -= gpus;
        const minutes = 60 + Math.floor(r() * 1380);
        const util = Math.round(r() * 1000) / 1000;
        usage.push({
          day: d.day,
          namespace: ns,
          node: n.node,
          resource: "nvidia_com_gpu",
          requestMinutes: gpus * minutes,
          usedMinutes: gpus * minutes * util,
        });
        // One pod per namespace, node and day (a week-long job name), so the month has pod detail too.
        pods.push({
          namespace: ns,
          pod: `${ns}-job-${d.day.slice(8, 9)}`,
          node: n.node,
          resource: "nvidia_com_gpu",
          requestMinutes: gpus * minutes,
          usedMinutes: gpus * minutes * util,
        });
      }
    }
  }
  const mu: MonthUsage = { usage, nodes, namespaces: [{ namespace: "orphan-ns", tenantLabel: "suwon" }], pods: sumPodDays(pods) };
  return computeChargeback(mu, cfg, month);
}
