import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { execFileSync } from "node:child_process";
import { cp, mkdtemp, readdir, readFile, unlink } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import ExcelJS from "exceljs";
import { deliverMonth, type DeliverDeps } from "../../functions/delivery/deliver-month.js";
import { localDatasetSource } from "../../functions/adapters/dataset-source.js";
import { localLedger, s3Ledger } from "../../functions/adapters/delivery-ledger.js";
import { s3LinkStore } from "../../functions/adapters/s3-link-store.js";
import { sesRawSender } from "../../functions/adapters/ses-email.js";
import { emailTemplateFiles } from "../../functions/adapters/template-files.js";
import type { DeliveryLedger, RawSender } from "../../functions/delivery/delivery-ports.js";
import { DatasetNotFoundError } from "../../functions/report/dataset-files.js";
import { referenceConfig } from "../core/fixtures.js";
import { startS3 } from "../support/s3.js";
import { demoDataset, MONTH } from "../report/fixtures.js";
import { startSesLocal, type StoredEmail } from "../support/ses-local.js";
import { planDeliveries } from "../../functions/report/delivery-plan.js";
import type { Config } from "../../functions/config/config-schema.js";
import { fontFiles } from "../../functions/adapters/font-files.js";

const FINANCE = "finance@platform.example.com";
const CEO = "ceo@platform.example.com";

/** The reference customer plus report recipients; the data team has nobody to send to. */
function deliveryConfig(over: Partial<NonNullable<Config["reports"]>> = {}): Config {
  const cfg = referenceConfig();
  return {
    ...cfg,
    tenants: cfg.tenants.map((t) => (t.id === "team-data" ? { ...t, recipients: [] } : t)),
    reports: {
      from: "billing@platform.example.com",
      financeRecipients: [FINANCE],
      executiveRecipients: [CEO],
      lang: "ko",
      attachmentLinkThresholdBytes: 7 * 1024 * 1024,
      linkExpiryDays: 7,
      ...over,
    },
  };
}

function pdfText(b64: string): string {
  return execFileSync("pdftotext", ["-layout", "-", "-"], { input: Buffer.from(b64, "base64"), encoding: "utf8" });
}

