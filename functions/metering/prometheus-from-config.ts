import { defaultProvider } from "@aws-sdk/credential-provider-node";
import type { Config } from "../core/config.js";
import { createPrometheusClient, type PrometheusAuth, type PrometheusClient } from "../adapters/prometheus-client.js";

/**
 * Builds the Prometheus client a config describes. Secrets come from the
 * environment variable the config names, never from the config file itself.
 */
export function prometheusFromConfig(
  cfg: Config,
  env: Record<string, string | undefined>,
  overrides: { url?: string; onRequest?: Parameters<typeof createPrometheusClient>[0]["onRequest"] } = {},
): PrometheusClient {
  const p = cfg.prometheus;
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
