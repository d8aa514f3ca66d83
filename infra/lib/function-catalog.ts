import { Duration } from "aws-cdk-lib";
import type { BundledAsset, GpuBillingFunction } from "./gpu-billing-function.js";
import { controllerRunIntervalMinutes, type Settings } from "./settings.js";
import type { Config } from "../../functions/config/config-schema.js";

/** What a function may be granted; the stack turns each into exact IAM statements. */
export type Grant =
  /** GetObject under the dataset prefix (with linkSigner "function-role", also what report links are signed with), list, decrypt. */
  | { kind: "datasets-read" }
  | { kind: "datasets-write" }
  /** GetObject and list under `<controller.statePrefix>/audit/`: metering summarises what the controller did. */
  | { kind: "controller-audit-read" }
  /** Get/Put (conditional writes, no delete) under `settings.<of>.statePrefix`: quota state + audit, controller lease + audit. */
  | { kind: "state-read-write"; of: "quota" | "controller" }
  /**
   * aps:Query* on the AMP workspace; and, unless `bearerToken: false` (a function without bearer
   * support), GetSecretValue on each bearer-token secret with `<tokenEnv>_SECRET_ID` set.
   */
  | { kind: "prometheus"; bearerToken?: false }
  /**
   * ec2:DescribeSpotPriceHistory and pricing:GetProducts, for `prices.source: aws`: read-only
   * public prices, granted to every function that meters, so switching the config's price source
   * needs no other deploy.
   */
  | { kind: "price-feed" }
  /** PutMetricData, conditioned on the namespace the function really publishes under. */
  | { kind: "put-metrics"; namespace?: "settings" | "quota-config" | "controller" }
  /** SES send as the monthly reports' sender (settings.ses.fromAddress, else the billing config's reports.from). */
  | { kind: "ses-send-reports" }
  /**
   * Read the report-link signer's access key (settings.reports.linkSigner "iam-user"): the stack
   * creates that user and its secret, and sets LINK_SIGNING_SECRET_ID; nothing with "function-role".
   */
  | { kind: "report-link-signer" }
  /** SES send as the billing config's quota.sender (its address or its domain identity). */
  | { kind: "ses-send-quota-alerts" }
  /** sns:Publish on the billing config's quota.snsTopicArn, when one is configured. */
  | { kind: "sns-publish-quota-alerts" }
  /** eks:DescribeCluster on the cluster (endpoint + CA for the token), and the access entry when enabled. */
  | { kind: "eks-describe" }
  /** Terminate one instance / set desired capacity on the controller policy's Auto Scaling groups; the describes it needs. */
  | { kind: "asg-scale" }
  | { kind: "invoke"; functionId: string };

/** What an entry's environment may be built from besides the settings. */
export interface EnvironmentContext {
  bucketName: string;
  billing: Config;
  /** The controller's Prometheus: settings.prometheus.url, else the billing config's (single) prometheus.url or its only cluster's. */
  prometheusUrl?: string;
  /** Region to SigV4-sign Prometheus queries for (AMP), from the billing config or the workspace ARN. */
  prometheusSigV4Region?: string;
  /** Function name of each function created before this one, by id. */
  functionNames: Map<string, string>;
}

/**
 * One function of the platform. The whole platform is this list: adding a
 * function is one entry (entry file, schedule, grants, VPC, assets).
 */
export interface FunctionSpec {
  id: string;
  entry: string;
  description: string;
  /** Key of `settings.schedules`; absent = invoked on demand only. */
  schedule?: keyof Settings["schedules"];
  timeout: Duration | ((s: Settings) => Duration);
  memorySize: number;
  assets: BundledAsset[];
  grants: Grant[];
  /** Joins the private subnets when `settings.vpc` is set (talks to Prometheus or the EKS API). */
  inVpc: boolean;
  /**
   * The function's environment: with the asset paths (BILLING_CONFIG_FILE, QUERIES_DIR, ...), the
   * Prometheus bearer-token variable and what Lambda sets itself (AWS_REGION, ...), exactly the keys
   * its handler's env schema reads (test/infra/function-environment.test.ts parses it with that schema).
   */
  environment: (s: Settings, c: EnvironmentContext) => Record<string, string>;
  /** Reserved concurrency: 1 = never two invocations at once. */
  reservedConcurrency?: number;
  /** Asynchronous retries (default 2) and how long an event may wait (default 6 h). */
  retryAttempts?: number;
  maxEventAge?: (s: Settings) => Duration;
  /** Why the function cannot be deployed with these settings (skipped with a synth warning), or undefined. */
  unavailable?: (s: Settings) => string | undefined;
}

/**
 * PROMETHEUS_URL of the metering functions: settings.prometheus.url overrides the billing config's
 * single Prometheus; with `clusters` in the config each cluster names its own (the handlers refuse
 * an override then), so the setting is for the controller only.
 */
