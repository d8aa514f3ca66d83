import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { ListObjectsV2Command, type S3Client } from "@aws-sdk/client-s3";
import { D } from "../../functions/core/decimal.js";
import { PrometheusUnavailableError } from "../../functions/adapters/prometheus-client.js";
import { s3QuotaStateStore } from "../../functions/adapters/quota-state-store.js";
import { sesAlertMailer } from "../../functions/adapters/ses-email.js";
import type { AlertMailer } from "../../functions/quota/quota-ports.js";
import { loadAlertTemplates } from "../../functions/adapters/template-files.js";
import { monthToDateWindow } from "../../functions/quota/month-to-date.js";
import { runQuotaCheck, QuotaCheckIncompleteError, type QuotaCheckDeps } from "../../functions/quota/run-quota-check.js";
import type { QuotaUsageInput } from "../../functions/quota/evaluate-quota.js";
import { referenceConfigText } from "../core/fixtures.js";
import { startS3, type LocalS3 } from "../support/s3.js";
import { startSesLocal } from "../support/ses-local.js";
import { type Config, parseConfig } from "../../functions/config/config-schema.js";

const BUCKET = "quota-state";
const cfg: Config = parseConfig(
  `${referenceConfigText}\nquota: { opsRecipients: [ops@platform.example.com], sender: gpu-billing@platform.example.com }\n`,
  "test",
);

/** The metered part stands in for Prometheus here (test/quota/quota-prometheus.test.ts meters a real one). */
const meterWith =
  (tenants: Record<string, number>) =>
  async (c: Config, month: string, now: Date): Promise<QuotaUsageInput> => ({
    month,
    timeZone: c.timeZone,
    window: monthToDateWindow(month, c.timeZone, now),
    tenants: new Map(Object.entries(tenants).map(([id, h]) => [id, { allocated: new D(h), billable: new D(h).mul("0.8") }])),
    namespaces: new Map(),
  });

