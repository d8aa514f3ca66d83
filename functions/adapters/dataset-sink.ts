import { mkdir, rename, rm, rmdir, writeFile, readFile } from "node:fs/promises";
import path from "node:path";
import { DeleteObjectCommand, GetObjectCommand, PutObjectCommand, type S3Client } from "@aws-sdk/client-s3";
import { MANIFEST_FILE } from "../core/dataset.js";
import { parseMonth } from "../core/month.js";
import { KEY_PART_ID } from "../core/key-part.js";
import { STAGE_MANIFEST_FILE, STAGE_USAGE_FILE } from "../core/cluster-stage.js";
import type { ClusterStaging, DatasetSink } from "../metering/metering-ports.js";
import { isS3NotFound, s3Key, trimKeyPrefix } from "./s3-objects.js";

/** The cluster id becomes a path part: the config's pattern is checked again here, at the boundary. */
export function clusterDir(cluster: string): string {
  if (!KEY_PART_ID.test(cluster)) throw new Error(`cluster id "${cluster}" cannot be part of a path`);
  return `cluster=${cluster}`;
}

/** Local staging: each stage is written to a temp directory and renamed into place. */
export function localStaging(root: string): ClusterStaging {
  const base = path.join(root, "staging");
  const dir = (month: string, cluster: string) => path.join(base, monthDir(month), clusterDir(cluster));
  return {
    location: path.resolve(base),
    async write(month, cluster, files) {
      const final = dir(month, cluster);
      const tmp = `${final}.tmp-${process.pid}`;
      await rm(tmp, { recursive: true, force: true });
      await mkdir(tmp, { recursive: true });
      await writeFile(path.join(tmp, STAGE_USAGE_FILE), files.usage);
      await writeFile(path.join(tmp, STAGE_MANIFEST_FILE), files.manifest);
      await rm(final, { recursive: true, force: true });
      await rename(tmp, final);
      return final;
    },
    async read(month, cluster) {
      const get = (f: string) => readFile(path.join(dir(month, cluster), f)).catch(() => undefined);
      const [usage, manifest] = await Promise.all([get(STAGE_USAGE_FILE), get(STAGE_MANIFEST_FILE)]);
      return usage || manifest ? { usage, manifest } : undefined;
    },
    async clear(month, clusters) {
      for (const c of clusters) await rm(dir(month, c), { recursive: true, force: true });
      // leave no empty directories behind: the output root looks as it did before multi-cluster staging
      for (const d of [path.join(base, monthDir(month)), base]) await rmdir(d).catch(() => undefined);
    },
  };
}

/** S3 key of one file of a cluster's stage: `<prefix>/staging/month=YYYY-MM/cluster=<id>/<name>`. */
export function stageObjectKey(prefix: string, month: string, cluster: string, name: string): string {
  return s3Key(prefix, "staging", monthDir(month), clusterDir(cluster), name);
}

/** S3 staging: the stage's manifest is deleted first and put last, like a month's. */
export function s3Staging(client: S3Client, bucket: string, prefix = ""): ClusterStaging {
  const key = (month: string, cluster: string, name: string) => stageObjectKey(prefix, month, cluster, name);
  const get = async (Key: string) => {
    try {
      const r = await client.send(new GetObjectCommand({ Bucket: bucket, Key }));
      return Buffer.from(await r.Body!.transformToByteArray());
    } catch (e) {
      if (isS3NotFound(e)) return undefined;
      throw e;
    }
  };
  return {
    location: `s3://${bucket}/${s3Key(prefix, "staging")}`,
    async write(month, cluster, files) {
      await client.send(new DeleteObjectCommand({ Bucket: bucket, Key: key(month, cluster, STAGE_MANIFEST_FILE) }));
      await client.send(
        new PutObjectCommand({
          Bucket: bucket,
          Key: key(month, cluster, STAGE_USAGE_FILE),
          Body: files.usage,
          ContentType: "application/json",
        }),
      );
      await client.send(
        new PutObjectCommand({
          Bucket: bucket,
          Key: key(month, cluster, STAGE_MANIFEST_FILE),
          Body: files.manifest,
          ContentType: "application/json",
        }),
      );
      return `s3://${bucket}/${key(month, cluster, "")}`;
    },
    async read(month, cluster) {
      const [usage, manifest] = await Promise.all([
        get(key(month, cluster, STAGE_USAGE_FILE)),
        get(key(month, cluster, STAGE_MANIFEST_FILE)),
      ]);
      return usage || manifest ? { usage, manifest } : undefined;
    },
    async clear(month, clusters) {
      for (const c of clusters)
        for (const f of [STAGE_MANIFEST_FILE, STAGE_USAGE_FILE])
          await client.send(new DeleteObjectCommand({ Bucket: bucket, Key: key(month, c, f) }));
    },
  };
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
    staging: localStaging(root),
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
    async readFile(month, name) {
      return readFile(path.join(root, monthDir(month), name)).catch((e: NodeJS.ErrnoException) => {
        if (e.code === "ENOENT") return undefined;
        throw e;
      });
    },
  };
}

/**
 * S3 sink. The old manifest is deleted first (the month reads as incomplete),
 * the data files are put, and the manifest goes last: a month is complete
 * only when its manifest exists, so a failed run never looks like a bill.
 */
export function s3Sink(client: S3Client, bucket: string, prefix = ""): DatasetSink {
  const p = trimKeyPrefix(prefix);
  const key = (month: string, name: string) => s3Key(p, monthDir(month), name);
  const contentType = (name: string) =>
    name.endsWith(".json") ? "application/json" : name.endsWith(".parquet") ? "application/vnd.apache.parquet" : "text/csv; charset=utf-8";
  return {
    location: `s3://${bucket}/${p}`,
    staging: s3Staging(client, bucket, prefix),
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
        if (isS3NotFound(e)) return undefined;
        throw e;
      }
    },
    async readFile(month, name) {
      try {
        const r = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key(month, name) }));
        return Buffer.from(await r.Body!.transformToByteArray());
      } catch (e) {
        if ((e as { name?: string }).name === "NoSuchKey") return undefined;
        throw e;
      }
    },
  };
}
