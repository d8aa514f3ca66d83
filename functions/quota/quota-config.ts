import { z } from "zod";
import type { BaseConfig } from "../core/config.js";
import { LANGUAGES } from "../core/language.js";

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

const dnsName = z
  .string()
  .regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/, "must be a Kubernetes object name (RFC 1123)");

/**
 * Which Kueue queues are the tenant's. Absent: every LocalQueue in the tenant's namespaces
 * (by `tenant` label or namespace glob, as in billing). Given: exactly these, nothing else.
 */
export const TenantKueueQueuesSchema = z
  .object({
    /** LocalQueues as `namespace/name`; each namespace must belong to the tenant (checked against the cluster at each run). */
    localQueues: z
      .array(z.string().regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?\/[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/, "must be namespace/name of a LocalQueue"))
      .default([]),
    /** A ClusterQueue the tenant owns alone: every LocalQueue pointing at it must be in the tenant's namespaces. */
    clusterQueue: dnsName.optional(),
  })
  .strict();

export const TenantQuotaSchema = z.object({
  /** Overrides of the default thresholds for this tenant (either may be given alone). */
  thresholds: z.object({ warn: fraction.optional(), block: fraction.optional() }).optional(),
  /** A namespace's own monthly GPU-hour limit, judged (and enforced) on that namespace alone. */
  namespaceLimits: z.record(z.string().min(1), z.number().positive()).default({}),
  /** Language of this tenant's alert emails. */
  language: z.enum(LANGUAGES).optional(),
  /** The tenant's Kueue queues (quota.enforcement.mode kueue). */
  kueue: TenantKueueQueuesSchema.optional(),
});

export const WORKLOAD_CLASSES = ["training", "inference"] as const;
export type WorkloadClass = (typeof WORKLOAD_CLASSES)[number];

/**
 * Kueue enforcement: at the block threshold the tenant's queues get `spec.stopPolicy`
 * (kueue.x-k8s.io/v1beta1 LocalQueue and ClusterQueue, apis/kueue/v1beta1/localqueue_types.go
 * and clusterqueue_types.go in kubernetes-sigs/kueue): `Hold` lets admitted workloads run to
 * completion and queues new ones; `HoldAndDrain` also evicts the admitted ones.
 */
export const KueueEnforcementSchema = z
  .object({
    stopPolicy: z.enum(["Hold", "HoldAndDrain"]).default("Hold"),
    /** Label on a LocalQueue or ClusterQueue (or, for a LocalQueue, its namespace) whose value `training` or `inference` is its class. */
    workloadClassLabel: z.string().min(1).default("gpu-billing.example.com/workload-class"),
    /** Name globs (`*`, `?`) that mark inference (serving) when there is no label: LocalQueue or ClusterQueue names, and namespaces. */
    inference: z
      .object({ queues: z.array(z.string().min(1)).default([]), namespaces: z.array(z.string().min(1)).default([]) })
      .strict()
      .prefault({}),
    /** A queue neither the label nor a glob marks. */
    defaultClass: z.enum(WORKLOAD_CLASSES).default("training"),
    /** The classes whose queues are held at the block threshold. */
    holdClasses: z.array(z.enum(WORKLOAD_CLASSES)).min(1).default(["training"]),
  })
  .strict();

export const EnforcementSettingsSchema = z
  .object({
    /**
     * How the block threshold is enforced: `resourcequota` (a ResourceQuota per namespace
     * rejects new GPU pods at admission), `kueue` (the tenant's queues are held, new jobs wait
     * in them) or `off` (alerts only; an active block of an earlier mode is lifted).
     */
    mode: z.enum(["resourcequota", "kueue", "off"]).default("resourcequota"),
    kueue: KueueEnforcementSchema.prefault({}),
  })
  .strict();
export type EnforcementSettings = z.infer<typeof EnforcementSettingsSchema>;
export type KueueEnforcementSettings = z.infer<typeof KueueEnforcementSchema>;
export type EnforcementMode = EnforcementSettings["mode"];

