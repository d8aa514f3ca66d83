import { SendEmailCommand, type SESv2Client } from "@aws-sdk/client-sesv2";
import { PutObjectCommand, GetObjectCommand, S3Client } from "@aws-sdk/client-s3";
import type { AwsCredentialIdentityProvider } from "@smithy/types";
import { getSignedUrl } from "@aws-sdk/s3-request-presigner";
import { monthDirName } from "../report/month-dir.js";
import { trimKeyPrefix } from "../adapters/s3-objects.js";

/** Sends one raw MIME message; returns the provider's message id. */
export type RawSender = (to: string[], raw: Buffer) => Promise<string>;

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

/** SES/network errors worth another try: throttling, 5xx, timeouts, dropped connections. */
export function isRetryableSendError(e: unknown): boolean {
  const err = e as { name?: string; code?: string; $metadata?: { httpStatusCode?: number }; $retryable?: unknown; message?: string };
  if (err.$retryable) return true;
  const status = err.$metadata?.httpStatusCode;
  if (status !== undefined && (status === 429 || status >= 500)) return true;
  return /Throttl|TooManyRequests|LimitExceeded|ServiceUnavailable|InternalFailure|Timeout|ECONNRESET|ECONNREFUSED|EPIPE|socket hang up/i.test(
    `${err.name ?? ""} ${err.code ?? ""} ${err.message ?? ""}`,
  );
}

/** A presigned download link and when it really stops working. */
export interface PresignedLink {
  url: string;
  /** Undefined: signed with temporary credentials whose lifetime the SDK does not know (a Lambda role). */
  expiresAt?: Date;
}

/** Puts a report next to the dataset and hands out a presigned GET link for it. */
export type LinkStore = (
  month: string,
  filename: string,
  body: Buffer,
  contentType: string,
  expiresInSeconds: number,
) => Promise<PresignedLink>;

/**
 * S3 rejects a SigV4 presigned URL once the credentials that signed it expire, whatever
 * `X-Amz-Expires` says: a link signed with a role's session dies with the session (hours),
 * only long-lived IAM user keys give the full 7 days. So the link's real end is the earlier of
 * the two, and unknown when temporary credentials carry no expiry (Lambda's do not).
 */
export function presignedLinkExpiry(
  signedAt: Date,
  expiresInSeconds: number,
  credentials: { sessionToken?: string; expiration?: Date },
): Date | undefined {
  const requested = new Date(signedAt.getTime() + expiresInSeconds * 1000);
  if (credentials.expiration) return credentials.expiration < requested ? credentials.expiration : requested;
  return credentials.sessionToken ? undefined : requested;
}

/**
 * A client that only signs links, with other credentials, for the same bucket endpoint as
 * `uploader` (region, custom endpoint, path style), so a link points where the upload went.
 */
export function linkSigningClient(uploader: S3Client, credentials: AwsCredentialIdentityProvider): S3Client {
  const c = uploader.config;
  return new S3Client({ region: c.region, endpoint: c.endpoint, forcePathStyle: c.forcePathStyle, credentials });
}

export interface LinkStoreOptions {
  /** Signs the links (e.g. a client with an IAM user's keys); uploads still go through `client`. Default: `client`. */
  signer?: S3Client;
  now?: () => Date;
}

export function s3LinkStore(client: S3Client, bucket: string, prefix = "", opts: LinkStoreOptions = {}): LinkStore {
  const p = trimKeyPrefix(prefix);
  const signer = opts.signer ?? client;
  const now = opts.now ?? (() => new Date());
  return async (month, filename, body, contentType, expiresIn) => {
    const Key = `${p ? `${p}/` : ""}reports/${monthDirName(month)}/${filename}`;
    await client.send(
      new PutObjectCommand({
        Bucket: bucket,
        Key,
        Body: body,
        ContentType: contentType,
        ContentDisposition: `attachment; filename="${filename}"`,
      }),
    );
    const signedAt = now();
    const credentials = await signer.config.credentials();
    const url = await getSignedUrl(signer, new GetObjectCommand({ Bucket: bucket, Key }), { expiresIn, signingDate: signedAt });
    return { url, expiresAt: presignedLinkExpiry(signedAt, expiresIn, credentials) };
  };
}
