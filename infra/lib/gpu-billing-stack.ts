import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { Annotations, Arn, Aws, CfnOutput, Duration, SecretValue, Stack, type StackProps } from "aws-cdk-lib";
import * as cloudwatch from "aws-cdk-lib/aws-cloudwatch";
import * as cwActions from "aws-cdk-lib/aws-cloudwatch-actions";
import * as ec2 from "aws-cdk-lib/aws-ec2";
import * as eks from "aws-cdk-lib/aws-eks";
import * as iam from "aws-cdk-lib/aws-iam";
import * as logs from "aws-cdk-lib/aws-logs";
import * as secretsmanager from "aws-cdk-lib/aws-secretsmanager";
import * as ses from "aws-cdk-lib/aws-ses";
import * as sns from "aws-cdk-lib/aws-sns";
import * as subs from "aws-cdk-lib/aws-sns-subscriptions";
import type { Construct } from "constructs";
import { MANIFEST_MISSING_METRIC } from "../../functions/core/month-completeness.js";
import { MONTH_METRICS } from "../../functions/export/month-metrics.js";
import { parsePolicy, type ControllerPolicy } from "../../functions/controller/policy.js";
import { quotaSettings } from "../../functions/quota/evaluate-quota.js";
import { Analytics } from "./analytics.js";
import { DataStorage } from "./data-storage.js";
import { FUNCTIONS, type EnvironmentContext, type FunctionSpec, type FunctionsById, type Grant } from "./function-catalog.js";
import { GpuBillingFunction, type FunctionVpc } from "./gpu-billing-function.js";
import { acknowledgeReportLinkSigner, applyNagSuppressions, type FunctionFindings } from "./nag-suppressions.js";
import { prometheusTokenSecrets, type Settings } from "./settings.js";
import { TOKEN_SECRET_SUFFIX } from "../../functions/wiring/prometheus-from-config.js";
import { type Config, parseConfig } from "../../functions/config/config-schema.js";

/**
 * Custom metrics the quota and controller functions publish (their contract with this stack;
 * test/infra/metric-contract.test.ts checks them against what the adapters really send).
 * Quota: functions/adapters/cloudwatch-metrics.ts, namespace = the billing config's quota.cloudwatchNamespace.
 */
export const QUOTA_RATIO_METRIC = "GpuQuotaUsedRatio";
export const QUOTA_HOURS_METRIC = "GpuHoursUsed";
export const QUOTA_TENANT_DIMENSION = "Tenant";
/** Controller: functions/adapters/cloudwatch-metrics.ts, namespace = settings.controller.metricsNamespace. */
export const NODES_RECLAIMED_METRIC = "NodesReclaimed";
export const NODES_ADDED_METRIC = "NodesAdded";
export const GPU_HOURS_SAVED_METRIC = "GpuHoursSavedEstimate";
export const CONTROLLER_HALTED_METRIC = "Halted";
/** Dimensions of the controller's per-node-group metrics (functions/adapters/cloudwatch-metrics.ts). */
export const CONTROLLER_DIMENSIONS = ["Mode", "NodeGroup"] as const;

export interface GpuBillingStackProps extends StackProps {
  settings: Settings;
  /** Repo root (bundling input, billing config, handler entries). */
  repoRoot: string;
  /** Override of the function list (tests); defaults to FUNCTIONS. */
  functions?: FunctionSpec[];
}

/** The whole platform in one stack: storage, functions and schedules, analytics, alerting, dashboard. */
export class GpuBillingStack extends Stack {
  readonly storage: DataStorage;
  readonly functions: FunctionsById = new Map();
  readonly alertTopic: sns.Topic;
  readonly analytics: Analytics;
  /** Per function: what its wildcards are, for the cdk-nag acknowledgments (nag-suppressions.ts). */
  private readonly findings = new Map<GpuBillingFunction, FunctionFindings>();
  private readonly billing: Config;
  private readonly repoRoot: string;
  private controllerPolicy?: ControllerPolicy;

