import { readFile } from "node:fs/promises";
import { S3Client } from "@aws-sdk/client-s3";
import { currentMonth, parseMonth, previousMonth } from "../core/month.js";
import { packageFile } from "../package-files.js";
import { BadInputError } from "../core/errors.js";
import { type Config, parseConfig } from "../config/config-schema.js";

/** Exit codes: scripts and schedulers can tell "fix your input" from "try again later". */
export const EXIT = { ok: 0, failure: 1, badInput: 2, unavailable: 3 } as const;

/** A command-line mistake: exit code 2, nothing read or written. */
export class UsageError extends BadInputError {
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

export const DEFAULT_CONFIG = packageFile("functions/config/reference-customer.yaml");

export async function loadConfig(file: string): Promise<Config> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (e) {
    throw new UsageError(`--config: cannot read ${file}: ${(e as Error).message}`);
  }
  return parseConfig(text, file);
}

/**
 * `--month`, validated, or by default the month a command usually means: the last complete
 * one for billing (meter, report), the running one for quotas.
 */
export function monthArg(value: string | undefined, cfg: Config, now: Date, fallback: "previous" | "current"): string {
  const month = value ?? (fallback === "previous" ? previousMonth(now, cfg.timeZone) : currentMonth(now, cfg.timeZone));
  try {
    parseMonth(month);
  } catch (e) {
    throw new UsageError(`--month: ${(e as Error).message}`);
  }
  return month;
}

/** Where a month's dataset lives: a local directory or a bucket (with an S3-compatible endpoint for tests). */
export const DATASET_LOCATION_OPTIONS = {
  out: { type: "string" },
  bucket: { type: "string" },
  prefix: { type: "string" },
  "s3-endpoint": { type: "string" },
} as const;

/** An S3 client for `--s3-endpoint` (path-style, as local S3 servers need) or the default AWS endpoint. */
export function s3ClientFor(endpoint: string | undefined): S3Client {
  return new S3Client(endpoint ? { endpoint, forcePathStyle: true } : {});
}
