import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { mockClient } from "aws-sdk-client-mock";
import { SendEmailCommand, SESv2Client } from "@aws-sdk/client-sesv2";
import { sesAlertMailer, sesRawSender } from "../../functions/adapters/ses-email.js";
import { buildMimeMessage } from "../../functions/delivery/mime.js";
import { startSesLocal, type LocalSes } from "../support/ses-local.js";

const FROM = "billing@platform.example.com";
const ALERT = { subject: "[GPU] 수원시 80%", text: "used 80%\n", html: "<p>used 80%</p>" };

/** Both senders through a real local SES v2 server (aws-ses-v2-local), read back from its store. */
describe("ses-email", () => {
  let ses: LocalSes;
  beforeAll(async () => {
    ses = await startSesLocal();
  });
  beforeEach(async () => ses.clear());
  afterAll(async () => ses?.stop());

  it("given a raw MIME message, when the raw sender sends it, then SES stores it as built and the id it answered is returned", async () => {
    const raw = buildMimeMessage({
      from: FROM,
      to: ["finance@platform.example.com"],
      subject: "GPU 사용료 2026-10",
      text: "본문",
      html: "<p>본문</p>",
      attachments: [{ filename: "chargeback-2026-10.csv", contentType: "text/csv; charset=utf-8", content: Buffer.from("a,b\n") }],
      date: new Date("2026-11-01T00:10:00Z"),
    });
    const id = await sesRawSender(ses.client, FROM)(["finance@platform.example.com"], raw);
    const [mail, ...more] = await ses.emails();
    expect(more).toHaveLength(0);
    expect(mail!.messageId).toBe(id);
    expect(mail!.destination.to).toEqual(["finance@platform.example.com"]);
    expect(mail!.subject).toBe("GPU 사용료 2026-10");
    expect(mail!.attachments.map((a) => [a.filename, Buffer.from(a.content, "base64").toString()])).toEqual([
      ["chargeback-2026-10.csv", "a,b\n"],
    ]);
  });

  it("given an alert for a tenant with recipients, when the alert mailer sends it, then the tenant gets it and ops are Bcc", async () => {
    const id = await sesAlertMailer(ses.client, FROM).send(ALERT, {
      to: ["gpu-admin@suwon.example.go.kr"],
      bcc: ["ops@platform.example.com"],
    });
    const [mail] = await ses.emails();
    expect(mail).toMatchObject({ messageId: id, from: FROM, subject: ALERT.subject, body: { text: ALERT.text, html: ALERT.html } });
    expect(mail!.destination).toMatchObject({ to: ["gpu-admin@suwon.example.go.kr"], bcc: ["ops@platform.example.com"] });
  });

  it("given an alert for a tenant without recipients, when the alert mailer sends it, then ops get it as To", async () => {
    await sesAlertMailer(ses.client, FROM).send(ALERT, { to: [], bcc: ["ops@platform.example.com"] });
    const [mail] = await ses.emails();
    expect(mail!.destination.to).toEqual(["ops@platform.example.com"]);
    expect(mail!.destination.bcc ?? []).toEqual([]);
  });

  it("given nobody to send to, when either sender is called, then it fails naming why and nothing reaches SES", async () => {
    await expect(sesRawSender(ses.client, FROM)([], Buffer.from("x"))).rejects.toThrow(/report email has no recipients/);
    await expect(sesAlertMailer(ses.client, FROM).send(ALERT, { to: [], bcc: [] })).rejects.toThrow(
      /alert has no recipients \(no tenant recipients and no quota.opsRecipients\)/,
    );
    expect(await ses.emails()).toHaveLength(0);
  });

  it("given SES answers without a MessageId (mocked: the local server always sends one), when either sender sends, then it fails", async () => {
    const client = new SESv2Client({ region: "ap-northeast-2", credentials: { accessKeyId: "x", secretAccessKey: "x" } });
    const mock = mockClient(client);
    mock.on(SendEmailCommand).resolves({});
    try {
      await expect(sesRawSender(client, FROM)(["a@example.com"], Buffer.from("x"))).rejects.toThrow(/SES returned no MessageId/);
      await expect(sesAlertMailer(client, FROM).send(ALERT, { to: ["a@example.com"], bcc: [] })).rejects.toThrow(
        /SES returned no MessageId/,
      );
      expect(mock.commandCalls(SendEmailCommand)).toHaveLength(2);
    } finally {
      mock.restore();
    }
  });
});