describe("quota check with alert state in S3 (s3rver behind a conditional-put proxy) and email through aws-ses-v2-local", () => {
  let s3: LocalS3;
  let ses: Awaited<ReturnType<typeof startSesLocal>>;
  let prefixN = 0;
  let prefix = "";
  const templates = loadAlertTemplates();
  const deps = (client: S3Client, meter: QuotaCheckDeps["meter"], mailer?: AlertMailer, runId = "run"): QuotaCheckDeps => ({
    meter,
    store: s3QuotaStateStore(client, BUCKET, prefix),
    mailer: mailer ?? sesAlertMailer(ses.client, "gpu-billing@platform.example.com"),
    templates,
    actor: "test",
    runId,
  });

  beforeAll(async () => {
    s3 = await startS3(BUCKET, { preconditions: true });
    ses = await startSesLocal();
  });
  afterAll(async () => {
    await ses?.stop();
    await s3?.stop();
  });
  beforeEach(async () => {
    prefix = `quota-${++prefixN}`;
    await ses.clear();
  });

  it("given two runs at the same time over suwon at 85 %, when both evaluate, then exactly one warning email is sent", async () => {
    const now = new Date("2026-10-20T09:00:00+09:00");
    const meter = meterWith({ suwon: 85 });
    const [a, b] = await Promise.all([
      runQuotaCheck(deps(s3.client, meter, undefined, "run-a"), cfg, now),
      runQuotaCheck(deps(s3.client, meter, undefined, "run-b"), cfg, now),
    ]);
    const outcomes = [...a.alerts, ...b.alerts]
      .filter((x) => x.kind === "warn")
      .map((x) => x.outcome)
      .sort();
    expect(outcomes).toEqual(["sent", "taken-by-another-run"]);
    expect(s3.rejected()).toBeGreaterThan(0);
    const emails = await ses.emails();
    expect(emails).toHaveLength(1);
    expect(emails[0]!.destination.to).toEqual(["gpu-admin@suwon.example.go.kr"]);
    expect(emails[0]!.destination.bcc).toEqual(["ops@platform.example.com"]);
    expect(emails[0]!.subject).toBe("[GPU 사용량] 수원시 2026-10: GPU 사용량이 경고 기준에 도달했습니다 (85.0%)");
    expect(emails[0]!.body.text).toContain("기준: 할당 GPU-시간");
    expect(emails[0]!.body.text).toContain("이번 달 사용량: 85.00 h / 한도 100.00 h (85.0%)");
    expect(emails[0]!.body.html).toContain("<td>할당 GPU-시간</td>");
  });

  it("given a warning already sent, when the next hourly run sees more usage below block, then it is silent", async () => {
    await runQuotaCheck(deps(s3.client, meterWith({ suwon: 85 })), cfg, new Date("2026-10-20T09:00:00+09:00"));
    const second = await runQuotaCheck(deps(s3.client, meterWith({ suwon: 92 })), cfg, new Date("2026-10-20T10:00:00+09:00"));
    expect(second.alerts).toEqual([]);
    expect(await ses.emails()).toHaveLength(1);
  });

  it("given SES fails on the first run, when the next run works, then the alert is sent then and only once", async () => {
    const broken: AlertMailer = { send: async () => Promise.reject(new Error("SES throttled")) };
    const now = new Date("2026-10-20T09:00:00+09:00");
    const err = await runQuotaCheck(deps(s3.client, meterWith({ yongin: 51 }), broken), cfg, now).catch((e) => e);
    expect(err).toBeInstanceOf(QuotaCheckIncompleteError);
    expect((err as QuotaCheckIncompleteError).message).toMatch(/SES throttled/);
    expect(await ses.emails()).toHaveLength(0);
    const retry = await runQuotaCheck(deps(s3.client, meterWith({ yongin: 51 })), cfg, new Date("2026-10-20T09:05:00+09:00"));
    expect(retry.alerts.map((x) => [x.kind, x.outcome])).toEqual([["block", "sent"]]);
    const third = await runQuotaCheck(deps(s3.client, meterWith({ yongin: 51 })), cfg, new Date("2026-10-20T10:00:00+09:00"));
    expect(third.alerts).toEqual([]);
    const emails = await ses.emails();
    expect(emails.map((e) => e.subject)).toEqual([
      "[GPU 사용량] 용인시 2026-10: GPU 사용량이 한도에 도달하여 새 GPU 작업이 차단됩니다 (102.0%)",
    ]);
    expect(emails[0]!.body.text).toContain("차단은 시험 모드(dry-run)입니다");
  });

  it("given an English-language tenant on the billable basis, when it is warned, then the email is in English and states the billable basis", async () => {
    const c = parseConfig(`${referenceConfigText}\nquota: { basis: billable, tenants: { seongnam: { language: en } } }\n`, "t");
    await runQuotaCheck(deps(s3.client, meterWith({ seongnam: 110 })), c, new Date("2026-10-20T09:00:00+09:00"));
    const [email] = await ses.emails();
    expect(email!.subject).toBe("[GPU usage] 성남시 2026-10: GPU usage reached the warning threshold (88.0%)");
    expect(email!.body.text).toContain("Basis: billable GPU-hours (after utilization correction)");
  });

  it.each([
    ["20 minutes ago (the run died mid-send)", 20, 1],
    ["5 minutes ago (another run is sending now)", 5, 0],
  ])("given an alert claimed %s and never marked sent, when a run comes, then it sends %i email(s)", async (_what, minutesAgo, emails) => {
    const now = new Date("2026-10-20T09:00:00+09:00");
    const store = s3QuotaStateStore(s3.client, BUCKET, prefix);
    const claimedAt = new Date(now.getTime() - minutesAgo * 60_000).toISOString();
    await store.create("alerts/month=2026-10/tenant=suwon/warn-q100", { status: "sending", at: claimedAt, runId: "dead" });
    await store.create("alerts/month=2026-10/tenant=suwon/forecast-q100", { status: "suppressed", at: claimedAt, runId: "dead" });
    const r = await runQuotaCheck(deps(s3.client, meterWith({ suwon: 85 })), cfg, now);
    expect(r.alerts.filter((a) => a.outcome === "sent")).toHaveLength(emails);
    expect(await ses.emails()).toHaveLength(emails);
  });

  it("given Prometheus is unavailable, when the check runs, then it fails loudly and sends and writes nothing", async () => {
    const down = async () => Promise.reject(new PrometheusUnavailableError("http://127.0.0.1:9 unreachable after 4 retries"));
    await expect(runQuotaCheck(deps(s3.client, down), cfg, new Date("2026-10-20T09:00:00+09:00"))).rejects.toBeInstanceOf(
      PrometheusUnavailableError,
    );
    expect(await ses.emails()).toHaveLength(0);
    const listed = await s3.client.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: prefix }));
    expect(listed.KeyCount ?? 0).toBe(0);
  });
});
