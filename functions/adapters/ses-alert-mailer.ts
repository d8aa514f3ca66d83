import { SendEmailCommand, type SESv2Client } from "@aws-sdk/client-sesv2";
import type { AlertMailer } from "../quota/quota-ports.js";

/** SES v2 SendEmail with simple content (subject, text and HTML bodies, UTF-8). */
export function sesAlertMailer(client: SESv2Client, from: string): AlertMailer {
  return {
    async send(alert, rcpt) {
      if (rcpt.to.length + rcpt.bcc.length === 0)
        throw new Error("alert has no recipients (no tenant recipients and no quota.opsRecipients)");
      const r = await client.send(
        new SendEmailCommand({
          FromEmailAddress: from,
          Destination: { ToAddresses: rcpt.to.length ? rcpt.to : rcpt.bcc, BccAddresses: rcpt.to.length ? rcpt.bcc : [] },
          Content: {
            Simple: {
              Subject: { Data: alert.subject, Charset: "UTF-8" },
              Body: { Text: { Data: alert.text, Charset: "UTF-8" }, Html: { Data: alert.html, Charset: "UTF-8" } },
            },
          },
        }),
      );
      return r.MessageId ?? "";
    },
  };
}
