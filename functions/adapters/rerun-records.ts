import { mkdir, writeFile } from "node:fs/promises";
import path from "node:path";
import { PutObjectCommand, type S3Client } from "@aws-sdk/client-s3";
import { monthDir } from "./dataset-sink.js";
import type { RerunStore } from "../metering/rerun-month.js";
import { s3Key } from "./s3-objects.js";

/**
 * Re-run records live beside the datasets, under `<prefix>/reruns/month=YYYY-MM/`,
 * never inside the month's directory: the local writer swaps that directory
 * whole, and the Athena tables read only `parquet/` under it.
 */
export function rerunRecordDir(month: string): string {
  return `reruns/${monthDir(month)}`;
}

const safeName = (name: string) => {
  if (!/^[A-Za-z0-9._-]+$/.test(name)) throw new Error(`record name "${name}" is not a plain file name`);
  return name;
};

export function s3RerunStore(client: S3Client, bucket: string, prefix = ""): RerunStore {
  return {
    async putRecord(month, name, body) {
      const key = s3Key(prefix, rerunRecordDir(month), safeName(name));
      await client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body, ContentType: "application/json" }));
      return `s3://${bucket}/${key}`;
    },
  };
}

export function localRerunStore(root: string): RerunStore {
  return {
    async putRecord(month, name, body) {
      const dir = path.join(root, rerunRecordDir(month));
      await mkdir(dir, { recursive: true });
      const file = path.join(dir, safeName(name));
      await writeFile(file, body);
      return file;
    },
  };
}
