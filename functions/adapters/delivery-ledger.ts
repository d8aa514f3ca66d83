import { mkdir, readFile, rename, unlink, writeFile } from "node:fs/promises";
import path from "node:path";
import { GetObjectCommand, PutObjectCommand, type S3Client } from "@aws-sdk/client-s3";
import type { DeliveryRecord } from "../report/delivery-plan.js";
import { monthDirName } from "../report/month-dir.js";
import type { DeliveryLedger } from "../delivery/delivery-ports.js";
import { conditionalPut, isS3NotFound, s3Key } from "./s3-objects.js";

/** `deliveries/month=YYYY-MM/<kind>--<scope>--<recipient>.json`, the same on disk and in S3. */
export function ledgerKey(month: string, kind: string, scope: string, recipient: string): string {
  const safe = (s: string) => s.toLowerCase().replace(/[^a-z0-9@._-]/g, "_");
  return `deliveries/${monthDirName(month)}/${safe(kind)}--${safe(scope)}--${safe(recipient)}.json`;
}

const body = (rec: DeliveryRecord) => JSON.stringify(rec, null, 2) + "\n";

/** `over` must be a record this ledger's `get` returned: only then is its stored version known. */
function versionOf<V>(versions: WeakMap<DeliveryRecord, V>, over: DeliveryRecord): V {
  const v = versions.get(over);
  if (v === undefined) throw new Error("claim over a record this ledger did not read");
  return v;
}

export function localLedger(root: string): DeliveryLedger {
  // The text each returned record was read from: a claim over it compares the file with it.
  const read = new WeakMap<DeliveryRecord, string>();
  return {
    location: path.resolve(root, "deliveries"),
    async get(month, kind, scope, recipient) {
      const text = await readFile(path.join(root, ledgerKey(month, kind, scope, recipient)), "utf8").catch((e: NodeJS.ErrnoException) => {
        if (e.code === "ENOENT") return undefined;
        throw e;
      });
      if (text === undefined) return undefined;
      const rec = JSON.parse(text) as DeliveryRecord;
      read.set(rec, text);
      return rec;
    },
    async put(rec) {
      const file = path.join(root, ledgerKey(rec.month, rec.kind, rec.scope, rec.recipient));
      await mkdir(path.dirname(file), { recursive: true });
      // write-then-rename: a crash leaves the old record or the new one, never half of one
      await writeFile(`${file}.tmp`, body(rec));
      await rename(`${file}.tmp`, file);
    },
    async claim(rec, over) {
      const file = path.join(root, ledgerKey(rec.month, rec.kind, rec.scope, rec.recipient));
      await mkdir(path.dirname(file), { recursive: true });
      const exclusive = async (f: string, text: string) => {
        try {
          await writeFile(f, text, { flag: "wx" }); // O_EXCL
          return true;
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code === "EEXIST") return false;
          throw e;
        }
      };
      if (!over) return exclusive(file, body(rec));
      // Compare-and-swap under a lock file: whoever holds the lock compares the record with what it read.
      const expected = versionOf(read, over);
      if (!(await exclusive(`${file}.lock`, rec.at))) return false;
      try {
        if ((await readFile(file, "utf8").catch(() => undefined)) !== expected) return false;
        await writeFile(`${file}.tmp`, body(rec));
        await rename(`${file}.tmp`, file);
        return true;
      } finally {
        await unlink(`${file}.lock`);
      }
    },
  };
}

export function s3Ledger(client: S3Client, bucket: string, prefix = ""): DeliveryLedger {
  const key = (k: string) => s3Key(prefix, k);
  // The ETag each returned record was read with: a claim over it is a put If-Match that ETag.
  const etags = new WeakMap<DeliveryRecord, string>();
  const recordObject = (rec: DeliveryRecord) => ({
    Bucket: bucket,
    Key: key(ledgerKey(rec.month, rec.kind, rec.scope, rec.recipient)),
    Body: body(rec),
    ContentType: "application/json",
  });
  return {
    location: `s3://${bucket}/${key("deliveries/")}`,
    async get(month, kind, scope, recipient) {
      try {
        const r = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key(ledgerKey(month, kind, scope, recipient)) }));
        const rec = JSON.parse(await r.Body!.transformToString()) as DeliveryRecord;
        if (r.ETag) etags.set(rec, r.ETag);
        return rec;
      } catch (e) {
        if (isS3NotFound(e)) return undefined;
        throw e;
      }
    },
    async put(rec) {
      await client.send(new PutObjectCommand(recordObject(rec)));
    },
    async claim(rec, over) {
      // S3 conditional write: 412 when the key exists (If-None-Match) or changed since it was
      // read (If-Match); tested against s3rver with a precondition middleware, test/support/s3.ts.
      const cond = over ? { IfMatch: versionOf(etags, over) } : { IfNoneMatch: "*" };
      return (await conditionalPut(client, { ...recordObject(rec), ...cond })) !== undefined;
    },
  };
}
