/**
 * The S3 conventions every S3 adapter shares, written once: how a key prefix is trimmed and
 * joined, what counts as "the object is not there", and how a conditional write is made and lost.
 */
import { PutObjectCommand, type PutObjectCommandInput, type S3Client } from "@aws-sdk/client-s3";
import { UnavailableError } from "../core/errors.js";

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
 * The precondition of a conditional PutObject (`If-None-Match: *`, `If-Match: <etag>`) failed: 412
 * PreconditionFailed, the key exists or changed, so another writer won. The SDK names the error
 * from the body's Code, so a 412 without a body still counts by its status.
 */
export function isS3PreconditionFailed(e: unknown): boolean {
  const err = e as { name?: string; Code?: string; $metadata?: { httpStatusCode?: number } };
  return err.name === "PreconditionFailed" || err.Code === "PreconditionFailed" || err.$metadata?.httpStatusCode === 412;
}

/** 409 ConditionalRequestConflict: another conditional write to the key was in flight; nobody has won yet. */
export function isS3ConditionalConflict(e: unknown): boolean {
  const err = e as { name?: string; Code?: string; $metadata?: { httpStatusCode?: number } };
  return err.name === "ConditionalRequestConflict" || err.Code === "ConditionalRequestConflict" || err.$metadata?.httpStatusCode === 409;
}

/** A write that kept meeting another conditional write to its key: nothing is decided, run again. */
export class S3ConditionalConflictError extends UnavailableError {
  constructor(
    readonly key: string,
    cause: unknown,
  ) {
    super(`conditional write to ${key} kept conflicting with another write in flight (409 ConditionalRequestConflict)`, { cause });
    this.name = "S3ConditionalConflictError";
  }
}

/**
 * A conditional PutObject, the one way every adapter writes a lease, a state object, an audit
 * object or a ledger record: `{ etag }` when it was written, undefined when its precondition failed
 * (another writer won). S3 answers 409 ConditionalRequestConflict while another conditional write to
 * the key is in flight, and its API reference says to retry the upload on a 409 (PutObject,
 * If-None-Match); so a 409 is retried until S3 decides — a write or a 412 — and a conflict that
 * outlasts the retries is an UnavailableError, never read as lost or as won.
 */
export async function conditionalPut(
  client: S3Client,
  input: PutObjectCommandInput & ({ IfNoneMatch: string } | { IfMatch: string }),
  retry: { attempts: number; delayMs: number } = { attempts: 4, delayMs: 100 },
): Promise<{ etag?: string } | undefined> {
  for (let attempt = 1; ; attempt++) {
    try {
      const r = await client.send(new PutObjectCommand(input));
      return { etag: r.ETag };
    } catch (e) {
      if (isS3PreconditionFailed(e)) return undefined;
      if (!isS3ConditionalConflict(e)) throw e;
      if (attempt >= retry.attempts) throw new S3ConditionalConflictError(input.Key ?? "", e);
      await new Promise((r) => setTimeout(r, retry.delayMs * attempt));
    }
  }
}
