import { GetObjectCommand, PutObjectCommand, type S3Client } from "@aws-sdk/client-s3";
import { getSignedUrl } from "@aws-sdk/s3-request-presigner";
import { monthDirName } from "../report/month-dir.js";
import type { LinkStore } from "../delivery/delivery-ports.js";
import { presignedLinkExpiry } from "../delivery/link-expiry.js";
import { s3Key } from "./s3-objects.js";
import { systemClock, type Clock } from "../core/clock.js";

export interface LinkStoreOptions {
  /** Signs the links (e.g. a client with an IAM user's keys); uploads still go through `client`. Default: `client`. */
  signer?: S3Client;
  now?: Clock;
}

/** Reports go to `<prefix>/reports/month=YYYY-MM/<file>`, beside the dataset, and are handed out as presigned GET links. */
export function s3LinkStore(client: S3Client, bucket: string, prefix = "", opts: LinkStoreOptions = {}): LinkStore {
  const signer = opts.signer ?? client;
  const now = opts.now ?? systemClock;
  return async (month, filename, body, contentType, expiresIn) => {
    const Key = s3Key(prefix, "reports", monthDirName(month), filename);
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