  constructor(scope: Construct, id: string, props: GpuBillingStackProps) {
    super(scope, id, props);
    const s = props.settings;
    const specs = props.functions ?? FUNCTIONS;
    this.repoRoot = props.repoRoot;
    this.billing = parseConfig(readFileSync(path.join(this.repoRoot, s.billingConfigFile), "utf8"), s.billingConfigFile);
    const quota = quotaSettings(this.billing);
    const retention = toRetention(s.retention.logDays);

    this.storage = new DataStorage(this, "Storage", s);
    this.analytics = new Analytics(this, "Analytics", this.storage, s.dataPrefix);
    this.alertTopic = this.createAlertTopic(s);
    this.createMailConfigurationSet(s);
    const vpc = this.importVpc(s);
    const envContext = this.environmentContext(s);
    // Each bearer-token variable the billing config names (prometheus.auth.tokenEnv, per cluster too) → its secret.
    this.tokenSecrets = prometheusTokenSecrets(s, this.billing);
    if ((s.quota.enforce ?? quota.enforce) && !s.eksClusterName && specs.some((f) => f.id === "Quota"))
      throw new Error(
        "gpuBilling.eksClusterName: required because quota enforcement is on (gpuBilling.quota.enforce or the billing config's quota.enforce)",
      );

    for (const spec of specs) this.addFunction(spec, s, { vpc, envContext, retention });

    const alarms = [this.manifestMissingAlarm(s), ...this.quotaAlarms(s, quota.cloudwatchNamespace), ...this.controllerHaltedAlarm(s)];
    for (const a of alarms) a.addAlarmAction(new cwActions.SnsAction(this.alertTopic));
    this.dashboard(
      s,
      this.billing.tenants.map((t) => t.id),
      quota.cloudwatchNamespace,
      alarms,
    );
    this.outputs();
    applyNagSuppressions(this, this.storage, this.findings);
  }

  private linkSignerSecret?: secretsmanager.Secret;
  private tokenSecrets = new Map<string, string>();
  private readonly importedSecrets = new Map<string, secretsmanager.ISecret>();

  private createAlertTopic(s: Settings): sns.Topic {
    const topic = new sns.Topic(this, "Alerts", { displayName: "GPU billing alerts", masterKey: this.storage.key, enforceSSL: true });
    if (s.alarmEmail) topic.addSubscription(new subs.EmailSubscription(s.alarmEmail));
    return topic;
  }

  private createMailConfigurationSet(s: Settings): void {
    new ses.ConfigurationSet(this, "MailConfigurationSet", {
      configurationSetName: s.ses.configurationSetName,
      reputationMetrics: true,
      suppressionReasons: ses.SuppressionReasons.BOUNCES_AND_COMPLAINTS,
      tlsPolicy: ses.ConfigurationSetTlsPolicy.REQUIRE,
    });
  }

  /** The operator's VPC and private subnets the functions marked `inVpc` join, when settings name one. */
  private importVpc(s: Settings): FunctionVpc | undefined {
    if (!s.vpc) return undefined;
    const v = ec2.Vpc.fromVpcAttributes(this, "Vpc", { vpcId: s.vpc.vpcId, availabilityZones: s.vpc.availabilityZones });
    return { vpc: v, subnets: s.vpc.privateSubnetIds.map((id, i) => ec2.Subnet.fromSubnetId(this, `Subnet${i}`, id)) };
  }

  /** What the catalog's environment functions read; functionNames fills as the functions are added. */
  private environmentContext(s: Settings): EnvironmentContext {
    const billing = this.billing;
    const promAuth = billing.prometheus?.auth;
    return {
      bucketName: this.storage.bucket.bucketName,
      billing,
      prometheusUrl:
        s.prometheus.url ?? billing.prometheus?.url ?? (billing.clusters?.length === 1 ? billing.clusters[0]!.prometheus.url : undefined),
      prometheusSigV4Region: promAuth?.type === "sigv4" ? promAuth.region : s.prometheus.ampWorkspaceArn?.split(":")[3],
      functionNames: new Map(),
    };
  }

