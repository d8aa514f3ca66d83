import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { Annotations, Arn, Aws, CfnOutput, Duration, SecretValue, Stack, type StackProps } from "aws-cdk-lib";
import * as cloudwatch from "aws-cdk-lib/aws-cloudwatch";
import * as cwActions from "aws-cdk-lib/aws-cloudwatch-actions";
import * as ec2 from "aws-cdk-lib/aws-ec2";
import * as eks from "aws-cdk-lib/aws-eks";
import * as logs from "aws-cdk-lib/aws-logs";
import * as ses from "aws-cdk-lib/aws-ses";
import * as sns from "aws-cdk-lib/aws-sns";
import * as subs from "aws-cdk-lib/aws-sns-subscriptions";
import type { Construct } from "constructs";
import { parseConfig } from "../../functions/core/config.js";
import { MANIFEST_MISSING_METRIC } from "../../functions/core/month-completeness.js";
import { MONTH_METRICS } from "../../functions/export/month-metrics.js";
import { Analytics } from "./analytics.js";
import { DataStorage } from "./data-storage.js";
import { FUNCTIONS, type FunctionSpec, type FunctionsById, type Grant } from "./function-catalog.js";
import { GpuBillingFunction } from "./gpu-billing-function.js";
import { applyNagSuppressions } from "./nag-suppressions.js";
import type { Settings } from "./settings.js";

