import { SendEmailCommand, type SESv2Client } from "@aws-sdk/client-sesv2";
import type { RawSender } from "../delivery/delivery-ports.js";

/** SES v2 SendEmail with Raw content (the only way to send attachments through v2). */
export function sesRawSender(client: SESv2Client, from: string): RawSender {
  return async (to, raw) => {
    const r = await client.send(
      new SendEmailCommand({ FromEmailAddress: from, Destination: { ToAddresses: to }, Content: { Raw: { Data: raw } } }),
    );
    if (!r.MessageId) throw new Error("SES returned no MessageId");
    return r.MessageId;
  };
}
