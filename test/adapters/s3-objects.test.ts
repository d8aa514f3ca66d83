import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { GetObjectCommand, HeadObjectCommand, PutObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { mockClient } from "aws-sdk-client-mock";
import {
  conditionalPut,
  isS3ConditionalConflict,
  isS3NotFound,
  isS3PreconditionFailed,
  S3ConditionalConflictError,
  s3Key,
  trimKeyPrefix,
} from "../../functions/adapters/s3-objects.js";
import { errorKind } from "../../functions/core/errors.js";
import { startS3, type LocalS3 } from "../support/s3.js";

/** The errors come from a real local S3 server (s3rver) through the real SDK client, not from hand-made objects. */
describe("s3-objects", () => {
  let s3: LocalS3;
  beforeAll(async () => {
    s3 = await startS3("billing", { preconditions: true });
    await s3.client.send(new PutObjectCommand({ Bucket: "billing", Key: "there.json", Body: "{}" }));
  });
  afterAll(async () => s3?.stop());

  const errorOf = (p: Promise<unknown>) =>
    p.then(
      () => undefined,
      (e: unknown) => e,
    );

  it("given a missing key, when it is read with GetObject, then the error counts as not found", async () => {
    const e = await errorOf(s3.client.send(new GetObjectCommand({ Bucket: "billing", Key: "missing.json" })));
    expect((e as Error).name).toBe("NoSuchKey");
    expect(isS3NotFound(e)).toBe(true);
  });

  it("given a missing key, when it is checked with HeadObject (no error body), then the error counts as not found", async () => {
    const e = await errorOf(s3.client.send(new HeadObjectCommand({ Bucket: "billing", Key: "missing.json" })));
    expect(e).toBeDefined();
    expect(isS3NotFound(e)).toBe(true);
  });

  it("given a missing bucket, when an object is read, then the error is not taken for a missing object", async () => {
    const e = await errorOf(s3.client.send(new GetObjectCommand({ Bucket: "no-such-bucket", Key: "there.json" })));
    expect((e as Error).name).toBe("NoSuchBucket");
    expect(isS3NotFound(e)).toBe(false);
  });

  it("given an existing object, when it is read, then nothing fails", async () => {
    const e = await errorOf(s3.client.send(new GetObjectCommand({ Bucket: "billing", Key: "there.json" })));
    expect(e).toBeUndefined();
  });

  it("given prefixes with and without slashes, when trimmed, then they join as key parts", () => {
    expect(trimKeyPrefix("/chargeback/")).toBe("chargeback");
    expect(trimKeyPrefix("a/b//")).toBe("a/b");
    expect(trimKeyPrefix("/")).toBe("");
    expect(trimKeyPrefix("")).toBe("");
  });

  it("given prefixes and key parts, when joined, then the prefix is trimmed and left out at the bucket root", () => {
    expect(s3Key("/chargeback/", "month=2026-10", "manifest.json")).toBe("chargeback/month=2026-10/manifest.json");
    expect(s3Key("", "deliveries/")).toBe("deliveries/");
    expect(s3Key("/", "day=2026-10-01", "run.jsonl")).toBe("day=2026-10-01/run.jsonl");
    expect(s3Key("a/b")).toBe("a/b");
    expect(s3Key("cb", "month=2026-10", "")).toBe("cb/month=2026-10/");
  });

  it("given an existing key, when it is created again with If-None-Match, then the error counts as a lost conditional write", async () => {
    const e = await errorOf(s3.client.send(new PutObjectCommand({ Bucket: "billing", Key: "there.json", Body: "{}", IfNoneMatch: "*" })));
    expect((e as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode).toBe(412);
    expect(isS3PreconditionFailed(e)).toBe(true);
  });

  it("given a changed object, when it is replaced If-Match its old ETag, then the error counts as a lost conditional write", async () => {
    const e = await errorOf(s3.client.send(new PutObjectCommand({ Bucket: "billing", Key: "there.json", Body: "{}", IfMatch: '"stale"' })));
    expect(isS3PreconditionFailed(e)).toBe(true);
  });

  it.each([
    ["a 412 without an error body", { name: "Unknown", $metadata: { httpStatusCode: 412 } }],
    ["an error whose Code is PreconditionFailed", { name: "S3ServiceException", Code: "PreconditionFailed" }],
  ])("given %s, when classified, then it counts as a lost conditional write", (_what, err) => {
    expect(isS3PreconditionFailed(Object.assign(new Error("x"), err))).toBe(true);
  });

  it("given errors that are not a lost race (missing key, missing bucket, access denied, throttling), when classified, then none counts", async () => {
    const missing = await errorOf(s3.client.send(new GetObjectCommand({ Bucket: "billing", Key: "missing.json" })));
    const noBucket = await errorOf(
      s3.client.send(new PutObjectCommand({ Bucket: "no-such-bucket", Key: "k", Body: "{}", IfNoneMatch: "*" })),
    );
    const denied = Object.assign(new Error("Access Denied"), { name: "AccessDenied", $metadata: { httpStatusCode: 403 } });
    const slowDown = Object.assign(new Error("Please reduce your request rate."), { name: "SlowDown", $metadata: { httpStatusCode: 503 } });
    const conflict = Object.assign(new Error("conflict"), { name: "ConditionalRequestConflict", $metadata: { httpStatusCode: 409 } });
    for (const e of [missing, noBucket, denied, slowDown, conflict]) expect(isS3PreconditionFailed(e)).toBe(false);
    expect(isS3ConditionalConflict(conflict)).toBe(true);
  });

  it("given a key that exists, when conditionalPut creates it If-None-Match, then it answers undefined (lost) and leaves the object as it was", async () => {
    const lost = await conditionalPut(s3.client, { Bucket: "billing", Key: "there.json", Body: '{"new":1}', IfNoneMatch: "*" });
    expect(lost).toBeUndefined();
    const kept = await s3.client.send(new GetObjectCommand({ Bucket: "billing", Key: "there.json" }));
    expect(await kept.Body!.transformToString()).toBe("{}");
  });

  it("given a new key, when conditionalPut creates it, then it answers the new ETag", async () => {
    const won = await conditionalPut(s3.client, { Bucket: "billing", Key: "new.json", Body: "{}", IfNoneMatch: "*" });
    expect(won?.etag).toMatch(/^"[0-9a-f]+"$/);
  });
});

/**
 * S3's 409 ConditionalRequestConflict (another conditional write to the key in flight) does not
 * happen in s3rver, so these use aws-sdk-client-mock on one client instance, shaped as the SDK
 * reports the error.
 */
describe("conditionalPut when S3 answers 409 ConditionalRequestConflict", () => {
  const conflict = () =>
    Object.assign(new Error("A conflicting operation occurred."), {
      name: "ConditionalRequestConflict",
      $metadata: { httpStatusCode: 409 },
    });
  const input = { Bucket: "billing", Key: "lease.json", Body: "{}", IfNoneMatch: "*" } as const;

  it("given two conflicts and then a write, when put, then it retries and answers the ETag of the write", async () => {
    const client = new S3Client({ region: "ap-northeast-2" });
    const mock = mockClient(client);
    mock.on(PutObjectCommand).rejectsOnce(conflict()).rejectsOnce(conflict()).resolves({ ETag: '"abc"' });
    expect(await conditionalPut(client, input, { attempts: 4, delayMs: 1 })).toEqual({ etag: '"abc"' });
    expect(mock.commandCalls(PutObjectCommand)).toHaveLength(3);
  });

  it("given a conflict and then a 412, when put, then it answers lost (the other writer won)", async () => {
    const client = new S3Client({ region: "ap-northeast-2" });
    const lost = Object.assign(new Error("At least one of the pre-conditions you specified did not hold"), {
      name: "PreconditionFailed",
      $metadata: { httpStatusCode: 412 },
    });
    mockClient(client).on(PutObjectCommand).rejectsOnce(conflict()).rejects(lost);
    expect(await conditionalPut(client, input, { attempts: 4, delayMs: 1 })).toBeUndefined();
  });

  it("given conflicts on every attempt, when put, then it fails as unavailable, neither lost nor won", async () => {
    const client = new S3Client({ region: "ap-northeast-2" });
    mockClient(client).on(PutObjectCommand).rejects(conflict());
    const e = await conditionalPut(client, input, { attempts: 3, delayMs: 1 }).catch((err: unknown) => err);
    expect(e).toBeInstanceOf(S3ConditionalConflictError);
    expect(errorKind(e)).toBe("unavailable");
    expect((e as Error).message).toContain("lease.json");
  });
});
