import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { GetObjectCommand, PutObjectCommand } from "@aws-sdk/client-s3";
import { buildMeterDeps, makeMeterHandler } from "../../functions/handlers/meter-handler.js";
import type { PrometheusClient } from "../../functions/adapters/prometheus-client.js";
import { monthMetricsEmf, MONTH_METRICS } from "../../functions/export/month-metrics.js";
import { referenceConfigText } from "../core/fixtures.js";
import { startS3 } from "../support/s3.js";
import { fixtureChargeback } from "./month-fixture.js";

describe("meter run with exports (Parquet + FOCUS inside the dataset, manifest last)", () => {
  let s3: Awaited<ReturnType<typeof startS3>>;
  beforeAll(async () => {
    s3 = await startS3("data");
  });
  afterAll(async () => s3?.stop());

  it("given EXPORTS=parquet,focus, when the meter function runs, then the export files are put before the manifest and the manifest lists them", async () => {
    const env = { DATA_BUCKET: "data", DATA_PREFIX: "cb", BILLING_CONFIG: referenceConfigText, EXPORTS: "parquet,focus" };
    // Stand-in Prometheus with an empty cluster (the real one is exercised by the integration suite).
    const prometheus: PrometheusClient = { url: "http://prom", query: async () => [] };
    const puts: string[] = [];
    const send = s3.client.send.bind(s3.client);
    vi.spyOn(s3.client, "send").mockImplementation(((cmd: unknown) => {
      if (cmd instanceof PutObjectCommand) puts.push(cmd.input.Key!);
      return send(cmd as never);
    }) as never);
    const built = buildMeterDeps(env, s3.client);
    const h = makeMeterHandler(
      () => ({ ...built, deps: { ...built.deps, prometheusFor: () => prometheus } }),
      () => new Date("2026-11-01T00:00:00Z"),
    );
    await h({ month: "2026-10" });
    expect(puts.at(-1)).toBe("cb/month=2026-10/manifest.json");
    expect(puts).toEqual(
      expect.arrayContaining([
        "cb/month=2026-10/parquet/chargeback/data.parquet",
        "cb/month=2026-10/parquet/usage_daily/data.parquet",
        "cb/month=2026-10/parquet/capacity/data.parquet",
        "cb/month=2026-10/focus.csv",
      ]),
    );
    const m = await s3.client.send(new GetObjectCommand({ Bucket: "data", Key: "cb/month=2026-10/manifest.json" }));
    const manifest = JSON.parse(await m.Body!.transformToString());
    expect(Object.keys(manifest.files).sort()).toEqual([
      "capacity.csv",
      "chargeback.csv",
      "controller-actions.csv",
      "focus.csv",
      "nodes.csv",
      "parquet/capacity/data.parquet",
      "parquet/chargeback/data.parquet",
      "parquet/pods/data.parquet",
      "parquet/usage_daily/data.parquet",
      "pods.csv",
      "prices.json",
      "usage-daily.csv",
    ]);
    vi.restoreAllMocks();
  });

  it("given an unknown export name, then the function's environment error names EXPORTS", () => {
    expect(() => buildMeterDeps({ DATA_BUCKET: "data", BILLING_CONFIG: referenceConfigText, EXPORTS: "pdf" })).toThrow(
      /EXPORTS: unknown export\(s\) pdf/,
    );
  });

  it("given a metered month, then the embedded-metric lines carry per-tenant GPU-hours and the month's Spot share under the namespace", () => {
    const cb = fixtureChargeback("2026-10", 10);
    const lines = monthMetricsEmf(cb, "GpuBilling", new Date("2026-11-01T00:00:00Z")).map((l) => JSON.parse(l));
    const tenants = new Set(cb.rows.map((r) => r.tenantId));
    expect(lines).toHaveLength(tenants.size + 1);
    for (const l of lines) expect(l._aws.CloudWatchMetrics[0].Namespace).toBe("GpuBilling");
    const suwon = lines.find((l) => l.Tenant === "suwon");
    const billed = cb.rows.filter((r) => r.tenantId === "suwon").reduce((s, r) => s + r.billableGpuHours.toNumber(), 0);
    expect(suwon[MONTH_METRICS.billedGpuHours]).toBeCloseTo(billed, 6);
    const month = lines.at(-1);
    expect(month._aws.CloudWatchMetrics[0].Dimensions).toEqual([[]]);
    expect(month[MONTH_METRICS.spotShare]).toBeGreaterThan(0);
    expect(month[MONTH_METRICS.spotShare]).toBeLessThan(1);
  });
});
