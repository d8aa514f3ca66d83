import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { cp, mkdtemp, readdir } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { ListObjectsV2Command } from "@aws-sdk/client-s3";
import { s3Sink } from "../../functions/adapters/dataset-sink.js";
import { buildMonthlyDeps, DeliveryIncompleteError, makeMonthlyHandler } from "../../functions/handlers/monthly-handler.js";
import { main } from "../../functions/cli/main.js";
import type { PrometheusClient } from "../../functions/adapters/prometheus-client.js";
import { referenceConfigText, referenceConfigTextWithoutReports } from "../core/fixtures.js";
import { startS3 } from "../support/s3.js";
import { demoDataset, MONTH } from "../report/fixtures.js";
import { startSesLocal } from "../support/ses-local.js";

describe("report CLI and monthly Lambda handler", () => {
  let ses: Awaited<ReturnType<typeof startSesLocal>>;
  let s3: Awaited<ReturnType<typeof startS3>>;
  let root: string;
  beforeAll(async () => {
    [ses, s3] = await Promise.all([startSesLocal(), startS3("billing")]);
    const d = await demoDataset();
    root = d.root;
    await s3Sink(s3.client, "billing", "cb").write(MONTH, d.dataset);
  });
  afterAll(async () => Promise.all([ses?.stop(), s3?.stop()]));

  it("given `report --out DIR` without --send, it writes every PDF, workbook and .eml and sends nothing", async () => {
    const out = await mkdtemp(path.join(tmpdir(), "cli-"));
    await cp(root, out, { recursive: true });
    const log = vi.spyOn(console, "log").mockImplementation(() => undefined);
    const code = await main(["report", "--month", MONTH, "--out", out, "--lang", "en"]);
    log.mockRestore();
    expect(code).toBe(0);
    const files = await readdir(path.join(out, "reports", `month=${MONTH}`));
    expect(files.filter((f) => f.endsWith(".pdf"))).toHaveLength(7); // platform + 6 tenants
    expect(files.filter((f) => f.endsWith(".xlsx"))).toHaveLength(7);
    expect(files).toContain("email-tenant-suwon-gpu-admin@suwon.example.go.kr.eml");
    expect(files.every((f) => !f.endsWith(".pdf") || f.endsWith("-en.pdf"))).toBe(true);
    expect(await ses.emails()).toHaveLength(0);
  });

  it("given a month with no dataset, the CLI exits 2 with the reason and sends nothing", async () => {
    const err = vi.spyOn(console, "error").mockImplementation(() => undefined);
    const code = await main([
      "report",
      "--month",
      "2026-08",
      "--out",
      root,
      "--send",
      "--from",
      "billing@platform.example.com",
      "--ses-endpoint",
      ses.url,
    ]);
    const msg = err.mock.calls.flat().join("\n");
    err.mockRestore();
    expect(code).toBe(2);
    expect(msg).toMatch(/no completed dataset for 2026-08/);
    expect(await ses.emails()).toHaveLength(0);
  });

  it("given the monthly handler's environment without a sender, the error names SES_FROM; without a bucket, DATA_BUCKET", () => {
    expect(() =>
      buildMonthlyDeps({ DATA_BUCKET: "billing", BILLING_CONFIG: referenceConfigTextWithoutReports }, { s3: s3.client, ses: ses.client }),
    ).toThrow(/SES_FROM/);
    expect(() => buildMonthlyDeps({ BILLING_CONFIG: referenceConfigText, SES_FROM: "a@b.co" })).toThrow(/DATA_BUCKET/);
  });

  it("given a scheduled run on Nov 1 with October's dataset already complete, it does not meter again, delivers once, and a retry sends nothing", async () => {
    process.env.AWS_ACCESS_KEY_ID ??= "LOCAL";
    process.env.AWS_SECRET_ACCESS_KEY ??= "LOCAL";
    const built = buildMonthlyDeps(
      { DATA_BUCKET: "billing", DATA_PREFIX: "cb", BILLING_CONFIG: referenceConfigText, SES_FROM: "billing@platform.example.com" },
      { s3: s3.client, ses: ses.client },
    );
    // Prometheus must not be asked: the month's manifest exists.
    const prometheus: PrometheusClient = {
      url: "http://prom",
      query: async () => {
        throw new Error("Prometheus must not be queried");
      },
    };
    const h = makeMonthlyHandler(
      () => ({ ...built, meter: { ...built.meter, prometheusFor: () => prometheus } }),
      () => new Date("2026-10-31T15:10:00Z"),
    );
    const first = await h({ source: "aws.scheduler" });
    expect(first).toMatchObject({ month: MONTH, sent: 8, skipped: 0, failed: 0 });
    expect((await ses.emails()).map((m) => m.destination.to[0]).sort()).toEqual([
      "cio@platform.example.com",
      "finance@platform.example.com",
      "gpu-admin@seongnam.example.go.kr",
      "gpu-admin@suwon.example.go.kr",
      "gpu-admin@yongin.example.go.kr",
      "project-llm@platform.example.com",
      "team-ai@platform.example.com",
      "team-data@platform.example.com",
    ]);
    const ledger = await s3.client.send(new ListObjectsV2Command({ Bucket: "billing", Prefix: `cb/deliveries/month=${MONTH}/` }));
    expect(ledger.Contents).toHaveLength(8);
    const retry = await h({ source: "aws.scheduler" });
    expect(retry).toMatchObject({ sent: 0, skipped: 8 });
    expect(await ses.emails()).toHaveLength(8);
  });

  it("given SES rejecting a recipient, the handler delivers the rest and rethrows so Lambda retries", async () => {
    const d = await demoDataset();
    await s3Sink(s3.client, "billing", "cb2").write(MONTH, d.dataset);
    const built = buildMonthlyDeps(
      { DATA_BUCKET: "billing", DATA_PREFIX: "cb2", BILLING_CONFIG: referenceConfigText, SES_FROM: "billing@platform.example.com" },
      { s3: s3.client, ses: ses.client },
    );
    const real = built.deliver.sender!;
    const sender = async (to: string[], raw: Buffer) => {
      if (to[0] === "team-ai@platform.example.com")
        throw Object.assign(new Error("Email address is not verified."), { name: "MessageRejected", $metadata: { httpStatusCode: 400 } });
      return real(to, raw);
    };
    await ses.clear();
    const h = makeMonthlyHandler(
      () => ({ ...built, deliver: { ...built.deliver, sender } }),
      () => new Date("2026-11-02T00:00:00Z"),
    );
    await expect(h({ month: MONTH })).rejects.toThrow(DeliveryIncompleteError);
    await expect(h({ month: MONTH })).rejects.toThrow(/team-ai@platform\.example\.com: MessageRejected/);
    expect(await ses.emails()).toHaveLength(7); // the seven others (5 tenants, finance, executive), once: the second run skipped them
  });

  it("given a delivered month, when ops re-run it for one tenant with resend, then only that tenant's email goes again (finance and executive unchanged, not resent)", async () => {
    const d = await demoDataset();
    await s3Sink(s3.client, "billing", "cb3").write(MONTH, d.dataset);
    const built = buildMonthlyDeps(
      { DATA_BUCKET: "billing", DATA_PREFIX: "cb3", BILLING_CONFIG: referenceConfigText },
      { s3: s3.client, ses: ses.client },
    );
    const h = makeMonthlyHandler(
      () => built,
      () => new Date("2026-11-02T00:00:00Z"),
    );
    await ses.clear();
    expect(await h({ month: MONTH })).toMatchObject({ sent: 8 });
    await ses.clear();
    const rerun = await h({
      source: "gpu-billing.rerun",
      month: MONTH,
      tenants: ["suwon"],
      resend: true,
      reason: "tenant disputes the bill",
    });
    expect(rerun).toMatchObject({ sent: 1, skipped: 2 });
    expect((await ses.emails()).map((m) => m.destination.to[0])).toEqual(["gpu-admin@suwon.example.go.kr"]);
    await expect(h({ source: "gpu-billing.rerun", month: MONTH, tenants: ["nobody"] })).rejects.toThrow(/unknown tenant id\(s\) nobody/);
  });

  it("given a malformed event, it fails before building anything", async () => {
    const h = makeMonthlyHandler(() => {
      throw new Error("must not build deps");
    });
    await expect(h({ month: "2026-13" })).rejects.toThrow(/month: must be YYYY-MM/);
  });
});
