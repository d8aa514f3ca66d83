import { afterEach, describe, expect, it } from "vitest";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { createPrometheusClient, PrometheusQueryError, PrometheusUnavailableError } from "../../functions/adapters/prometheus-client.js";

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
