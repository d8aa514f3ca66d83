import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { GetObjectCommand, ListObjectsV2Command } from "@aws-sdk/client-s3";
import { InvokeCommand, LambdaClient } from "@aws-sdk/client-lambda";
import { mockClient } from "aws-sdk-client-mock";
import { buildRerunDeps, makeRerunHandler } from "../../functions/handlers/rerun-handler.js";
import type { PrometheusClient } from "../../functions/adapters/prometheus-client.js";
import { s3Sink } from "../../functions/adapters/dataset-sink.js";
import { configHash } from "../../functions/core/config.js";
import { renderDataset } from "../../functions/core/dataset.js";
import { billingMonth } from "../../functions/core/month.js";
import type { RerunRecord } from "../../functions/metering/rerun-month.js";
import { EXPORTERS, withExports } from "../../functions/export/dataset-exports.js";
import { referenceConfig, referenceConfigText } from "../core/fixtures.js";
import { fixtureChargeback } from "../export/month-fixture.js";
import { startS3 } from "../support/s3.js";

// Stand-in Prometheus with an empty cluster: what is under test is the re-run
// (validation, replace, record, delivery), not metering (integration suite).
const emptyPrometheus: PrometheusClient = { url: "http://prom", query: async () => [] };
const cfg = referenceConfig();
const NOW = new Date("2026-11-20T01:02:03.456Z");

/** Puts a previously metered (different) October into the bucket, as the monthly run left it. */
async function seedOctober(client: Parameters<typeof s3Sink>[0]) {
  const cb = fixtureChargeback("2026-10", 10);
  const bm = billingMonth("2026-10", cfg.timeZone);
  const ds = renderDataset(cb, {
    month: "2026-10",
    timeZone: cfg.timeZone,
    startIso: new Date(bm.startMs).toISOString(),
    endIso: new Date(bm.endMs).toISOString(),
    prometheusUrl: "http://prom",
    configHash: configHash(cfg),
  });
  await s3Sink(client, "data", "cb").write("2026-10", withExports(ds, cb, cfg, [EXPORTERS.parquet, EXPORTERS.focus]));
  return cb;
}

