import { z } from "zod";

/**
 * Everything an operator may change about the deployment, in one place.
 * Read from the CDK context key `gpuBilling` (infra/cdk.json or `-c gpuBilling='{…}'`),
 * validated here so a typo fails `cdk synth` with the field's name instead of deploying.
 */

/** EventBridge Scheduler expressions, all interpreted in `timeZone`. */
export const SchedulesSchema = z
  .object({
    /** Meter the previous month: 1st of the month, 01:00 billing time. */
    meter: z.string().default("cron(0 1 1 * ? *)"),
    /** Report and deliver (reads the dataset the meter wrote): 1st, 06:00 — five hours after metering. */
    monthly: z.string().default("cron(0 6 1 * ? *)"),
    /** Quota check: every hour at minute 10. */
    quota: z.string().default("cron(10 * * * ? *)"),
    /** Scale/reclaim controller: every 5 minutes. */
    controller: z.string().default("rate(5 minutes)"),
    /** Completeness check: 2nd of the month, 09:00 — a month without a manifest by then alarms. */
    manifestCheck: z.string().default("cron(0 9 2 * ? *)"),
  })
  .prefault({});

export const SettingsSchema = z.object({
  /** Billing time zone (IANA); every schedule is interpreted in it. */
  timeZone: z.string().default("Asia/Seoul"),
  schedules: SchedulesSchema,
  /** Schedules are created disabled when false (e.g. a staging account). */
  schedulesEnabled: z.boolean().default(true),
  /** Billing config bundled into every function (path relative to the repo root). */
  billingConfigFile: z.string().default("functions/config/reference-customer.yaml"),
  /** S3 prefix of the chargeback datasets (`<prefix>/month=YYYY-MM/`). */
  dataPrefix: z.string().regex(/^[a-z0-9][a-z0-9-]*$/, "must be lower-case letters, digits and '-'").default("chargeback"),
  retention: z
    .object({
      /** Function log groups, days (must be a CloudWatch Logs retention value). */
      logDays: z.number().int().positive().default(400),
      /** Raw run logs and audit JSON lines (`runs/`, `audit/`), days. */
      rawRunLogDays: z.number().int().positive().default(90),
      /** Chargeback datasets: absent = kept forever (finance records); otherwise days. */
      datasetDays: z.number().int().positive().optional(),
      /** Previous versions (replaced by re-runs) are kept this many days. */
      noncurrentVersionDays: z.number().int().positive().default(3650),
      /** Athena query results, days. */
      athenaResultDays: z.number().int().positive().default(30),
      /** S3 server access logs, days. */
      accessLogDays: z.number().int().positive().default(365),
    })
    .prefault({}),
  /** Optional S3 Object Lock (WORM) for finance records; only on a new bucket. */
  objectLock: z.object({ mode: z.enum(["GOVERNANCE", "COMPLIANCE"]), days: z.number().int().positive() }).optional(),
  /** Functions that talk to Prometheus or the EKS API join this VPC when it is private. */
  vpc: z
    .object({
      vpcId: z.string().regex(/^vpc-[0-9a-f]+$/),
      availabilityZones: z.array(z.string()).min(1),
      privateSubnetIds: z.array(z.string().regex(/^subnet-[0-9a-f]+$/)).min(1),
    })
    .optional(),
  prometheus: z
    .object({
      /** Overrides the billing config's prometheus.url. */
      url: z.string().url().optional(),
      /** Amazon Managed Service for Prometheus workspace ARN: grants aps:Query* on it (SigV4 auth). */
      ampWorkspaceArn: z.string().startsWith("arn:").optional(),
      /** Secrets Manager secret name holding a bearer token (for `auth.type: bearer`). */
      bearerTokenSecretName: z.string().optional(),
    })
    .prefault({}),
  /** EKS cluster the quota and controller functions talk to. */
  eksClusterName: z.string().optional(),
  /** Auto Scaling groups (names) the controller may terminate instances in. */
  gpuNodeGroupAsgPrefix: z.string().default("eks-gpu-"),
  ses: z
    .object({
      /** Verified SES identity (domain or address) reports are sent from. */
      identity: z.string().default("example.com"),
      fromAddress: z.string().default("gpu-billing@example.com"),
      configurationSetName: z.string().default("gpu-billing"),
      /** Presigned download links in emails expire after this many seconds (default 7 days). */
      presignSeconds: z.number().int().positive().max(604800).default(604800),
    })
    .prefault({}),
  /** Alarm notifications go here (optional; the SNS topic exists either way). */
  alarmEmail: z.string().email().optional(),
  /** CloudWatch namespace every function publishes custom metrics under. */
  metricsNamespace: z.string().default("GpuBilling"),
  /** Quota alarm threshold (used ÷ quota) per tenant. */
  quotaAlarmRatio: z.number().positive().default(1),
});

export type Settings = z.infer<typeof SettingsSchema>;

/** Parses the context value; every error names its field (e.g. `gpuBilling.vpc.vpcId`). */
export function parseSettings(raw: unknown): Settings {
  const r = SettingsSchema.safeParse(raw ?? {});
  if (!r.success) {
    const msg = r.error.issues.map((i) => `gpuBilling.${i.path.join(".")}: ${i.message}`).join("; ");
    throw new Error(`invalid CDK context: ${msg}`);
  }
  return r.data;
}
