/**
 * s3rver ignores `If-None-Match` and `If-Match` on PutObject, which real S3
 * honours. This small HTTP proxy in front of s3rver enforces both, atomically
 * per key (PUTs to one key are serialised), and answers 412
 * PreconditionFailed the way S3 does — so conditional-put code is tested
 * against real HTTP and a real object store, not a mock.
 */
import http from "node:http";
import { HeadObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { startS3 } from "../../support/s3.js";

export async function startConditionalS3(bucket: string): Promise<{ client: () => S3Client; endpoint: string; stop(): Promise<void>; rejected: () => number }> {
  const s3 = await startS3(bucket);
  const upstream = new URL(s3.endpoint);
  const locks = new Map<string, Promise<void>>();
  let rejected = 0;

  const forward = (req: http.IncomingMessage, body: Buffer, method = req.method!): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: Buffer }> =>
    new Promise((resolve, reject) => {
      const r = http.request({ host: upstream.hostname, port: upstream.port, path: req.url, method, headers: req.headers }, (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c) => chunks.push(c));
        res.on("end", () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks) }));
      });
      r.on("error", reject);
      r.end(body);
    });

  const server = http.createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const body = Buffer.concat(chunks);
    const ifNoneMatch = req.headers["if-none-match"];
    const ifMatch = req.headers["if-match"];
    const send = (r: { status: number; headers: http.IncomingHttpHeaders; body: Buffer }) => {
      res.writeHead(r.status, r.headers);
      res.end(r.body);
    };
    try {
      if (req.method !== "PUT" || (!ifNoneMatch && !ifMatch)) return send(await forward(req, body));
      const key = req.url!.split("?")[0]!;
      const prev = locks.get(key) ?? Promise.resolve();
      let release!: () => void;
      const mine = new Promise<void>((r) => (release = r));
      locks.set(key, prev.then(() => mine));
      await prev;
      try {
        // Path-style: /bucket/key. Ask s3rver for the current ETag with its own signed client.
        const objectKey = decodeURIComponent(key.split("/").slice(2).join("/"));
        let exists = true;
        let etag: string | undefined;
        try {
          etag = (await s3.client.send(new HeadObjectCommand({ Bucket: bucket, Key: objectKey }))).ETag;
        } catch (e) {
          if ((e as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode !== 404) throw e;
          exists = false;
        }
        const fail = (ifNoneMatch === "*" && exists) || (ifMatch !== undefined && (!exists || ifMatch !== etag));
        if (fail) {
          rejected++;
          res.writeHead(412, { "content-type": "application/xml" });
          return res.end('<?xml version="1.0" encoding="UTF-8"?><Error><Code>PreconditionFailed</Code><Message>At least one of the pre-conditions you specified did not hold</Message></Error>');
        }
        send(await forward(req, body));
      } finally {
        release();
      }
    } catch (e) {
      res.writeHead(500);
      res.end(String(e));
    }
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const port = (server.address() as { port: number }).port;
  const clients: S3Client[] = [];
  return {
    endpoint: `http://127.0.0.1:${port}`,
    client: () => {
      const c = new S3Client({ endpoint: `http://127.0.0.1:${port}`, forcePathStyle: true, region: "us-east-1", credentials: { accessKeyId: "S3RVER", secretAccessKey: "S3RVER" } });
      clients.push(c);
      return c;
    },
    rejected: () => rejected,
    async stop() {
      clients.forEach((c) => c.destroy());
      await new Promise((r) => server.close(r));
      await s3.stop();
    },
  };
}
