import { S3Client } from "@aws-sdk/client-s3";
import type { AwsCredentialIdentityProvider } from "@smithy/types";

/**
 * A client that only signs links, with other credentials, for the same bucket endpoint as
 * `uploader` (region, custom endpoint, path style), so a link points where the upload went.
 */
export function linkSigningClient(uploader: S3Client, credentials: AwsCredentialIdentityProvider): S3Client {
  const c = uploader.config;
  return new S3Client({ region: c.region, endpoint: c.endpoint, forcePathStyle: c.forcePathStyle, credentials });
}
