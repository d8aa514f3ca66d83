import { z } from "zod";
import { CONTROLLER_NAMESPACE } from "../../functions/adapters/cloudwatch-metrics.js";
import type { Config } from "../../functions/config/config-schema.js";

/**
 * Everything an operator may change about the deployment, in one place.
 * Read from the CDK context key `gpuBilling` (cdk.json or `-c gpuBilling='{…}'`),
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
    /**
     * Scale/reclaim controller: every 2 minutes. Its lease lasts a little less than two
     * periods, so the period is also passed to the function (see `controllerRunIntervalMinutes`).
     */
    controller: z.string().default("rate(2 minutes)"),
    /** Completeness check: 2nd of the month, 09:00 — a month without a manifest by then alarms. */
    manifestCheck: z.string().default("cron(0 9 2 * ? *)"),
  })
  .prefault({});

/** A top-level S3 prefix of the data bucket (no slashes: grants and lifecycle rules are built from it). */
const statePrefix = z.string().regex(/^[a-z0-9][a-z0-9-]*$/, "must be lower-case letters, digits and '-'");

export const SettingsSchema = z
  .object({
    /** Billing time zone (IANA); every schedule is interpreted in it. */
    timeZone: z.string().default("Asia/Seoul"),
    schedules: SchedulesSchema,
    /** Schedules are created disabled when false (e.g. a staging account). */
    schedulesEnabled: z.boolean().default(true),
    /** Billing config bundled into every function (path relative to the repo root). */
    billingConfigFile: z.string().default("functions/config/reference-customer.yaml"),
    /** S3 prefix of the chargeback datasets (`<prefix>/month=YYYY-MM/`). */
    dataPrefix: z
      .string()
      .regex(/^[a-z0-9][a-z0-9-]*$/, "must be lower-case letters, digits and '-'")
      .default("chargeback"),
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
        /**
         * Secrets Manager secret (name) holding the bearer token of the billing config's one bearer
         * `auth.tokenEnv`. The functions read it at run time (`<tokenEnv>_SECRET_ID`); it is never in
         * the template or an environment.
         */
        bearerTokenSecretName: z.string().min(1).optional(),
        /** One secret per token variable, when clusters read different ones: `{ BUSAN_TOKEN: "prom/busan", … }`. */
        bearerTokenSecrets: z
          .record(z.string().regex(/^[A-Z_][A-Z0-9_]*$/, "must be an environment variable name"), z.string().min(1))
          .default({}),
      })
      .prefault({}),
    /**
     * EKS cluster the quota and controller functions talk to. Without it the quota function
     * runs report-only (no enforcement) and the controller is not deployed (a synth warning says so).
     */
    eksClusterName: z.string().min(1).optional(),
    /**
     * Create an EKS access entry (AWS::EKS::AccessEntry) for the quota and controller roles,
     * putting them in the Kubernetes groups `gpu-billing-quota` / `gpu-billing-controller`.
     * Needs the cluster's authentication mode API or API_AND_CONFIG_MAP; off = the cluster
     * admin maps the roles (README, "EKS access for the quota and controller functions").
     */
    eksAccessEntries: z.boolean().default(false),
    quota: z
      .object({
        /** S3 prefix of the alert/enforcement state and its audit records (`<prefix>/audit/`). */
        statePrefix: statePrefix.default("quota"),
        /** Overrides the billing config's quota.enforce (absent = the config decides). */
        enforce: z.boolean().optional(),
      })
      .prefault({}),
    controller: z
      .object({
        /** Controller policy (node groups, thresholds, guards), bundled as config/controller-policy.yaml. */
        policyFile: z.string().default("functions/controller/example-policy.yaml"),
        /** S3 prefix of the controller's lease (`<prefix>/lease.json`) and audit log (`<prefix>/audit/`). */
        statePrefix: statePrefix.default("controller"),
        /** The controller publishes NodesReclaimed & co. under this namespace. */
        metricsNamespace: z.string().min(1).default(CONTROLLER_NAMESPACE),
        /** dcgm-exporter label names carrying the node and the GPU index. */
        dcgmNodeLabel: z.string().min(1).default("Hostname"),
        dcgmGpuLabel: z.string().min(1).default("gpu"),
        /** Schedule period in minutes; required only when `schedules.controller` is not a `rate(...)`. */
        runIntervalMinutes: z.number().int().positive().optional(),
        /**
         * Also require the Auto Scaling group to carry `eks:cluster-name = eksClusterName` (EKS
         * managed node groups do) before the controller may terminate or resize it.
         */
        requireClusterTag: z.boolean().default(true),
      })
      .prefault({}),
    ses: z
      .object({
        /**
         * Sender of the monthly reports (SES_FROM of the Monthly function); absent = the billing
         * config's reports.from. The role may send as this address and its domain only.
         */
        fromAddress: z.string().email().optional(),
        /** The verified SES identity to grant instead (an address or a domain); absent = the sender address and its domain. */
        identity: z.string().min(1).optional(),
        /** Configuration set the stack creates (reputation metrics, bounce/complaint suppression); make it the identity's default to use it. */
        configurationSetName: z.string().default("gpu-billing"),
      })
      .prefault({}),
    reports: z
      .object({
        /**
         * Who signs the download links of reports too big to attach. S3 rejects a presigned link once
         * the credentials that signed it expire, and a function role's session lasts hours, not the
         * 7 days of reports.linkExpiryDays. "iam-user": the stack creates a user that may only
         * GetObject under `<dataPrefix>/reports/`, keeps its access key in Secrets Manager, and the
         * Monthly function signs with it. "function-role": no long-lived key; links may die within
         * hours, and the emails and the run's log say so.
         */
        linkSigner: z.enum(["iam-user", "function-role"]).default("iam-user"),
        /** Change to rotate the signer's access key (a new key replaces the old; links already sent stop working). */
        linkSignerKeySerial: z.number().int().nonnegative().default(0),
      })
      .prefault({}),
    /** Alarm notifications go here (optional; the SNS topic exists either way). */
    alarmEmail: z.string().email().optional(),
    /** CloudWatch namespace every function publishes custom metrics under. */
    metricsNamespace: z.string().default("GpuBilling"),
    /** Quota alarm threshold (used ÷ quota) per tenant. */
    quotaAlarmRatio: z.number().positive().default(1),
  })
  .superRefine((s, ctx) => {
    // Each prefix has its own grants and lifecycle; two functions sharing one would share both.
    const prefixes: [string, string][] = [
      ["dataPrefix", s.dataPrefix],
      ["quota.statePrefix", s.quota.statePrefix],
      ["controller.statePrefix", s.controller.statePrefix],
    ];
    const reserved = ["runs", "audit", "athena-results"];
    prefixes.forEach(([field, p], i) => {
      const path = field.split(".");
      if (reserved.includes(p)) ctx.addIssue({ code: "custom", path, message: `"${p}" is reserved for the bucket's own ${p}/ prefix` });
      const clash = prefixes.slice(0, i).find(([, q]) => q === p);
      if (clash) ctx.addIssue({ code: "custom", path, message: `must differ from ${clash[0]} ("${p}")` });
    });
    if (!/^rate\(/.test(s.schedules.controller) && s.controller.runIntervalMinutes === undefined)
      ctx.addIssue({
        code: "custom",
        path: ["controller", "runIntervalMinutes"],
        message: "required when schedules.controller is not a rate(...) expression",
      });
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

/**
 * Minutes between controller runs: from a `rate(N minute[s]|hour[s])` schedule, else the
 * explicit setting. The controller sizes its lease from it (a little less than two periods).
 */
export function controllerRunIntervalMinutes(s: Settings): number {
  if (s.controller.runIntervalMinutes !== undefined) return s.controller.runIntervalMinutes;
  const m = /^rate\((\d+) (minute|minutes|hour|hours)\)$/.exec(s.schedules.controller);
  if (!m) throw new Error(`gpuBilling.controller.runIntervalMinutes: cannot read the period of "${s.schedules.controller}"; set it`);
  return Number(m[1]) * (m[2]!.startsWith("hour") ? 60 : 1);
}

/**
 * The Secrets Manager secret of every bearer-token variable the billing config names (top-level
 * `prometheus` and each cluster's), from `bearerTokenSecretName` (when there is one variable) and
 * `bearerTokenSecrets`. A variable without a secret would fail every run, and a secret for a
 * variable nobody reads is a typo: both fail synth naming the field.
 */
export function prometheusTokenSecrets(s: Settings, billing: Config): Map<string, string> {
  const readers = new Map<string, string[]>();
  const auths = [
    ...(billing.prometheus ? [["prometheus", billing.prometheus.auth] as const] : []),
    ...(billing.clusters ?? []).map((c, i) => [`clusters.${i}.prometheus (${c.id})`, c.prometheus.auth] as const),
  ];
  for (const [where, auth] of auths)
    if (auth?.type === "bearer") readers.set(auth.tokenEnv, [...(readers.get(auth.tokenEnv) ?? []), where]);
  const secrets = new Map(Object.entries(s.prometheus.bearerTokenSecrets));
  for (const v of secrets.keys())
    if (!readers.has(v))
      throw new Error(`gpuBilling.prometheus.bearerTokenSecrets.${v}: no bearer auth in the billing config reads its token from ${v}`);
  if (s.prometheus.bearerTokenSecretName) {
    if (readers.size === 0)
      throw new Error(
        "gpuBilling.prometheus.bearerTokenSecretName: the billing config's prometheus.auth is not bearer, so no function would read the token",
      );
    if (readers.size > 1)
      throw new Error(
        `gpuBilling.prometheus.bearerTokenSecretName: the billing config reads tokens from ${[...readers.keys()].join(", ")}; name each one's secret in gpuBilling.prometheus.bearerTokenSecrets`,
      );
    const [only] = readers.keys();
    if (secrets.has(only!) && secrets.get(only!) !== s.prometheus.bearerTokenSecretName)
      throw new Error(
        `gpuBilling.prometheus.bearerTokenSecretName: ${only} already has a secret in gpuBilling.prometheus.bearerTokenSecrets`,
      );
    secrets.set(only!, s.prometheus.bearerTokenSecretName);
  }
  for (const [v, where] of readers)
    if (!secrets.has(v))
      throw new Error(
        `gpuBilling.prometheus.bearerTokenSecrets.${v}: the billing config's ${where.join(", ")} reads its bearer token from ${v}; name the Secrets Manager secret holding it`,
      );
  return secrets;
}
