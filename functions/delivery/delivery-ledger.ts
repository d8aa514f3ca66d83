import { mkdir, readFile, rename, writeFile } from "node:fs/promises";
import path from "node:path";
import { GetObjectCommand, PutObjectCommand, type S3Client } from "@aws-sdk/client-s3";
import type { DeliveryRecord } from "../report/delivery-plan.js";
import { monthDirName } from "../report/month-dir.js";

/**
 * The delivery ledger, beside the dataset under `deliveries/month=YYYY-MM/` (outside the
 * month's own directory, which a re-meter replaces whole). One object per kind × scope ×
 * recipient, so recording one delivery never rewrites another's.
 */
export interface DeliveryLedger {
  readonly location: string;
  get(month: string, kind: string, scope: string, recipient: string): Promise<DeliveryRecord | undefined>;
  put(rec: DeliveryRecord): Promise<void>;
  /**
   * Writes the record only if none exists yet; false when another run got there first.
   * Two runs at once (EventBridge delivers at least once) then cannot both send.
   */
  claim(rec: DeliveryRecord): Promise<boolean>;
}

export function ledgerKey(month: string, kind: string, scope: string, recipient: string): string {
  const safe = (s: string) => s.toLowerCase().replace(/[^a-z0-9@._-]/g, "_");
  return `deliveries/${monthDirName(month)}/${safe(kind)}--${safe(scope)}--${safe(recipient)}.json`;
}

export function localLedger(root: string): DeliveryLedger {
  return {
    location: path.resolve(root, "deliveries"),
    async get(month, kind, scope, recipient) {
      const text = await readFile(path.join(root, ledgerKey(month, kind, scope, recipient)), "utf8").catch((e: NodeJS.ErrnoException) => {
        if (e.code === "ENOENT") return undefined;
        throw e;
      });
      return text === undefined ? undefined : (JSON.parse(text) as DeliveryRecord);
    },
    async put(rec) {
      const file = path.join(root, ledgerKey(rec.month, rec.kind, rec.scope, rec.recipient));
      await mkdir(path.dirname(file), { recursive: true });
      // write-then-rename: a crash leaves the old record or the new one, never half of one
      await writeFile(`${file}.tmp`, JSON.stringify(rec, null, 2) + "\n");
      await rename(`${file}.tmp`, file);
    },
    async claim(rec) {
      const file = path.join(root, ledgerKey(rec.month, rec.kind, rec.scope, rec.recipient));
      await mkdir(path.dirname(file), { recursive: true });
      try {
        await writeFile(file, JSON.stringify(rec, null, 2) + "\n", { flag: "wx" }); // O_EXCL
        return true;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === "EEXIST") return false;
        throw e;
      }
    },
  };
}

export function s3Ledger(client: S3Client, bucket: string, prefix = ""): DeliveryLedger {
  const p = prefix.replace(/^\/+|\/+$/g, "");
  const key = (k: string) => `${p ? `${p}/` : ""}${k}`;
  const putRecord = (rec: DeliveryRecord, condition: { IfNoneMatch?: string }) =>
    client.send(
      new PutObjectCommand({
        Bucket: bucket,
        Key: key(ledgerKey(rec.month, rec.kind, rec.scope, rec.recipient)),
        Body: JSON.stringify(rec, null, 2) + "\n",
        ContentType: "application/json",
        ...condition,
      }),
    );
  return {
    location: `s3://${bucket}/${key("deliveries/")}`,
    async get(month, kind, scope, recipient) {
      try {
        const r = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key(ledgerKey(month, kind, scope, recipient)) }));
        return JSON.parse(await r.Body!.transformToString()) as DeliveryRecord;
      } catch (e) {
        if ((e as { name?: string }).name === "NoSuchKey") return undefined;
        throw e;
      }
    },
    async put(rec) {
      await putRecord(rec, {});
    },
    async claim(rec) {
      // S3 conditional write: fails with 412 when the key exists (tested against s3rver with
      // a precondition middleware, test/support/s3.ts).
      try {
        await putRecord(rec, { IfNoneMatch: "*" });
        return true;
      } catch (e) {
        const err = e as { name?: string; $metadata?: { httpStatusCode?: number } };
        if (err.name === "PreconditionFailed" || err.$metadata?.httpStatusCode === 412 || err.name === "ConditionalRequestConflict") return false;
        throw e;
      }
    },
  };
}
