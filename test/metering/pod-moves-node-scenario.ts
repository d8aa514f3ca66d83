import type { ScenarioSeries } from "../../functions/demo/local-prometheus.js";

/**
 * db-0's two GPU request series when a Spot interruption reschedules it under the same name:
 * 2 GPUs on spot-1 for minutes 0–61, then on od-1 for minutes 64–95 (a new series: kube-state-metrics
 * labels a request with the node it is bound to).
 */
export function dbPodMovesNode(series: ScenarioSeries): void {
  series(
    "kube_pod_container_resource_requests",
    'container="db",namespace="team-data",node="spot-1",pod="db-0",resource="nvidia_com_gpu",unit="integer"',
    0,
    62,
    () => 2,
  );
  series(
    "kube_pod_container_resource_requests",
    'container="db",namespace="team-data",node="od-1",pod="db-0",resource="nvidia_com_gpu",unit="integer"',
    64,
    96,
    () => 2,
  );
}
