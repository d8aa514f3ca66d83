import { readdir, readFile } from "node:fs/promises";
import path from "node:path";
import { GetObjectCommand, ListObjectsV2Command, type S3Client } from "@aws-sdk/client-s3";
import type { AuditObject } from "../core/controller-savings.js";
import type { BillingMonth } from "../core/month.js";
import type { MeteredCluster } from "../core/config.js";
import type { ControllerAuditSource } from "../metering/meter-month.js";
import { TZDate } from "@date-fns/tz";
import type { Decision, ReasonCode } from "../controller/decide.js";
import type { ControllerRecord, OutcomeCode, OutcomeStatus } from "../controller/run-controller.js";
import { conditionalPut, s3Key, trimKeyPrefix } from "./s3-objects.js";

/**
 * One line of the audit log: a decision of any kind, flat, as Athena and people read it. The
 * decision's own fields (duty, action, code, node, desiredFrom…), then what came of it: `outcome`
 * in prose, as every line has always carried it, and `outcomeStatus` / `outcomeCode` as values.
 * Lines written before the outcome had a code lack those two; readers fall back to the prose.
 */
export interface AuditRecord {
  runId: string;
  at: string;
  duty: Decision["duty"];
  action: Decision["action"];
  /** Lines written before every decision had a code may lack it. */
  code?: ReasonCode;
  dryRun: boolean;
  reason: string;
  nodeGroup?: string;
  pool?: string;
  node?: string;
  instanceId?: string;
  capacityType?: string;
  desiredFrom?: number;
  desiredTo?: number;
  karpenterNodePool?: string;
  inputs: Record<string, unknown>;
  /** Did the controller act, and what came back (or why it did not), for people. */
  outcome: string;
  outcomeStatus?: OutcomeStatus;
  outcomeCode?: OutcomeCode;
}

/** The audit line of a run's record. */
export function auditRecordOf(r: ControllerRecord, runId: string, at: Date): AuditRecord {
  const { outcome, ...decision } = r;
  return { ...decision, outcome: outcome.text, outcomeStatus: outcome.status, outcomeCode: outcome.code, runId, at: at.toISOString() };
}

/** `YYYY-MM-DD` of an instant in the billing time zone. */
export function auditDay(epochMs: number, timeZone: string): string {
  const d = new TZDate(epochMs, timeZone);
  return `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, "0")}-${String(d.getDate()).padStart(2, "0")}`;
}

/** `<prefix>/day=YYYY-MM-DD/<run time>-<run id>.jsonl` (no leading slash). */
export function auditObjectKey(prefix: string, timeZone: string, runAtMs: number, runId: string): string {
  const stamp = new Date(runAtMs)
    .toISOString()
    .replace(/[-:]/g, "")
    .replace(/\.\d+Z$/, "Z");
  return s3Key(prefix, `day=${auditDay(runAtMs, timeZone)}`, `${stamp}-${runId}.jsonl`);
}

export const auditObjectBody = (records: AuditRecord[]) => records.map((r) => JSON.stringify(r)).join("\n") + "\n";

/**
 * The audit log: JSON lines partitioned per billing day,
 * `<prefix>/day=YYYY-MM-DD/<run time>-<run id>.jsonl`, one object per run
 * (S3 has no append; rewriting a day file every two minutes would cost
 * O(n²) transfer). Athena or `aws s3 cp --recursive` reads a day as one table.
 * Every decision of the run is a line, acted on or not.
 */
export async function writeAuditLog(
  s3: S3Client,
  bucket: string,
  prefix: string,
  timeZone: string,
  runAt: Date,
  runId: string,
  records: AuditRecord[],
): Promise<string> {
  const key = auditObjectKey(prefix, timeZone, runAt.getTime(), runId);
  const body = auditObjectBody(records);
  // If-None-Match: a retried Lambda with the same run id never overwrites what the first attempt recorded.
  await conditionalPut(s3, { Bucket: bucket, Key: key, Body: body, ContentType: "application/x-ndjson", IfNoneMatch: "*" });
  return key;
}

const DAY_MS = 86_400_000;

/**
 * The day partitions that can hold a month's runs: the month's days in the
 * controller's time zone are not known here (its policy has its own), so one
 * day either side of the month is read; the summary keeps only what falls inside.
 */
export function auditDaysFor(window: Pick<BillingMonth, "startMs" | "endMs">): string[] {
  const days = new Set<string>();
  for (let t = window.startMs - DAY_MS; t < window.endMs + DAY_MS; t += DAY_MS / 2) days.add(new Date(t).toISOString().slice(0, 10));
  return [...days].sort();
}

/** `{cluster}` in a location is the cluster's id: one controller (and log) per cluster. */
const forCluster = (location: string, cluster: MeteredCluster) => location.replaceAll("{cluster}", cluster.id);

/**
 * Reads a month of the audit log from S3 (the layout writeAuditLog writes).
 * No object in the month's partitions is an empty month ("no records");
 * S3 errors propagate (unavailable, never an empty month).
 */
export function s3AuditSource(s3: S3Client, bucket: string, prefix: string): ControllerAuditSource {
  return {
    async monthObjects(cluster, window) {
      const root = trimKeyPrefix(forCluster(prefix, cluster));
      const objects: AuditObject[] = [];
      for (const day of auditDaysFor(window)) {
        let token: string | undefined;
        do {
          const r = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: `${root}/day=${day}/`, ContinuationToken: token }));
          for (const { Key } of r.Contents ?? []) {
            if (Key === undefined) throw new Error(`ListObjectsV2 ${bucket}/${root}: an entry without a key`);
            const got = await s3.send(new GetObjectCommand({ Bucket: bucket, Key }));
            if (!got.Body) throw new Error(`GetObject ${Key}: answer without a body`);
            objects.push({ key: Key.slice(root.length + 1), body: await got.Body.transformToString("utf8") });
          }
          token = r.IsTruncated ? r.NextContinuationToken : undefined;
        } while (token);
      }
      return objects;
    },
  };
}

/** The same layout in a local directory (`day=YYYY-MM-DD/*.jsonl`): the CLI's --controller-audit DIR and the demo. */
export function localAuditSource(dir: string): ControllerAuditSource {
  return {
    async monthObjects(cluster, window) {
      const root = forCluster(dir, cluster);
      const objects: AuditObject[] = [];
      for (const day of auditDaysFor(window)) {
        const sub = path.join(root, `day=${day}`);
        const names = await readdir(sub).catch((e: NodeJS.ErrnoException) => {
          if (e.code === "ENOENT") return [] as string[];
          throw e;
        });
        for (const name of names.filter((n) => n.endsWith(".jsonl")).sort())
          objects.push({ key: `day=${day}/${name}`, body: await readFile(path.join(sub, name), "utf8") });
      }
      return objects;
    },
  };
}
