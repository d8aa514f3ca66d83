/**
 * Quota checks against a real Prometheus 2.42 backfilled with generated GPU
 * usage (3 days, demo scale), run at known hours; alert state in s3rver
 * behind the conditional-put proxy, email through aws-ses-v2-local.
 *
 * The data covers 2026-10-01..03 in Asia/Seoul. The test bills in
 * America/Los_Angeles, where those hours straddle a month boundary (the data
 * starts on 09-30 local), so one generated dataset gives a September and an
 * October: alerts that fired in September fire again in October.
 *
 * Quotas are chosen from the generator's exact answer (a minute-by-minute
 * simulation independent of PromQL) so that each threshold is crossed between
 * two known runs with a wide margin; the expected alert of every run is stated
 * below, not derived from the code under test.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import path from "node:path";
import { mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { vi } from "vitest";
import { main } from "../../functions/cli/main.js";
import { DEMO_3_DAYS_DATA } from "../global-setup.js";
import { computeChargeback } from "../../functions/core/chargeback.js";
import { D, type Dec } from "../../functions/core/decimal.js";
import { createPrometheusClient } from "../../functions/adapters/prometheus-client.js";
import { loadQueries } from "../../functions/adapters/query-files.js";
import { s3QuotaStateStore } from "../../functions/adapters/quota-state-store.js";
import { sesAlertMailer } from "../../functions/adapters/ses-email.js";
import { loadAlertTemplates } from "../../functions/adapters/template-files.js";

import { currentMonth } from "../../functions/core/month.js";
import { runQuotaCheck, type QuotaCheckReport } from "../../functions/quota/run-quota-check.js";
import { exactAnswer, type GeneratedMonth } from "../../functions/demo/month-generator.js";
import { prepareMonthData, startPrometheus } from "../../functions/demo/local-prometheus.js";
import { referenceConfigText } from "../core/fixtures.js";
import { startS3, type LocalS3 } from "../support/s3.js";
import { startSesLocal, type StoredEmail } from "../support/ses-local.js";
import { type Config, parseConfig } from "../../functions/config/config-schema.js";
import { meterMonthToDateFromPrometheus } from "../../functions/wiring/prometheus-metering.js";
import { configWith } from "../support/config-edit.js";

const TZ = "America/Los_Angeles";
/**
 * The demo's municipalities run little in the month's first days (their month is shaped to end
 * under, past 80 % and past 100 % of their quotas), so here each also owns one busy HQ namespace
 * without a tenant label, whose jobs run all through the three days (the first matching glob wins).
 */
const CONFIG_TEXT = configWith(
  referenceConfigText,
  [
    ["tenants", { id: "suwon" }, "namespaces"],
    ["suwon-*", "team-ai"],
  ],
  [
    ["tenants", { id: "seongnam" }, "namespaces"],
    ["seongnam-*", "project-llm-serving"],
  ],
);
const H = 3_600_000;
const at = (iso: string) => new Date(iso);

/** Runs in local (Los Angeles) time. Data starts 09-30 05:00 and ends 10-03 11:00 PDT. */
const SEPT = ["2026-09-30T12:00:00-07:00", "2026-09-30T23:00:00-07:00"];
const OCT = [
  "2026-10-01T06:00:00-07:00",
  "2026-10-01T18:00:00-07:00",
  "2026-10-02T06:00:00-07:00",
  "2026-10-02T18:00:00-07:00",
  "2026-10-03T06:00:00-07:00",
];

