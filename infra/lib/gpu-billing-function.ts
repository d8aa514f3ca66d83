import path from "node:path";
import { Duration, RemovalPolicy, TimeZone } from "aws-cdk-lib";
import * as cloudwatch from "aws-cdk-lib/aws-cloudwatch";
import * as cwActions from "aws-cdk-lib/aws-cloudwatch-actions";
import type * as ec2 from "aws-cdk-lib/aws-ec2";
import * as iam from "aws-cdk-lib/aws-iam";
import * as lambda from "aws-cdk-lib/aws-lambda";
import { SqsDestination } from "aws-cdk-lib/aws-lambda-destinations";
import { NodejsFunction, OutputFormat, type BundlingOptions } from "aws-cdk-lib/aws-lambda-nodejs";
import * as logs from "aws-cdk-lib/aws-logs";
import * as scheduler from "aws-cdk-lib/aws-scheduler";
import * as targets from "aws-cdk-lib/aws-scheduler-targets";
import type * as sns from "aws-cdk-lib/aws-sns";
import * as sqs from "aws-cdk-lib/aws-sqs";
import { Construct } from "constructs";

/** Files a function reads at run time, copied beside its bundle (`/var/task/<dir>`). */
export type BundledAsset = "queries" | "templates" | "fonts" | "config" | "controller-policy" | "pdfkit-data";

/** Where each asset comes from (repo-relative) and where it lands in the bundle. */
const ASSET_SOURCES: Record<BundledAsset, { from: string; to: string; optional?: boolean; files?: string[] }> = {
  queries: { from: "queries", to: "queries" },
  // templates/ arrives with the report and quota branches; until then there is nothing to copy.
  templates: { from: "templates", to: "templates", optional: true },
  // Regular and Bold only: the family's nine weights would add ~25 MB to the bundle.
  fonts: {
    from: "node_modules/pretendard/dist/public/static/alternative",
    to: "fonts",
    files: ["Pretendard-Regular.ttf", "Pretendard-Bold.ttf"],
  },
  config: { from: "", to: "config" },
  "controller-policy": { from: "", to: "config" },
  // pdfkit's run-time files: `data/` (ICC profile, read relative to the bundle) and its standard
  // fonts, which pdfkit 0.20 loads with require('#standard-fonts/<name>') (package "imports"),
  // a require esbuild cannot follow: they are copied, with a package.json mapping the import.
  "pdfkit-data": { from: "node_modules/pdfkit/js", to: "" },
};

/** A VPC and the private subnets of it a function joins. */
export interface FunctionVpc {
  vpc: ec2.IVpc;
  subnets: ec2.ISubnet[];
}

export interface GpuBillingFunctionProps {
  /** Repo-relative handler file exporting `handler`. */
  entry: string;
  repoRoot: string;
  description: string;
  timeout: Duration;
  memorySize: number;
  environment?: Record<string, string>;
  assets?: BundledAsset[];
  /** Repo-relative billing config copied to `/var/task/config/billing.yaml` (with the `config` asset). */
  billingConfigFile?: string;
  /** Repo-relative controller policy copied to `/var/task/config/controller-policy.yaml` (with the `controller-policy` asset). */
  controllerPolicyFile?: string;
  /** Reserved concurrency (the controller: 1, so two runs never overlap). */
  reservedConcurrency?: number;
  /** Join these private subnets (Prometheus or the EKS API is private). */
  vpc?: FunctionVpc;
  logRetention: logs.RetentionDays;
  alarmTopic: sns.ITopic;
  /** Invoked by EventBridge Scheduler with this expression, in this time zone. */
  schedule?: { expression: string; timeZone: string; enabled: boolean; input?: Record<string, unknown> };
  /** Asynchronous retries before the event goes to the dead-letter queue. */
  retryAttempts?: number;
  /** How long an asynchronous event (also a throttled one) may wait before it goes to the dead-letter queue; default 6 h. */
  maxEventAge?: Duration;
}

/**
 * One Lambda of the platform with everything production needs: esbuild
 * bundle (local, no Docker) for nodejs22.x/arm64, its own role with nothing
 * but log writes (callers add exactly the grants it needs), JSON logs with
 * retention, a KMS-encrypted dead-letter queue for failed asynchronous
 * invocations, an error alarm and a DLQ-depth alarm, and optionally its
 * schedule. Adding a function to the platform is one of these.
 */
