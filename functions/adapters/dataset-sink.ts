import { mkdir, rename, rm, writeFile, readFile } from "node:fs/promises";
import path from "node:path";
import { DeleteObjectCommand, GetObjectCommand, PutObjectCommand, type S3Client } from "@aws-sdk/client-s3";
import { MANIFEST_FILE, type Dataset } from "../core/dataset.js";
import { parseMonth } from "../core/month.js";

/** Where a month's dataset lives, the same layout on disk and in S3: `<prefix>/month=YYYY-MM/<file>`. */
export interface DatasetSink {
  readonly location: string;
  write(month: string, dataset: Dataset): Promise<string>;
  readManifest(month: string): Promise<string | undefined>;
}

export function monthDir(month: string): string {
  parseMonth(month); // the month becomes a path: nothing but YYYY-MM may pass
  return `month=${month}`;
}

/**
 * Local directory sink. The month is written to a sibling temp directory and
 * swapped in by rename, so a reader never sees half of two runs.
 */
export function localSink(root: string): DatasetSink {
  return {
    location: path.resolve(root),
    async write(month, dataset) {
      const final = path.join(root, monthDir(month));
      const tmp = `${final}.tmp-${process.pid}`;
      const old = `${final}.old-${process.pid}`;
      await rm(tmp, { recursive: true, force: true });
      await mkdir(tmp, { recursive: true });
      for (const f of dataset.files) {
        // export files live in sub-directories (parquet/<table>/)
        await mkdir(path.dirname(path.join(tmp, f.name)), { recursive: true });
        await writeFile(path.join(tmp, f.name), f.body);
      }
      await writeFile(path.join(tmp, dataset.manifest.name), dataset.manifest.body);
      await rm(old, { recursive: true, force: true });
      await rename(final, old).catch((e: NodeJS.ErrnoException) => {
        if (e.code !== "ENOENT") throw e;
      });
      await rename(tmp, final);
      await rm(old, { recursive: true, force: true });
      return final;
    },
    async readManifest(month) {
      return readFile(path.join(root, monthDir(month), MANIFEST_FILE), "utf8").catch(() => undefined);
    },
  };
}

/**
 * S3 sink. The old manifest is deleted first (the month reads as incomplete),
 * the data files are put, and the manifest goes last: a month is complete
 * only when its manifest exists, so a failed run never looks like a bill.
 */
export function s3Sink(client: S3Client, bucket: string, prefix = ""): DatasetSink {
  const p = prefix.replace(/^\/+|\/+$/g, "");
  const key = (month: string, name: string) => `${p ? `${p}/` : ""}${monthDir(month)}/${name}`;
  const contentType = (name: string) =>
    name.endsWith(".json") ? "application/json" : name.endsWith(".parquet") ? "application/vnd.apache.parquet" : "text/csv; charset=utf-8";
  return {
    location: `s3://${bucket}/${p}`,
    async write(month, dataset) {
      await client.send(new DeleteObjectCommand({ Bucket: bucket, Key: key(month, MANIFEST_FILE) }));
      for (const f of [...dataset.files, dataset.manifest]) {
        await client.send(
          new PutObjectCommand({ Bucket: bucket, Key: key(month, f.name), Body: f.body, ContentType: contentType(f.name) }),
        );
      }
      return `s3://${bucket}/${key(month, "")}`;
    },
    async readManifest(month) {
      try {
        const r = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key(month, MANIFEST_FILE) }));
        return await r.Body!.transformToString();
      } catch (e) {
        if ((e as { name?: string }).name === "NoSuchKey") return undefined;
        throw e;
      }
    },
  };
}
