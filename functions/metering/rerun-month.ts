import { createHash } from "node:crypto";
import { z } from "zod";
import type { BaseConfig } from "../core/config.js";
import { assertMonthClosed, MONTH_RE } from "../core/month.js";
import { KEY_PART_ID } from "../core/key-part.js";
import type { Dataset } from "../core/dataset.js";
import type { DatasetSink } from "./metering-ports.js";
import { meterMonth, type MeterDeps } from "./meter-month.js";
import type { PricesStatus } from "./month-prices.js";
import { BadInputError } from "../core/errors.js";

/**
 * A re-run request. Month and tenant ids are checked against strict patterns
 * before anything else (they become S3 keys); the reason is mandatory so the
 * record says why. `tenants` scopes delivery: the dataset is always the whole
 * month (a per-tenant dataset would be a partial bill that looks complete).
 */
export const RerunRequestSchema = z
  .object({
    month: z.string().regex(MONTH_RE, "must be YYYY-MM"),
    tenants: z.array(z.string().regex(KEY_PART_ID, "must be a tenant id (lower-case letters, digits, '-')")).min(1).optional(),
    deliver: z.boolean().default(false),
    resend: z.boolean().default(false),
    dryRun: z.boolean().default(false),
    /** prices.source aws: fetch the month's prices again instead of reusing the published prices.json. */
    refreshPrices: z.boolean().default(false),
    reason: z.string().trim().min(3, "say why (at least 3 characters)").max(500),
    /** Who asked (the CLI fills in the local user / caller); CloudTrail also records the invoking principal. */
    requestedBy: z.string().trim().min(1).max(200).default("unknown"),
  })
  .strict()
  .refine((r) => !r.resend || r.deliver, { message: "resend needs deliver", path: ["resend"] });

export type RerunRequest = z.infer<typeof RerunRequestSchema>;

/** Delivery is optional here; when it is not wired in, a re-run says so instead of pretending. */
export type DeliverFn = (req: {
  month: string;
  tenants?: string[];
  resend: boolean;
  reason: string;
}) => Promise<{ status: string; detail?: unknown }>;

export interface RerunStore {
  /** Writes the re-run record next to the dataset; returns where. */
  putRecord(month: string, name: string, body: Buffer): Promise<string>;
}

export interface RerunDeps extends MeterDeps {
  records: RerunStore;
  deliver?: DeliverFn;
}

export interface FileChange {
  file: string;
  before?: string;
  after: string;
}

export interface RerunRecord {
  kind: "gpu-billing.rerun";
  month: string;
  requestedBy: string;
  reason: string;
  requestedAt: string;
  dryRun: boolean;
  tenants?: string[];
  location: string;
  /** sha256 of the manifest that was replaced (absent: the month had none). */
  previousManifestSha256?: string;
  manifestSha256: string;
  /** Files whose content changed (sha256 before → after); empty: the re-run reproduced the month byte for byte. */
  changed: FileChange[];
  totalsBefore?: Record<string, string>;
  totalsAfter: Record<string, string>;
  delivery: { status: "not-requested" | "not-configured" | string; detail?: unknown };
  /** Where the month's prices came from this run: the config's table, the published prices.json (reused), or AWS (fetched). */
  prices: PricesStatus;
  recordLocation?: string;
}

const sha256 = (b: Buffer | string) => createHash("sha256").update(b).digest("hex");

interface ManifestShape {
  files: Record<string, { sha256: string }>;
  totals: Record<string, string>;
}

/** Compares two manifests file by file (pure). */
export function diffManifests(before: ManifestShape | undefined, after: ManifestShape): FileChange[] {
  const names = [...new Set([...Object.keys(before?.files ?? {}), ...Object.keys(after.files)])].sort();
  return names
    .filter((n) => before?.files[n]?.sha256 !== after.files[n]?.sha256)
    .map((n) => ({ file: n, before: before?.files[n]?.sha256, after: after.files[n]?.sha256 ?? "(removed)" }));
}

/** A sink that keeps the dataset in memory: a dry run computes everything and writes nothing. */
function captureSink(real: DatasetSink): DatasetSink & { captured?: Dataset } {
  const s: DatasetSink & { captured?: Dataset } = {
    location: real.location,
    async write(_month, dataset) {
      s.captured = dataset;
      return `${real.location} (dry run: not written)`;
    },
    readManifest: (m) => real.readManifest(m),
    ...(real.readFile ? { readFile: real.readFile.bind(real) } : {}),
  };
  return s;
}

/**
 * Re-meters a month: the whole dataset is replaced by the sink's atomic write
 * (S3: manifest deleted first, written last, previous versions kept by bucket
 * versioning; local: directory swap), then a record of who re-ran what and
 * why, with the before/after hashes, is written next to the dataset, then
 * delivery is requested if asked. A dry run meters and compares but writes
 * nothing and delivers nothing.
 */
export async function rerunMonth(deps: RerunDeps, cfg: BaseConfig, req: RerunRequest, now: Date): Promise<RerunRecord> {
  assertMonthClosed(req.month, cfg.timeZone, now);
  const known = new Set([...cfg.tenants.map((t) => t.id), "unallocated"]);
  const unknown = (req.tenants ?? []).filter((t) => !known.has(t));
  if (unknown.length) throw new BadInputError(`tenants: unknown tenant id(s) ${unknown.join(", ")} (configured: ${[...known].join(", ")})`);

  const beforeText = await deps.sink.readManifest(req.month);
  const before = beforeText ? (JSON.parse(beforeText) as ManifestShape) : undefined;
  const sink = req.dryRun ? captureSink(deps.sink) : deps.sink;
  // An ops re-run meters every cluster again, never a stage a failed run left behind.
  const result = await meterMonth({ ...deps, sink }, cfg, req.month, now, { staged: "refresh", refreshPrices: req.refreshPrices });
  const afterBody = result.dataset.manifest.body;
  const after = JSON.parse(afterBody.toString("utf8")) as ManifestShape;

  const record: RerunRecord = {
    kind: "gpu-billing.rerun",
    month: req.month,
    requestedBy: req.requestedBy,
    reason: req.reason,
    requestedAt: now.toISOString(),
    dryRun: req.dryRun,
    ...(req.tenants ? { tenants: req.tenants } : {}),
    location: result.location,
    ...(beforeText ? { previousManifestSha256: sha256(beforeText) } : {}),
    manifestSha256: sha256(afterBody),
    changed: diffManifests(before, after),
    ...(before ? { totalsBefore: before.totals } : {}),
    totalsAfter: after.totals,
    delivery: { status: "not-requested" },
    prices: result.prices,
  };
  if (req.dryRun) return record;

  let deliveryError: unknown;
  if (req.deliver) {
    if (!deps.deliver)
      record.delivery = {
        status: "not-configured",
        detail: "no delivery function is wired into this re-run; deliver with the report command",
      };
    else {
      try {
        record.delivery = await deps.deliver({ month: req.month, tenants: req.tenants, resend: req.resend, reason: req.reason });
      } catch (e) {
        deliveryError = e;
        record.delivery = { status: "failed", detail: (e as Error).message };
      }
    }
  }
  // The record is written even when delivery failed: the dataset was replaced and that must be on file.
  const name = `${now.toISOString().replace(/[:.]/g, "-")}.json`;
  record.recordLocation = await deps.records.putRecord(req.month, name, Buffer.from(JSON.stringify(record, null, 2) + "\n", "utf8"));
  if (deliveryError) throw deliveryError;
  return record;
}
