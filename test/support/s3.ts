import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { GetObjectCommand, ListObjectsV2Command, S3Client } from "@aws-sdk/client-s3";
// @ts-expect-error s3rver ships no type declarations
import S3rver from "s3rver";

export interface LocalS3 {
  client: S3Client;
  endpoint: string;
  /** Conditional puts answered 412 so far (only with `preconditions`). */
  rejected(): number;
  stop(): Promise<void>;
}

const PRECONDITION_FAILED =
  '<?xml version="1.0" encoding="UTF-8"?><Error><Code>PreconditionFailed</Code><Message>At least one of the pre-conditions you specified did not hold</Message></Error>';

/**
 * A real local S3 server (s3rver) on loopback with one bucket, and a client pointed at it.
 *
 * `preconditions`: s3rver ignores If-None-Match and If-Match on PutObject, which real S3
 * honours and which the delivery ledger, the quota state and the controller lease rely on.
 * A small Koa middleware in front of s3rver's router evaluates them the way S3 does (412
 * PreconditionFailed) against the stored object's ETag. Every request is serialised: S3
 * replaces an object atomically, s3rver rewrites its files in place, and a check (or a read)
 * that ran during another request's overwrite would see no object and let a second claim in.
 */
export async function startS3(bucket: string, opts: { preconditions?: boolean } = {}): Promise<LocalS3> {
  const directory = await mkdtemp(path.join(tmpdir(), "s3rver-"));
  const server = new S3rver({ address: "127.0.0.1", port: 0, silent: true, directory, configureBuckets: [{ name: bucket }] });
  let rejected = 0;
  if (opts.preconditions) {
    let chain: Promise<unknown> = Promise.resolve();

    server.middleware.unshift(async (ctx: any, next: () => Promise<void>) => {
      const ifNoneMatch = ctx.get("if-none-match");
      const ifMatch = ctx.get("if-match");
      const conditional = ctx.method === "PUT" && (ifNoneMatch || ifMatch);
      const [, b, ...rest] = decodeURIComponent(ctx.path).split("/");
      const run = async () => {
        if (!conditional) {
          await next();
          // Read a streamed object inside the turn, so no write can replace it half-way through the read.
          if (ctx.body && typeof ctx.body.pipe === "function") {
            const chunks: Buffer[] = [];
            for await (const c of ctx.body) chunks.push(c as Buffer);
            ctx.body = Buffer.concat(chunks);
          }
          return;
        }
        const etag: string | undefined = await server.store.getMetadata(b, rest.join("/")).then(
          (m: { etag?: string }) => m.etag,
          () => undefined,
        );
        if ((ifNoneMatch === "*" && etag !== undefined) || (ifMatch && ifMatch !== etag)) {
          rejected++;
          ctx.status = 412;
          ctx.type = "application/xml";
          ctx.body = PRECONDITION_FAILED;
          return;
        }
        await next();
      };
      const p = chain.then(run, run);
      chain = p.catch(() => undefined);
      await p;
    });
  }
  const addr: { port: number } = await server.run();
  const endpoint = `http://127.0.0.1:${addr.port}`;
  const client = new S3Client({
    endpoint,
    forcePathStyle: true,
    region: "us-east-1",
    credentials: { accessKeyId: "S3RVER", secretAccessKey: "S3RVER" },
  });
  return {
    client,
    endpoint,
    rejected: () => rejected,
    async stop() {
      client.destroy();
      await server.close();
      await rm(directory, { recursive: true, force: true });
    },
  };
}

/** Every JSON object under `prefix` in `bucket`, parsed (the quota state, audit and enforcement records). */
export async function s3JsonObjects(client: S3Client, bucket: string, prefix: string): Promise<unknown[]> {
  const l = await client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix }));
  return Promise.all(
    (l.Contents ?? []).map(async (o) =>
      JSON.parse(await (await client.send(new GetObjectCommand({ Bucket: bucket, Key: o.Key! }))).Body!.transformToString()),
    ),
  );
}
