import { readFileSync } from "node:fs";
import { z } from "zod";
import { describeIssues } from "../core/config.js";
import { MONTH_RE } from "../core/month.js";
import { type Config, parseConfig } from "../config/config-schema.js";
import { BadInputError } from "../core/errors.js";

/** A billing month in an event; checked before it becomes part of an S3 key. */
export const EventMonth = z.string().regex(MONTH_RE, "must be YYYY-MM");

/** The billing config, inline (BILLING_CONFIG, JSON or YAML) or as a file bundled beside the code. */
export const BILLING_CONFIG_ENV = {
  BILLING_CONFIG: z.string().optional(),
  BILLING_CONFIG_FILE: z.string().optional(),
};

/** One of the two must be set; the error names BILLING_CONFIG. */
export function requiringBillingConfig<T extends z.ZodType<{ BILLING_CONFIG?: string; BILLING_CONFIG_FILE?: string }>>(schema: T) {
  return schema.refine((e) => e.BILLING_CONFIG || e.BILLING_CONFIG_FILE, {
    message: "set BILLING_CONFIG (JSON/YAML) or BILLING_CONFIG_FILE",
    path: ["BILLING_CONFIG"],
  });
}

/** Parses a function's environment; the error names the function and every bad variable. */
export function parseFunctionEnv<T extends z.ZodType>(fn: string, schema: T, env: Record<string, string | undefined>): z.infer<T> {
  const parsed = schema.safeParse(env);
  if (!parsed.success) throw new BadInputError(`${fn} function environment invalid: ${describeIssues(parsed.error.issues).join("; ")}`);
  return parsed.data;
}

/** Parses an invocation's event; a bad one is bad input naming every problem (a retry cannot fix it). */
export function parseEvent<T extends z.ZodType>(schema: T, event: unknown, what = "event"): z.infer<T> {
  const parsed = schema.safeParse(event ?? {});
  if (!parsed.success) throw new BadInputError(`invalid ${what}: ${describeIssues(parsed.error.issues).join("; ")}`);
  return parsed.data;
}

export function loadBillingConfig(e: { BILLING_CONFIG?: string; BILLING_CONFIG_FILE?: string }): Config {
  return e.BILLING_CONFIG
    ? parseConfig(e.BILLING_CONFIG, "BILLING_CONFIG")
    : parseConfig(readFileSync(e.BILLING_CONFIG_FILE!, "utf8"), e.BILLING_CONFIG_FILE!);
}
