import type { AutoScalingClient } from "@aws-sdk/client-auto-scaling";
import type { CoreV1Api } from "@kubernetes/client-node";
import type { PrometheusClient } from "./prometheus-client.js";
import { describeNodeGroups } from "./autoscaling-node-groups.js";
import { listNodes, listPods } from "./kubernetes-nodes.js";
import { fetchControllerMetrics, type ControllerQueryOptions } from "./controller-prometheus.js";
import { poolOf, type ControllerPolicy } from "../controller/policy.js";
import { withGroupFreshness, type Snapshot, type SourceError } from "../controller/snapshot.js";

/**
 * Reads Auto Scaling, Kubernetes and Prometheus side by side. A source that
 * fails becomes an entry in `errors` (the plan then halts) — never an empty
 * list that would read as "no pods" or "no utilization".
 */
export async function gatherSnapshot(
  deps: { autoScaling: AutoScalingClient; kube: CoreV1Api; prometheus: PrometheusClient },
  policy: ControllerPolicy,
  now: Date,
  query: Partial<ControllerQueryOptions> = {},
): Promise<Snapshot> {
  const poolByGroup = new Map(policy.nodeGroups.map((g) => [g.name, poolOf(g)]));
  const [groups, nodes, pods, metrics] = await Promise.allSettled([
    describeNodeGroups(deps.autoScaling, policy.nodeGroups, now.getTime() - policy.spotRetryAfterMinutes * 60_000),
    listNodes(deps.kube),
    listPods(deps.kube, (ng) => poolByGroup.get(ng)),
    fetchControllerMetrics(deps.prometheus, now, {
      idleWindowSeconds: policy.idleMinutes * 60,
      scaleOutWindowSeconds: policy.scaleOutWindowMinutes * 60,
      stepSeconds: policy.sampleIntervalSeconds,
      ...query,
    }),
  ]);
  const errors: SourceError[] = [];
  const why = (r: PromiseRejectedResult) => `${(r.reason as Error)?.name ?? "Error"}: ${(r.reason as Error)?.message ?? String(r.reason)}`;
  if (groups.status === "rejected") errors.push({ source: "autoscaling", message: why(groups) });
  if (nodes.status === "rejected") errors.push({ source: "kubernetes", message: why(nodes) });
  if (pods.status === "rejected") errors.push({ source: "kubernetes", message: why(pods) });
  if (metrics.status === "rejected") errors.push({ source: "prometheus", message: why(metrics) });
  const nodeList = nodes.status === "fulfilled" ? nodes.value : [];
  return {
    now,
    groups: groups.status === "fulfilled" ? groups.value : [],
    nodes: nodeList,
    pods: pods.status === "fulfilled" ? pods.value : [],
    metrics: metrics.status === "fulfilled" ? withGroupFreshness(metrics.value, nodeList) : { gpus: [], groups: [] },
    errors,
  };
}