const prometheusUrl = (s: Settings, c: EnvironmentContext): Record<string, string> =>
  s.prometheus.url && !c.billing.clusters ? { PROMETHEUS_URL: s.prometheus.url } : {};

/**
 * The controller's audit log, when the stack deploys the controller (it acts on one EKS cluster,
 * so only a billing config with at most one cluster can attribute its log to a cluster).
 */
export const controllerAuditPrefix = (s: Settings, c: EnvironmentContext): string | undefined =>
  s.eksClusterName && (c.billing.clusters?.length ?? 1) === 1 ? `${s.controller.statePrefix}/audit` : undefined;
const controllerAuditEnvironment = (s: Settings, c: EnvironmentContext): Record<string, string> => {
  const prefix = controllerAuditPrefix(s, c);
  return prefix ? { CONTROLLER_AUDIT_PREFIX: prefix } : {};
};

/**
 * What every function that meters a month is given (Meter, Monthly when the month is not yet
 * metered, Rerun): one definition, so each writes the same dataset, exports included.
 */
const meteringEnvironment = (s: Settings, c: EnvironmentContext): Record<string, string> => ({
  DATA_BUCKET: c.bucketName,
  DATA_PREFIX: s.dataPrefix,
  ...prometheusUrl(s, c),
  EXPORTS: "parquet,focus",
  ...controllerAuditEnvironment(s, c),
});

