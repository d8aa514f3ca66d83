import { SendEmailCommand, type SendEmailCommandInput, type SESv2Client } from "@aws-sdk/client-sesv2";
import type { RawSender } from "../delivery/delivery-ports.js";
import type { AlertMailer } from "../quota/quota-ports.js";

/**
 * SES v2 SendEmail, the one call both senders make: a message addressed to nobody is refused
 * before it reaches SES, and an answer without a MessageId is an error, since the id is what
 * the ledger and the quota state record as proof of sending.
 */
async function sendEmail(client: SESv2Client, input: SendEmailCommandInput, noRecipients: string): Promise<string> {
  const to = input.Destination;
  if (!to?.ToAddresses?.length && !to?.BccAddresses?.length) throw new Error(noRecipients);
  const r = await client.send(new SendEmailCommand(input));
  if (!r.MessageId) throw new Error("SES returned no MessageId");
  return r.MessageId;
}

/** Raw content: the only way to send attachments through v2. */
export function sesRawSender(client: SESv2Client, from: string): RawSender {
  return (to, raw) =>
    sendEmail(
      client,
      { FromEmailAddress: from, Destination: { ToAddresses: to }, Content: { Raw: { Data: raw } } },
      "report email has no recipients",
    );
}

/** Simple content (subject, text and HTML bodies, UTF-8); the ops recipients go as To when the tenant has none. */
export function sesAlertMailer(client: SESv2Client, from: string): AlertMailer {
  return {
    send: (alert, rcpt) =>
      sendEmail(
        client,
        {
          FromEmailAddress: from,
          Destination: { ToAddresses: rcpt.to.length ? rcpt.to : rcpt.bcc, BccAddresses: rcpt.to.length ? rcpt.bcc : [] },
          Content: {
            Simple: {
              Subject: { Data: alert.subject, Charset: "UTF-8" },
              Body: { Text: { Data: alert.text, Charset: "UTF-8" }, Html: { Data: alert.html, Charset: "UTF-8" } },
            },
          },
        },
        "alert has no recipients (no tenant recipients and no quota.opsRecipients)",
      ),
  };
}
