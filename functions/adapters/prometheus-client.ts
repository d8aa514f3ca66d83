import { SignatureV4 } from "@smithy/signature-v4";
import { Sha256 } from "@aws-crypto/sha256-js";
import type { AwsCredentialIdentityProvider } from "@smithy/types";

export interface InstantSample {
  metric: Record<string, string>;
  value: number;
}

/** Prometheus could not be reached or kept failing: retry later, never bill on it. */
export class PrometheusUnavailableError extends Error {
  constructor(message: string, readonly cause?: unknown) {
    super(message);
    this.name = "PrometheusUnavailableError";
  }
}

/** Prometheus answered that the query itself is wrong (4xx, bad_data): retrying will not help. */
export class PrometheusQueryError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "PrometheusQueryError";
  }
}

export type PrometheusAuth =
  | { type: "none" }
  /** A fixed token, or a reader called per query (a secret read at run time, cached by the reader). */
  | { type: "bearer"; token: string | (() => Promise<string>) }
  | { type: "sigv4"; region: string; service?: string; credentials: AwsCredentialIdentityProvider };

export interface PrometheusClientOptions {
  url: string;
  auth?: PrometheusAuth;
  timeoutMs?: number;
  retries?: number;
  /** Base of the exponential backoff; tests shorten it. */
  backoffMs?: number;
  fetch?: typeof fetch;
  /** Called after each HTTP request (for counting queries in benchmarks and progress). */
  onRequest?: (info: { attempt: number; status: number | "error"; ms: number }) => void;
}

export interface PrometheusClient {
  readonly url: string;
  /** Instant query at `timeSec` (epoch seconds, may be fractional). */
  query(promql: string, timeSec: number): Promise<InstantSample[]>;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * A small Prometheus HTTP API client: POST /api/v1/query (the form AMP accepts
 * too), retries with jittered exponential backoff on network errors, timeouts,
 * 429 and 5xx, and no retry on a bad query.
 */
export function createPrometheusClient(opts: PrometheusClientOptions): PrometheusClient {
  const base = opts.url.replace(/\/+$/, "");
  const doFetch = opts.fetch ?? fetch;
  const retries = opts.retries ?? 4;
  const backoff = opts.backoffMs ?? 500;
  const timeoutMs = opts.timeoutMs ?? 120_000;
  const auth = opts.auth ?? { type: "none" };
  const signer =
    auth.type === "sigv4"
      ? new SignatureV4({ service: auth.service ?? "aps", region: auth.region, credentials: auth.credentials, sha256: Sha256 })
      : undefined;

  async function send(body: string, bearer: string | undefined): Promise<Response> {
    const url = new URL(`${base}/api/v1/query`);
    let headers: Record<string, string> = { "content-type": "application/x-www-form-urlencoded", accept: "application/json" };
    if (bearer !== undefined) headers.authorization = `Bearer ${bearer}`;
    if (signer) {
      const signed = await signer.sign({
        method: "POST",
        protocol: url.protocol,
        hostname: url.hostname,
        port: url.port ? Number(url.port) : undefined,
        path: url.pathname,
        headers: { ...headers, host: url.host },
        body,
      });
      headers = signed.headers as Record<string, string>;
    }
    return doFetch(url, { method: "POST", headers, body, signal: AbortSignal.timeout(timeoutMs) });
  }

  return {
    url: base,
    async query(promql, timeSec) {
      const body = new URLSearchParams({ query: promql, time: timeSec.toFixed(3), timeout: `${Math.ceil(timeoutMs / 1000)}s` }).toString();
      // Read before the retries: a token that cannot be read is that error, not "Prometheus unavailable".
      const bearer = auth.type !== "bearer" ? undefined : typeof auth.token === "string" ? auth.token : await auth.token();
      let lastError = "";
      for (let attempt = 0; attempt <= retries; attempt++) {
        if (attempt > 0) await sleep(backoff * 2 ** (attempt - 1) * (0.5 + Math.random()));
        const t0 = Date.now();
        let res: Response;
        try {
          res = await send(body, bearer);
        } catch (e) {
          opts.onRequest?.({ attempt, status: "error", ms: Date.now() - t0 });
          lastError = `${(e as Error).name}: ${(e as Error).message}`;
          continue;
        }
        opts.onRequest?.({ attempt, status: res.status, ms: Date.now() - t0 });
        const text = await res.text();
        if (res.status === 429 || res.status >= 500) {
          lastError = `HTTP ${res.status}: ${text.slice(0, 300)}`;
          continue;
        }
        let json: { status?: string; errorType?: string; error?: string; data?: { resultType?: string; result?: unknown[] } };
        try {
          json = JSON.parse(text);
        } catch {
          throw new PrometheusQueryError(`${base}: HTTP ${res.status}, response is not JSON: ${text.slice(0, 200)}`);
        }
        if (res.status >= 400 || json.status !== "success") {
          // A query timeout inside Prometheus is load, not a bad query.
          if (json.errorType === "timeout" || json.errorType === "canceled" || json.errorType === "unavailable") {
            lastError = `${json.errorType}: ${json.error}`;
            continue;
          }
          throw new PrometheusQueryError(`${base}: ${json.errorType ?? `HTTP ${res.status}`}: ${json.error ?? text.slice(0, 300)}`);
        }
        if (json.data?.resultType !== "vector") throw new PrometheusQueryError(`${base}: expected a vector result, got ${json.data?.resultType}`);
        return (json.data.result as { metric: Record<string, string>; value: [number, string] }[]).map((s) => ({
          metric: s.metric,
          value: Number(s.value[1]),
        }));
      }
      throw new PrometheusUnavailableError(`Prometheus at ${base} unavailable after ${retries + 1} attempts: ${lastError}`);
    },
  };
}

/** The URL without credentials, for manifests and logs. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    u.username = "";
    u.password = "";
    return u.toString().replace(/\/$/, "");
  } catch {
    return url;
  }
}
