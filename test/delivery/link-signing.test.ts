import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { cp, mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { mockClient } from "aws-sdk-client-mock";
import { S3Client } from "@aws-sdk/client-s3";
import { GetSecretValueCommand, SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import { deliverMonth } from "../../functions/delivery/deliver-month.js";
import { linksExpiryWarning, presignedLinkExpiry } from "../../functions/delivery/link-expiry.js";
import { localDatasetSource } from "../../functions/adapters/dataset-source.js";
import { localLedger } from "../../functions/adapters/delivery-ledger.js";
import { s3LinkStore } from "../../functions/adapters/s3-link-store.js";
import { sesRawSender } from "../../functions/adapters/ses-email.js";
import { emailTemplateFiles } from "../../functions/adapters/template-files.js";
import { linkSigningClient } from "../../functions/wiring/link-signing-client.js";
import { credentialsFromSecret } from "../../functions/adapters/secrets-manager.js";
import { buildMonthlyDeps } from "../../functions/handlers/monthly-handler.js";
import { referenceConfig } from "../core/fixtures.js";
import { startS3, type LocalS3 } from "../support/s3.js";
import { startSesLocal, type StoredEmail } from "../support/ses-local.js";
import { demoDataset, MONTH } from "../report/fixtures.js";
import type { Config } from "../../functions/config/config-schema.js";
import { fontFiles } from "../../functions/adapters/font-files.js";

const FINANCE = "finance@platform.example.com";
const NOW = new Date("2026-11-01T00:10:00+09:00");
/** NOW + 7 days, as the email states it. */
const SEVEN_DAYS_LATER = "2026-11-07 15:10 UTC";

/** Only the finance email, whose three attachments all go as links (threshold 1 KB). */
function linkConfig(): Config {
  const cfg = referenceConfig();
  return {
    ...cfg,
    tenants: cfg.tenants.map((t) => ({ ...t, recipients: [] })),
    reports: {
      from: "billing@platform.example.com",
      financeRecipients: [FINANCE],
      executiveRecipients: [],
      lang: "en",
      attachmentLinkThresholdBytes: 1000,
      linkExpiryDays: 7,
    },
  };
}

describe("given presigned links: S3 rejects them when the signing credentials expire", () => {
  it.each([
    ["an IAM user's keys (no session token)", {}, "2026-11-08T00:00:00.000Z"],
    [
      "temporary keys whose expiry is known and later",
      { sessionToken: "t", expiration: new Date("2026-11-20T00:00:00Z") },
      "2026-11-08T00:00:00.000Z",
    ],
    [
      "temporary keys expiring before the link",
      { sessionToken: "t", expiration: new Date("2026-11-01T06:00:00Z") },
      "2026-11-01T06:00:00.000Z",
    ],
    ["temporary keys of unknown lifetime (a Lambda role)", { sessionToken: "t" }, undefined],
  ])("when signed with %s, the link's real end is the earlier one (or unknown)", (_what, creds, expected) => {
    const end = presignedLinkExpiry(new Date("2026-11-01T00:00:00Z"), 7 * 86400, creds);
    expect(end?.toISOString()).toBe(expected);
  });

  it("when the links end before reports.linkExpiryDays, the operator is warned and told how to fix it; a full 7 days gives no warning", () => {
    const now = new Date("2026-11-01T00:00:00Z");
    expect(linksExpiryWarning([{ url: "u", expiresAt: new Date("2026-11-08T00:00:00Z") }], now, 7, "finance/all")).toBeUndefined();
    expect(linksExpiryWarning([{ url: "u", expiresAt: new Date("2026-11-01T06:00:00Z") }], now, 7, "finance/all")).toMatch(
      /finance\/all: .*stop working at 2026-11-01T06:00:00.000Z.*LINK_SIGNING_SECRET_ID/,
    );
    expect(linksExpiryWarning([{ url: "u" }], now, 7, "finance/all")).toMatch(/temporary credentials .* within hours/);
  });
});

describe("given the link signer's key in Secrets Manager (mocked: no Secrets Manager runs here)", () => {
  const sm = mockClient(SecretsManagerClient);
  afterAll(() => sm.restore());

  it("when the secret holds {accessKeyId, secretAccessKey}, those long-lived keys sign; a rotated key is read again after maxAge, a failed read is not cached", async () => {
    sm.reset();
    sm.on(GetSecretValueCommand)
      .resolvesOnce({ SecretString: JSON.stringify({ accessKeyId: "AKIAOLDKEY", secretAccessKey: "old" }) })
      .rejectsOnce(new Error("throttled"))
      .resolves({ SecretString: JSON.stringify({ accessKeyId: "AKIANEWKEY", secretAccessKey: "new" }) });
    let t = 0;
    const creds = credentialsFromSecret(new SecretsManagerClient({ region: "ap-northeast-2" }), "gpu-billing/link-signer", {
      maxAgeMs: 1000,
      clock: () => t,
    });
    expect(await creds()).toEqual({ accessKeyId: "AKIAOLDKEY", secretAccessKey: "old" });
    expect(await creds()).toEqual({ accessKeyId: "AKIAOLDKEY", secretAccessKey: "old" });
    expect(sm.commandCalls(GetSecretValueCommand)).toHaveLength(1);
    t = 1000;
    await expect(creds()).rejects.toThrow(/throttled/);
    expect(await creds()).toEqual({ accessKeyId: "AKIANEWKEY", secretAccessKey: "new" });
    expect(sm.commandCalls(GetSecretValueCommand)[0]!.args[0].input).toEqual({ SecretId: "gpu-billing/link-signer" });
  });

  it.each([
    [{ SecretString: "AKIA:secret" }, /secret s: is not JSON/],
    [{ SecretString: JSON.stringify({ accessKeyId: "AKIAX" }) }, /secret s: secretAccessKey: /],
    [
      { SecretString: JSON.stringify({ accessKeyId: "not a key", secretAccessKey: "x" }) },
      /secret s: accessKeyId: must be an access key id/,
    ],
    [{ SecretBinary: new Uint8Array([1]) }, /secret s: has no SecretString/],
  ])("when the secret is malformed (%j), the error names the secret and the field, never the value", async (answer, message) => {
    sm.reset();
    sm.on(GetSecretValueCommand).resolves(answer);
    const err = await credentialsFromSecret(new SecretsManagerClient({ region: "ap-northeast-2" }), "s")().catch((e: Error) => e);
    expect((err as Error).message).toMatch(message);
    expect((err as Error).message).not.toContain("AKIA:secret");
  });
});

describe("given a month whose finance attachments go as links (local S3 and SES servers)", () => {
  let s3: LocalS3;
  let ses: Awaited<ReturnType<typeof startSesLocal>>;
  let root: string;
  const sm = mockClient(SecretsManagerClient);
  const cfg = linkConfig();
  beforeAll(async () => {
    [s3, ses] = await Promise.all([startS3("reports"), startSesLocal()]);
    root = (await demoDataset(referenceConfig())).root;
  });
  afterAll(async () => {
    sm.restore();
    await Promise.all([s3?.stop(), ses?.stop()]);
  });

  const roleClient = () =>
    new S3Client({
      endpoint: s3.endpoint,
      region: "us-east-1",
      forcePathStyle: true,
      credentials: { accessKeyId: "S3RVER", secretAccessKey: "S3RVER", sessionToken: "role-session" },
    });

  async function deliverWith(
    signer: S3Client | undefined,
  ): Promise<{ report: Awaited<ReturnType<typeof deliverMonth>>; mail: StoredEmail; urls: string[] }> {
    const fresh = await mkdtemp(path.join(tmpdir(), "links-"));
    await cp(root, fresh, { recursive: true, filter: (src) => !src.includes(`${path.sep}deliveries`) });
    await ses.clear();
    const report = await deliverMonth(
      {
        source: localDatasetSource(fresh),
        ledger: localLedger(fresh),
        sender: sesRawSender(ses.client, cfg.reports!.from!),
        links: s3LinkStore(s3.client, "reports", "cb", { signer, now: () => NOW }),
        templates: emailTemplateFiles(),
        fonts: fontFiles(),
        now: () => NOW,
        sleep: async () => undefined,
      },
      cfg,
      MONTH,
    );
    const mail = (await ses.emails()).find((m) => m.destination.to.includes(FINANCE)) as StoredEmail;
    return { report, mail, urls: [...mail.body.text!.matchAll(/https?:\/\/\S+/g)].map((m) => m[0]) };
  }

  it("when the function's role signs (temporary keys, lifetime unknown), the email does not promise 7 days and the run warns the operator", async () => {
    const roleLike = linkSigningClient(s3.client, async () => ({
      accessKeyId: "S3RVER",
      secretAccessKey: "S3RVER",
      sessionToken: "session",
    }));
    const { report, mail, urls } = await deliverWith(roleLike);
    expect(urls).toHaveLength(3);
    expect(urls.every((u) => u.includes("X-Amz-Security-Token=session"))).toBe(true);
    expect(mail.body.text).toContain("Download links (expire possibly within hours of sending (signed with temporary credentials))");
    expect(mail.body.text).not.toContain(SEVEN_DAYS_LATER);
    expect(report.outcomes[0]).toMatchObject({ status: "sent", linksExpireAt: "unknown" });
    expect(report.warnings).toEqual([expect.stringMatching(/^finance\/all: download links were signed with temporary credentials/)]);
  });

  it("when the monthly function is given LINK_SIGNING_SECRET_ID, the secret's long-lived key signs, the link downloads the report and the email states its 7-day end", async () => {
    sm.reset();
    // s3rver checks signatures against its one account, so the "IAM user" here is S3RVER.
    sm.on(GetSecretValueCommand, { SecretId: "gpu-billing/link-signer" }).resolves({
      SecretString: JSON.stringify({ accessKeyId: "S3RVER", secretAccessKey: "S3RVER" }),
    });
    const built = buildMonthlyDeps(
      { DATA_BUCKET: "reports", DATA_PREFIX: "cb", BILLING_CONFIG: JSON.stringify(cfg), LINK_SIGNING_SECRET_ID: "gpu-billing/link-signer" },
      // The function's own client holds role-like temporary keys: a link signed with them would carry X-Amz-Security-Token.
      { s3: roleClient(), ses: ses.client, secrets: new SecretsManagerClient({ region: "ap-northeast-2" }) },
    );
    const fresh = await mkdtemp(path.join(tmpdir(), "links-"));
    await cp(root, fresh, { recursive: true, filter: (src) => !src.includes(`${path.sep}deliveries`) });
    await ses.clear();
    // The handler's own link store (its signer built from the secret); it signs at the wall-clock time.
    const signedFrom = Date.now();
    const report = await deliverMonth(
      { ...built.deliver, source: localDatasetSource(fresh), ledger: localLedger(fresh), now: () => NOW, sleep: async () => undefined },
      built.cfg,
      MONTH,
    );
    const mail = (await ses.emails()).find((x) => x.destination.to.includes(FINANCE)) as StoredEmail;
    const urls = [...mail.body.text!.matchAll(/https?:\/\/\S+/g)].map((x) => x[0]);
    expect(sm.commandCalls(GetSecretValueCommand).length).toBeGreaterThan(0);
    expect(urls).toHaveLength(3);
    for (const u of urls) {
      expect(u).toContain("X-Amz-Expires=604800");
      expect(u).toContain("X-Amz-Credential=S3RVER%2F");
      expect(u).not.toContain("X-Amz-Security-Token");
    }
    const pdf = Buffer.from(await (await fetch(urls.find((u) => u.includes(".pdf"))!)).arrayBuffer());
    expect(pdf.subarray(0, 5).toString()).toBe("%PDF-");
    const end = Date.parse(report.outcomes[0]!.linksExpireAt!);
    expect(end - signedFrom).toBeGreaterThanOrEqual(7 * 86400_000 - 1000);
    expect(end - Date.now()).toBeLessThanOrEqual(7 * 86400_000);
    expect(mail.body.text).toContain(`Download links (expire ${new Date(end).toISOString().slice(0, 16).replace("T", " ")} UTC)`);
    expect(report.warnings).toEqual([]);
  });
});
