import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { PutObjectCommand } from "@aws-sdk/client-s3";
import { CloudWatchClient, PutMetricDataCommand } from "@aws-sdk/client-cloudwatch";
import { mockClient } from "aws-sdk-client-mock";
import {
  makeManifestCheckHandler,
  buildManifestCheckDeps,
  ManifestCheckEnvSchema,
} from "../../functions/handlers/manifest-check-handler.js";
import { decideMonthComplete } from "../../functions/core/month-completeness.js";
import { startS3 } from "../support/s3.js";

describe("month completeness (pure)", () => {
  it("given every expected manifest, the month is complete and the metric is 0; given one missing, it is 1 and the reason names it", () => {
    expect(decideMonthComplete("2026-10", { a: true })).toMatchObject({
      complete: true,
      metricValue: 0,
      reason: "2026-10 is complete: its manifest exists",
    });
    const d = decideMonthComplete("2026-10", { "c1/manifest.json": true, "c2/manifest.json": false });
    expect(d).toMatchObject({ complete: false, metricValue: 1, missing: ["c2/manifest.json"] });
    expect(d.reason).toMatch(/no c2\/manifest.json/);
  });
});

describe("manifest-check Lambda handler", () => {
  let s3: Awaited<ReturnType<typeof startS3>>;
  const cw = mockClient(CloudWatchClient); // CloudWatch does not run locally
  beforeAll(async () => {
    s3 = await startS3("data");
  });
  afterAll(async () => s3?.stop());
  beforeEach(() => cw.reset());
  const env = ManifestCheckEnvSchema.parse({ DATA_BUCKET: "data", DATA_PREFIX: "cb", METRICS_NAMESPACE: "GpuBilling" });
  const handler = (now: string) =>
    makeManifestCheckHandler(
      () => ({ s3: s3.client, cloudwatch: new CloudWatchClient({ region: "ap-northeast-2" }), env }),
      () => new Date(now),
    );

  it("given the 2nd of November in Seoul and no October manifest, it publishes MonthManifestMissing = 1", async () => {
    const d = await handler("2026-11-02T00:00:00Z")({ source: "gpu-billing.schedule" });
    expect(d).toMatchObject({ month: "2026-10", complete: false, missing: ["cb/month=2026-10/manifest.json"] });
    const input = cw.commandCalls(PutMetricDataCommand)[0]!.args[0].input;
    expect(input).toMatchObject({ Namespace: "GpuBilling", MetricData: [{ MetricName: "MonthManifestMissing", Value: 1, Unit: "Count" }] });
  });

  it("given October's manifest exists, it publishes 0", async () => {
    await s3.client.send(new PutObjectCommand({ Bucket: "data", Key: "cb/month=2026-10/manifest.json", Body: "{}" }));
    const d = await handler("2026-11-02T00:00:00Z")({ source: "gpu-billing.schedule" });
    expect(d.complete).toBe(true);
    expect(cw.commandCalls(PutMetricDataCommand)[0]!.args[0].input.MetricData![0]!.Value).toBe(0);
  });

  it("given two clusters and a failed September that staged only seoul, the reason names busan as the cluster without a stage", async () => {
    await s3.client.send(new PutObjectCommand({ Bucket: "data", Key: "cb/staging/month=2026-09/cluster=seoul/manifest.json", Body: "{}" }));
    const multi = ManifestCheckEnvSchema.parse({ DATA_BUCKET: "data", DATA_PREFIX: "cb", CLUSTER_IDS: "seoul,busan" });
    const h = makeManifestCheckHandler(
      () => ({ s3: s3.client, cloudwatch: new CloudWatchClient({ region: "ap-northeast-2" }), env: multi }),
      () => new Date("2026-11-02T00:00:00Z"),
    );
    const d = await h({ month: "2026-09" });
    expect(d).toMatchObject({ complete: false, metricValue: 1 });
    expect(d.reason).toMatch(/Clusters without a stage: busan; staged by a failed run: seoul/);
    expect(() => ManifestCheckEnvSchema.parse({ DATA_BUCKET: "data", CLUSTER_IDS: "seoul,../x" })).toThrow(/CLUSTER_IDS|cluster ids/);
  });

  it("given a forged event or a path in the month, it fails before looking anything up", async () => {
    await expect(handler("2026-11-02T00:00:00Z")({ month: "../x" })).rejects.toThrow(/month: must be YYYY-MM/);
    await expect(handler("2026-11-02T00:00:00Z")({ bucket: "other" })).rejects.toThrow(/invalid event/);
    expect(cw.commandCalls(PutMetricDataCommand)).toHaveLength(0);
  });

  it("given CloudWatch rejects the metric, it throws (the function's error alarm fires, never a silent pass)", async () => {
    cw.on(PutMetricDataCommand).rejects(new Error("Throttling"));
    await expect(handler("2026-11-02T00:00:00Z")({})).rejects.toThrow(/Throttling/);
  });

  it("given a missing bucket variable, the error names DATA_BUCKET", () => {
    expect(() => buildManifestCheckDeps({})).toThrow(/DATA_BUCKET/);
  });
});
