import type { MeteredCluster } from "../core/config.js";
import { redactUrl } from "../core/redact-url.js";
import type { UsageSource, UsageSources } from "../metering/metering-ports.js";
import type { PrometheusClient } from "./prometheus-client.js";
import { fetchMonthUsage } from "./prometheus-usage.js";
import { fetchNodeRunSpans } from "./prometheus-node-spans.js";
import type { QueryName } from "./query-files.js";

/** How metering reaches each cluster's Prometheus. */
export interface ClusterPrometheus {
  /** The client of a single-cluster config (the implicit cluster, or a config with exactly one). */
  prometheus?: PrometheusClient;
  /** One client per configured cluster (prometheusForClusters); required when the config has several. */
  prometheusFor?: (cluster: MeteredCluster) => PrometheusClient;
}

/** The clients plus the PromQL files: all a Prometheus usage source needs. */
export interface PrometheusUsageWiring extends ClusterPrometheus {
  queries: Record<QueryName, string>;
}

/** The client for a cluster: its own, or the single client when the config has one cluster. */
export function clientResolver(deps: ClusterPrometheus, clusters: MeteredCluster[]): (c: MeteredCluster) => PrometheusClient {
  // Both set is a wiring mistake (e.g. a test replacing one of them): which one would query is not obvious.
  if (deps.prometheusFor && deps.prometheus)
    throw new Error("metering got both a single Prometheus client and one per cluster (prometheus and prometheusFor); give one");
  if (deps.prometheusFor) return deps.prometheusFor;
  if (deps.prometheus && clusters.length === 1) return () => deps.prometheus!;
  throw new Error(
    `the config has ${clusters.length} clusters (${clusters.map((c) => c.id).join(", ")}): metering needs one Prometheus client per cluster (prometheusFor / prometheusForClusters), not a single client`,
  );
}

/** One cluster's usage from its own Prometheus, with the cluster's label names and concurrency. */
export function prometheusUsageSource(client: PrometheusClient, cluster: MeteredCluster, queries: Record<QueryName, string>): UsageSource {
  const p = cluster.prometheus;
  const concurrency = p?.concurrency ?? 4;
  return {
    location: redactUrl(client.url),
    fetchMonthUsage: (window, onProgress) =>
      fetchMonthUsage(client, window, {
        queries,
        dcgmNamespaceLabel: p?.labels.dcgmNamespace ?? "namespace",
        dcgmPodLabel: p?.labels.dcgmPod ?? "pod",
        concurrency,
        onProgress,
      }),
    fetchNodeRunSpans: (window, nodes) => fetchNodeRunSpans(client, window, queries["node-run-spans"], nodes, concurrency),
  };
}

/** Every configured cluster's Prometheus usage source (the wiring is checked against the clusters first). */
export function prometheusUsageSources(w: PrometheusUsageWiring): UsageSources {
  return (clusters) => {
    const clientFor = clientResolver(w, clusters);
    return (cluster) => prometheusUsageSource(clientFor(cluster), cluster, w.queries);
  };
}
