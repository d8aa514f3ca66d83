import { mkdir, rename, writeFile } from "node:fs/promises";
import path from "node:path";
import { PutObjectCommand, type S3Client } from "@aws-sdk/client-s3";
import { monthDir } from "./dataset-sink.js";
import { s3Key } from "./s3-objects.js";
import type { ReconciliationSink } from "../reconcile/reconcile-month.js";

/** Writes beside a local month's dataset (`<root>/month=YYYY-MM/<name>`), by rename so a reader never sees half a file. */
export function localReconciliationSink(root: string): ReconciliationSink {
  return {
    async write(month, name, body) {
      const dir = path.join(root, monthDir(month));
      await mkdir(dir, { recursive: true });
      const file = path.join(dir, name);
      await writeFile(`${file}.tmp-${process.pid}`, body);
      await rename(`${file}.tmp-${process.pid}`, file);
      return path.resolve(file);
    },
  };
}

/** Writes beside a month's dataset in S3 (`<prefix>/month=YYYY-MM/<name>`). */
export function s3ReconciliationSink(client: S3Client, bucket: string, prefix = ""): ReconciliationSink {
  return {
    async write(month, name, body) {
      const key = s3Key(prefix, monthDir(month), name);
      await client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body, ContentType: "text/csv; charset=utf-8" }));
      return `s3://${bucket}/${key}`;
    },
  };
}
