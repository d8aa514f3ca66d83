import { z } from "zod";
import { parse as parseYaml } from "yaml";
import { createHash } from "node:crypto";
import { KEY_PART_ID } from "./key-part.js";
import { LANGUAGES } from "./language.js";
import { BadInputError } from "./errors.js";

/** Decimal money/price amounts are strings in config so no binary float ever touches them. */
const decimalString = z
  .union([z.string(), z.number()])
  .transform((v) => String(v))
  .refine((v) => /^\d+(\.\d+)?$/.test(v), { message: 'must be a non-negative decimal number, e.g. "4.812"' });

/** Tenant and cluster ids become S3 key parts (`tenant=<id>/`, `cluster=<id>/`). */
const keyPartId = z.string().regex(KEY_PART_ID, "must be lower-case letters, digits and '-' (it becomes part of S3 keys)");

export const TenantSchema = z.object({
  id: keyPartId,
  name: z.string().min(1),
  /** Namespace globs (`*` and `?`) used when a namespace has no `tenant` label. */
  namespaces: z.array(z.string().min(1)).default([]),
  /** Monthly GPU-hour quota; absent means unlimited (never 0). */
  monthlyQuotaGpuHours: z.number().positive().optional(),
  recipients: z.array(z.string().email()).default([]),
});

export const PriceSchema = z.object({
  gpus: z.number().int().positive(),
  gpuModel: z.string().min(1),
  onDemandHourly: decimalString,
  spotHourly: decimalString,
  /**
   * With `prices.source: aws`, bill this type at the prices above instead of AWS's (an agreed
   * rate, or a month whose Spot history or zone labels cannot be had); prices.json records it.
   */
  override: z.boolean().optional(),
});

/**
 * Where unit prices come from (`prices.source`): `config` — the table below, as typed; `aws` — the
 * month's EC2 Spot price history and the AWS Price List's On-Demand prices in `prices.region`
 * (functions/core/price-snapshot.ts). The table's `gpus`/`gpuModel` describe an instance type
 * under either source; under `aws` its hourly prices are not used (a missing AWS price is an error,
 * never a silent fallback to them).
 */
export const PriceFeedSchema = z
  .object({
    source: z.enum(["config", "aws"]).default("config"),
    region: z
      .string()
      .regex(/^[a-z]{2}(-[a-z]+)+-\d+$/, "must be an AWS region code such as ap-northeast-2")
      .optional(),
  })
  .strict();
export type PriceFeed = z.infer<typeof PriceFeedSchema>;

/** The config's price source (`config` when `prices.source` is absent). */
export const priceSourceOf = (cfg: { priceFeed?: PriceFeed }): PriceFeed["source"] => cfg.priceFeed?.source ?? "config";

/** Keys of `prices` that configure the feed rather than name an instance type (instance types always contain a "."). */
const PRICE_FEED_KEYS = ["source", "region"] as const;

/** Moves `prices.source`/`prices.region` to `priceFeed`, so `prices` stays a table of instance types. */
export function splitPriceFeed(raw: unknown): unknown {
  if (!raw || typeof raw !== "object" || Array.isArray(raw)) return raw;
  const r = raw as Record<string, unknown>;
  if (!r.prices || typeof r.prices !== "object" || Array.isArray(r.prices)) return raw;
  const table = { ...(r.prices as Record<string, unknown>) };
  const feed: Record<string, unknown> = {};
  for (const k of PRICE_FEED_KEYS)
    if (k in table) {
      feed[k] = table[k];
      delete table[k];
    }
  // Absent keys leave no `priceFeed`: the config hash of a config without them stays what it was.
  return Object.keys(feed).length ? { ...r, prices: table, priceFeed: feed } : raw;
}

export const CorrectionTierSchema = z.object({
  /** Lower bound (inclusive) of average utilization, 0–1. */
  minUtilization: z.number().min(0).max(1),
  factor: decimalString,
});

export const ReportsSchema = z.object({
  /** Sender address (an SES verified identity). */
  from: z.string().email().optional(),
  /** Get the full PDF, the workbook and chargeback.csv. */
  financeRecipients: z.array(z.string().email()).default([]),
  /** Get the full PDF. */
  executiveRecipients: z.array(z.string().email()).default([]),
  lang: z.enum(LANGUAGES).default("ko"),
  /** Attachments making a message larger than this go as presigned S3 links instead (SES raw limit is 10 MB after base64). */
  attachmentLinkThresholdBytes: z
    .number()
    .int()
    .positive()
    .default(7 * 1024 * 1024),
  /** Presigned link lifetime; SigV4 allows at most 7 days. */
  linkExpiryDays: z.number().int().min(1).max(7).default(7),
});
export type ReportsConfig = z.infer<typeof ReportsSchema>;

