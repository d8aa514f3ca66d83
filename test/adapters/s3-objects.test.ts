import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { GetObjectCommand, HeadObjectCommand, PutObjectCommand } from "@aws-sdk/client-s3";
import { isS3NotFound, trimKeyPrefix } from "../../functions/adapters/s3-objects.js";
import { startS3, type LocalS3 } from "../support/s3.js";

/** The errors come from a real local S3 server (s3rver) through the real SDK client, not from hand-made objects. */
describe("s3-objects", () => {
  let s3: LocalS3;
  beforeAll(async () => {
    s3 = await startS3("billing");
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
});
