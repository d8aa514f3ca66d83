import { afterEach, describe, expect, it } from "vitest";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import {
  classifyQueryAnswer,
  createPrometheusClient,
  PrometheusQueryError,
  PrometheusQueryTooLargeError,
  PrometheusUnavailableError,
} from "../../functions/adapters/prometheus-client.js";

// A small local HTTP server standing in for Prometheus' API, to script failures a real one won't produce on demand.
let server: Server | undefined;
async function serve(handler: (req: IncomingMessage, body: string, res: ServerResponse) => void): Promise<string> {
  server = createServer((req, res) => {
    let body = "";
    req.on("data", (c) => (body += c));
    req.on("end", () => handler(req, body, res));
  });
  await new Promise<void>((r) => server!.listen(0, "127.0.0.1", r));
  return `http://127.0.0.1:${(server!.address() as AddressInfo).port}`;
}
afterEach(async () => {
  if (server) await new Promise((r) => server!.close(r));
  server = undefined;
});
const ok = { status: "success", data: { resultType: "vector", result: [{ metric: { namespace: "a" }, value: [1, "42"] }] } };

describe("Prometheus client", () => {
  it("given two 503s then success, it retries and returns the vector", async () => {
    let calls = 0;
    const url = await serve((_req, _b, res) => {
      calls++;
      if (calls <= 2) {
        res.writeHead(503).end("overloaded");
        return;
      }
      res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(ok));
    });
    const c = createPrometheusClient({ url, backoffMs: 1 });
    expect(await c.query("up", 100)).toEqual([{ metric: { namespace: "a" }, value: 42 }]);
    expect(calls).toBe(3);
  });

  it("given Prometheus stays down, it fails with PrometheusUnavailableError (not an empty result)", async () => {
    const url = await serve((_req, _b, res) => res.writeHead(502).end());
    const c = createPrometheusClient({ url, backoffMs: 1, retries: 2 });
    await expect(c.query("up", 100)).rejects.toThrow(PrometheusUnavailableError);
  });

  it("given nothing listens at the URL, it is unavailable", async () => {
    const c = createPrometheusClient({ url: "http://127.0.0.1:9", backoffMs: 1, retries: 1 });
    await expect(c.query("up", 100)).rejects.toThrow(/unavailable after 2 attempts/);
  });

  it("given a bad query (400 bad_data), it fails at once without retrying", async () => {
    let calls = 0;
    const url = await serve((_req, _b, res) => {
      calls++;
      res.writeHead(400).end(JSON.stringify({ status: "error", errorType: "bad_data", error: "parse error" }));
    });
    await expect(createPrometheusClient({ url, backoffMs: 1 }).query("sum(", 1)).rejects.toThrow(PrometheusQueryError);
    expect(calls).toBe(1);
  });

  it("given a bearer token, it sends it; the query and time go as a POST form", async () => {
    let seen: { auth?: string; body?: string } = {};
    const url = await serve((req, body, res) => {
      seen = { auth: req.headers.authorization, body };
      res.writeHead(200).end(JSON.stringify(ok));
    });
    await createPrometheusClient({ url, auth: { type: "bearer", token: "s3cret" } }).query("up", 1700000000.5);
    expect(seen.auth).toBe("Bearer s3cret");
    const form = new URLSearchParams(seen.body);
    expect(form.get("query")).toBe("up");
    expect(form.get("time")).toBe("1700000000.500");
  });

  it("given SigV4 auth for AMP, the request carries an AWS4-HMAC-SHA256 signature for service aps", async () => {
    let auth = "";
    const url = await serve((req, _b, res) => {
      auth = String(req.headers.authorization);
      res.writeHead(200).end(JSON.stringify(ok));
    });
    const credentials = async () => ({ accessKeyId: "AKIDEXAMPLE", secretAccessKey: "secret" });
    await createPrometheusClient({ url, auth: { type: "sigv4", region: "ap-northeast-2", credentials } }).query("up", 1);
    expect(auth).toMatch(/^AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE\/\d{8}\/ap-northeast-2\/aps\/aws4_request/);
  });
});

// Bodies as a real Prometheus 2.42 sends them (captured with --query.max-samples=1000 and --query.timeout=1ms / 150ms),
// and, for Mimir, Cortex (which Amazon Managed Service for Prometheus runs) and Thanos, their source's limit messages inside
// the Prometheus API's error JSON (not captured from a running server).
const PROMETHEUS_TOO_MANY_SAMPLES = {
  status: "error",
  errorType: "execution",
  error: "query processing would load too many samples into memory in query execution",
};
const PROMETHEUS_TIMEOUT = { status: "error", errorType: "timeout", error: "query timed out in expression evaluation" };
const PROMETHEUS_TIMEOUT_EXPANDING = { status: "error", errorType: "execution", error: "expanding series: context deadline exceeded" };
const body = (o: object) => JSON.stringify(o);

