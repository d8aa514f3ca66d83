// CloudWatch has no local server here, so PutMetricData is checked with aws-sdk-client-mock.
import { describe, expect, it } from "vitest";
import { mockClient } from "aws-sdk-client-mock";
import { CloudWatchClient, PutMetricDataCommand } from "@aws-sdk/client-cloudwatch";
import { cloudWatchQuotaMetrics, MAX_DATUMS_PER_CALL } from "../../functions/adapters/cloudwatch-metrics.js";

describe("CloudWatch quota metrics", () => {
  const at = new Date("2026-10-20T00:00:00Z");

  it("given a tenant with a quota and one without, when published, then GpuHoursUsed goes for both and GpuQuotaUsedRatio only for the one with a quota, dimension Tenant", async () => {
    const cw = mockClient(CloudWatchClient);
    cw.on(PutMetricDataCommand).resolves({});
    const calls = await cloudWatchQuotaMetrics(new CloudWatchClient({ region: "ap-northeast-2" }), "GpuBilling/Quota").put(
      [
        { tenantId: "suwon", usedGpuHours: 85.5, quotaUsedRatio: 0.855 },
        { tenantId: "team-ai", usedGpuHours: 300 },
      ],
      at,
    );
    expect(calls).toBe(1);
    const input = cw.commandCalls(PutMetricDataCommand)[0]!.args[0].input;
    expect(input.Namespace).toBe("GpuBilling/Quota");
    expect(input.MetricData!.map((d) => [d.MetricName, d.Dimensions, d.Value, d.Timestamp])).toEqual([
      ["GpuHoursUsed", [{ Name: "Tenant", Value: "suwon" }], 85.5, at],
      ["GpuQuotaUsedRatio", [{ Name: "Tenant", Value: "suwon" }], 0.855, at],
      ["GpuHoursUsed", [{ Name: "Tenant", Value: "team-ai" }], 300, at],
    ]);
  });

  it("given more data points than one call may carry, when published, then they are split into batches within the limit and none is lost", async () => {
    const cw = mockClient(CloudWatchClient);
    cw.on(PutMetricDataCommand).resolves({});
    const tenants = Array.from({ length: 700 }, (_, i) => ({ tenantId: `t${i}`, usedGpuHours: i, quotaUsedRatio: i / 1000 }));
    const calls = await cloudWatchQuotaMetrics(new CloudWatchClient({ region: "ap-northeast-2" }), "GpuBilling/Quota").put(tenants, at);
    const sizes = cw.commandCalls(PutMetricDataCommand).map((c) => c.args[0].input.MetricData!.length);
    expect(calls).toBe(2);
    expect(sizes).toEqual([MAX_DATUMS_PER_CALL, 400]);
    const tenantsSeen = new Set(
      cw.commandCalls(PutMetricDataCommand).flatMap((c) => c.args[0].input.MetricData!.map((d) => d.Dimensions![0]!.Value)),
    );
    expect(tenantsSeen.size).toBe(700);
  });
});
