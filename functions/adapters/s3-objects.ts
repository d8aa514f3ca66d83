/**
 * The S3 conventions every S3 adapter shares, written once: how a key prefix is trimmed and
 * what counts as "the object is not there".
 */

/** A key prefix as the data layout joins it: no leading or trailing '/', "" for the bucket root. */
export function trimKeyPrefix(prefix: string): string {
  return prefix.replace(/^\/+|\/+$/g, "");
}

/**
 * The object is missing: GetObject answers `NoSuchKey`; HeadObject has no error body, so the SDK
 * names its 404 `NotFound`. A bare 404 counts too, unless it is `NoSuchBucket`: a missing bucket
 * is a deployment error and must not read as "no object yet".
 */
export function isS3NotFound(e: unknown): boolean {
  const err = e as { name?: string; $metadata?: { httpStatusCode?: number } };
  if (err.name === "NoSuchKey" || err.name === "NotFound") return true;
  return err.$metadata?.httpStatusCode === 404 && err.name !== "NoSuchBucket";
}
