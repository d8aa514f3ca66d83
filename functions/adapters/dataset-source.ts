import { readFile } from "node:fs/promises";
import path from "node:path";
import { GetObjectCommand, type S3Client } from "@aws-sdk/client-s3";
import { CONTROLLER_FILE, MANIFEST_FILE, NODES_FILE, PODS_FILE } from "../core/dataset.js";
import { PRICES_FILE } from "../core/price-snapshot.js";
import { RECONCILIATION_FILE } from "../core/reconciliation.js";
import { DatasetNotFoundError, parseDataset, type DatasetBytes } from "../report/dataset-files.js";
import { monthDirName } from "../report/month-dir.js";
import type { DatasetSource } from "../delivery/delivery-ports.js";
import { isS3NotFound, s3Key, trimKeyPrefix } from "./s3-objects.js";

const DATA_FILES = ["chargeback.csv", "usage-daily.csv", "capacity.csv"];

/** The files to read for a month: pods.csv, nodes.csv, prices.json and controller-actions.csv too when its manifest lists them (older months lack them). */
function dataFiles(manifest: Buffer): string[] {
  let listed: Record<string, unknown> = {};
  try {
    listed = (JSON.parse(manifest.toString("utf8")) as { files?: Record<string, unknown> }).files ?? {};
  } catch {
    // parseDataset reports the unreadable manifest
  }
  return [...DATA_FILES, ...[PODS_FILE, NODES_FILE, PRICES_FILE, CONTROLLER_FILE].filter((f) => f in listed)];
}

export function localDatasetSource(root: string): DatasetSource {
  return {
    location: path.resolve(root),
    async read(month) {
      const dir = path.join(root, monthDirName(month));
      const manifest = await readFile(path.join(dir, MANIFEST_FILE)).catch((e: NodeJS.ErrnoException) => {
        if (e.code === "ENOENT") throw new DatasetNotFoundError(month, path.resolve(root));
        throw e;
      });
      const bytes: DatasetBytes = { manifest, files: {} };
      for (const f of dataFiles(manifest)) bytes.files[f] = await readFile(path.join(dir, f)).catch(() => undefined as unknown as Buffer);
      // Written later by `reconcile`, outside the manifest: read when it is there.
      const rec = await readFile(path.join(dir, RECONCILIATION_FILE)).catch(() => undefined);
      if (rec) bytes.files[RECONCILIATION_FILE] = rec;
      return parseDataset(month, bytes);
    },
  };
}

export function s3DatasetSource(client: S3Client, bucket: string, prefix = ""): DatasetSource {
  const p = trimKeyPrefix(prefix);
  const key = (month: string, name: string) => s3Key(p, monthDirName(month), name);
  const get = async (k: string): Promise<Buffer | undefined> => {
    try {
      const r = await client.send(new GetObjectCommand({ Bucket: bucket, Key: k }));
      return Buffer.from(await r.Body!.transformToByteArray());
    } catch (e) {
      if (isS3NotFound(e)) return undefined;
      throw e;
    }
  };
  return {
    location: `s3://${bucket}/${p}`,
    async read(month) {
      // The manifest is read first: the meter writes it last, so its presence means the files are complete.
      const manifest = await get(key(month, MANIFEST_FILE));
      if (!manifest) throw new DatasetNotFoundError(month, `s3://${bucket}/${p}`);
      const bytes: DatasetBytes = { manifest, files: {} };
      for (const f of [...dataFiles(manifest), RECONCILIATION_FILE]) {
        const b = await get(key(month, f));
        if (b) bytes.files[f] = b;
      }
      return parseDataset(month, bytes);
    },
  };
}