describe("classifyQueryAnswer: the one place an answer is taken for what it is", () => {
  it.each([
    ["Prometheus max-samples", 422, PROMETHEUS_TOO_MANY_SAMPLES, "samples"],
    ["Prometheus query timeout", 503, PROMETHEUS_TIMEOUT, "timeout"],
    ["Prometheus timeout while expanding series", 422, PROMETHEUS_TIMEOUT_EXPANDING, "timeout"],
    [
      "Mimir max chunks",
      422,
      {
        status: "error",
        errorType: "execution",
        error:
          "the query exceeded the maximum number of chunks (limit: 2 chunks) (err-mimir-max-chunks-per-query). Consider reducing the time range and/or number of series selected by the query.",
      },
      "chunks",
    ],
    [
      "Mimir max series",
      422,
      {
        status: "error",
        errorType: "execution",
        error: "the query exceeded the maximum number of series (limit: 1 series) (err-mimir-max-series-per-query)",
      },
      "series",
    ],
    [
      "Mimir query length",
      422,
      {
        status: "error",
        errorType: "bad_data",
        error: "the query time range exceeds the limit (query length: 745h0m0s, limit: 721h0m0s) (err-mimir-max-query-length)",
      },
      "time-range",
    ],
    [
      "Cortex / AMP data bytes",
      422,
      {
        status: "error",
        errorType: "execution",
        error: "expanding series: the query hit the aggregated data size limit (limit: 5000000000 bytes)",
      },
      "bytes",
    ],
    [
      "Cortex / AMP chunks",
      422,
      { status: "error", errorType: "execution", error: "the query hit the max number of chunks limit (limit: 20000000 chunks)" },
      "chunks",
    ],
    [
      "Thanos store series",
      422,
      {
        status: "error",
        errorType: "execution",
        error: "rpc error: code = Unknown desc = exceeded series limit: limit 100 violated (got 101)",
      },
      "series",
    ],
  ] as const)("given %s, then too-large (%s limit … ) and not retried", (_name, status, json, limit) => {
    const a = classifyQueryAnswer(status, body(json));
    expect(a.kind).toBe("too-large");
    expect(a.kind === "too-large" && a.limit).toBe(limit);
  });

  it("given a parse error or a bad join, then bad-query", () => {
    expect(classifyQueryAnswer(400, body({ status: "error", errorType: "bad_data", error: '1:5: parse error: unexpected "("' })).kind).toBe(
      "bad-query",
    );
    expect(
      classifyQueryAnswer(422, body({ status: "error", errorType: "execution", error: "found duplicate series for the match group" })).kind,
    ).toBe("bad-query");
    expect(classifyQueryAnswer(200, body({ status: "success", data: { resultType: "matrix", result: [] } })).kind).toBe("bad-query");
  });

  it("given 429, a 502 from a proxy, a cancelled query or a non-JSON 503, then unavailable (retried)", () => {
    expect(classifyQueryAnswer(429, "too many requests").kind).toBe("unavailable");
    expect(classifyQueryAnswer(502, "<html>Bad Gateway</html>").kind).toBe("unavailable");
    expect(
      classifyQueryAnswer(503, body({ status: "error", errorType: "canceled", error: "query was canceled in expression evaluation" })).kind,
    ).toBe("unavailable");
    expect(classifyQueryAnswer(503, "overloaded").kind).toBe("unavailable");
  });

  it("given a vector, then ok with numbers", () => {
    expect(classifyQueryAnswer(200, body(ok))).toEqual({ kind: "ok", result: [{ metric: { namespace: "a" }, value: 42 }] });
  });
});

describe("Prometheus client on a refusal", () => {
  it.each([
    ["too many samples", 422, PROMETHEUS_TOO_MANY_SAMPLES, "samples"],
    ["a query timeout", 503, PROMETHEUS_TIMEOUT, "timeout"],
  ] as const)(
    "given %s, then PrometheusQueryTooLargeError at once (a PrometheusQueryError), without retrying",
    async (_name, status, json, limit) => {
      let calls = 0;
      const url = await serve((_req, _b, res) => {
        calls++;
        res.writeHead(status, { "content-type": "application/json" }).end(body(json));
      });
      const err = await createPrometheusClient({ url, backoffMs: 1 })
        .query("sum_over_time(up[1d:1m])", 1)
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(PrometheusQueryTooLargeError);
      expect(err).toBeInstanceOf(PrometheusQueryError);
      expect((err as PrometheusQueryTooLargeError).limit).toBe(limit);
      expect((err as Error).message).toContain(json.error);
      expect(calls).toBe(1);
    },
  );
});
