import { redactUrl } from "../core/redact-url.js";
import { SignatureV4 } from "@smithy/signature-v4";
import { Sha256 } from "@aws-crypto/sha256-js";
import type { AwsCredentialIdentityProvider } from "@smithy/types";
import { UnavailableError } from "../core/errors.js";

export interface InstantSample {
  metric: Record<string, string>;
  value: number;
}

/** Prometheus could not be reached or kept failing: retry later, never bill on it. */
export class PrometheusUnavailableError extends UnavailableError {
  constructor(
    message: string,
    readonly cause?: unknown,
  ) {
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

/** What kind of per-query limit refused a query: all of them are met with a smaller query. */
export type QueryLimit = "samples" | "series" | "chunks" | "bytes" | "time-range" | "timeout";

/**
 * The query engine refused the query for its size (a samples, series, chunks or bytes limit,
 * or the longest time range it accepts) or gave up on it (its query timeout). Retrying the same
 * query will not help; a smaller one (a shorter window, fewer namespaces) may.
 */
export class PrometheusQueryTooLargeError extends PrometheusQueryError {
  constructor(
    message: string,
    readonly limit: QueryLimit,
    /** The engine's own words, for the operator. */
    readonly detail: string,
  ) {
    super(message);
    this.name = "PrometheusQueryTooLargeError";
  }
}

/** How one HTTP answer of /api/v1/query is to be taken. */
export type QueryAnswer =
  | { kind: "ok"; result: InstantSample[] }
  /** Not reached, overloaded or failing: retry with backoff. */
  | { kind: "unavailable"; message: string }
  /** Refused for its size or timed out: retrying will not help, a smaller query may. */
  | { kind: "too-large"; limit: QueryLimit; message: string }
  /** The query itself (or its result) is wrong: nothing will help. */
  | { kind: "bad-query"; message: string };

/**
 * The refusals per query of the engines this talks to, by their messages (the errorType alone
 * does not say: Prometheus answers a samples limit with 422 "execution", like a bad join):
 * - Prometheus (and the Thanos querier, which runs its engine): ErrTooManySamples "query
 *   processing would load too many samples into memory in …" (422 execution), ErrQueryTimeout
 *   "query timed out in …" (503 timeout); a timeout while it expands the series comes back as
 *   422 execution "expanding series: context deadline exceeded".
 * - Cortex, which Amazon Managed Service for Prometheus runs: the same samples message, and
 *   "the query hit the max number of series / chunks limit", "the query hit the aggregated
 *   chunks / data size limit"; store-gateway "exceeded series / chunks / bytes limit".
 * - Thanos store: "exceeded series / chunks / samples limit: limit N violated (got M)".
 * - Mimir: "the query exceeded the maximum number of series / chunks …" with an error id
 *   err-mimir-max-series-per-query, -max-chunks-per-query, -max-chunks-bytes-per-query,
 *   -max-estimated-chunks-per-query, -max-estimated-memory-consumption-per-query; and
 *   "the query time range exceeds the limit" (err-mimir-max-query-length).
 */
const REFUSALS: readonly [RegExp, QueryLimit][] = [
  [/query processing would load too many samples/i, "samples"],
  [/query timed out|query timeout|context deadline exceeded/i, "timeout"],
  [/err-mimir-max-series-per-query|maximum number of series|max number of series limit|exceeded series limit/i, "series"],
  [
    /err-mimir-max-(estimated-)?chunks-per-query|maximum number of (estimated )?chunks|max number of chunks limit|exceeded chunks limit/i,
    "chunks",
  ],
  [
    /err-mimir-max-chunks-bytes-per-query|err-mimir-max-estimated-memory-consumption-per-query|aggregated (chunks|data) size limit|exceeded bytes limit|exceeded samples limit/i,
    "bytes",
  ],
  [/err-mimir-max-query-length|query time range exceeds the limit/i, "time-range"],
];

/** Takes one answer of /api/v1/query (status and body) for what it is; the one place the client decides. */
export function classifyQueryAnswer(status: number, body: string): QueryAnswer {
  let json: { status?: string; errorType?: string; error?: string; data?: { resultType?: string; result?: unknown[] } } | undefined;
  try {
    json = JSON.parse(body);
  } catch {
    json = undefined;
  }
  const said = `${json?.error ?? ""} ${json ? "" : body.slice(0, 300)}`;
  if (status >= 400 || json?.status !== "success") {
    const refusal = REFUSALS.find(([re]) => re.test(said));
    // Cancelled or unavailable is the server's state, not the query's size.
    if (refusal && json?.errorType !== "canceled" && json?.errorType !== "unavailable")
      return { kind: "too-large", limit: refusal[1], message: `${json?.errorType ?? `HTTP ${status}`}: ${said.trim()}` };
    if (
      status === 429 ||
      status >= 500 ||
      json?.errorType === "timeout" ||
      json?.errorType === "canceled" ||
      json?.errorType === "unavailable"
    )
      return {
        kind: "unavailable",
        message: json ? `${json.errorType ?? `HTTP ${status}`}: ${json.error}` : `HTTP ${status}: ${body.slice(0, 300)}`,
      };
    if (!json) return { kind: "bad-query", message: `HTTP ${status}, response is not JSON: ${body.slice(0, 200)}` };
    return { kind: "bad-query", message: `${json.errorType ?? `HTTP ${status}`}: ${json.error ?? body.slice(0, 300)}` };
  }
  if (json.data?.resultType !== "vector") return { kind: "bad-query", message: `expected a vector result, got ${json.data?.resultType}` };
  return {
    kind: "ok",
    result: (json.data.result as { metric: Record<string, string>; value: [number, string] }[]).map((s) => ({
      metric: s.metric,
      value: Number(s.value[1]),
    })),
  };
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
 * too), retries with jittered exponential backoff on network errors, client-side
 * timeouts, 429 and 5xx; no retry on a bad query, nor on one the engine refused
 * for its size or timed out (PrometheusQueryTooLargeError: the caller splits it).
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
        const answer = classifyQueryAnswer(res.status, await res.text());
        switch (answer.kind) {
          case "ok":
            return answer.result;
          case "unavailable":
            lastError = answer.message;
            continue;
          case "too-large":
            throw new PrometheusQueryTooLargeError(
              `${base} refused the query (${answer.limit} limit): ${answer.message}`,
              answer.limit,
              answer.message,
            );
          case "bad-query":
            throw new PrometheusQueryError(`${base}: ${answer.message}`);
        }
      }
      throw new PrometheusUnavailableError(`Prometheus at ${base} unavailable after ${retries + 1} attempts: ${lastError}`);
    },
  };
}

// Pure, so it lives in core (metering names a cluster with it); re-exported for the adapters that already use it here.
export { redactUrl };