describe("quota checks against a real Prometheus with a generated month", () => {
  let prom: { url: string; stop(): Promise<void> };
  let gen: GeneratedMonth;
  let s3: LocalS3;
  let ses: Awaited<ReturnType<typeof startSesLocal>>;
  let cfg: Config;
  let cfgText = "";
  let base: Config;
  /** Exact allocated GPU-hours of a tenant, month to date at `t` (billing month in TZ). */
  let exact: (tenant: string, t: Date) => Dec;
  const plan = { suwon: { quota: 0, warn: 0 }, seongnam: { quota: 0 } };

  beforeAll(async () => {
    const prepared = await prepareMonthData({ ...DEMO_3_DAYS_DATA });
    gen = prepared.gen;
    [prom, s3, ses] = await Promise.all([
      startPrometheus({ dataDir: prepared.dataDir }),
      startS3("quota-it", { preconditions: true }),
      startSesLocal(),
    ]);
    base = parseConfig(configWith(CONFIG_TEXT, [["timeZone"], TZ]), "base");
    exact = (tenant, t) => {
      const month = currentMonth(t, TZ);
      const clipped = {
        ...gen,
        month,
        timeZone: TZ,
        facts: { ...gen.facts, dataEndMs: Number.MAX_SAFE_INTEGER },
        jobs: gen.jobs.map((j) => ({ ...j, runEndMs: Math.min(j.runEndMs, t.getTime()) })),
      };
      return computeChargeback(exactAnswer(clipped), base, month)
        .rows.filter((r) => r.tenantId === tenant)
        .reduce((a, r) => a.add(r.allocatedGpuHours), new D(0));
    };
    // suwon: warn between OCT[1] and OCT[2], block between OCT[3] and OCT[4] (midpoints of exact usage).
    const s = OCT.map((t) => exact("suwon", at(t)));
    const warnAt = s[1]!.add(s[2]!).div(2);
    const blockAt = s[3]!.add(s[4]!).div(2);
    plan.suwon = { quota: blockAt.toDecimalPlaces(3).toNumber(), warn: warnAt.div(blockAt).toDecimalPlaces(4).toNumber() };
    // seongnam: blocked in September (between SEPT[0] and SEPT[1]), and again in October with the same quota.
    const g = SEPT.map((t) => exact("seongnam", at(t)));
    plan.seongnam = { quota: g[0]!.add(g[1]!).div(2).toDecimalPlaces(3).toNumber() };
    const withQuotas = configWith(
      CONFIG_TEXT,
      [["timeZone"], TZ],
      [["tenants", { id: "suwon" }, "monthlyQuotaGpuHours"], plan.suwon.quota],
      [["tenants", { id: "seongnam" }, "monthlyQuotaGpuHours"], plan.seongnam.quota],
    );
    cfgText = `${withQuotas}\nquota: { language: en, forecastMinElapsedHours: 6, tenants: { suwon: { thresholds: { warn: ${plan.suwon.warn} } } } }\n`;
    cfg = parseConfig(cfgText, "quota-it");
  });
  afterAll(async () => {
    await Promise.all([prom?.stop(), ses?.stop(), s3?.stop()]);
  });

  const run = async (iso: string, runId: string): Promise<{ report: QuotaCheckReport; emails: StoredEmail[] }> => {
    const before = (await ses.emails()).length;
    const prometheus = createPrometheusClient({ url: prom.url });
    const report = await runQuotaCheck(
      {
        meter: (c, month, now) => meterMonthToDateFromPrometheus({ prometheus, queries: loadQueries() }, c, month, now),
        store: s3QuotaStateStore(s3.client, "quota-it", "quota"),
        mailer: sesAlertMailer(ses.client, "gpu-billing@platform.example.com"),
        templates: loadAlertTemplates(),
        actor: "test",
        runId,
      },
      cfg,
      at(iso),
    );
    return { report, emails: (await ses.emails()).slice(before) };
  };
  const sent = (r: QuotaCheckReport, tenant: string) =>
    r.alerts.filter((a) => a.subject === `tenant=${tenant}` && a.outcome === "sent").map((a) => a.kind);

  it("given the exact answer, the chosen quotas leave every run at least 2% away from each threshold (the plan is sound)", () => {
    const s = OCT.map((t) => exact("suwon", at(t)).toNumber());
    const warnH = plan.suwon.quota * plan.suwon.warn;
    expect(s[1]! / warnH).toBeLessThan(0.98);
    expect(s[2]! / warnH).toBeGreaterThan(1.02);
    expect(s[3]! / plan.suwon.quota).toBeLessThan(0.98);
    expect(s[4]! / plan.suwon.quota).toBeGreaterThan(1.02);
    const g = SEPT.map((t) => exact("seongnam", at(t)).toNumber());
    expect(g[0]! / plan.seongnam.quota).toBeLessThan(0.98);
    expect(g[1]! / plan.seongnam.quota).toBeGreaterThan(1.02);
  });

  it("given hourly-style runs through September and October, then each alert fires exactly once at the run after its crossing, a repeated run is silent, and October re-arms September's alerts", async () => {
    const log: Record<string, { suwon: string[]; seongnam: string[]; emails: number }> = {};
    const reports: Record<string, QuotaCheckReport> = {};
    for (const [i, t] of [...SEPT, ...OCT].entries()) {
      const { report, emails } = await run(t, `run-${i}`);
      reports[t] = report;
      log[t] = { suwon: sent(report, "suwon"), seongnam: sent(report, "seongnam"), emails: emails.length };
      if (t === OCT[2]) {
        // The same hour again (a retry, or a second scheduler firing): nothing new.
        const again = await run(t, `run-${i}-again`);
        expect(again.report.alerts, "repeated run").toEqual([]);
        expect(again.emails).toEqual([]);
      }
    }
    const seongnamSeptFirst = log[SEPT[0]!]!.seongnam;
    expect(seongnamSeptFirst.includes("block")).toBe(false);
    expect(log[SEPT[1]!]!.seongnam).toEqual(["block"]);
    // suwon: warn at OCT[2], block at OCT[4], never again.
    const suwonByRun = OCT.map((t) => log[t]!.suwon.filter((k) => k !== "forecast"));
    expect(suwonByRun).toEqual([[], [], ["warn"], [], ["block"]]);
    // The early warning goes out at the first run whose exact month-to-date rate projects past the quota.
    const monthStartMs = at("2026-10-01T00:00:00-07:00").getTime();
    const projectsOver = (t: string) =>
      exact("suwon", at(t))
        .div((at(t).getTime() - monthStartMs) / H)
        .mul(744)
        .gt(plan.suwon.quota);
    expect(OCT.filter((t) => log[t]!.suwon.includes("forecast"))).toEqual([OCT.find(projectsOver)]);
    // seongnam in October: block fires again (re-armed by the new month) exactly once.
    const seongnamOctBlocks = OCT.filter((t) => log[t]!.seongnam.includes("block"));
    expect(seongnamOctBlocks).toHaveLength(1);
    const firstOctOver = OCT.find((t) => exact("seongnam", at(t)).gte(plan.seongnam.quota));
    expect(seongnamOctBlocks[0]).toBe(firstOctOver);
    // Every alert kind appears at most once per tenant and month.
    for (const [tenant, runs] of [
      ["suwon", OCT],
      ["seongnam", SEPT],
      ["seongnam", OCT],
    ] as const) {
      const kinds = runs.flatMap((t) => log[t]![tenant]);
      expect(new Set(kinds).size, `${tenant} ${runs[0]}`).toBe(kinds.length);
    }

    // Forecasts of the block run match the exact answer's rate.
    const r = reports[OCT[3]!]!.statuses.find((s) => s.subject.key === "tenant=suwon")!;
    const t3 = at(OCT[3]!).getTime();
    const monthStart = at("2026-10-01T00:00:00-07:00").getTime();
    const exactUsed = exact("suwon", at(OCT[3]!)).toNumber();
    const exactMonthEnd = (exactUsed / ((t3 - monthStart) / H)) * 744;
    expect(Math.abs(r.forecast.monthEndGpuHours.toNumber() - exactMonthEnd) / exactMonthEnd).toBeLessThan(0.01);
    const exactCross = monthStart + (plan.suwon.quota / exactUsed) * (t3 - monthStart);
    expect(Math.abs(r.forecast.crossesBlockAtMs! - exactCross)).toBeLessThan(0.01 * (t3 - monthStart));
    expect(r.basis).toBe("allocated");
  });

  it("given the run that blocked suwon, then its email states the basis, usage, quota and the month-end forecast", async () => {
    const emails = await ses.emails();
    const block = emails.find((e) => e.subject.startsWith("[GPU usage] 수원시 2026-10: GPU usage reached the quota"))!;
    expect(block, emails.map((e) => e.subject).join("\n")).toBeDefined();
    expect(block.destination.to).toEqual(["gpu-admin@suwon.example.go.kr"]);
    expect(block.body.text).toContain("Basis: allocated GPU-hours");
    expect(block.body.text).toMatch(new RegExp(`Used this month: [\\d.]+ h of a ${plan.suwon.quota.toFixed(2)} h quota`));
    expect(block.body.text).toMatch(/Projected month-end usage: [\d.]+ h/);
  });

  it("given the runs above, when `gpu-billing quota status` is asked about October, then it prints each tenant's usage, quota, %, forecast and alert state", async () => {
    const file = path.join(await mkdtemp(path.join(tmpdir(), "quota-cli-")), "config.yaml");
    await writeFile(file, cfgText);
    const out: string[] = [];
    const spy = vi.spyOn(console, "log").mockImplementation((...a: unknown[]) => void out.push(a.join(" ")));
    const env = { ...process.env, AWS_ACCESS_KEY_ID: "S3RVER", AWS_SECRET_ACCESS_KEY: "S3RVER", AWS_REGION: "us-east-1" };
    const saved = { ...process.env };
    Object.assign(process.env, env); // the S3 client reads credentials from the process environment
    try {
      const code = await main(
        [
          "quota",
          "status",
          "--month",
          "2026-10",
          "--config",
          file,
          "--prometheus-url",
          prom.url,
          "--bucket",
          "quota-it",
          "--s3-endpoint",
          s3.endpoint,
        ],
        env,
        at(OCT[4]!),
      );
      expect(code).toBe(0);
    } finally {
      spy.mockRestore();
      process.env = saved;
    }
    const text = out.join("\n");
    expect(text).toContain("GPU-hour quotas 2026-10 (America/Los_Angeles), as of 2026-10-03 06:00; basis: allocated GPU-hours");
    const suwon = text.split("\n").find((l) => l.startsWith("수원시"))!;
    expect(suwon).toMatch(
      new RegExp(`^수원시\\s+[\\d.]+\\s+${plan.suwon.quota.toFixed(2)}\\s+\\d+\\.\\d%\\s+[\\d.]+\\s+-\\s+block\\s+alerts: `),
    );
    expect(suwon).toContain("block");
    expect(suwon).toContain("warn");
    expect(text.split("\n").find((l) => l.startsWith("AI팀"))).toMatch(/unlimited\s+-\s+[\d.]+\s+-\s+unlimited$/);
  });
});