/** Custom metrics the quota and controller functions publish (their contract with this stack). */
export const QUOTA_RATIO_METRIC = "GpuQuotaUsedRatio";
export const QUOTA_HOURS_METRIC = "GpuHoursUsed";
export const NODES_RECLAIMED_METRIC = "NodesReclaimed";

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

  constructor(scope: Construct, id: string, props: GpuBillingStackProps) {
    super(scope, id, props);
    const s = props.settings;
    const root = props.repoRoot;
    const billing = parseConfig(readFileSync(path.join(root, s.billingConfigFile), "utf8"), s.billingConfigFile);
    const retention = toRetention(s.retention.logDays);

    this.storage = new DataStorage(this, "Storage", s);
    this.analytics = new Analytics(this, "Analytics", this.storage, s.dataPrefix);
    this.alertTopic = new sns.Topic(this, "Alerts", { displayName: "GPU billing alerts", masterKey: this.storage.key, enforceSSL: true });
    if (s.alarmEmail) this.alertTopic.addSubscription(new subs.EmailSubscription(s.alarmEmail));
    const configurationSet = new ses.ConfigurationSet(this, "MailConfigurationSet", {
      configurationSetName: s.ses.configurationSetName,
      reputationMetrics: true,
      suppressionReasons: ses.SuppressionReasons.BOUNCES_AND_COMPLAINTS,
      tlsPolicy: ses.ConfigurationSetTlsPolicy.REQUIRE,
    });

    const vpc = s.vpc
      ? (() => {
          const v = ec2.Vpc.fromVpcAttributes(this, "Vpc", { vpcId: s.vpc.vpcId, availabilityZones: s.vpc.availabilityZones });
          return { vpc: v, subnets: s.vpc.privateSubnetIds.map((id, i) => ec2.Subnet.fromSubnetId(this, `Subnet${i}`, id)) };
        })()
      : undefined;

    const commonEnv: Record<string, string> = {
      DATA_BUCKET: this.storage.bucket.bucketName,
      DATA_PREFIX: s.dataPrefix,
      BILLING_TIME_ZONE: s.timeZone,
      METRICS_NAMESPACE: s.metricsNamespace,
      ...(s.prometheus.url ? { PROMETHEUS_URL: s.prometheus.url } : {}),
    };

    for (const spec of props.functions ?? FUNCTIONS) {
      if (!existsSync(path.join(root, spec.entry))) {
        if (!spec.optional) throw new Error(`function ${spec.id}: entry ${spec.entry} does not exist`);
        Annotations.of(this).addInfo(`function ${spec.id} skipped: ${spec.entry} not present on this branch yet`);
        continue;
      }
      const env: Record<string, string> = { ...commonEnv, ...spec.environment?.(s) };
      if (spec.grants.some((g) => g.kind === "ses-send"))
        Object.assign(env, {
          SES_FROM_ADDRESS: s.ses.fromAddress,
          SES_CONFIGURATION_SET: configurationSet.configurationSetName,
          PRESIGN_EXPIRES_SECONDS: String(s.ses.presignSeconds),
        });
      if (s.eksClusterName && spec.grants.some((g) => g.kind === "eks-describe")) env.EKS_CLUSTER_NAME = s.eksClusterName;
      if (s.prometheus.bearerTokenSecretName && spec.grants.some((g) => g.kind === "prometheus"))
        // Resolved by CloudFormation at deploy time; rotation = update the secret, redeploy.
        env.PROMETHEUS_TOKEN = SecretValue.secretsManager(s.prometheus.bearerTokenSecretName).unsafeUnwrap();
      for (const g of spec.grants)
        if (g.kind === "invoke" && this.functions.has(g.functionId))
          env[`${g.functionId.toUpperCase()}_FUNCTION_NAME`] = this.functions.get(g.functionId)!.fn.functionName;

      const f = new GpuBillingFunction(this, spec.id, {
        entry: spec.entry,
        repoRoot: root,
        description: spec.description,
        timeout: spec.timeout,
        memorySize: spec.memorySize,
        environment: env,
        assets: spec.assets,
        billingConfigFile: s.billingConfigFile,
        vpc: spec.inVpc ? vpc : undefined,
        logRetention: retention,
        alarmTopic: this.alertTopic,
        schedule: spec.schedule
          ? { expression: s.schedules[spec.schedule], timeZone: s.timeZone, enabled: s.schedulesEnabled }
          : undefined,
      });
      for (const g of spec.grants) this.grant(f, g, s);
      this.functions.set(spec.id, f);
    }

    // A month without a manifest by the 2nd: the check function publishes 1 for it.
    const manifestMissing = new cloudwatch.Metric({
      namespace: s.metricsNamespace,
      metricName: MANIFEST_MISSING_METRIC,
      statistic: "Maximum",
      period: Duration.hours(1),
    });
    const alarms: cloudwatch.Alarm[] = [
      manifestMissing.createAlarm(this, "MonthManifestMissingAlarm", {
        alarmDescription: "The previous billing month has no manifest on the 2nd: it was not metered. Runbook: README \"A month failed\".",
        threshold: 1,
        evaluationPeriods: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      }),
    ];
    // One quota alarm per tenant that has a quota (unlimited tenants have none).
    for (const t of billing.tenants.filter((t) => t.monthlyQuotaGpuHours !== undefined)) {
      alarms.push(
        new cloudwatch.Metric({
          namespace: s.metricsNamespace,
          metricName: QUOTA_RATIO_METRIC,
          dimensionsMap: { Tenant: t.id },
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
    for (const a of alarms) a.addAlarmAction(new cwActions.SnsAction(this.alertTopic));

    this.dashboard(s, billing.tenants.map((t) => t.id));

    new CfnOutput(this, "DataBucketName", { value: this.storage.bucket.bucketName });
    new CfnOutput(this, "AlertTopicArn", { value: this.alertTopic.topicArn });
    new CfnOutput(this, "AthenaWorkGroup", { value: this.analytics.workgroup.ref });
    const rerun = this.functions.get("Rerun");
    if (rerun) new CfnOutput(this, "RerunFunctionName", { value: rerun.fn.functionName });

    applyNagSuppressions(this, this.storage, [...this.functions.values()], s.dataPrefix, s.gpuNodeGroupAsgPrefix);
  }

  private grant(f: GpuBillingFunction, g: Grant, s: Settings): void {
    const st = this.storage;
    const key = [st.key.keyArn];
    // ListBucket without an s3:prefix condition: S3 decides "404 NoSuchKey vs 403" on a GetObject
    // or HeadObject of a missing key by whether the caller may list the bucket, and that check
    // carries no prefix, so a prefix-conditioned grant turns "no manifest yet" into AccessDenied.
    const listUnder = (_prefix: string) => f.allow(["s3:ListBucket"], [st.bucket.bucketArn]);
    switch (g.kind) {
      case "datasets-read":
        f.allow(["s3:GetObject"], [st.objects(s.dataPrefix)]);
        listUnder(s.dataPrefix);
        f.allow(["kms:Decrypt"], key);
        return;
      case "datasets-write":
        f.allow(["s3:PutObject", "s3:DeleteObject"], [st.objects(s.dataPrefix)]);
        f.allow(["kms:GenerateDataKey", "kms:Decrypt"], key);
        return;
      case "prefix-read-write":
        f.allow(["s3:GetObject", "s3:PutObject", "s3:DeleteObject"], [st.objects(g.prefix)]);
        listUnder(g.prefix);
        f.allow(["kms:GenerateDataKey", "kms:Decrypt"], key);
        return;
      case "prometheus":
        if (s.prometheus.ampWorkspaceArn)
          f.allow(["aps:QueryMetrics", "aps:GetSeries", "aps:GetLabels", "aps:GetMetricMetadata"], [s.prometheus.ampWorkspaceArn]);
        return;
      case "put-metrics":
        // PutMetricData has no resource-level permissions; the namespace condition is the boundary.
        f.allow(["cloudwatch:PutMetricData"], ["*"], { StringEquals: { "cloudwatch:namespace": s.metricsNamespace } });
        return;
      case "ses-send":
        f.allow(
          ["ses:SendEmail", "ses:SendRawEmail"],
          [
            Arn.format({ service: "ses", resource: "identity", resourceName: s.ses.identity }, this),
            Arn.format({ service: "ses", resource: "configuration-set", resourceName: s.ses.configurationSetName }, this),
          ],
        );
        return;
      case "eks-describe":
        if (!s.eksClusterName) return;
        f.allow(["eks:DescribeCluster"], [Arn.format({ service: "eks", resource: "cluster", resourceName: s.eksClusterName }, this)]);
        // Kubernetes RBAC: the cluster admin binds this group to the function's Role (see README).
        new eks.CfnAccessEntry(this, `${f.node.id}AccessEntry`, {
          clusterName: s.eksClusterName,
          principalArn: f.role.roleArn,
          kubernetesGroups: [`gpu-billing-${f.node.id.toLowerCase()}`],
          type: "STANDARD",
        });
        return;
      case "asg-terminate":
        f.allow(
          ["autoscaling:TerminateInstanceInAutoScalingGroup"],
          [
            `arn:${Aws.PARTITION}:autoscaling:${Aws.REGION}:${Aws.ACCOUNT_ID}:autoScalingGroup:*:autoScalingGroupName/${s.gpuNodeGroupAsgPrefix}*`,
          ],
        );
        // Describe calls have no resource-level permissions.
        f.allow(["autoscaling:DescribeAutoScalingGroups", "ec2:DescribeInstances"], ["*"]);
        return;
      case "invoke": {
        const target = this.functions.get(g.functionId);
        if (target) f.allow(["lambda:InvokeFunction"], [target.fn.functionArn]);
        return;
      }
    }
  }

  private dashboard(s: Settings, tenants: string[]): void {
    const ns = s.metricsNamespace;
    const search = (metric: string, dims: string, stat: string, label: string, period = Duration.hours(1)) =>
      new cloudwatch.MathExpression({
        expression: `SEARCH('{${ns},${dims}} MetricName="${metric}"', '${stat}', ${period.toSeconds()})`,
        label,
        period,
      });
    const fns = [...this.functions.values()];
    const d = new cloudwatch.Dashboard(this, "Dashboard", { dashboardName: `${this.stackName}-gpu-billing`, defaultInterval: Duration.days(35) });
    d.addWidgets(
      new cloudwatch.GraphWidget({
        title: "GPU-hours used this month by tenant",
        left: [search(QUOTA_HOURS_METRIC, "Tenant", "Maximum", "")],
        width: 12,
      }),
      new cloudwatch.GraphWidget({
        title: "Quota used (%) by tenant",
        left: [
          new cloudwatch.MathExpression({
            expression: `SEARCH('{${ns},Tenant} MetricName="${QUOTA_RATIO_METRIC}"', 'Maximum', 3600) * 100`,
            label: "",
            period: Duration.hours(1),
          }),
        ],
        leftAnnotations: [{ value: 80, label: "warn" }, { value: 100, label: "block" }],
        width: 12,
      }),
    );
    d.addWidgets(
      new cloudwatch.GraphWidget({
        title: "Billed GPU-hours per month by tenant (meter)",
        left: [search(MONTH_METRICS.billedGpuHours, "Tenant", "Maximum", "", Duration.days(1))],
        width: 8,
      }),
      new cloudwatch.GraphWidget({
        title: "Spot share of allocated GPU-hours (meter)",
        left: [new cloudwatch.Metric({ namespace: ns, metricName: MONTH_METRICS.spotShare, statistic: "Maximum", period: Duration.days(1) })],
        width: 8,
      }),
      new cloudwatch.GraphWidget({
        title: "Nodes reclaimed (controller)",
        left: [search(NODES_RECLAIMED_METRIC, "NodeGroup", "Sum", "", Duration.hours(1))],
        width: 8,
      }),
    );
    d.addWidgets(
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
    );
    d.addWidgets(
      new cloudwatch.AlarmStatusWidget({
        title: "Alarms",
        alarms: [...fns.flatMap((f) => f.alarms)],
        width: 24,
      }),
      new cloudwatch.TextWidget({
        markdown: `Tenants: ${tenants.join(", ")}. Month manifest check metric: \`${ns}/${MANIFEST_MISSING_METRIC}\`. Runbook: README, "Operations".`,
        width: 24,
        height: 2,
      }),
    );
  }
}

/** CloudWatch Logs only accepts certain retention values; a setting must be one of them. */
export function toRetention(days: number): logs.RetentionDays {
  const allowed = Object.values(logs.RetentionDays).filter((v): v is number => typeof v === "number");
  if (!allowed.includes(days)) throw new Error(`gpuBilling.retention.logDays: ${days} is not a CloudWatch Logs retention (${allowed.join(", ")})`);
  return days as logs.RetentionDays;
}
