import { defaultProvider } from "@aws-sdk/credential-provider-node";
import { ConfigError, configuredClusters, type Config, type MeteredCluster } from "../core/config.js";
import { createPrometheusClient, type PrometheusAuth, type PrometheusClient } from "../adapters/prometheus-client.js";

/**
 * Builds the Prometheus client a config describes. Secrets come from the
 * environment variable the config names, never from the config file itself.
 */
export function prometheusFromConfig(
  cfg: Config,
  env: Record<string, string | undefined>,
  overrides: { url?: string; onRequest?: Parameters<typeof createPrometheusClient>[0]["onRequest"] } = {},
  /** The metered cluster's settings (configuredClusters); defaults to the top-level `prometheus`. */
  settings: Config["prometheus"] = cfg.prometheus,
): PrometheusClient {
  const p = settings;
  const url = overrides.url ?? p?.url;
  if (!url) throw new Error("prometheus.url: no Prometheus URL in the config and none given (--prometheus-url / PROMETHEUS_URL)");
  const a = p?.auth ?? { type: "none" as const };
  let auth: PrometheusAuth;
  if (a.type === "bearer") {
    const token = env[a.tokenEnv];
    if (!token) throw new Error(`prometheus.auth.tokenEnv: environment variable ${a.tokenEnv} is not set`);
    auth = { type: "bearer", token };
  } else if (a.type === "sigv4") auth = { type: "sigv4", region: a.region, service: a.service, credentials: defaultProvider() };
  else auth = { type: "none" };
  return createPrometheusClient({
    url,
    auth,
    retries: p?.retries ?? 4,
    timeoutMs: (p?.timeoutSeconds ?? 120) * 1000,
    onRequest: overrides.onRequest,
  });
}

/** One Prometheus client per configured cluster, made when the cluster is first metered. */
export type PrometheusForCluster = (cluster: MeteredCluster) => PrometheusClient;

/**
 * The clients a config's clusters are metered with. `overrides.url`
 * (--prometheus-url / PROMETHEUS_URL) replaces the URL of the implicit single
 * cluster only: with `clusters`, every cluster names its own endpoint and one
 * URL for all of them would meter the same cluster twice.
 */
export function prometheusForClusters(
  cfg: Config,
  env: Record<string, string | undefined>,
  overrides: { url?: string; onRequest?: Parameters<typeof createPrometheusClient>[0]["onRequest"] } = {},
): PrometheusForCluster {
  const clusters = configuredClusters(cfg);
  if (cfg.clusters && overrides.url)
    throw new ConfigError(
      `--prometheus-url / PROMETHEUS_URL: the config has clusters (${clusters.map((c) => c.id).join(", ")}), each with its own clusters.N.prometheus.url; leave the override unset`,
      [],
    );
  const made = new Map<string, PrometheusClient>();
  return (cluster) => {
    let c = made.get(cluster.id);
    if (!c) made.set(cluster.id, (c = prometheusFromConfig(cfg, env, overrides, cluster.prometheus)));
    return c;
  };
}