describe("monthly delivery through a local SES (aws-ses-v2-local)", () => {
  let ses: Awaited<ReturnType<typeof startSesLocal>>;
  let root: string;
  const cfg = deliveryConfig();
  const deps = (over: Partial<DeliverDeps> = {}): DeliverDeps => ({
    source: localDatasetSource(root),
    sender: sesRawSender(ses.client, cfg.reports!.from!),
    ledger: localLedger(root),
    templates: emailTemplateFiles(),
    fonts: fontFiles(),
    now: () => new Date("2026-11-01T00:10:00+09:00"),
    sleep: async () => undefined,
    ...over,
  });
  beforeAll(async () => {
    ses = await startSesLocal();
    root = (await demoDataset(referenceConfig())).root;
  });
  afterAll(async () => ses?.stop());

  it("given a completed month, each tenant's recipients get their own PDF and workbook, finance the full set with chargeback.csv, executives the full PDF", async () => {
    const r = await deliverMonth(deps(), cfg, MONTH);
    const mails = await ses.emails();
    const byTo = (to: string) => mails.filter((m) => m.destination.to.includes(to));
    for (const t of cfg.tenants.filter((t) => t.recipients.length)) {
      const [m, ...more] = byTo(t.recipients[0]!);
      expect(more).toHaveLength(0);
      expect(m!.attachments.map((a) => a.filename).sort()).toEqual([
        `gpu-report-${MONTH}-${t.id}-ko.pdf`,
        `gpu-report-${MONTH}-${t.id}-ko.xlsx`,
      ]);
      expect(m!.subject).toContain(t.name);
      expect(m!.body.text).toContain(t.name);
      expect(m!.body.html).toContain(t.name);
    }
    const fin = byTo(FINANCE);
    expect(fin).toHaveLength(1);
    expect(fin[0]!.attachments.map((a) => a.filename).sort()).toEqual([
      `chargeback-${MONTH}.csv`,
      `gpu-report-${MONTH}-all-ko.pdf`,
      `gpu-report-${MONTH}-all-ko.xlsx`,
    ]);
    const csv = Buffer.from(fin[0]!.attachments.find((a) => a.filename!.endsWith(".csv"))!.content, "base64");
    expect(csv.equals(await readFile(path.join(root, `month=${MONTH}`, "chargeback.csv")))).toBe(true);
    expect(byTo(CEO)[0]!.attachments.map((a) => a.filename)).toEqual([`gpu-report-${MONTH}-all-ko.pdf`]);
    expect(mails).toHaveLength(cfg.tenants.filter((t) => t.recipients.length).length + 2);
    expect(r.tenantsWithoutRecipients).toEqual(["team-data"]);
    expect(r.outcomes.filter((o) => o.status === "sent")).toHaveLength(mails.length);
    expect(r.outcomes.every((o) => o.status === "sent")).toBe(true);
  });

  it("given a tenant's mail, neither its body nor its PDF nor its workbook holds another tenant's name or namespaces", async () => {
    const mails = await ses.emails();
    const suwon = mails.find((m) => m.destination.to.includes("gpu-admin@suwon.example.go.kr"))!;
    const others = cfg.tenants.filter((t) => t.id !== "suwon").map((t) => t.name);
    const otherNamespaces = ["seongnam-", "yongin-", "team-ai", "team-data", "project-llm", "sandbox-misc"];
    const pdf = pdfText(suwon.attachments.find((a) => a.filename!.endsWith(".pdf"))!.content);
    const wb = new ExcelJS.Workbook();
    await wb.xlsx.load(
      Buffer.from(suwon.attachments.find((a) => a.filename!.endsWith(".xlsx"))!.content, "base64") as unknown as ArrayBuffer,
    );
    const cells: string[] = [];
    wb.eachSheet((ws) => ws.eachRow((row) => row.eachCell((c) => cells.push(String(c.value)))));
    for (const text of [suwon.subject, suwon.body.text!, suwon.body.html!, pdf, cells.join("\n")]) {
      expect(text).toContain("수원시");
      for (const o of [...others, ...otherNamespaces]) expect(text).not.toContain(o);
    }
    // its workbook lists suwon's own pods, and no other tenant's pod
    const pods = new Set<string>();
    wb.getWorksheet("파드")!.eachRow((r, i) => i > 1 && pods.add(String(r.getCell(2).value)));
    const ds = await localDatasetSource(root).read(MONTH);
    for (const p of ds.pods!.filter((p) => p.tenantId === "suwon")) expect(pods.has(p.pod), p.pod).toBe(true);
    for (const p of ds.pods!.filter((p) => p.tenantId !== "suwon")) expect(pods.has(p.pod), p.pod).toBe(false);
  });

  it("given a second run (or a Lambda retry), nothing new is sent; with resend, everything is sent again", async () => {
    const before = (await ses.emails()).length;
    const again = await deliverMonth(deps(), cfg, MONTH);
    expect((await ses.emails()).length).toBe(before);
    expect(again.outcomes.every((o) => o.status === "skipped" && /already sent/.test(o.reason))).toBe(true);
    const resent = await deliverMonth(deps(), cfg, MONTH, { resend: true });
    expect((await ses.emails()).length).toBe(2 * before);
    expect(resent.outcomes.every((o) => o.status === "sent")).toBe(true);
    const ledger = await readdir(path.join(root, "deliveries", `month=${MONTH}`));
    expect(ledger).toHaveLength(before);
    const rec = JSON.parse(
      await readFile(
        path.join(
          root,
          "deliveries",
          `month=${MONTH}`,
          ledger.find((f) => f.startsWith("finance"))!,
        ),
        "utf8",
      ),
    );
    expect(rec).toMatchObject({ month: MONTH, kind: "finance", recipient: FINANCE, status: "sent" });
    expect(rec.messageId).toMatch(/.+/);
    expect(rec.contentHash).toMatch(/^[0-9a-f]{64}$/);
  });

  it("given SES throttles one recipient and rejects another, the first is retried with backoff, the rest are not blocked, and a re-run sends only the missing one", async () => {
    const fresh = await mkdtemp(path.join(tmpdir(), "delivery-"));
    await cp(root, fresh, { recursive: true, filter: (src) => !src.includes(`${path.sep}deliveries`) });
    await ses.clear();
    const real = sesRawSender(ses.client, cfg.reports!.from!);
    let throttles = 0;
    const waits: number[] = [];
    const flaky: RawSender = async (to, raw) => {
      if (to[0] === "gpu-admin@suwon.example.go.kr" && throttles < 2) {
        throttles++;
        throw Object.assign(new Error("Maximum sending rate exceeded."), {
          name: "TooManyRequestsException",
          $metadata: { httpStatusCode: 429 },
        });
      }
      if (to[0] === "gpu-admin@seongnam.example.go.kr")
        throw Object.assign(new Error("Service unavailable"), { name: "InternalFailure", $metadata: { httpStatusCode: 500 } });
      return real(to, raw);
    };
    const r = await deliverMonth(
      deps({
        source: localDatasetSource(fresh),
        ledger: localLedger(fresh),
        sender: flaky,
        sleep: async (ms) => void waits.push(ms),
        random: () => 1,
      }),
      cfg,
      MONTH,
      { backoffBaseMs: 100 },
    );
    const o = (to: string) => r.outcomes.find((x) => x.recipient === to)!;
    expect(o("gpu-admin@suwon.example.go.kr")).toMatchObject({ status: "sent", attempts: 3 });
    expect(o("gpu-admin@seongnam.example.go.kr")).toMatchObject({ status: "failed", attempts: 4 });
    expect(waits).toEqual([100, 200, 100, 200, 400]); // suwon: 2 waits; seongnam: 3 waits before giving up
    expect(o(FINANCE).status).toBe("sent");
    const sentFirst = (await ses.emails()).length;
    expect(sentFirst).toBe(r.outcomes.filter((x) => x.status === "sent").length);

    const rerun = await deliverMonth(deps({ source: localDatasetSource(fresh), ledger: localLedger(fresh) }), cfg, MONTH);
    expect(rerun.outcomes.filter((x) => x.status === "sent").map((x) => x.recipient)).toEqual(["gpu-admin@seongnam.example.go.kr"]);
    expect((await ses.emails()).length).toBe(sentFirst + 1);
  });

  it("given attachments over the size limit, they go as presigned S3 links that expire in 7 days and download the report", async () => {
    const s3 = await startS3("reports");
    try {
      const fresh = await mkdtemp(path.join(tmpdir(), "delivery-"));
      await cp(root, fresh, { recursive: true, filter: (src) => !src.includes(`${path.sep}deliveries`) });
      await ses.clear();
      const small = deliveryConfig({ attachmentLinkThresholdBytes: 1000 });
      const r = await deliverMonth(
        deps({ source: localDatasetSource(fresh), ledger: localLedger(fresh), links: s3LinkStore(s3.client, "reports", "cb") }),
        small,
        MONTH,
      );
      expect(r.outcomes.every((o) => o.status === "sent" && o.links?.length)).toBe(true);
      const fin = (await ses.emails()).find((m) => m.destination.to.includes(FINANCE)) as StoredEmail;
      expect(fin.attachments).toHaveLength(0);
      const urls = [...fin.body.text!.matchAll(/https?:\/\/\S+/g)].map((m) => m[0]);
      expect(urls).toHaveLength(3);
      expect(urls[0]).toContain("X-Amz-Expires=604800");
      const pdfUrl = urls.find((u) => u.includes(".pdf"))!;
      const got = Buffer.from(await (await fetch(pdfUrl)).arrayBuffer());
      expect(got.subarray(0, 5).toString()).toBe("%PDF-");
    } finally {
      await s3.stop();
    }
  });

  /** Two deliveries of a fresh copy of the month at once; returns the mails sent. */
  async function twoRunsAtOnce(
    ledgerFor: (dir: string) => DeliveryLedger,
    seed?: (ledger: DeliveryLedger) => Promise<void>,
  ): Promise<StoredEmail[]> {
    const fresh = await mkdtemp(path.join(tmpdir(), "delivery-"));
    await cp(root, fresh, { recursive: true, filter: (src) => !src.includes(`${path.sep}deliveries`) });
    await seed?.(ledgerFor(fresh));
    await ses.clear();
    const run = () => deliverMonth(deps({ source: localDatasetSource(fresh), ledger: ledgerFor(fresh) }), cfg, MONTH);
    const [a, b] = await Promise.all([run(), run()]);
    const mails = await ses.emails();
    expect([...a.outcomes, ...b.outcomes].filter((o) => o.status === "sent")).toHaveLength(mails.length);
    return mails;
  }
  const expectEachRecipientOnce = (mails: StoredEmail[]) => {
    const recipients = mails.map((m) => m.destination.to[0]);
    expect(new Set(recipients).size).toBe(recipients.length);
    expect(mails).toHaveLength(cfg.tenants.filter((t) => t.recipients.length).length + 2);
  };

  it("given two runs at once (a scheduler delivering its event twice), each recipient gets the report exactly once", async () => {
    expectEachRecipientOnce(await twoRunsAtOnce(localLedger));
  });

  it("given two runs at once recording deliveries in S3 (conditional put, as deployed), each recipient gets the report exactly once", async () => {
    // s3rver with the precondition middleware: without If-None-Match both runs would claim and send.
    const s3 = await startS3("ledger", { preconditions: true });
    try {
      const mails = await twoRunsAtOnce(() => s3Ledger(s3.client, "ledger", "billing"));
      expectEachRecipientOnce(mails);
      // Whichever run came second skipped by reading the first one's record or lost the conditional put.
      expect(s3.rejected()).toBeLessThanOrEqual(mails.length);

      const rec = (await s3Ledger(s3.client, "ledger", "billing").get(MONTH, "finance", "all", FINANCE))!;
      expect(rec.recipient).toBe(FINANCE);
      const again = { ...rec, recipient: "race@platform.example.com" };
      const claims = await Promise.all([1, 2, 3].map(() => s3Ledger(s3.client, "ledger", "billing").claim(again)));
      expect(claims.filter(Boolean)).toHaveLength(1);
    } finally {
      await s3.stop();
    }
  });

  /** Every planned delivery's last attempt failed (an SES outage), so a run retries them all. */
  const everyAttemptFailed = async (ledger: DeliveryLedger) => {
    for (const m of planDeliveries(cfg).messages)
      for (const recipient of m.recipients)
        await ledger.put({
          month: MONTH,
          kind: m.kind,
          scope: m.scope,
          recipient,
          status: "failed",
          contentHash: "earlier",
          attempts: 4,
          at: "2026-11-01T00:05:00+09:00",
          error: "ThrottlingException",
        });
  };

  it("given every earlier attempt failed and two runs retry at once, each recipient gets the report exactly once (local ledger and S3 If-Match)", async () => {
    expectEachRecipientOnce(await twoRunsAtOnce(localLedger, everyAttemptFailed));
    const s3 = await startS3("ledger-retry", { preconditions: true });
    try {
      expectEachRecipientOnce(await twoRunsAtOnce(() => s3Ledger(s3.client, "ledger-retry", "billing"), everyAttemptFailed));
    } finally {
      await s3.stop();
    }
  });

  it("given a month without a manifest, it fails with a clear error and sends nothing", async () => {
    const fresh = await mkdtemp(path.join(tmpdir(), "delivery-"));
    await cp(root, fresh, { recursive: true });
    await unlink(path.join(fresh, `month=${MONTH}`, "manifest.json"));
    await ses.clear();
    await expect(deliverMonth(deps({ source: localDatasetSource(fresh), ledger: localLedger(fresh) }), cfg, MONTH)).rejects.toThrow(
      DatasetNotFoundError,
    );
    expect(await ses.emails()).toHaveLength(0);
  });
});
