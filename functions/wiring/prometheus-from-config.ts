import { defaultProvider } from "@aws-sdk/credential-provider-node";
import { ConfigError, configuredClusters, type BaseConfig, type MeteredCluster } from "../core/config.js";
import { SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import { createPrometheusClient, type PrometheusAuth, type PrometheusClient } from "../adapters/prometheus-client.js";
import { bearerTokenFromSecret } from "../adapters/secrets-manager.js";
import { BadInputError } from "../core/errors.js";

/**
 * `<tokenEnv>_SECRET_ID`: the Secrets Manager secret (name or ARN) holding the bearer token the
 * config's `auth.tokenEnv` names, when the variable itself is not set (the deployed functions).
 */
export const TOKEN_SECRET_SUFFIX = "_SECRET_ID";

export interface PrometheusOverrides {
  url?: string;
  onRequest?: Parameters<typeof createPrometheusClient>[0]["onRequest"];
  /** The Secrets Manager client bearer tokens are read with (made on first need when absent). */
  secrets?: () => SecretsManagerClient;
}

/**
 * Builds the Prometheus client a config describes. Secrets come from the
 * environment variable the config names, never from the config file itself.
 */
export function prometheusFromConfig(
  cfg: BaseConfig,
  env: Record<string, string | undefined>,
  overrides: PrometheusOverrides = {},
  /** The metered cluster's settings (configuredClusters); defaults to the top-level `prometheus`. */
  settings: BaseConfig["prometheus"] = cfg.prometheus,
): PrometheusClient {
  const p = settings;
  const url = overrides.url ?? p?.url;
  if (!url) throw new BadInputError("prometheus.url: no Prometheus URL in the config and none given (--prometheus-url / PROMETHEUS_URL)");
  const a = p?.auth ?? { type: "none" as const };
  let auth: PrometheusAuth;
  if (a.type === "bearer") {
    const token = env[a.tokenEnv];
    const secretId = env[`${a.tokenEnv}${TOKEN_SECRET_SUFFIX}`];
    if (token) auth = { type: "bearer", token };
    // Deployed: the token stays in Secrets Manager and is read at run time, so rotating it needs no redeploy.
    else if (secretId)
      auth = { type: "bearer", token: bearerTokenFromSecret(overrides.secrets?.() ?? new SecretsManagerClient({}), secretId) };
    else
      throw new Error(
        `prometheus.auth.tokenEnv: environment variable ${a.tokenEnv} is not set (the token), nor ${a.tokenEnv}${TOKEN_SECRET_SUFFIX} (a Secrets Manager secret holding it)`,
      );
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
  cfg: BaseConfig,
  env: Record<string, string | undefined>,
  overrides: PrometheusOverrides = {},
): PrometheusForCluster {
  const clusters = configuredClusters(cfg);
  if (cfg.clusters && overrides.url)
    throw new ConfigError(
      `--prometheus-url / PROMETHEUS_URL: the config has clusters (${clusters.map((c) => c.id).join(", ")}), each with its own clusters.N.prometheus.url; leave the override unset`,
      [],
    );
  const made = new Map<string, PrometheusClient>();
  // One Secrets Manager client for every cluster's token.
  let secrets: SecretsManagerClient | undefined;
  const shared = { ...overrides, secrets: () => (secrets ??= overrides.secrets?.() ?? new SecretsManagerClient({})) };
  return (cluster) => {
    let c = made.get(cluster.id);
    if (!c) made.set(cluster.id, (c = prometheusFromConfig(cfg, env, shared, cluster.prometheus)));
    return c;
  };
}
