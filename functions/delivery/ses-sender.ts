import { SendEmailCommand, type SESv2Client } from "@aws-sdk/client-sesv2";
import { PutObjectCommand, GetObjectCommand, type S3Client } from "@aws-sdk/client-s3";
import { getSignedUrl } from "@aws-sdk/s3-request-presigner";
import { monthDirName } from "../report/month-dir.js";

/** Sends one raw MIME message; returns the provider's message id. */
export type RawSender = (to: string[], raw: Buffer) => Promise<string>;

/** SES v2 SendEmail with Raw content (the only way to send attachments through v2). */
export function sesRawSender(client: SESv2Client, from: string): RawSender {
  return async (to, raw) => {
    const r = await client.send(new SendEmailCommand({ FromEmailAddress: from, Destination: { ToAddresses: to }, Content: { Raw: { Data: raw } } }));
    if (!r.MessageId) throw new Error("SES returned no MessageId");
    return r.MessageId;
  };
}

/** SES/network errors worth another try: throttling, 5xx, timeouts, dropped connections. */
export function isRetryableSendError(e: unknown): boolean {
  const err = e as { name?: string; code?: string; $metadata?: { httpStatusCode?: number }; $retryable?: unknown; message?: string };
  if (err.$retryable) return true;
  const status = err.$metadata?.httpStatusCode;
  if (status !== undefined && (status === 429 || status >= 500)) return true;
  return /Throttl|TooManyRequests|LimitExceeded|ServiceUnavailable|InternalFailure|Timeout|ECONNRESET|ECONNREFUSED|EPIPE|socket hang up/i.test(`${err.name ?? ""} ${err.code ?? ""} ${err.message ?? ""}`);
}

/** Puts a report next to the dataset and hands out a presigned GET link for it. */
export type LinkStore = (month: string, filename: string, body: Buffer, contentType: string, expiresInSeconds: number) => Promise<string>;

export function s3LinkStore(client: S3Client, bucket: string, prefix = ""): LinkStore {
  const p = prefix.replace(/^\/+|\/+$/g, "");
  return async (month, filename, body, contentType, expiresIn) => {
    const Key = `${p ? `${p}/` : ""}reports/${monthDirName(month)}/${filename}`;
    await client.send(new PutObjectCommand({ Bucket: bucket, Key, Body: body, ContentType: contentType, ContentDisposition: `attachment; filename="${filename}"` }));
    return getSignedUrl(client, new GetObjectCommand({ Bucket: bucket, Key }), { expiresIn });
  };
}