export class GpuBillingFunction extends Construct {
  readonly fn: NodejsFunction;
  readonly role: iam.Role;
  readonly dlq: sqs.Queue;
  readonly logGroup: logs.LogGroup;
  readonly schedule?: scheduler.Schedule;
  readonly alarms: cloudwatch.Alarm[] = [];

  constructor(scope: Construct, id: string, props: GpuBillingFunctionProps) {
    super(scope, id);
    this.logGroup = new logs.LogGroup(this, "Logs", { retention: props.logRetention, removalPolicy: RemovalPolicy.RETAIN });
    this.role = new iam.Role(this, "Role", {
      assumedBy: new iam.ServicePrincipal("lambda.amazonaws.com"),
      description: `${id}: least-privilege role of one GPU billing function`,
    });
    this.logGroup.grantWrite(this.role);
    this.dlq = new sqs.Queue(this, "Dlq", {
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
    });
    const copies = (props.assets ?? []).map((a) => assetCopy(a, id, props));
    this.fn = new NodejsFunction(this, "Fn", {
      entry: path.join(props.repoRoot, props.entry),
      handler: "handler",
      projectRoot: props.repoRoot,
      depsLockFilePath: path.join(props.repoRoot, "package-lock.json"),
      runtime: lambda.Runtime.NODEJS_22_X,
      architecture: lambda.Architecture.ARM_64,
      description: props.description,
      timeout: props.timeout,
      memorySize: props.memorySize,
      role: this.role,
      logGroup: this.logGroup,
      loggingFormat: lambda.LoggingFormat.JSON,
      applicationLogLevelV2: lambda.ApplicationLogLevel.INFO,
      systemLogLevelV2: lambda.SystemLogLevel.WARN,
      vpc: props.vpc?.vpc,
      vpcSubnets: props.vpc ? { subnets: props.vpc.subnets } : undefined,
      environment: functionEnvironment(id, props),
      reservedConcurrentExecutions: props.reservedConcurrency,
      retryAttempts: props.retryAttempts ?? 2,
      maxEventAge: props.maxEventAge ?? Duration.hours(6),
      onFailure: new SqsDestination(this.dlq),
      bundling: bundlingOptions((inputDir, outputDir) => copies.flatMap((c) => c(inputDir, outputDir))),
    });
    if (props.schedule) this.schedule = this.createSchedule(id, props.schedule, props.maxEventAge);
    this.createAlarms(id, props.alarmTopic);
  }

  private createSchedule(id: string, s: NonNullable<GpuBillingFunctionProps["schedule"]>, maxEventAge?: Duration): scheduler.Schedule {
    return new scheduler.Schedule(this, "Schedule", {
      description: `${id}: ${s.expression} (${s.timeZone})`,
      schedule: scheduler.ScheduleExpression.expression(s.expression, TimeZone.of(s.timeZone)),
      enabled: s.enabled,
      target: new targets.LambdaInvoke(this.fn, {
        input: scheduler.ScheduleTargetInput.fromObject(s.input ?? { source: "gpu-billing.schedule" }),
        deadLetterQueue: this.dlq,
        retryAttempts: 3,
        maxEventAge: maxEventAge ?? Duration.hours(6),
      }),
    });
  }