  /** One catalog entry as a function with its grants, or a synth warning when the settings leave it out. */
  private addFunction(
    spec: FunctionSpec,
    s: Settings,
    shared: { vpc?: FunctionVpc; envContext: EnvironmentContext; retention: logs.RetentionDays },
  ): void {
    if (!existsSync(path.join(this.repoRoot, spec.entry))) throw new Error(`function ${spec.id}: entry ${spec.entry} does not exist`);
    const unavailable = spec.unavailable?.(s);
    if (unavailable) {
      Annotations.of(this).addWarningV2(`gpu-billing:${spec.id}Skipped`, `function ${spec.id} not deployed: ${unavailable}`);
      return;
    }
    const env: Record<string, string> = spec.environment(s, shared.envContext);
    // Only the secret's name: the function reads the token at run time (rotation needs no redeploy).
    if (spec.grants.some((g) => g.kind === "prometheus" && g.bearerToken !== false))
      for (const [tokenEnv, secretName] of this.tokenSecrets) env[`${tokenEnv}${TOKEN_SECRET_SUFFIX}`] = secretName;

    const f = new GpuBillingFunction(this, spec.id, {
      entry: spec.entry,
      repoRoot: this.repoRoot,
      description: spec.description,
      timeout: spec.timeout instanceof Duration ? spec.timeout : spec.timeout(s),
      memorySize: spec.memorySize,
      environment: env,
      assets: spec.assets,
      billingConfigFile: s.billingConfigFile,
      controllerPolicyFile: s.controller.policyFile,
      reservedConcurrency: spec.reservedConcurrency,
      retryAttempts: spec.retryAttempts,
      maxEventAge: spec.maxEventAge?.(s),
      vpc: spec.inVpc ? shared.vpc : undefined,
      logRetention: shared.retention,
      alarmTopic: this.alertTopic,
      schedule: spec.schedule ? { expression: s.schedules[spec.schedule], timeZone: s.timeZone, enabled: s.schedulesEnabled } : undefined,
    });
    this.findings.set(f, { objectPrefixes: [], starActions: [], asgNames: [] });
    for (const g of spec.grants) this.grant(f, g, s);
    this.functions.set(spec.id, f);
    shared.envContext.functionNames.set(spec.id, f.fn.functionName);
  }