export const GRANULARITIES = ["namespace-gpu_model", "namespace", "tenant", "tenant-gpu_model", "row"] as const;

const authSchema = z.discriminatedUnion("type", [
  z.object({ type: z.literal("none") }),
  z.object({ type: z.literal("bearer"), tokenEnv: z.string().min(1).default("PROMETHEUS_TOKEN") }),
  z.object({ type: z.literal("sigv4"), region: z.string().min(1), service: z.string().default("aps") }),
]);

export const PrometheusSchema = z.object({
  url: z.string().url(),
  auth: authSchema.default({ type: "none" }),
  /** Label names dcgm-exporter's pod attribution arrives under (`exported_*` with honor_labels: false). */
  labels: z
    .object({ dcgmNamespace: z.string().default("namespace"), dcgmPod: z.string().default("pod") })
    .default({ dcgmNamespace: "namespace", dcgmPod: "pod" }),
  /** Hours per query window; a billing day is the largest window (one day's 1-minute ticks per query). */
  concurrency: z.number().int().min(1).max(32).default(4),
  retries: z.number().int().min(0).max(10).default(4),
  timeoutSeconds: z.number().positive().default(120),
});

export const ClusterSchema = z.object({
  id: keyPartId,
  name: z.string().min(1).optional(),
  prometheus: PrometheusSchema,
});
export type ClusterConfig = z.infer<typeof ClusterSchema>;

/** Cluster id of a config without `clusters` and no `clusterId`. */
export const DEFAULT_CLUSTER_ID = "default";

/**
 * The config fields the shared primitives and most capabilities read. A capability with its own
 * block (quota) adds it as a slice; the schema a config file is parsed with is composed from the
 * base and the slices in functions/config/config-schema.ts, above every capability, so core
 * never has to know the capabilities.
 */
export const BaseConfigObject = z.object({
  timeZone: z.string().default("Asia/Seoul").refine(isValidTimeZone, { message: "is not an IANA time zone" }),
  currency: z
    .string()
    .regex(/^[A-Z]{3}$/, "must be an ISO 4217 code such as USD")
    .default("USD"),
  /** Decimal places of the currency's minor unit; cost is rounded to this once per row. */
  currencyDecimals: z.number().int().min(0).max(4).default(2),
  tenants: z.array(TenantSchema).min(1),
  prices: z.record(z.string().min(1), PriceSchema),
  /** `prices.source` and `prices.region` (split off the table by splitPriceFeed). */
  priceFeed: PriceFeedSchema.optional(),
  /** Source of the price table, printed in reports so finance can check it. */
  priceSource: z.string().default(""),
  correction: z
    .object({
      granularity: z.enum(GRANULARITIES).default("namespace-gpu_model"),
      tiers: z.array(CorrectionTierSchema).min(1),
    })
    .default({
      granularity: "namespace-gpu_model",
      tiers: [
        { minUtilization: 0.7, factor: "1.0" },
        { minUtilization: 0.4, factor: "0.8" },
        { minUtilization: 0.2, factor: "0.6" },
        { minUtilization: 0, factor: "0.4" },
      ],
    }),
  /** MIG slices per whole GPU, by GPU model (A100/H100 have 7 compute slices, A30 has 4). */
  migSlicesPerGpu: z.record(z.string(), z.number().int().positive()).default({ A100: 7, H100: 7, A30: 4 }),
  /** Monthly report delivery (optional; absent = defaults below, no finance/executive mail). */
  reports: ReportsSchema.optional(),
  /** Names in the FOCUS export (focus.csv); absent fields keep the defaults of functions/export/focus-export.ts. */
  focus: z
    .object({
      providerName: z.string().min(1),
      publisherName: z.string().min(1),
      billingAccountId: z.string().min(1),
      billingAccountName: z.string().min(1),
      billingAccountType: z.string().min(1),
      regionId: z.string().min(1),
      regionName: z.string().min(1),
    })
    .partial()
    .strict()
    .optional(),
  prometheus: PrometheusSchema.optional(),
  /**
   * Clusters metered into one dataset, each with its own Prometheus/AMP endpoint.
   * Absent: one implicit cluster `clusterId` using the top-level `prometheus`.
   */
  clusters: z.array(ClusterSchema).min(1).optional(),
  /** Id of the implicit single cluster when `clusters` is absent (the dataset's `cluster` column). */
  clusterId: keyPartId.optional(),
});

export type BaseConfig = z.infer<typeof BaseConfigObject>;

