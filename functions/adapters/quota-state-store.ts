import { GetObjectCommand, ListObjectsV2Command, PutObjectCommand, type S3Client } from "@aws-sdk/client-s3";
import { UnavailableError } from "../core/errors.js";
import type { QuotaStateStore, StoredState } from "../quota/quota-ports.js";
import { conditionalPut, isS3NotFound, s3Key } from "./s3-objects.js";

/**
 * Small JSON objects in the data bucket that hold the quota alert and
 * enforcement state. Every write is a conditional put — `If-None-Match: *` to
 * create, `If-Match: <etag>` to update — so of two concurrent runs exactly one
 * wins; the loser gets a 412 and backs off.
 */
export class StateConflictError extends UnavailableError {
  constructor(readonly key: string) {
    super(`state object ${key} was written by another run`);
    this.name = "StateConflictError";
  }
}

export function s3QuotaStateStore(client: S3Client, bucket: string, prefix: string): QuotaStateStore {
  // The prefix joined as every S3 adapter joins it ("" or "<prefix>/").
  const root = s3Key(prefix, "");
  const body = (v: unknown) => JSON.stringify(v, null, 2) + "\n";
  const put = async (key: string, value: unknown, cond: { IfNoneMatch: string } | { IfMatch: string }) => {
    const written = await conditionalPut(client, {
      Bucket: bucket,
      Key: root + key,
      Body: body(value),
      ContentType: "application/json",
      ...cond,
    });
    return written && (written.etag ?? "");
  };
  const store: QuotaStateStore = {
    async get<T>(key: string) {
      try {
        const r = await client.send(new GetObjectCommand({ Bucket: bucket, Key: root + key }));
        return { value: JSON.parse(await r.Body!.transformToString()) as T, etag: r.ETag ?? "" };
      } catch (e) {
        if (isS3NotFound(e)) return undefined;
        throw e;
      }
    },
    async list<T>(sub: string) {
      const out = new Map<string, StoredState<T>>();
      let token: string | undefined;
      do {
        const r = await client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: root + sub, ContinuationToken: token }));
        for (const o of r.Contents ?? []) {
          const key = o.Key!.slice(root.length);
          const got = await store.get<T>(key);
          if (got) out.set(key, got);
        }
        token = r.IsTruncated ? r.NextContinuationToken : undefined;
      } while (token);
      return out;
    },
    create: (key, value) => put(key, value, { IfNoneMatch: "*" }),
    replace: (key, value, etag) => put(key, value, { IfMatch: etag }),
    async append(key, value) {
      await client.send(
        new PutObjectCommand({ Bucket: bucket, Key: root + key, Body: body(value), ContentType: "application/json", IfNoneMatch: "*" }),
      );
    },
  };
  return store;
}
