// SNS has no local server here, so Publish is checked with aws-sdk-client-mock.
import { describe, expect, it } from "vitest";
import { mockClient } from "aws-sdk-client-mock";
import { PublishCommand, SNSClient } from "@aws-sdk/client-sns";
import { D } from "../../functions/core/decimal.js";
import { snsAlertPublisher } from "../../functions/adapters/sns-alert-publisher.js";
import type { QuotaStateStore } from "../../functions/quota/quota-ports.js";
import { loadAlertTemplates } from "../../functions/adapters/template-files.js";
import { monthToDateWindow } from "../../functions/quota/month-to-date.js";
import { runQuotaCheck } from "../../functions/quota/run-quota-check.js";
import { referenceConfigText } from "../core/fixtures.js";
import { parseConfig } from "../../functions/config/config-schema.js";

/** An in-memory state store with the same create/replace semantics (S3 itself is covered in quota-check.test.ts). */
function memoryStore(): QuotaStateStore {
  const m = new Map<string, { value: unknown; etag: string }>();
  let n = 0;
  return {
    list: async <T>(p: string) => new Map([...m].filter(([k]) => k.startsWith(p))) as Map<string, { value: T; etag: string }>,
    get: async <T>(k: string) => m.get(k) as { value: T; etag: string } | undefined,
    create: async (k, value) => (m.has(k) ? undefined : (m.set(k, { value, etag: `e${++n}` }), `e${n}`)),
    replace: async (k, value, etag) => (m.get(k)?.etag !== etag ? undefined : (m.set(k, { value, etag: `e${++n}` }), `e${n}`)),
    append: async (k, value) => void m.set(k, { value, etag: `e${++n}` }),
  };
}

describe("SNS alert publisher", () => {
  it("given a topic in the config, when suwon is warned, then one message goes to the topic with the tenant, basis, usage, quota and forecast", async () => {
    const sns = mockClient(SNSClient);
    sns.on(PublishCommand).resolves({ MessageId: "m1" });
    const cfg = parseConfig(`${referenceConfigText}\nquota: { snsTopicArn: "arn:aws:sns:ap-northeast-2:123456789012:gpu-quota" }\n`, "t");
    const report = await runQuotaCheck(
      {
        meter: async (c, month, now) => ({
          month,
          timeZone: c.timeZone,
          window: monthToDateWindow(month, c.timeZone, now),
          tenants: new Map([["suwon", { allocated: new D(85), billable: new D(60) }]]),
          namespaces: new Map(),
        }),
        store: memoryStore(),
        mailer: { send: async () => "ses-1" },
        templates: loadAlertTemplates(),
        publisher: snsAlertPublisher(new SNSClient({ region: "ap-northeast-2" }), "arn:aws:sns:ap-northeast-2:123456789012:gpu-quota"),
        actor: "test",
        runId: "r",
      },
      cfg,
      new Date("2026-10-20T09:00:00+09:00"),
    );
    expect(report.alerts.map((a) => [a.kind, a.outcome])).toEqual([
      ["warn", "sent"],
      ["forecast", "suppressed"],
    ]);
    const calls = sns.commandCalls(PublishCommand);
    expect(calls).toHaveLength(1);
    const input = calls[0]!.args[0].input;
    expect(input.TopicArn).toBe("arn:aws:sns:ap-northeast-2:123456789012:gpu-quota");
    expect(input.Subject).toBe("GPU quota warn: tenant=suwon 2026-10 85.0%"); // ASCII, as SNS requires
    expect(JSON.parse(input.Message!)).toMatchObject({
      type: "gpu-quota-warn",
      month: "2026-10",
      tenant: "suwon",
      basis: "allocated",
      usedGpuHours: "85.000000",
      quotaGpuHours: "100",
      ratio: "0.85",
    });
  });
});