  /** An error alarm and a dead-letter-queue depth alarm, both to the alarm topic. */
  private createAlarms(id: string, topic: sns.ITopic): void {
    const action = new cwActions.SnsAction(topic);
    const errors = this.fn.metricErrors({ period: Duration.minutes(5), statistic: "Sum" }).createAlarm(this, "ErrorsAlarm", {
      alarmDescription: `${id} failed (an attempt threw; retries follow, then the DLQ). Runbook: README "A month failed".`,
      threshold: 1,
      evaluationPeriods: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
    const dlqDepth = this.dlq
      .metricApproximateNumberOfMessagesVisible({ period: Duration.minutes(5), statistic: "Maximum" })
      .createAlarm(this, "DlqAlarm", {
        alarmDescription: `${id}: an invocation exhausted its retries and is parked in the dead-letter queue.`,
        threshold: 1,
        evaluationPeriods: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      });
    for (const a of [errors, dlqDepth]) {
      a.addAlarmAction(action);
      this.alarms.push(a);
    }
  }

  /** Adds one statement to this function's role. */
  allow(actions: string[], resources: string[], conditions?: Record<string, unknown>): void {
    this.role.addToPrincipalPolicy(new iam.PolicyStatement({ actions, resources, conditions }));
  }
}

/** Shell commands run after bundling that copy one asset into the bundle's directory. */
type AssetCopy = (inputDir: string, outputDir: string) => string[];

/** How one asset gets into the bundle; a missing file the asset needs fails synth here, before bundling. */
function assetCopy(a: BundledAsset, id: string, props: GpuBillingFunctionProps): AssetCopy {
  const root = props.repoRoot;
  const s = ASSET_SOURCES[a];
  if (a === "controller-policy") {
    if (!props.controllerPolicyFile) throw new Error(`${id}: the controller-policy asset needs controllerPolicyFile`);
    return (_in: string, out: string) => [
      `mkdir -p "${out}/config"`,
      `cp "${path.join(root, props.controllerPolicyFile!)}" "${out}/config/controller-policy.yaml"`,
    ];
  }
  if (a === "pdfkit-data") {
    const from = path.join(root, s.from);
    const pkg = JSON.stringify({ private: true, imports: { "#standard-fonts/*": "./standard-fonts/*.cjs" } });
    return (_in: string, out: string) => [
      `cp -R "${from}/data" "${out}/data"`,
      `mkdir -p "${out}/standard-fonts"`,
      `cp "${from}"/standard-fonts/*.cjs "${out}/standard-fonts/"`,
      `cp -R "${from}/standard-fonts/chunks" "${out}/standard-fonts/chunks"`,
      `echo '${pkg}' > "${out}/package.json"`,
    ];
  }
  if (a === "config") {
    if (!props.billingConfigFile) throw new Error(`${id}: the config asset needs billingConfigFile`);
    return (_in: string, out: string) => [
      `mkdir -p "${out}/config"`,
      `cp "${path.join(root, props.billingConfigFile!)}" "${out}/config/billing.yaml"`,
    ];
  }
  return (_in: string, out: string) => {
    const from = path.join(root, s.from);
    const to = `${out}/${s.to}`;
    if (s.files) return [`mkdir -p "${to}"`, ...s.files.map((f) => `cp "${from}/${f}" "${to}/${f}"`)];
    if (s.optional) return [`if [ -d "${from}" ]; then cp -R "${from}" "${to}"; fi`];
    return [`cp -R "${from}" "${to}"`];
  };
}

/** The variables every function gets, where its bundled assets are, then the catalog's own. */
function functionEnvironment(id: string, props: GpuBillingFunctionProps): Record<string, string> {
  return {
    NODE_OPTIONS: "--enable-source-maps",
    POWERTOOLS_SERVICE_NAME: `gpu-billing-${id.toLowerCase()}`,
    ...(props.assets?.includes("queries") ? { QUERIES_DIR: "/var/task/queries" } : {}),
    ...(props.assets?.includes("templates") ? { TEMPLATES_DIR: "/var/task/templates" } : {}),
    ...(props.assets?.includes("fonts") ? { FONT_DIR: "/var/task/fonts" } : {}),
    ...(props.assets?.includes("config") ? { BILLING_CONFIG_FILE: "/var/task/config/billing.yaml" } : {}),
    ...(props.assets?.includes("controller-policy") ? { CONTROLLER_POLICY_FILE: "/var/task/config/controller-policy.yaml" } : {}),
    ...props.environment,
  };
}

/** esbuild on this machine (no Docker) into one minified ESM file for node22, the assets copied beside it. */
function bundlingOptions(afterBundling: AssetCopy): BundlingOptions {
  return {
    forceDockerBundling: false,
    format: OutputFormat.ESM,
    target: "node22",
    minify: true,
    sourceMap: true,
    sourcesContent: false,
    mainFields: ["module", "main"],
    // Bundle the pinned SDK too: the code runs against the versions the tests ran against.
    externalModules: [],
    // CommonJS dependencies inside an ESM bundle still call require() and read __dirname.
    banner:
      "import{createRequire as __cr}from'node:module';import{fileURLToPath as __fu}from'node:url';import{dirname as __dn}from'node:path';const require=__cr(import.meta.url);const __filename=__fu(import.meta.url);const __dirname=__dn(__filename);",
    commandHooks: {
      beforeBundling: () => [],
      beforeInstall: () => [],
      afterBundling,
    },
  };
}