export const QuotaSettingsSchema = z
  .object({
    /** `allocated` GPU-hours (the quota is GPU time) or `billable` (after utilization correction). */
    basis: z.enum(["allocated", "billable"]).default("allocated"),
    thresholds: QuotaThresholdsSchema.default({ warn: 0.8, block: 1.0 }),
    /** Carry out enforcement at the block threshold; false = dry-run that only reports. */
    enforce: z.boolean().default(false),
    /** What enforcement does (default: ResourceQuotas, as before the mode existed). */
    enforcement: EnforcementSettingsSchema.prefault({}),
    /** A forecast needs some history: no "will cross" warning before this much of the month has passed. */
    forecastMinElapsedHours: z.number().min(0).default(24),
    /** Ops receives every alert, in addition to the tenant's recipients. */
    opsRecipients: z.array(z.string().email()).default([]),
    /** SES sender (a verified identity). */
    sender: z.string().email().default("gpu-billing@platform.example.com"),
    language: z.enum(LANGUAGES).default("ko"),
    /** Optional SNS topic every alert is also published to. */
    snsTopicArn: z.string().startsWith("arn:").optional(),
    cloudwatchNamespace: z.string().min(1).default("GpuBilling/Quota"),
    /** Per-tenant settings, keyed by tenant id. */
    tenants: z.record(z.string(), TenantQuotaSchema).default({}),
  })
  .superRefine((q, ctx) => {
    // An override of one threshold can pass the other default; reject that here, naming the field, not at the first run.
    for (const [id, t] of Object.entries(q.tenants)) {
      const warn = t.thresholds?.warn ?? q.thresholds.warn;
      const block = t.thresholds?.block ?? q.thresholds.block;
      if (warn >= block)
        ctx.addIssue({ code: "custom", path: ["tenants", id, "thresholds"], message: `warn (${warn}) must be below block (${block})` });
    }
    // One queue, one owner: two tenants naming the same queue would hold each other's jobs.
    const owners = new Map<string, string>();
    for (const [id, t] of Object.entries(q.tenants)) {
      const names = [
        ...(t.kueue?.localQueues ?? []).map((n) => `LocalQueue ${n}`),
        ...(t.kueue?.clusterQueue ? [`ClusterQueue ${t.kueue.clusterQueue}`] : []),
      ];
      for (const n of names) {
        const other = owners.get(n);
        if (other)
          ctx.addIssue({
            code: "custom",
            path: ["tenants", id, "kueue"],
            message: `${n} is already the queue of tenant ${other}; a queue belongs to one tenant`,
          });
        owners.set(n, id);
      }
    }
    const hold = q.enforcement.kueue.holdClasses;
    if (new Set(hold).size !== hold.length)
      ctx.addIssue({ code: "custom", path: ["enforcement", "kueue", "holdClasses"], message: "lists a class twice" });
  });

export type QuotaSettings = z.infer<typeof QuotaSettingsSchema>;
export type QuotaThresholds = { warn: number; block: number };

export const DEFAULT_QUOTA_SETTINGS: QuotaSettings = QuotaSettingsSchema.parse({});

/** The quota block as a slice of the billing config, composed into it in functions/config/config-schema.ts. */
export const QuotaConfigSlice = {
  /** Month-to-date quota checks, alerts and enforcement. */
  quota: QuotaSettingsSchema.optional(),
};

/** The config the quota capability reads: the base fields and its own block. */
export type QuotaConfig = BaseConfig & { quota?: QuotaSettings };

/** The quota block may only name tenants the base config defines. */
export function refineQuotaConfig(cfg: QuotaConfig, ctx: z.RefinementCtx): void {
  const ids = new Set(cfg.tenants.map((t) => t.id));
  for (const id of Object.keys(cfg.quota?.tenants ?? {}))
    if (!ids.has(id)) ctx.addIssue({ code: "custom", path: ["quota", "tenants", id], message: `no tenant with id "${id}"` });
}
