import { PutObjectCommand, type S3Client } from "@aws-sdk/client-s3";
import { TZDate } from "@date-fns/tz";
import type { Decision } from "../controller/decide.js";

export interface AuditRecord extends Decision {
  runId: string;
  at: string;
  /** Did the controller act, and what came back (or why it did not). */
  outcome: string;
}

/** `YYYY-MM-DD` of an instant in the billing time zone. */
export function auditDay(epochMs: number, timeZone: string): string {
  const d = new TZDate(epochMs, timeZone);
  return `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, "0")}-${String(d.getDate()).padStart(2, "0")}`;
}

/**
 * The audit log: JSON lines partitioned per billing day,
 * `<prefix>/day=YYYY-MM-DD/<run time>-<run id>.jsonl`, one object per run
 * (S3 has no append; rewriting a day file every two minutes would cost
 * O(n²) transfer). Athena or `aws s3 cp --recursive` reads a day as one table.
 * Every decision of the run is a line, acted on or not.
 */
export async function writeAuditLog(s3: S3Client, bucket: string, prefix: string, timeZone: string, runAtMs: number, runId: string, records: AuditRecord[]): Promise<string> {
  const stamp = new Date(runAtMs).toISOString().replace(/[-:]/g, "").replace(/\.\d+Z$/, "Z");
  const key = `${prefix.replace(/\/+$/, "")}/day=${auditDay(runAtMs, timeZone)}/${stamp}-${runId}.jsonl`.replace(/^\//, "");
  const body = records.map((r) => JSON.stringify(r)).join("\n") + "\n";
  // If-None-Match: a retried Lambda with the same run id never overwrites what the first attempt recorded.
  try {
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body, ContentType: "application/x-ndjson", IfNoneMatch: "*" }));
  } catch (e) {
    const err = e as { name?: string; $metadata?: { httpStatusCode?: number } };
    if (!(err.name === "PreconditionFailed" || err.$metadata?.httpStatusCode === 412)) throw e;
  }
  return key;
}