/** Cross-field rules of the base fields; the composed schema runs them before the slices' own. */
export function refineBaseConfig(cfg: BaseConfig, ctx: z.RefinementCtx): void {
  const ids = new Set<string>();
  cfg.tenants.forEach((t, i) => {
    if (ids.has(t.id)) ctx.addIssue({ code: "custom", path: ["tenants", i, "id"], message: `duplicate tenant id "${t.id}"` });
    if (t.id === UNALLOCATED) ctx.addIssue({ code: "custom", path: ["tenants", i, "id"], message: `"${UNALLOCATED}" is reserved` });
    ids.add(t.id);
  });
  const mins = cfg.correction.tiers.map((t) => t.minUtilization);
  if (!mins.includes(0))
    ctx.addIssue({
      code: "custom",
      path: ["correction", "tiers"],
      message: "one tier must start at minUtilization 0 so every utilization has a factor",
    });
  if (new Set(mins).size !== mins.length)
    ctx.addIssue({ code: "custom", path: ["correction", "tiers"], message: "minUtilization values must be distinct" });
  const clusterIds = new Set<string>();
  (cfg.clusters ?? []).forEach((c, i) => {
    if (clusterIds.has(c.id)) ctx.addIssue({ code: "custom", path: ["clusters", i, "id"], message: `duplicate cluster id "${c.id}"` });
    clusterIds.add(c.id);
  });
  if (cfg.clusters && cfg.clusterId !== undefined)
    ctx.addIssue({
      code: "custom",
      path: ["clusterId"],
      message: "only for a single implicit cluster; with `clusters`, each cluster has its own id",
    });
  if (cfg.clusters && cfg.prometheus)
    ctx.addIssue({
      code: "custom",
      path: ["prometheus"],
      message: "with `clusters`, give each cluster its own `prometheus` (clusters.N.prometheus) instead",
    });
  if (cfg.priceFeed?.source === "aws" && !cfg.priceFeed.region)
    ctx.addIssue({
      code: "custom",
      path: ["prices", "region"],
      message: "prices.source aws needs the region the nodes run in, e.g. ap-northeast-2",
    });
  // The price list and the Spot history quote USD only.
  if (cfg.priceFeed?.source === "aws" && cfg.currency !== "USD")
    ctx.addIssue({
      code: "custom",
      path: ["currency"],
      message: `prices.source aws prices in USD (the AWS Price List and Spot history quote USD), not ${cfg.currency}`,
    });
}

export type Tenant = z.infer<typeof TenantSchema>;
export type Granularity = (typeof GRANULARITIES)[number];

export const UNALLOCATED = "unallocated";

function isValidTimeZone(tz: string): boolean {
  try {
    new Intl.DateTimeFormat("en-US", { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}

export class ConfigError extends BadInputError {
  constructor(
    message: string,
    readonly issues: string[],
  ) {
    super(message);
    this.name = "ConfigError";
  }
}

/** Formats zod issues as `path.to.field: message`, one per line, so every error names its field. */
export function describeIssues(issues: readonly z.core.$ZodIssue[]): string[] {
  return issues.map((i) => `${i.path.length ? i.path.join(".") : "(root)"}: ${i.message}`);
}

/** Parses JSON or YAML text with a config schema; `source` names the file in errors. */
export function parseConfigText<S extends z.ZodType>(schema: S, text: string, source: string): z.infer<S> {
  let raw: unknown;
  try {
    raw = parseYaml(text); // YAML is a superset of JSON
  } catch (e) {
    throw new ConfigError(`${source}: not valid JSON or YAML: ${(e as Error).message}`, []);
  }
  const result = schema.safeParse(raw);
  if (!result.success) {
    const issues = describeIssues(result.error.issues);
    throw new ConfigError(`${source}: invalid config:\n  ${issues.join("\n  ")}`, issues);
  }
  return result.data;
}

/** Stable hash of the effective config, recorded in the manifest so a re-run can be proven identical. */
export function configHash(cfg: BaseConfig): string {
  return createHash("sha256").update(stableStringify(cfg)).digest("hex");
}

export function stableStringify(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(stableStringify).join(",")}]`;
  if (v && typeof v === "object") {
    const entries = Object.entries(v as Record<string, unknown>)
      .filter(([, x]) => x !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, x]) => `${JSON.stringify(k)}:${stableStringify(x)}`).join(",")}}`;
  }
  return JSON.stringify(v);
}

/** A cluster as metering sees it: its id, display name and Prometheus settings (absent: URL given at run time). */
export interface MeteredCluster {
  id: string;
  name: string;
  prometheus?: ClusterConfig["prometheus"];
}

/**
 * The clusters a month is complete with, in id order. A config without
 * `clusters` is one implicit cluster, so one code path serves both.
 */
export function configuredClusters(cfg: BaseConfig): MeteredCluster[] {
  if (!cfg.clusters) {
    const id = cfg.clusterId ?? DEFAULT_CLUSTER_ID;
    return [{ id, name: id, prometheus: cfg.prometheus }];
  }
  return cfg.clusters.map((c) => ({ id: c.id, name: c.name ?? c.id, prometheus: c.prometheus })).sort((a, b) => (a.id < b.id ? -1 : 1));
}
