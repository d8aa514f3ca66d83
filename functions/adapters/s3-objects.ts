/**
 * The S3 conventions every S3 adapter shares, written once: how a key prefix is trimmed and
 * joined, what counts as "the object is not there" and what counts as "a conditional write lost".
 */

/** A key prefix as the data layout joins it: no leading or trailing '/', "" for the bucket root. */
export function trimKeyPrefix(prefix: string): string {
  return prefix.replace(/^\/+|\/+$/g, "");
}

/**
 * `<prefix>/<part>/<part>…`: the prefix trimmed, and left out at the bucket root so no key starts
 * with '/'. The parts are kept as given: an empty last part names a "directory" (`…/month=2026-10/`).
 */
export function s3Key(prefix: string, ...parts: string[]): string {
  const p = trimKeyPrefix(prefix);
  return (p ? [p, ...parts] : parts).join("/");
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

/**
 * A conditional PutObject (`If-None-Match: *`, `If-Match: <etag>`) lost to another writer: 412
 * PreconditionFailed when the key exists or changed, and 409 ConditionalRequestConflict when two
 * conditional writes to one key race. The SDK names the error from the body's Code, so a 412
 * without a body still counts by its status.
 */
export function isS3PreconditionFailed(e: unknown): boolean {
  const err = e as { name?: string; Code?: string; $metadata?: { httpStatusCode?: number } };
  const status = err.$metadata?.httpStatusCode;
  return (
    err.name === "PreconditionFailed" ||
    err.Code === "PreconditionFailed" ||
    err.name === "ConditionalRequestConflict" ||
    status === 412 ||
    status === 409
  );
}
