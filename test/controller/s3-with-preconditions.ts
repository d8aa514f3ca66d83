import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { S3Client } from "@aws-sdk/client-s3";
// @ts-expect-error s3rver ships no type declarations
import S3rver from "s3rver";

/**
 * A real local S3 (s3rver) with one addition: s3rver ignores If-None-Match and
 * If-Match on PutObject, which the controller's lease relies on, so a small
 * Koa middleware in front of its router evaluates them the way S3 does (412
 * PreconditionFailed) against the stored object's ETag. Conditional puts are
 * serialised so the check and the write are atomic, as they are in S3.
 */
export async function startS3WithPreconditions(bucket: string) {
  const directory = await mkdtemp(path.join(tmpdir(), "s3rver-"));
  const server = new S3rver({ address: "127.0.0.1", port: 0, silent: true, directory, configureBuckets: [{ name: bucket }] });
  let chain: Promise<unknown> = Promise.resolve();
  const precondition = async (ctx: any, next: () => Promise<void>) => {
    const ifNoneMatch = ctx.get("if-none-match");
    const ifMatch = ctx.get("if-match");
    if (ctx.method !== "PUT" || (!ifNoneMatch && !ifMatch)) return next();
    const [, b, ...rest] = decodeURIComponent(ctx.path).split("/");
    const key = rest.join("/");
    const run = async () => {
      let etag: string | undefined;
      try {
        etag = (await server.store.getMetadata(b, key)).etag;
      } catch {
        etag = undefined;
      }
      const fail = (ifNoneMatch === "*" && etag !== undefined) || (ifMatch && ifMatch !== etag);
      if (fail) {
        ctx.status = 412;
        ctx.type = "application/xml";
        ctx.body = `<?xml version="1.0" encoding="UTF-8"?><Error><Code>PreconditionFailed</Code><Message>At least one of the pre-conditions you specified did not hold</Message></Error>`;
        return;
      }
      await next();
    };
    const p = chain.then(run, run);
    chain = p.catch(() => undefined);
    await p;
  };
  server.middleware.unshift(precondition);
  const addr: { port: number } = await server.run();
  const client = new S3Client({ endpoint: `http://127.0.0.1:${addr.port}`, forcePathStyle: true, region: "us-east-1", credentials: { accessKeyId: "S3RVER", secretAccessKey: "S3RVER" } });
  return {
    client,
    async stop() {
      client.destroy();
      await server.close();
      await rm(directory, { recursive: true, force: true });
    },
  };
}
