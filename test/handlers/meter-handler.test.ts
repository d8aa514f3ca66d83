import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { GetObjectCommand } from "@aws-sdk/client-s3";
import { buildMeterDeps, makeMeterHandler } from "../../functions/handlers/meter-handler.js";
import type { PrometheusClient } from "../../functions/adapters/prometheus-client.js";
import { PrometheusUnavailableError } from "../../functions/adapters/prometheus-client.js";
import { referenceConfigText } from "../core/fixtures.js";
import { startS3 } from "../support/s3.js";

describe("meter Lambda handler", () => {
  let s3: Awaited<ReturnType<typeof startS3>>;
  beforeAll(async () => {
    s3 = await startS3("data");
  });
  afterAll(async () => s3?.stop());
  const env = { DATA_BUCKET: "data", DATA_PREFIX: "cb", BILLING_CONFIG: referenceConfigText };

  it("given a missing bucket variable, the error names DATA_BUCKET", () => {
    expect(() => buildMeterDeps({ BILLING_CONFIG: referenceConfigText })).toThrow(/DATA_BUCKET/);
    expect(() => buildMeterDeps({ DATA_BUCKET: "data" })).toThrow(/BILLING_CONFIG/);
  });

  it("given a malformed month in the event, it fails before touching Prometheus", async () => {
    const h = makeMeterHandler(() => {
      throw new Error("must not build deps");
    });
    await expect(h({ month: "2026-13" })).rejects.toThrow(/month: must be YYYY-MM/);
  });

  it("given a scheduled event on Nov 1 in Seoul, it bills October and writes the dataset to S3", async () => {
    const asked: number[] = [];
    // Stand-in Prometheus with an empty cluster: the real one is exercised by the integration suite.
    const prometheus: PrometheusClient = { url: "http://prom", query: async (_q, t) => (asked.push(t), []) };
    const built = buildMeterDeps(env, s3.client);
    const h = makeMeterHandler(
      () => ({ ...built, deps: { ...built.deps, prometheusFor: () => prometheus } }),
      () => new Date("2026-10-31T15:05:00Z"),
    );
    const out = await h({ source: "aws.scheduler" });
    expect(out).toMatchObject({ month: "2026-10", rows: 0, cost: "0", currency: "USD" });
    expect(Math.max(...asked)).toBe(Date.parse("2026-10-31T15:00:00Z") / 1000 - 1);
    const m = await s3.client.send(new GetObjectCommand({ Bucket: "data", Key: "cb/month=2026-10/manifest.json" }));
    expect(JSON.parse(await m.Body!.transformToString()).month).toBe("2026-10");
  });

  it("given no EXPORTS, the month also gets the Parquet tables and focus.csv, listed in its manifest", async () => {
    const prometheus: PrometheusClient = { url: "http://prom", query: async () => [] };
    const built = buildMeterDeps({ ...env, DATA_PREFIX: "defaults" }, s3.client);
    await makeMeterHandler(
      () => ({ ...built, deps: { ...built.deps, prometheusFor: () => prometheus } }),
      () => new Date("2026-10-31T15:05:00Z"),
    )({ month: "2026-10" });
    const m = await s3.client.send(new GetObjectCommand({ Bucket: "data", Key: "defaults/month=2026-10/manifest.json" }));
    expect(Object.keys(JSON.parse(await m.Body!.transformToString()).files)).toEqual(
      expect.arrayContaining(["focus.csv", "parquet/chargeback/data.parquet"]),
    );
  });

  it("given a two-cluster config, each cluster gets a client for its own Prometheus, and a PROMETHEUS_URL override is refused by name", () => {
    const twoClusters = `${referenceConfigText.replace(/^prometheus:[\s\S]*?(?=^\S)/m, "")}
clusters:
  - id: seoul
    prometheus: { url: "http://prom-seoul:9090" }
  - id: busan
    prometheus: { url: "http://prom-busan:9090" }
`;
    const built = buildMeterDeps({ ...env, BILLING_CONFIG: twoClusters }, s3.client);
    const urls = built.cfg.clusters!.map((c) => built.deps.prometheusFor!({ id: c.id, name: c.id, prometheus: c.prometheus }).url);
    expect(urls).toEqual(["http://prom-seoul:9090", "http://prom-busan:9090"]);
    expect(() => buildMeterDeps({ ...env, BILLING_CONFIG: twoClusters, PROMETHEUS_URL: "http://other:9090" }, s3.client)).toThrow(
      /PROMETHEUS_URL/,
    );
  });

  it("given Prometheus is unavailable, it rethrows so Lambda retries, and writes no manifest", async () => {
    const prometheus: PrometheusClient = {
      url: "http://prom",
      query: async () => {
        throw new PrometheusUnavailableError("down");
      },
    };
    const built = buildMeterDeps(env, s3.client);
    const h = makeMeterHandler(
      () => ({ ...built, deps: { ...built.deps, prometheusFor: () => prometheus } }),
      () => new Date("2026-11-02T00:00:00Z"),
    );
    await expect(h({ month: "2026-09" })).rejects.toThrow(PrometheusUnavailableError);
    await expect(s3.client.send(new GetObjectCommand({ Bucket: "data", Key: "cb/month=2026-09/manifest.json" }))).rejects.toThrow();
  });
});
