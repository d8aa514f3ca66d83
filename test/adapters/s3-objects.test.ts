import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { GetObjectCommand, HeadObjectCommand, PutObjectCommand } from "@aws-sdk/client-s3";
import { isS3NotFound, isS3PreconditionFailed, s3Key, trimKeyPrefix } from "../../functions/adapters/s3-objects.js";
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
    [
      "a 409 ConditionalRequestConflict (two conditional writes racing)",
      { name: "ConditionalRequestConflict", $metadata: { httpStatusCode: 409 } },
    ],
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
    for (const e of [missing, noBucket, denied, slowDown]) expect(isS3PreconditionFailed(e)).toBe(false);
  });
});