describe("rerun Lambda handler", () => {
  let s3: Awaited<ReturnType<typeof startS3>>;
  const lambdaMock = mockClient(LambdaClient); // no Lambda service runs here
  beforeAll(async () => {
    s3 = await startS3("data");
  });
  afterAll(async () => s3?.stop());
  beforeEach(() => lambdaMock.reset());
  const env = { DATA_BUCKET: "data", DATA_PREFIX: "cb", BILLING_CONFIG: referenceConfigText, EXPORTS: "parquet,focus" };
  const handler = (extraEnv: Record<string, string> = {}) => {
    const built = buildRerunDeps({ ...env, ...extraEnv }, s3.client, new LambdaClient({ region: "ap-northeast-2" }));
    return makeRerunHandler(
      () => ({ ...built, deps: { ...built.deps, prometheusFor: () => emptyPrometheus } }),
      () => NOW,
    );
  };
  const getJson = async (key: string) =>
    JSON.parse(await (await s3.client.send(new GetObjectCommand({ Bucket: "data", Key: key }))).Body!.transformToString());

  it.each([
    [{ month: "../2026-10", reason: "fix" }, /month: must be YYYY-MM/],
    [{ month: "2026-10/../../x", reason: "fix" }, /month: must be YYYY-MM/],
    [{ month: "2026-10", tenants: ["../suwon"], reason: "fix" }, /tenants.0: must be a tenant id/],
    [{ month: "2026-10", reason: "fix", deliver: "yes" }, /deliver/],
    [{ month: "2026-10", reason: "fix", resend: true }, /resend: resend needs deliver/],
    [{ month: "2026-10" }, /reason/],
    [{ month: "2026-10", reason: "fix", bucket: "other" }, /bucket|Unrecognized/i],
    [null, /invalid re-run request/],
  ])("given the forged or malformed payload %j, it fails with a clear error before building anything", async (event, msg) => {
    const h = makeRerunHandler(() => {
      throw new Error("must not build deps");
    });
    await expect(h(event)).rejects.toThrow(msg);
  });

  it("given an unknown tenant id, it names it and writes nothing", async () => {
    await expect(handler()({ month: "2026-10", tenants: ["atlantis"], reason: "dispute" })).rejects.toThrow(
      /unknown tenant id\(s\) atlantis/,
    );
  });

  it("given a dry run, it reports what would change and writes neither the dataset nor a record", async () => {
    const before = await seedOctober(s3.client);
    const r = (await handler()({ month: "2026-10", reason: "check the fix", dryRun: true, requestedBy: "ops@example" })) as RerunRecord;
    expect(r.dryRun).toBe(true);
    expect(r.changed.map((c) => c.file)).toEqual(
      expect.arrayContaining(["chargeback.csv", "focus.csv", "parquet/chargeback/data.parquet"]),
    );
    expect(r.totalsBefore?.cost).toBe(before.totals.cost.toFixed(2));
    expect(r.totalsAfter.cost).toBe("0.00");
    expect((await getJson("cb/month=2026-10/manifest.json")).totals.cost).toBe(before.totals.cost.toFixed(2));
    const recs = await s3.client.send(new ListObjectsV2Command({ Bucket: "data", Prefix: "cb/reruns/" }));
    expect(recs.KeyCount ?? 0).toBe(0);
  });

  it("given a re-run with a reason, it replaces the month and writes who/what/why/when beside the dataset; a second run reproduces it byte for byte", async () => {
    await seedOctober(s3.client);
    const r = (await handler()({
      month: "2026-10",
      reason: "suwon disputes October: namespace label fixed",
      requestedBy: "kim@ops",
      tenants: ["suwon"],
    })) as RerunRecord;
    expect(r.recordLocation).toBe("s3://data/cb/reruns/month=2026-10/2026-11-20T01-02-03-456Z.json");
    const stored = await getJson("cb/reruns/month=2026-10/2026-11-20T01-02-03-456Z.json");
    expect(stored).toMatchObject({
      kind: "gpu-billing.rerun",
      month: "2026-10",
      requestedBy: "kim@ops",
      reason: "suwon disputes October: namespace label fixed",
      requestedAt: "2026-11-20T01:02:03.456Z",
      tenants: ["suwon"],
      delivery: { status: "not-requested" },
    });
    expect(stored.previousManifestSha256).toMatch(/^[0-9a-f]{64}$/);
    expect(stored.changed.length).toBeGreaterThan(0);
    const manifest = await getJson("cb/month=2026-10/manifest.json");
    expect(manifest.totals.cost).toBe("0.00");
    expect(stored.manifestSha256).not.toBe(stored.previousManifestSha256);

    const again = (await handler()({
      month: "2026-10",
      reason: "prove the re-run is reproducible",
      requestedBy: "kim@ops",
    })) as RerunRecord;
    expect(again.changed).toEqual([]);
    expect(again.previousManifestSha256).toBe(again.manifestSha256);
  });

  it("given deliver without a delivery function wired in, it says delivery is not configured instead of pretending", async () => {
    const r = (await handler()({ month: "2026-10", reason: "resend to finance", deliver: true })) as RerunRecord;
    expect(r.delivery.status).toBe("not-configured");
    expect(lambdaMock.commandCalls(InvokeCommand)).toHaveLength(0);
  });

  it("given deliver and resend with the monthly function configured, it invokes it asynchronously with the month, tenants and resend flag", async () => {
    lambdaMock.on(InvokeCommand).resolves({ StatusCode: 202 });
    const r = (await handler({ MONTHLY_FUNCTION_NAME: "GpuBilling-MonthlyFn" })({
      month: "2026-10",
      tenants: ["seongnam"],
      deliver: true,
      resend: true,
      reason: "tenant lost the mail",
    })) as RerunRecord;
    expect(r.delivery).toEqual({ status: "requested", detail: { functionName: "GpuBilling-MonthlyFn", statusCode: 202 } });
    const [call] = lambdaMock.commandCalls(InvokeCommand);
    expect(call!.args[0].input).toMatchObject({ FunctionName: "GpuBilling-MonthlyFn", InvocationType: "Event" });
    expect(JSON.parse(Buffer.from(call!.args[0].input.Payload as Uint8Array).toString())).toEqual({
      source: "gpu-billing.rerun",
      month: "2026-10",
      tenants: ["seongnam"],
      resend: true,
      reason: "tenant lost the mail",
    });
  });

  it("given delivery fails, it still records the replaced dataset (delivery failed) and rethrows", async () => {
    lambdaMock.on(InvokeCommand).rejects(new Error("TooManyRequestsException"));
    const h = makeRerunHandler(
      () => {
        const built = buildRerunDeps({ ...env, MONTHLY_FUNCTION_NAME: "m" }, s3.client, new LambdaClient({ region: "ap-northeast-2" }));
        return { ...built, deps: { ...built.deps, prometheusFor: () => emptyPrometheus } };
      },
      () => new Date("2026-11-21T00:00:00Z"),
    );
    await expect(h({ month: "2026-10", deliver: true, reason: "send again" })).rejects.toThrow(/TooManyRequests/);
    const rec = await getJson("cb/reruns/month=2026-10/2026-11-21T00-00-00-000Z.json");
    expect(rec.delivery).toEqual({ status: "failed", detail: "TooManyRequestsException" });
  });

  it("given the month is still running, it refuses (a re-run never bills an open month)", async () => {
    await expect(handler()({ month: "2026-11", reason: "too early" })).rejects.toThrow(/2026-11/);
  });
});
