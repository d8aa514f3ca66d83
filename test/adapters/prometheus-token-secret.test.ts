import { afterAll, afterEach, describe, expect, it } from "vitest";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { mockClient } from "aws-sdk-client-mock";
import { GetSecretValueCommand, SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import { configuredClusters } from "../../functions/core/config.js";
import { referenceConfig } from "../core/fixtures.js";
import { prometheusForClusters, prometheusFromConfig } from "../../functions/wiring/prometheus-from-config.js";
import { bearerTokenFromSecret } from "../../functions/adapters/secrets-manager.js";
import type { Config } from "../../functions/config/config-schema.js";

// Secrets Manager does not run locally: aws-sdk-client-mock answers GetSecretValue.
// Prometheus is a small local HTTP server that records the Authorization header it gets.
const sm = mockClient(SecretsManagerClient);
const servers: Server[] = [];
async function recordingPrometheus(): Promise<{ url: string; seen: string[] }> {
  const seen: string[] = [];
  const server = createServer((req, res) => {
    seen.push(req.headers.authorization ?? "");
    req.resume().on("end", () => res.writeHead(200).end(JSON.stringify({ status: "success", data: { resultType: "vector", result: [] } })));
  });
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, seen };
}
afterEach(() => sm.reset());
afterAll(async () => {
  sm.restore();
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
});

/** The reference customer metered from bearer-token Prometheus servers, one per cluster. */
function bearerConfig(clusters: { id: string; url: string; tokenEnv: string }[]): Config {
  const ref = referenceConfig();
  return {
    ...ref,
    clusters: clusters.map((c) => ({
      id: c.id,
      prometheus: { ...ref.prometheus!, url: c.url, auth: { type: "bearer" as const, tokenEnv: c.tokenEnv } },
    })),
  };
}

describe("given a bearer-token Prometheus whose token lives in Secrets Manager (the deployed functions)", () => {
  it("when only <tokenEnv>_SECRET_ID is set, each cluster's token is read at run time from its own secret and sent", async () => {
    const [a, b] = await Promise.all([recordingPrometheus(), recordingPrometheus()]);
    sm.on(GetSecretValueCommand, { SecretId: "prom/busan" }).resolves({ SecretString: "busan-token\n" });
    sm.on(GetSecretValueCommand, { SecretId: "prom/suwon" }).resolves({ SecretString: "suwon-token" });
    const cfg = bearerConfig([
      { id: "busan", url: a.url, tokenEnv: "BUSAN_TOKEN" },
      { id: "suwon-dc", url: b.url, tokenEnv: "SUWON_TOKEN" },
    ]);
    const env = { BUSAN_TOKEN_SECRET_ID: "prom/busan", SUWON_TOKEN_SECRET_ID: "prom/suwon" };
    const forCluster = prometheusForClusters(cfg, env, { secrets: () => new SecretsManagerClient({ region: "ap-northeast-2" }) });
    for (const c of configuredClusters(cfg)) {
      await forCluster(c).query("up", 1);
      await forCluster(c).query("up", 2);
    }
    expect(a.seen).toEqual(["Bearer busan-token", "Bearer busan-token"]);
    expect(b.seen).toEqual(["Bearer suwon-token", "Bearer suwon-token"]);
    // Cached: one read per secret for the two queries.
    expect(
      sm
        .commandCalls(GetSecretValueCommand)
        .map((c) => c.args[0].input.SecretId)
        .sort(),
    ).toEqual(["prom/busan", "prom/suwon"]);
  });

  it("when the token is rotated in the secret, it is used after the cache age without a redeploy", async () => {
    sm.on(GetSecretValueCommand).resolvesOnce({ SecretString: "old" }).resolves({ SecretString: "new" });
    let t = 0;
    const token = bearerTokenFromSecret(new SecretsManagerClient({ region: "ap-northeast-2" }), "prom", { clock: () => t });
    expect(await token()).toBe("old");
    t = 5 * 60_000 - 1;
    expect(await token()).toBe("old");
    t = 5 * 60_000;
    expect(await token()).toBe("new");
  });

  it("when the variable itself is set (a local run), it wins and Secrets Manager is not called", async () => {
    const p = await recordingPrometheus();
    const cfg = bearerConfig([{ id: "busan", url: p.url, tokenEnv: "BUSAN_TOKEN" }]);
    await prometheusFromConfig(cfg, { BUSAN_TOKEN: "local", BUSAN_TOKEN_SECRET_ID: "prom/busan" }, {}, cfg.clusters![0]!.prometheus).query(
      "up",
      1,
    );
    expect(p.seen).toEqual(["Bearer local"]);
    expect(sm.commandCalls(GetSecretValueCommand)).toHaveLength(0);
  });

  it("when neither is set, the error names both variables; when the secret cannot be read, the query fails with that reason and Prometheus is never called", async () => {
    const p = await recordingPrometheus();
    const cfg = bearerConfig([{ id: "busan", url: p.url, tokenEnv: "BUSAN_TOKEN" }]);
    expect(() => prometheusFromConfig(cfg, {}, {}, cfg.clusters![0]!.prometheus)).toThrow(
      /BUSAN_TOKEN is not set .*nor BUSAN_TOKEN_SECRET_ID/,
    );
    sm.on(GetSecretValueCommand).rejects(
      Object.assign(new Error("Secrets Manager can't find the specified secret."), { name: "ResourceNotFoundException" }),
    );
    const c = prometheusFromConfig(
      cfg,
      { BUSAN_TOKEN_SECRET_ID: "prom/missing" },
      { secrets: () => new SecretsManagerClient({ region: "ap-northeast-2" }) },
      cfg.clusters![0]!.prometheus,
    );
    await expect(c.query("up", 1)).rejects.toThrow(/can't find the specified secret/);
    expect(p.seen).toEqual([]);
    sm.reset();
    sm.on(GetSecretValueCommand).resolves({ SecretString: "Bearer abc" });
    const d = prometheusFromConfig(
      cfg,
      { BUSAN_TOKEN_SECRET_ID: "prom/prefixed" },
      { secrets: () => new SecretsManagerClient({ region: "ap-northeast-2" }) },
      cfg.clusters![0]!.prometheus,
    );
    const err = (await d.query("up", 1).catch((e: Error) => e)) as Error;
    expect(err.message).toBe('secret prom/prefixed: contains whitespace (expected the bearer token alone, without "Bearer ")');
  });
});