  /** A month without a manifest by the 2nd: the check function publishes 1 for it. */
  private manifestMissingAlarm(s: Settings): cloudwatch.Alarm {
    const manifestMissing = new cloudwatch.Metric({
      namespace: s.metricsNamespace,
      metricName: MANIFEST_MISSING_METRIC,
      statistic: "Maximum",
      period: Duration.hours(1),
    });
    return manifestMissing.createAlarm(this, "MonthManifestMissingAlarm", {
      alarmDescription: 'The previous billing month has no manifest on the 2nd: it was not metered. Runbook: README "A month failed".',
      threshold: 1,
      evaluationPeriods: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
  }

  /** One quota alarm per tenant that has a quota (unlimited tenants have none). */
  private quotaAlarms(s: Settings, quotaNs: string): cloudwatch.Alarm[] {
    return this.billing.tenants
      .filter((t) => t.monthlyQuotaGpuHours !== undefined)
      .map((t) =>
        new cloudwatch.Metric({
          namespace: quotaNs,
          metricName: QUOTA_RATIO_METRIC,
          dimensionsMap: { [QUOTA_TENANT_DIMENSION]: t.id },
          statistic: "Maximum",
          period: Duration.hours(1),
        }).createAlarm(this, `QuotaAlarm-${t.id}`, {
          alarmDescription: `Tenant ${t.id} (${t.name}) used ≥ ${s.quotaAlarmRatio * 100}% of its ${t.monthlyQuotaGpuHours} GPU-hour quota this month.`,
          threshold: s.quotaAlarmRatio,
          evaluationPeriods: 1,
          comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
          treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
        }),
      );
  }

  /**
   * The controller publishes Halted = 1 for a run that refused to act (Prometheus or Kubernetes
   * errors, many NotReady nodes, lease trouble); one such run is normal, 15 minutes of them is not.
   */
  private controllerHaltedAlarm(s: Settings): cloudwatch.Alarm[] {
    if (!this.functions.has("Controller")) return [];
    return [
      new cloudwatch.Metric({
        namespace: s.controller.metricsNamespace,
        metricName: CONTROLLER_HALTED_METRIC,
        statistic: "Minimum",
        period: Duration.minutes(5),
      }).createAlarm(this, "ControllerHaltedAlarm", {
        alarmDescription:
          "The node-group controller halted every run for 15 minutes: it is neither reclaiming nor scaling out. See its logs (decision lines with the halt reason).",
        threshold: 1,
        evaluationPeriods: 3,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      }),
    ];
  }

  private outputs(): void {
    new CfnOutput(this, "DataBucketName", { value: this.storage.bucket.bucketName });
    new CfnOutput(this, "AlertTopicArn", { value: this.alertTopic.topicArn });
    new CfnOutput(this, "AthenaWorkGroup", { value: this.analytics.workgroup.ref });
    const rerun = this.functions.get("Rerun");
    if (rerun) new CfnOutput(this, "RerunFunctionName", { value: rerun.fn.functionName });
  }

  /** A bearer-token secret the operator created (by name; grants cover its random ARN suffix). */
  private tokenSecret(name: string): secretsmanager.ISecret {
    let secret = this.importedSecrets.get(name);
    if (!secret)
      this.importedSecrets.set(
        name,
        (secret = secretsmanager.Secret.fromSecretNameV2(this, `PrometheusTokenSecret${this.importedSecrets.size}`, name)),
      );
    return secret;
  }

  /**
   * The identity that signs report download links: an IAM user that may only read the reports
   * the Monthly function uploads (`<dataPrefix>/reports/`), so a leaked key exposes those and
   * nothing else. Its key lives in Secrets Manager, never in the template or an environment.
   */
  private reportLinkSigner(s: Settings): secretsmanager.Secret {
    if (this.linkSignerSecret) return this.linkSignerSecret;
    const user = new iam.User(this, "ReportLinkSigner");
    user.addToPolicy(new iam.PolicyStatement({ actions: ["s3:GetObject"], resources: [this.storage.objects(`${s.dataPrefix}/reports`)] }));
    user.addToPolicy(new iam.PolicyStatement({ actions: ["kms:Decrypt"], resources: [this.storage.key.keyArn] }));
    const key = new iam.AccessKey(this, "ReportLinkSignerKey", { user, serial: s.reports.linkSignerKeySerial });
    this.linkSignerSecret = new secretsmanager.Secret(this, "ReportLinkSignerSecret", {
      description: "Access key of the IAM user that signs gpu-billing report download links (JSON: accessKeyId, secretAccessKey)",
      secretObjectValue: { accessKeyId: SecretValue.unsafePlainText(key.accessKeyId), secretAccessKey: key.secretAccessKey },
    });
    acknowledgeReportLinkSigner(this, this.storage, user, this.linkSignerSecret, `${s.dataPrefix}/reports`);
    return this.linkSignerSecret;
  }

  /** Adds one catalog grant to a function's role, recording its wildcards for the cdk-nag acknowledgments. */
  private grant(f: GpuBillingFunction, g: Grant, s: Settings): void {
    switch (g.kind) {
      case "datasets-read":
      case "datasets-write":
      case "controller-audit-read":
      case "state-read-write":
        return this.grantBucket(f, g, s);
      case "prometheus":
        if (s.prometheus.ampWorkspaceArn)
          f.allow(["aps:QueryMetrics", "aps:GetSeries", "aps:GetLabels", "aps:GetMetricMetadata"], [s.prometheus.ampWorkspaceArn]);
        if (g.bearerToken !== false) for (const name of this.tokenSecrets.values()) this.tokenSecret(name).grantRead(f.fn);
        return;
      case "price-feed":
      case "put-metrics":
        return this.grantUnscoped(f, g, s);
      case "ses-send-reports":
      case "report-link-signer":
      case "ses-send-quota-alerts":
      case "sns-publish-quota-alerts":
        return this.grantMail(f, g, s);
      case "eks-describe":
      case "asg-scale":
        return this.grantCluster(f, g, s);
      case "invoke": {
        const target = this.functions.get(g.functionId);
        if (target) f.allow(["lambda:InvokeFunction"], [target.fn.functionArn]);
        return;
      }
    }
  }

  /** Objects under a bucket prefix, recorded for the cdk-nag acknowledgments. */
  private objectsUnder(f: GpuBillingFunction, prefix: string): string {
    this.findings.get(f)!.objectPrefixes.push(prefix);
    return this.storage.objects(prefix);
  }

  /**
   * ListBucket without an s3:prefix condition: S3 decides "404 NoSuchKey vs 403" on a GetObject
   * or HeadObject of a missing key by whether the caller may list the bucket, and that check
   * carries no prefix, so a prefix-conditioned grant turns "no manifest yet" into AccessDenied.
   */
  private allowListBucket(f: GpuBillingFunction): void {
    f.allow(["s3:ListBucket"], [this.storage.bucket.bucketArn]);
  }

  /** Actions that take no resource ARN, on `*`, recorded with why for the cdk-nag acknowledgments. */
  private allowOnStar(f: GpuBillingFunction, actions: string[], why: string, conditions?: Record<string, unknown>): void {
    this.findings.get(f)!.starActions.push(`${actions.join(", ")} (${why})`);
    f.allow(actions, ["*"], conditions);
  }

  private grantBucket(
    f: GpuBillingFunction,
    g: Extract<Grant, { kind: "datasets-read" | "datasets-write" | "controller-audit-read" | "state-read-write" }>,
    s: Settings,
  ): void {
    const key = [this.storage.key.keyArn];
    switch (g.kind) {
      case "datasets-read":
        f.allow(["s3:GetObject"], [this.objectsUnder(f, s.dataPrefix)]);
        this.allowListBucket(f);
        f.allow(["kms:Decrypt"], key);
        return;
      case "datasets-write":
        f.allow(["s3:PutObject", "s3:DeleteObject"], [this.objectsUnder(f, s.dataPrefix)]);
        f.allow(["kms:GenerateDataKey", "kms:Decrypt"], key);
        return;
      case "controller-audit-read":
        // Only when the stack deploys the controller: without it there is no log to read.
        if (!s.eksClusterName) return;
        f.allow(["s3:GetObject"], [this.objectsUnder(f, `${s.controller.statePrefix}/audit`)]);
        this.allowListBucket(f);
        f.allow(["kms:Decrypt"], key);
        return;
      case "state-read-write": {
        // Conditional puts (If-None-Match / If-Match) need nothing beyond PutObject; nothing is deleted.
        const prefix = s[g.of].statePrefix;
        f.allow(["s3:GetObject", "s3:PutObject"], [this.objectsUnder(f, prefix)]);
        this.allowListBucket(f);
        f.allow(["kms:GenerateDataKey", "kms:Decrypt"], key);
        return;
      }
    }
  }

  private grantUnscoped(f: GpuBillingFunction, g: Extract<Grant, { kind: "price-feed" | "put-metrics" }>, s: Settings): void {
    if (g.kind === "price-feed")
      // Neither action takes a resource ARN: EC2 Describe* actions support no resource-level
      // permissions, and the Price List Query API has no resources (Service Authorization Reference).
      return this.allowOnStar(
        f,
        ["ec2:DescribeSpotPriceHistory", "pricing:GetProducts"],
        "no resource-level permissions; read-only public prices",
      );
    const namespace =
      g.namespace === "quota-config"
        ? quotaSettings(this.billing).cloudwatchNamespace
        : g.namespace === "controller"
          ? s.controller.metricsNamespace
          : s.metricsNamespace;
    // PutMetricData has no resource-level permissions; the namespace condition is the boundary.
    this.allowOnStar(f, ["cloudwatch:PutMetricData"], `no resource-level permissions; bounded by cloudwatch:namespace = ${namespace}`, {
      StringEquals: { "cloudwatch:namespace": namespace },
    });
  }

  private grantMail(
    f: GpuBillingFunction,
    g: Extract<Grant, { kind: "ses-send-reports" | "report-link-signer" | "ses-send-quota-alerts" | "sns-publish-quota-alerts" }>,
    s: Settings,
  ): void {
    switch (g.kind) {
      case "ses-send-reports": {
        const from = s.ses.fromAddress ?? this.billing.reports?.from;
        if (!from)
          throw new Error(
            "gpuBilling.ses.fromAddress: the Monthly function needs a sender (set it, or reports.from in the billing config)",
          );
        // SESv2 SendEmail (raw MIME) without a configuration set in the request; the configuration
        // set's ARN is for when an operator makes it the identity's default (README).
        f.allow(
          ["ses:SendEmail"],
          [
            ...this.sesIdentities(s.ses.identity ? [s.ses.identity] : senderIdentities(from)),
            Arn.format({ service: "ses", resource: "configuration-set", resourceName: s.ses.configurationSetName }, this),
          ],
        );
        return;
      }
      case "report-link-signer": {
        if (s.reports.linkSigner !== "iam-user") return;
        const secret = this.reportLinkSigner(s);
        // GetSecretValue (and DescribeSecret) on this one secret; the function reads it at run time.
        secret.grantRead(f.fn);
        f.fn.addEnvironment("LINK_SIGNING_SECRET_ID", secret.secretArn);
        return;
      }
      case "ses-send-quota-alerts":
        // The quota mailer sends as quota.sender with no configuration set.
        f.allow(["ses:SendEmail"], this.sesIdentities(senderIdentities(quotaSettings(this.billing).sender)));
        return;
      case "sns-publish-quota-alerts": {
        const topic = quotaSettings(this.billing).snsTopicArn;
        if (topic) f.allow(["sns:Publish"], [topic]);
        return;
      }
    }
  }

  private grantCluster(f: GpuBillingFunction, g: Extract<Grant, { kind: "eks-describe" | "asg-scale" }>, s: Settings): void {
    if (g.kind === "eks-describe") {
      if (!s.eksClusterName) return;
      f.allow(["eks:DescribeCluster"], [Arn.format({ service: "eks", resource: "cluster", resourceName: s.eksClusterName }, this)]);
      if (s.eksAccessEntries)
        // Kubernetes RBAC: the cluster admin binds this group to a ClusterRole (README, "EKS access for the quota and
        // controller functions", has the manifest; the quota role also needs kueue.x-k8s.io localqueues/clusterqueues
        // get/list/patch when quota.enforcement.mode is kueue).
        new eks.CfnAccessEntry(this, `${f.node.id}AccessEntry`, {
          clusterName: s.eksClusterName,
          principalArn: f.role.roleArn,
          kubernetesGroups: [`gpu-billing-${f.node.id.toLowerCase()}`],
          type: "STANDARD",
        });
      return;
    }
    const names = [...new Set(this.policy(s).nodeGroups.map((n) => n.autoScalingGroupName))].sort();
    this.findings.get(f)!.asgNames.push(...names);
    // The group's UUID in its ARN is unknown at deploy time; its name is the policy's.
    f.allow(
      ["autoscaling:SetDesiredCapacity", "autoscaling:TerminateInstanceInAutoScalingGroup"],
      names.map((n) => `arn:${Aws.PARTITION}:autoscaling:${Aws.REGION}:${Aws.ACCOUNT_ID}:autoScalingGroup:*:autoScalingGroupName/${n}`),
      s.controller.requireClusterTag && s.eksClusterName
        ? { StringEquals: { "autoscaling:ResourceTag/eks:cluster-name": s.eksClusterName } }
        : undefined,
    );
    this.allowOnStar(
      f,
      ["autoscaling:DescribeAutoScalingGroups", "autoscaling:DescribeScalingActivities"],
      "Auto Scaling Describe* actions support no resource-level permissions; read-only",
    );
  }

  /** SES authorizes a send against the verified identity, which may be the address itself or its domain. */
  private sesIdentities(ids: string[]): string[] {
    return ids.map((id) => Arn.format({ service: "ses", resource: "identity", resourceName: id }, this));
  }

  /** The controller policy the Controller function is bundled with, validated at synth time. */
  private policy(s: Settings): ControllerPolicy {
    return (this.controllerPolicy ??= parsePolicy(
      readFileSync(path.join(this.repoRoot, s.controller.policyFile), "utf8"),
      s.controller.policyFile,
    ));
  }

  private dashboard(s: Settings, tenants: string[], quotaNs: string, stackAlarms: cloudwatch.Alarm[]): void {
    const fns = [...this.functions.values()];
    const d = new cloudwatch.Dashboard(this, "Dashboard", {
      dashboardName: `${this.stackName}-gpu-billing`,
      defaultInterval: Duration.days(35),
    });
    d.addWidgets(...quotaWidgets(quotaNs));
    d.addWidgets(...meterWidgets(s.metricsNamespace));
    if (this.functions.has("Controller")) d.addWidgets(...controllerWidgets(s.controller.metricsNamespace));
    d.addWidgets(...pipelineWidgets(fns));
    d.addWidgets(
      new cloudwatch.AlarmStatusWidget({
        title: "Alarms",
        alarms: [...stackAlarms, ...fns.flatMap((f) => f.alarms)],
        width: 24,
      }),
      new cloudwatch.TextWidget({
        markdown: `Tenants: ${tenants.join(", ")}. Month manifest check metric: \`${s.metricsNamespace}/${MANIFEST_MISSING_METRIC}\`. Runbook: README, "Operations".`,
        width: 24,
        height: 2,
      }),
    );
  }
}

/** A SEARCH of one metric; SEARCH matches the exact dimension set a metric was published with. */
function searchMetric(namespace: string, metric: string, dims: readonly string[], stat: string, period = Duration.hours(1), scale = "") {
  return new cloudwatch.MathExpression({
    expression: `SEARCH('{${[namespace, ...dims].map((x) => (x.includes("/") ? `"${x}"` : x)).join(",")}} MetricName="${metric}"', '${stat}', ${period.toSeconds()})${scale}`,
    label: "",
    period,
  });
}

/** The dashboard's first row: what the hourly quota check publishes. */
function quotaWidgets(quotaNs: string): cloudwatch.IWidget[] {
  return [
    new cloudwatch.GraphWidget({
      title: "GPU-hours used this month by tenant (quota check)",
      left: [searchMetric(quotaNs, QUOTA_HOURS_METRIC, [QUOTA_TENANT_DIMENSION], "Maximum")],
      width: 12,
    }),
    new cloudwatch.GraphWidget({
      title: "Quota used (%) by tenant (quota check)",
      left: [searchMetric(quotaNs, QUOTA_RATIO_METRIC, [QUOTA_TENANT_DIMENSION], "Maximum", Duration.hours(1), " * 100")],
      leftAnnotations: [
        { value: 80, label: "warn" },
        { value: 100, label: "block" },
      ],
      width: 12,
    }),
  ];
}

/** What the meter publishes per month. */
function meterWidgets(ns: string): cloudwatch.IWidget[] {
  return [
    new cloudwatch.GraphWidget({
      title: "Billed GPU-hours per month by tenant (meter)",
      left: [searchMetric(ns, MONTH_METRICS.billedGpuHours, ["Tenant"], "Maximum", Duration.days(1))],
      width: 12,
    }),
    new cloudwatch.GraphWidget({
      title: "Spot share of allocated GPU-hours (meter)",
      left: [new cloudwatch.Metric({ namespace: ns, metricName: MONTH_METRICS.spotShare, statistic: "Maximum", period: Duration.days(1) })],
      width: 12,
    }),
  ];
}

function controllerWidgets(ctlNs: string): cloudwatch.IWidget[] {
  return [
    new cloudwatch.GraphWidget({
      title: "Nodes reclaimed by node group and mode (controller)",
      left: [searchMetric(ctlNs, NODES_RECLAIMED_METRIC, CONTROLLER_DIMENSIONS, "Sum")],
      width: 8,
    }),
    new cloudwatch.GraphWidget({
      title: "Nodes added by node group and mode (controller)",
      left: [searchMetric(ctlNs, NODES_ADDED_METRIC, CONTROLLER_DIMENSIONS, "Sum")],
      width: 8,
    }),
    new cloudwatch.GraphWidget({
      title: "GPU-hours saved, estimate (controller)",
      left: [searchMetric(ctlNs, GPU_HOURS_SAVED_METRIC, CONTROLLER_DIMENSIONS, "Sum", Duration.days(1))],
      width: 8,
    }),
  ];
}

/** Every function's errors, duration and dead-letter queue. */
function pipelineWidgets(fns: GpuBillingFunction[]): cloudwatch.IWidget[] {
  return [
    new cloudwatch.GraphWidget({
      title: "Pipeline: errors by function",
      left: fns.map((f) => f.fn.metricErrors({ period: Duration.hours(1), label: f.node.id })),
      width: 8,
    }),
    new cloudwatch.GraphWidget({
      title: "Pipeline: duration (max) by function",
      left: fns.map((f) => f.fn.metricDuration({ period: Duration.hours(1), statistic: "Maximum", label: f.node.id })),
      width: 8,
    }),
    new cloudwatch.GraphWidget({
      title: "Pipeline: dead-letter queues",
      left: fns.map((f) => f.dlq.metricApproximateNumberOfMessagesVisible({ period: Duration.minutes(5), label: f.node.id })),
      width: 8,
    }),
  ];
}

/** The identities a sender address may be verified as: the address, its domain. */
function senderIdentities(address: string): string[] {
  return [address, address.slice(address.indexOf("@") + 1)];
}

/** CloudWatch Logs only accepts certain retention values; a setting must be one of them. */
export function toRetention(days: number): logs.RetentionDays {
  const allowed = Object.values(logs.RetentionDays).filter((v): v is number => typeof v === "number");
  if (!allowed.includes(days))
    throw new Error(`gpuBilling.retention.logDays: ${days} is not a CloudWatch Logs retention (${allowed.join(", ")})`);
  return days as logs.RetentionDays;
}