export const FUNCTIONS: FunctionSpec[] = [
  {
    id: "Meter",
    entry: "functions/handlers/meter-handler.ts",
    description: "Meters the previous billing month from Prometheus into the chargeback dataset",
    schedule: "meter",
    timeout: Duration.minutes(15),
    memorySize: 1024,
    assets: ["queries", "config"],
    grants: [
      { kind: "datasets-read" },
      { kind: "datasets-write" },
      { kind: "controller-audit-read" },
      { kind: "prometheus" },
      { kind: "price-feed" },
    ],
    inVpc: true,
    // MeterEnvSchema (functions/handlers/meter-handler.ts). The month's headline numbers go out as
    // embedded-metric-format log lines (no PutMetricData, so no CloudWatch grant).
    environment: (s, c) => ({ ...meteringEnvironment(s, c), METRICS_NAMESPACE: s.metricsNamespace }),
  },
  {
    id: "Monthly",
    entry: "functions/handlers/monthly-handler.ts",
    description: "Meters the previous month unless its dataset is complete, builds the PDF/Excel reports and delivers them through SES",
    schedule: "monthly",
    timeout: Duration.minutes(15),
    memorySize: 2048,
    // Meters first when the month has no manifest (queries, billing config), then renders
    // (templates, Pretendard fonts, pdfkit's standard-font metrics).
    assets: ["queries", "templates", "fonts", "config", "pdfkit-data"],
    // Dataset months, the delivery ledger (<prefix>/deliveries/) and report links
    // (<prefix>/reports/, presigned by the link signer's key) all live under the dataset prefix.
    grants: [
      { kind: "datasets-read" },
      { kind: "datasets-write" },
      { kind: "controller-audit-read" },
      { kind: "prometheus" },
      { kind: "price-feed" },
      { kind: "ses-send-reports" },
      { kind: "report-link-signer" },
    ],
    // Talks to Prometheus when it meters.
    inVpc: true,
    // MonthlyEnvSchema (functions/handlers/monthly-handler.ts).
    environment: (s, c) => ({
      // When it meters the month itself, it writes what the Meter function writes.
      ...meteringEnvironment(s, c),
      // Absent: the billing config's reports.from (and reports.lang) decide.
      ...(s.ses.fromAddress ? { SES_FROM: s.ses.fromAddress } : {}),
    }),
  },
  {
    id: "Quota",
    entry: "functions/handlers/quota-handler.ts",
    description: "Hourly month-to-date quota check: alerts, metrics, enforcement",
    schedule: "quota",
    timeout: Duration.minutes(10),
    memorySize: 1024,
    assets: ["queries", "templates", "config"],
    grants: [
      { kind: "prometheus" },
      { kind: "state-read-write", of: "quota" },
      { kind: "put-metrics", namespace: "quota-config" },
      { kind: "ses-send-quota-alerts" },
      { kind: "sns-publish-quota-alerts" },
      { kind: "eks-describe" },
    ],
    inVpc: true,
    // QuotaEnvSchema (functions/handlers/quota-handler.ts); AWS_REGION and AWS_LAMBDA_FUNCTION_NAME come from Lambda.
    environment: (s, c) => ({
      DATA_BUCKET: c.bucketName,
      QUOTA_STATE_PREFIX: s.quota.statePrefix,
      ...prometheusUrl(s, c),
      ...(s.eksClusterName ? { EKS_CLUSTER_NAME: s.eksClusterName } : {}),
      ...(s.quota.enforce !== undefined ? { QUOTA_ENFORCE: String(s.quota.enforce) } : {}),
    }),
  },
  {
    id: "Controller",
    entry: "functions/handlers/controller-handler.ts",
    description: "GPU node group scale/reclaim controller",
    schedule: "controller",
    // Shorter than the lease (two periods − 10 s, controller-handler.ts), so a run never outlives it.
    timeout: (s) => Duration.seconds(Math.min(900, controllerRunIntervalMinutes(s) * 120 - 20)),
    memorySize: 512,
    assets: ["queries", "controller-policy"],
    grants: [
      { kind: "prometheus", bearerToken: false },
      { kind: "state-read-write", of: "controller" },
      { kind: "put-metrics", namespace: "controller" },
      { kind: "eks-describe" },
      { kind: "asg-scale" },
    ],
    inVpc: true,
    // Two overlapping invocations must not both act. The S3 lease decides; this makes
    // Lambda itself never start a second one while one runs.
    reservedConcurrency: 1,
    // A failed run is not retried: the next scheduled run starts from fresh state. An event
    // throttled behind a long run waits at most two periods, then goes to the DLQ (alarm:
    // runs are persistently slower than the schedule).
    retryAttempts: 0,
    maxEventAge: (s) => Duration.minutes(Math.max(2, 2 * controllerRunIntervalMinutes(s))),
    unavailable: (s) => (s.eksClusterName ? undefined : "gpuBilling.eksClusterName is not set (the controller acts on one EKS cluster)"),
    // ControllerEnvSchema (functions/handlers/controller-handler.ts); AWS_REGION comes from Lambda.
    environment: (s, c) => {
      if (!c.prometheusUrl)
        throw new Error(
          "gpuBilling.prometheus.url: the Controller needs the Prometheus of its cluster (here, or the billing config's prometheus.url or only cluster)",
        );
      // The controller signs with SigV4 (AMP) or sends nothing; it has no bearer-token support.
      if (c.billing.prometheus?.auth?.type === "bearer")
        throw new Error(
          "gpuBilling.eksClusterName: the Controller cannot use the billing config's bearer-token Prometheus (SigV4 or no auth only)",
        );
      return {
        CONTROLLER_BUCKET: c.bucketName,
        CONTROLLER_PREFIX: s.controller.statePrefix,
        PROMETHEUS_URL: c.prometheusUrl,
        ...(c.prometheusSigV4Region ? { PROMETHEUS_SIGV4_REGION: c.prometheusSigV4Region } : {}),
        DCGM_NODE_LABEL: s.controller.dcgmNodeLabel,
        DCGM_GPU_LABEL: s.controller.dcgmGpuLabel,
        EKS_CLUSTER_NAME: s.eksClusterName!,
        RUN_INTERVAL_MINUTES: String(controllerRunIntervalMinutes(s)),
        CONTROLLER_METRICS_NAMESPACE: s.controller.metricsNamespace,
      };
    },
  },
  {
    id: "Rerun",
    entry: "functions/handlers/rerun-handler.ts",
    description: "Ops re-run of a month (validated payload), with a who/what/why record next to the dataset",
    timeout: Duration.minutes(15),
    memorySize: 1024,
    assets: ["queries", "config"],
    grants: [
      { kind: "datasets-read" },
      { kind: "datasets-write" },
      { kind: "controller-audit-read" },
      { kind: "prometheus" },
      { kind: "price-feed" },
      { kind: "invoke", functionId: "Monthly" },
    ],
    inVpc: true,
    // RerunEnvSchema (functions/handlers/rerun-handler.ts): the meter's, plus the monthly function to deliver through.
    environment: (s, c) => ({
      ...meteringEnvironment(s, c),
      ...(c.functionNames.has("Monthly") ? { MONTHLY_FUNCTION_NAME: c.functionNames.get("Monthly")! } : {}),
    }),
  },
  {
    id: "ManifestCheck",
    entry: "functions/handlers/manifest-check-handler.ts",
    description: "On the 2nd: publishes MonthManifestMissing (1 when the previous month has no manifest)",
    schedule: "manifestCheck",
    timeout: Duration.minutes(1),
    memorySize: 256,
    assets: [],
    grants: [{ kind: "datasets-read" }, { kind: "put-metrics" }],
    inVpc: false,
    // ManifestCheckEnvSchema (functions/handlers/manifest-check-handler.ts).
    environment: (s, c) => ({
      DATA_BUCKET: c.bucketName,
      DATA_PREFIX: s.dataPrefix,
      METRICS_NAMESPACE: s.metricsNamespace,
      BILLING_TIME_ZONE: s.timeZone,
      ...(c.billing.clusters && c.billing.clusters.length > 1 ? { CLUSTER_IDS: c.billing.clusters.map((k) => k.id).join(",") } : {}),
    }),
  },
];

/** The GpuBillingFunction of each spec that was created, by id. */
export type FunctionsById = Map<string, GpuBillingFunction>;
