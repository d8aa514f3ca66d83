import { z } from "zod";

/**
 * The `quota` block of the billing config: how month-to-date usage is judged
 * against each tenant's `monthlyQuotaGpuHours`. Every field has a default, so
 * a config without the block still works (allocated basis, warn 80 %, block
 * 100 %, dry-run enforcement).
 */
const fraction = z.number().gt(0).max(10);

export const QuotaThresholdsSchema = z
  .object({
    /** Fraction of the quota at which the tenant's admins are warned. */
    warn: fraction.default(0.8),
    /** Fraction of the quota at which new GPU work is blocked. */
    block: fraction.default(1.0),
  })
  .refine((t) => t.warn < t.block, { message: "warn must be below block", path: ["warn"] });

export const TenantQuotaSchema = z.object({
  /** Overrides of the default thresholds for this tenant (either may be given alone). */
  thresholds: z.object({ warn: fraction.optional(), block: fraction.optional() }).optional(),
  /** A namespace's own monthly GPU-hour limit, judged (and enforced) on that namespace alone. */
  namespaceLimits: z.record(z.string().min(1), z.number().positive()).default({}),
  /** Language of this tenant's alert emails. */
  language: z.enum(["ko", "en"]).optional(),
});

export const QuotaSettingsSchema = z.object({
  /** `allocated` GPU-hours (the quota is GPU time) or `billable` (after utilization correction). */
  basis: z.enum(["allocated", "billable"]).default("allocated"),
  thresholds: QuotaThresholdsSchema.default({ warn: 0.8, block: 1.0 }),
  /** Apply Kubernetes ResourceQuotas at the block threshold; false = dry-run that only reports. */
  enforce: z.boolean().default(false),
  /** A forecast needs some history: no "will cross" warning before this much of the month has passed. */
  forecastMinElapsedHours: z.number().min(0).default(24),
  /** Ops receives every alert, in addition to the tenant's recipients. */
  opsRecipients: z.array(z.string().email()).default([]),
  /** SES sender (a verified identity). */
  sender: z.string().email().default("gpu-billing@platform.example.com"),
  language: z.enum(["ko", "en"]).default("ko"),
  /** Optional SNS topic every alert is also published to. */
  snsTopicArn: z.string().startsWith("arn:").optional(),
  cloudwatchNamespace: z.string().min(1).default("GpuBilling/Quota"),
  /** Per-tenant settings, keyed by tenant id. */
  tenants: z.record(z.string(), TenantQuotaSchema).default({}),
}).superRefine((q, ctx) => {
  // An override of one threshold can pass the other default; reject that here, naming the field, not at the first run.
  for (const [id, t] of Object.entries(q.tenants)) {
    const warn = t.thresholds?.warn ?? q.thresholds.warn;
    const block = t.thresholds?.block ?? q.thresholds.block;
    if (warn >= block) ctx.addIssue({ code: "custom", path: ["tenants", id, "thresholds"], message: `warn (${warn}) must be below block (${block})` });
  }
});

export type QuotaSettings = z.infer<typeof QuotaSettingsSchema>;
export type QuotaThresholds = { warn: number; block: number };

export const DEFAULT_QUOTA_SETTINGS: QuotaSettings = QuotaSettingsSchema.parse({});
