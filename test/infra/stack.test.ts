import { describe, expect, it } from "vitest";
import { App } from "aws-cdk-lib";
import { Match, Template } from "aws-cdk-lib/assertions";
import { AwsSolutionsChecks } from "cdk-nag";
import { cdkJsonContext } from "../../infra/bin/app.js";
import { GpuBillingStack } from "../../infra/lib/gpu-billing-stack.js";
import { FUNCTIONS, type FunctionSpec } from "../../infra/lib/function-catalog.js";
import { parseSettings } from "../../infra/lib/settings.js";
import { PARQUET_TABLES } from "../../functions/export/parquet-export.js";
import { referenceConfig } from "../core/fixtures.js";

const repoRoot = new URL("../..", import.meta.url).pathname;

/** Synthesizes without bundling (the bundling test does that once); context = cdk.json. */
function synth(raw: unknown = {}, functions?: FunctionSpec[]) {
  const app = new App({ context: { ...cdkJsonContext(), "aws:cdk:bundling-stacks": [] } });
  const stack = new GpuBillingStack(app, "GpuBilling", {
    settings: parseSettings(raw),
    repoRoot,
    functions,
    env: { account: "111122223333", region: "ap-northeast-2" },
  });
  return { stack, template: Template.fromStack(stack) };
}

const fullSettings = {
  vpc: { vpcId: "vpc-0abc1234567890def", availabilityZones: ["ap-northeast-2a"], privateSubnetIds: ["subnet-0a1b2c3d4e5f60718"] },
  prometheus: { ampWorkspaceArn: "arn:aws:aps:ap-northeast-2:111122223333:workspace/ws-1" },
  eksClusterName: "gpu",
  eksAccessEntries: true,
  objectLock: { mode: "GOVERNANCE", days: 1825 },
  alarmEmail: "ops@example.com",
};

type Statement = { Action: string | string[]; Resource: unknown; Condition?: unknown };
function statements(template: Template): Statement[] {
  return Object.values(template.findResources("AWS::IAM::Policy")).flatMap(
    (p) => (p as { Properties: { PolicyDocument: { Statement: Statement[] } } }).Properties.PolicyDocument.Statement,
  );
}

describe("CDK app: GpuBilling stack", () => {
  const { stack, template } = synth();
  const full = synth(fullSettings);

  it("given the function list, when synthesized without an EKS cluster, then every function but the controller is deployed and the controller's absence is a synth warning", () => {
    expect([...stack.functions.keys()]).toEqual(["Meter", "Monthly", "Quota", "Rerun", "ManifestCheck"]);
    expect([...full.stack.functions.keys()]).toEqual(["Meter", "Monthly", "Quota", "Controller", "Rerun", "ManifestCheck"]);
    const warnings = stack.node.metadata.filter((m) => m.type === "aws:cdk:warning").map((m) => String(m.data));
    expect(warnings.some((w) => w.includes("function Controller not deployed: gpuBilling.eksClusterName is not set"))).toBe(true);
  });

  it("given a catalog entry whose handler file does not exist, when synthesized, then synth fails naming it", () => {
    const ghost: FunctionSpec = {
      ...FUNCTIONS.find((f) => f.id === "ManifestCheck")!,
      id: "Ghost",
      entry: "functions/handlers/ghost-handler.ts",
    };
    expect(() => synth({}, [ghost])).toThrow(/function Ghost: entry functions\/handlers\/ghost-handler.ts does not exist/);
  });

  it("given every function, then it is nodejs22.x on arm64 with JSON logs, an on-failure queue and a log group with retention", () => {
    const fns = full.template.findResources("AWS::Lambda::Function");
    expect(Object.keys(fns)).toHaveLength(6);
    for (const f of Object.values(fns) as { Properties: Record<string, unknown> }[]) {
      expect(f.Properties).toMatchObject({ Runtime: "nodejs22.x", Architectures: ["arm64"], LoggingConfig: { LogFormat: "JSON" } });
    }
    full.template.resourceCountIs("AWS::Lambda::EventInvokeConfig", 6);
    const invokeConfigs = Object.values(full.template.findResources("AWS::Lambda::EventInvokeConfig")) as {
      Properties: Record<string, any>;
    }[];
    for (const c of invokeConfigs) expect(c.Properties.DestinationConfig.OnFailure.Destination).toBeDefined();
    // The controller is never retried (the next run starts from fresh state); the others twice.
    expect(invokeConfigs.map((c) => c.Properties.MaximumRetryAttempts).sort()).toEqual([0, 2, 2, 2, 2, 2]);
    full.template.allResourcesProperties("AWS::Logs::LogGroup", { RetentionInDays: 400 });
    full.template.allResourcesProperties("AWS::SQS::Queue", { SqsManagedSseEnabled: true });
  });

  it("given the meter function, then its bundle gets the queries and the billing config and its environment points at them", () => {
    template.hasResourceProperties("AWS::Lambda::Function", {
      Description: Match.stringLikeRegexp("^Meters the previous"),
      Timeout: 900,
      Environment: {
        Variables: Match.objectLike({
          QUERIES_DIR: "/var/task/queries",
          BILLING_CONFIG_FILE: "/var/task/config/billing.yaml",
          DATA_PREFIX: "chargeback",
          EXPORTS: "parquet,focus",
          METRICS_NAMESPACE: "GpuBilling",
        }),
      },
    });
  });

  it("given the schedules, then each runs in Asia/Seoul with its expression from settings and a dead-letter queue", () => {
    const schedules = Object.values(full.template.findResources("AWS::Scheduler::Schedule")) as { Properties: Record<string, any> }[];
    const byExpr = Object.fromEntries(schedules.map((s) => [s.Properties.ScheduleExpression, s.Properties]));
    expect(Object.keys(byExpr).sort()).toEqual(
      ["cron(0 1 1 * ? *)", "cron(0 6 1 * ? *)", "cron(0 9 2 * ? *)", "cron(10 * * * ? *)", "rate(2 minutes)"].sort(),
    );
    for (const s of schedules) {
      expect(s.Properties.ScheduleExpressionTimezone).toBe("Asia/Seoul");
      expect(s.Properties.State).toBe("ENABLED");
      expect(s.Properties.Target.DeadLetterConfig.Arn).toBeDefined();
    }
    const moved = synth({ timeZone: "UTC", schedules: { meter: "cron(0 3 1 * ? *)" }, schedulesEnabled: false }).template;
    moved.hasResourceProperties("AWS::Scheduler::Schedule", {
      ScheduleExpression: "cron(0 3 1 * ? *)",
      ScheduleExpressionTimezone: "UTC",
      State: "DISABLED",
    });
  });

  it("given the data bucket, then it is SSE-KMS with a rotating key, versioned, private, TLS-only, access-logged and has lifecycle rules", () => {
    full.template.hasResourceProperties("AWS::KMS::Key", { EnableKeyRotation: true });
    full.template.hasResourceProperties("AWS::S3::Bucket", {
      BucketEncryption: {
        ServerSideEncryptionConfiguration: [
          { ServerSideEncryptionByDefault: { SSEAlgorithm: "aws:kms", KMSMasterKeyID: Match.anyValue() }, BucketKeyEnabled: true },
        ],
      },
      VersioningConfiguration: { Status: "Enabled" },
      PublicAccessBlockConfiguration: {
        BlockPublicAcls: true,
        BlockPublicPolicy: true,
        IgnorePublicAcls: true,
        RestrictPublicBuckets: true,
      },
      LoggingConfiguration: { DestinationBucketName: Match.anyValue(), LogFilePrefix: "data-bucket/" },
      ObjectLockEnabled: true,
      ObjectLockConfiguration: { ObjectLockEnabled: "Enabled", Rule: { DefaultRetention: { Mode: "GOVERNANCE", Days: 1825 } } },
      LifecycleConfiguration: {
        Rules: Match.arrayWith([
          Match.objectLike({ Id: "expire-runs", Prefix: "runs/", ExpirationInDays: 90 }),
          Match.objectLike({ Id: "expire-audit", Prefix: "audit/", ExpirationInDays: 90 }),
          Match.objectLike({ Id: "expire-quota-audit", Prefix: "quota/audit/", ExpirationInDays: 90 }),
          Match.objectLike({ Id: "expire-controller-audit", Prefix: "controller/audit/", ExpirationInDays: 90 }),
          // datasets: no expiration, previous versions kept ten years
          { Id: "datasets", Prefix: "chargeback/", NoncurrentVersionExpiration: { NoncurrentDays: 3650 }, Status: "Enabled" },
        ]),
      },
    });
    for (const t of [template, full.template])
      t.hasResourceProperties("AWS::S3::BucketPolicy", {
        PolicyDocument: {
          Statement: Match.arrayWith([Match.objectLike({ Effect: "Deny", Condition: { Bool: { "aws:SecureTransport": "false" } } })]),
        },
      });
  });

  it("given every IAM statement, then no action is '*' and '*' resources are only for actions without resource-level permissions", () => {
    const allowedOnStar = new Set([
      "cloudwatch:PutMetricData",
      "autoscaling:DescribeAutoScalingGroups",
      "autoscaling:DescribeScalingActivities",
      "ec2:DescribeSpotPriceHistory",
      "pricing:GetProducts",
    ]);
    const all = statements(full.template);
    expect(all.length).toBeGreaterThan(10);
    for (const st of all) {
      const actions = ([] as string[]).concat(st.Action);
      expect(actions.filter((a) => a === "*" || a.endsWith(":*"))).toEqual([]);
      const resources = ([] as unknown[]).concat(st.Resource);
      if (resources.includes("*")) expect(actions.filter((a) => !allowedOnStar.has(a))).toEqual([]);
    }
    // PutMetricData is bounded by the namespace each function really publishes under.
    const puts = all.filter((s) => ([] as string[]).concat(s.Action).includes("cloudwatch:PutMetricData"));
    expect(puts.map((p) => p.Condition).sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b)))).toEqual(
      ["GpuBilling", "GpuBilling/Controller", "GpuBilling/Quota"].map((ns) => ({ StringEquals: { "cloudwatch:namespace": ns } })),
    );
    const aps = all.find((s) => ([] as string[]).concat(s.Action).includes("aps:QueryMetrics"));
    expect(aps?.Resource).toBe("arn:aws:aps:ap-northeast-2:111122223333:workspace/ws-1");
  });

  it("given the meter function, then its role allows exactly: its log group, its DLQ, objects under chargeback/, listing the bucket, the data key, and the price feed", () => {
    const id = (c: { node: { defaultChild?: unknown } }) => stack.getLogicalId(c.node.defaultChild as never);
    const meter = stack.functions.get("Meter")!;
    const [policy] = Object.entries(template.findResources("AWS::IAM::Policy")).filter(([k]) => k.startsWith("MeterRole"));
    expect((policy![1] as { Properties: { PolicyDocument: { Statement: unknown[] } } }).Properties.PolicyDocument.Statement).toEqual([
      { Action: ["logs:CreateLogStream", "logs:PutLogEvents"], Effect: "Allow", Resource: { "Fn::GetAtt": [id(meter.logGroup), "Arn"] } },
      {
        Action: ["sqs:GetQueueAttributes", "sqs:GetQueueUrl", "sqs:SendMessage"],
        Effect: "Allow",
        Resource: { "Fn::GetAtt": [id(meter.dlq), "Arn"] },
      },
      {
        Action: ["s3:DeleteObject", "s3:GetObject", "s3:PutObject"],
        Effect: "Allow",
        Resource: { "Fn::Join": ["", [{ "Fn::GetAtt": [id(stack.storage.bucket), "Arn"] }, "/chargeback/*"]] },
      },
      { Action: "s3:ListBucket", Effect: "Allow", Resource: { "Fn::GetAtt": [id(stack.storage.bucket), "Arn"] } },
      { Action: ["kms:Decrypt", "kms:GenerateDataKey"], Effect: "Allow", Resource: { "Fn::GetAtt": [id(stack.storage.key), "Arn"] } },
      // prices.source aws: Spot price history and the Price List, neither with resource-level permissions
      { Action: ["ec2:DescribeSpotPriceHistory", "pricing:GetProducts"], Effect: "Allow", Resource: "*" },
    ]);
  });

  it("given the functions that meter (Meter, Monthly, Rerun), then each may read the price feed, and no other function may", () => {
    const readers = [...full.stack.functions.keys()].filter((id) =>
      policyOf(full.stack, full.template, id).some((x) => ([] as string[]).concat(x.Action).includes("ec2:DescribeSpotPriceHistory")),
    );
    expect(readers.sort()).toEqual(["Meter", "Monthly", "Rerun"]);
  });

  const policyOf = (st: typeof stack, t: Template, id: string) => {
    const logical = st.getLogicalId(st.functions.get(id)!.role.node.defaultChild as never);
    const [, p] = Object.entries(t.findResources("AWS::IAM::Policy")).find(([, r]) =>
      JSON.stringify((r as { Properties: { Roles?: unknown } }).Properties.Roles ?? null).includes(logical),
    )!;
    return (p as { Properties: { PolicyDocument: { Statement: Statement[] } } }).Properties.PolicyDocument.Statement;
  };
  const objectsUnder = (prefix: string) => ({
    "Fn::Join": ["", [{ "Fn::GetAtt": [stack.getLogicalId(full.stack.storage.bucket.node.defaultChild as never), "Arn"] }, `/${prefix}/*`]],
  });
  const actionsOn = (sts: Statement[], action: string) => sts.filter((x) => ([] as string[]).concat(x.Action).includes(action));

  it("given the controller, then it runs alone (reserved concurrency 1) every 2 minutes, its timeout ends before its lease (2 periods − 10 s), and a run is never retried", () => {
    const ctl = full.stack.functions.get("Controller")!;
    const fn = full.template.findResources("AWS::Lambda::Function")[full.stack.getLogicalId(ctl.fn.node.defaultChild as never)] as {
      Properties: Record<string, any>;
    };
    expect(fn.Properties.ReservedConcurrentExecutions).toBe(1);
    const leaseSeconds = 2 * 2 * 60 - 10;
    expect(fn.Properties.Timeout).toBeLessThan(leaseSeconds);
    const sched = full.template.findResources("AWS::Scheduler::Schedule")[
      full.stack.getLogicalId(ctl.schedule!.node.defaultChild as never)
    ] as { Properties: Record<string, any> };
    expect(sched.Properties).toMatchObject({ ScheduleExpression: "rate(2 minutes)", ScheduleExpressionTimezone: "Asia/Seoul" });
    full.template.hasResourceProperties("AWS::Lambda::EventInvokeConfig", {
      FunctionName: { Ref: full.stack.getLogicalId(ctl.fn.node.defaultChild as never) },
      MaximumRetryAttempts: 0,
      MaximumEventAgeInSeconds: 240,
    });
    // A slower schedule moves the interval the function is told and its timeout with it.
    const slow = synth({ ...fullSettings, schedules: { controller: "rate(5 minutes)" } });
    slow.template.hasResourceProperties("AWS::Lambda::Function", {
      Timeout: 5 * 120 - 20,
      Environment: { Variables: Match.objectLike({ RUN_INTERVAL_MINUTES: "5" }) },
    });
    expect(() => parseSettings({ schedules: { controller: "cron(*/3 * * * ? *)" } })).toThrow(/gpuBilling\.controller\.runIntervalMinutes/);
  });

  it("given the controller policy's node groups, then terminate and set-desired-capacity are scoped to exactly those Auto Scaling groups in this cluster, and only Describe* is on '*'", () => {
    const sts = policyOf(full.stack, full.template, "Controller");
    const [scale] = actionsOn(sts, "autoscaling:TerminateInstanceInAutoScalingGroup");
    expect(([] as string[]).concat(scale!.Action).sort()).toEqual([
      "autoscaling:SetDesiredCapacity",
      "autoscaling:TerminateInstanceInAutoScalingGroup",
    ]);
    const names = ([] as unknown[])
      .concat(scale!.Resource)
      .map((r) => JSON.stringify(r).match(/autoScalingGroupName\/([^"]+)"/)![1])
      .sort();
    expect(names).toEqual(["eks-g4dn-int-0000", "eks-g5-od-0000", "eks-g5-spot-a-0000", "eks-g5-spot-b-0000", "eks-p4d-batch-0000"]);
    expect(scale!.Condition).toEqual({ StringEquals: { "autoscaling:ResourceTag/eks:cluster-name": "gpu" } });
    const onStar = sts
      .filter((x) => ([] as unknown[]).concat(x.Resource).includes("*"))
      .flatMap((x) => ([] as string[]).concat(x.Action))
      .sort();
    expect(onStar).toEqual(["autoscaling:DescribeAutoScalingGroups", "autoscaling:DescribeScalingActivities", "cloudwatch:PutMetricData"]);
    // lease and audit log under its own prefix: get and (conditional) put, no delete
    expect(actionsOn(sts, "s3:PutObject")).toEqual([
      { Action: ["s3:GetObject", "s3:PutObject"], Effect: "Allow", Resource: objectsUnder("controller") },
    ]);
    expect(actionsOn(sts, "eks:DescribeCluster")[0]!.Resource).toEqual({
      "Fn::Join": ["", ["arn:", { Ref: "AWS::Partition" }, ":eks:ap-northeast-2:111122223333:cluster/gpu"]],
    });
    full.template.hasResourceProperties("AWS::EKS::AccessEntry", {
      ClusterName: "gpu",
      KubernetesGroups: ["gpu-billing-controller"],
      Type: "STANDARD",
    });
    full.template.hasResourceProperties("AWS::EKS::AccessEntry", {
      ClusterName: "gpu",
      KubernetesGroups: ["gpu-billing-quota"],
      Type: "STANDARD",
    });
  });

  it("given the monthly and quota functions, then SES send is scoped to their sender identities and S3 writes to the prefixes they write", () => {
    const ses = (sts: Statement[]) =>
      actionsOn(sts, "ses:SendEmail")
        .flatMap((x) => ([] as unknown[]).concat(x.Resource))
        .map((r) =>
          JSON.stringify(r)
            .match(/:ses:[^"]*:(identity|configuration-set)\/([^"]+)"/)!
            .slice(1)
            .join("/"),
        )
        .sort();
    // reports.from of the reference config, its domain, and the stack's configuration set
    expect(ses(policyOf(full.stack, full.template, "Monthly"))).toEqual([
      "configuration-set/gpu-billing",
      "identity/gpu-billing@platform.example.com",
      "identity/platform.example.com",
    ]);
    expect(ses(policyOf(full.stack, full.template, "Quota"))).toEqual([
      "identity/gpu-billing@platform.example.com",
      "identity/platform.example.com",
    ]);
    const monthlyWrites = actionsOn(policyOf(full.stack, full.template, "Monthly"), "s3:PutObject");
    expect(monthlyWrites.map((x) => x.Resource)).toEqual([objectsUnder("chargeback")]);
    const quota = policyOf(full.stack, full.template, "Quota");
    expect(actionsOn(quota, "s3:PutObject").map((x) => x.Resource)).toEqual([objectsUnder("quota")]);
    expect(actionsOn(quota, "s3:DeleteObject")).toEqual([]);
    const other = synth({ ses: { fromAddress: "billing@acme.example.com", identity: "acme.example.com" } });
    expect(ses(policyOf(other.stack, other.template, "Monthly"))).toEqual(["configuration-set/gpu-billing", "identity/acme.example.com"]);
  });

  it("given report links, then an IAM user that may only read <dataPrefix>/reports/ signs them with a key kept in Secrets Manager, which only the Monthly function may read; with linkSigner function-role there is no user", () => {
    const [userId] = Object.keys(template.findResources("AWS::IAM::User"));
    expect(Object.keys(template.findResources("AWS::IAM::User"))).toHaveLength(1);
    const [, userPolicy] = Object.entries(template.findResources("AWS::IAM::Policy")).find(([, r]) =>
      JSON.stringify((r as { Properties: { Users?: unknown } }).Properties.Users ?? null).includes(userId!),
    )!;
    const keyArn = { "Fn::GetAtt": [stack.getLogicalId(stack.storage.key.node.defaultChild as never), "Arn"] };
    expect((userPolicy as { Properties: { PolicyDocument: { Statement: Statement[] } } }).Properties.PolicyDocument.Statement).toEqual([
      {
        Action: "s3:GetObject",
        Effect: "Allow",
        Resource: {
          "Fn::Join": [
            "",
            [{ "Fn::GetAtt": [stack.getLogicalId(stack.storage.bucket.node.defaultChild as never), "Arn"] }, "/chargeback/reports/*"],
          ],
        },
      },
      { Action: "kms:Decrypt", Effect: "Allow", Resource: keyArn },
    ]);
    template.hasResourceProperties("AWS::IAM::AccessKey", { UserName: { Ref: userId }, Serial: 0 });
    const [secretId] = Object.keys(template.findResources("AWS::SecretsManager::Secret"));
    // The secret's value comes from the access key resource, never a literal in the template.
    expect(JSON.stringify(template.findResources("AWS::SecretsManager::Secret"))).toContain("SecretAccessKey");
    const monthly = template.findResources("AWS::Lambda::Function")[
      stack.getLogicalId(stack.functions.get("Monthly")!.fn.node.defaultChild as never)
    ] as { Properties: Record<string, any> };
    expect(monthly.Properties.Environment.Variables.LINK_SIGNING_SECRET_ID).toEqual({ Ref: secretId });
    const readers = Object.values(template.findResources("AWS::IAM::Policy")).filter((p) =>
      JSON.stringify(p).includes("secretsmanager:GetSecretValue"),
    );
    expect(readers).toHaveLength(1);
    expect(actionsOn(policyOf(stack, template, "Monthly"), "secretsmanager:GetSecretValue")[0]!.Resource).toEqual({ Ref: secretId });

    const roleSigns = synth({ reports: { linkSigner: "function-role" } });
    expect(Object.keys(roleSigns.template.findResources("AWS::IAM::User"))).toHaveLength(0);
    expect(Object.keys(roleSigns.template.findResources("AWS::SecretsManager::Secret"))).toHaveLength(0);
    expect(JSON.stringify(roleSigns.template.toJSON())).not.toContain("LINK_SIGNING_SECRET_ID");
    // Rotating: a new serial replaces the key.
    synth({ reports: { linkSignerKeySerial: 1 } }).template.hasResourceProperties("AWS::IAM::AccessKey", { Serial: 1 });
  });

  it("given the Parquet tables, then Glue has each with the writer's columns, month projection and the dataset's location, and Athena encrypts results", () => {
    for (const [name, cols] of Object.entries(PARQUET_TABLES)) {
      template.hasResourceProperties("AWS::Glue::Table", {
        DatabaseName: "gpu_billing",
        TableInput: Match.objectLike({
          Name: name,
          PartitionKeys: [{ Name: "month", Type: "string" }],
          Parameters: Match.objectLike({
            "projection.enabled": "true",
            "projection.month.format": "yyyy-MM",
            "storage.location.template": { "Fn::Join": ["", ["s3://", Match.anyValue(), `/chargeback/month=\${month}/parquet/${name}/`]] },
          }),
          StorageDescriptor: Match.objectLike({ Columns: cols.map((c) => ({ Name: c.name, Type: c.type })) }),
        }),
      });
    }
    template.hasResourceProperties("AWS::Athena::WorkGroup", {
      WorkGroupConfiguration: Match.objectLike({
        EnforceWorkGroupConfiguration: true,
        ResultConfiguration: {
          OutputLocation: Match.anyValue(),
          EncryptionConfiguration: { EncryptionOption: "SSE_KMS", KmsKey: Match.anyValue() },
        },
      }),
    });
  });

  it("given the reference config, then there is a quota alarm per tenant with a quota, a month-manifest alarm, all to the encrypted SNS topic", () => {
    const withQuota = referenceConfig().tenants.filter((t) => t.monthlyQuotaGpuHours !== undefined);
    expect(withQuota.length).toBeGreaterThan(0);
    for (const t of withQuota)
      template.hasResourceProperties("AWS::CloudWatch::Alarm", {
        MetricName: "GpuQuotaUsedRatio",
        Namespace: "GpuBilling/Quota",
        Dimensions: [{ Name: "Tenant", Value: t.id }],
        Threshold: 1,
        AlarmActions: [Match.anyValue()],
      });
    template.hasResourceProperties("AWS::CloudWatch::Alarm", {
      MetricName: "MonthManifestMissing",
      Threshold: 1,
      ComparisonOperator: "GreaterThanOrEqualToThreshold",
    });
    template.hasResourceProperties("AWS::SNS::Topic", { KmsMasterKeyId: Match.anyValue() });
    full.template.hasResourceProperties("AWS::CloudWatch::Alarm", {
      MetricName: "Halted",
      Namespace: "GpuBilling/Controller",
      Statistic: "Minimum",
      EvaluationPeriods: 3,
    });
    // errors + DLQ depth per function, manifest, quota per tenant, controller halted
    expect(Object.keys(full.template.findResources("AWS::CloudWatch::Alarm")).length).toBe(6 * 2 + 1 + withQuota.length + 1);
    full.template.resourceCountIs("AWS::CloudWatch::Dashboard", 1);
    full.template.hasResourceProperties("AWS::SNS::Subscription", { Protocol: "email", Endpoint: "ops@example.com" });
  });

  it("given cdk-nag AwsSolutions, when checked with defaults and with every option on, then nothing is unacknowledged", () => {
    // and with a bearer-token Prometheus (a secret in the environment), its own quota prefix and sender identity
    const other = synth({
      prometheus: { bearerTokenSecretName: "prom-token" },
      billingConfigFile: "test/infra/fixtures/bearer-billing.yaml",
      quota: { statePrefix: "quota-state" },
      ses: { fromAddress: "billing@acme.example.com", identity: "acme.example.com" },
    }).stack;
    for (const s of [stack, full.stack, other]) {
      const report = new AwsSolutionsChecks(undefined, { verbose: true }).validateScope(s);
      expect(
        report.violations.map(
          (v) => `${v.ruleName}: ${v.violatingResources.map((r) => (r as { constructPath?: string }).constructPath).join(", ")}`,
        ),
      ).toEqual([]);
    }
  });

  it("given cdk-nag acknowledgments, then each carries a reason", () => {
    const acks = full.stack.node
      .findAll()
      .flatMap((c) => c.node.metadata.filter((m) => m.type === "aws:cdk:acknowledged-rules").map((m) => m.data as Record<string, string>));
    expect(acks.length).toBeGreaterThan(0);
    for (const a of acks) for (const reason of Object.values(a)) expect(reason.length).toBeGreaterThan(30);
  });

  it("given clusters behind different bearer tokens, then each token's secret is read at run time by the metering functions only (GetSecretValue on that secret's ARN), and a variable without a secret or a secret for no variable fails synth", () => {
    const bearer = {
      billingConfigFile: "test/infra/fixtures/two-cluster-bearer-billing.yaml",
      eksClusterName: "gpu",
      prometheus: { url: "https://prometheus-seoul.internal" },
    };
    const { stack: st, template: t } = synth({
      ...bearer,
      prometheus: { ...bearer.prometheus, bearerTokenSecrets: { SEOUL_TOKEN: "prom/seoul", BUSAN_TOKEN: "prom/busan" } },
    });
    const secretArn = (name: string) => ({
      "Fn::Join": ["", ["arn:", { Ref: "AWS::Partition" }, `:secretsmanager:ap-northeast-2:111122223333:secret:${name}-??????`]],
    });
    for (const id of ["Meter", "Monthly", "Quota", "Rerun"]) {
      const reads = actionsOn(policyOf(st, t, id), "secretsmanager:GetSecretValue").flatMap((x) => ([] as unknown[]).concat(x.Resource));
      expect({ id, reads: reads.length, all: reads }).toEqual({
        id,
        reads: id === "Monthly" ? 3 : 2 /* + the link signer */,
        all: expect.arrayContaining([secretArn("prom/seoul"), secretArn("prom/busan")]),
      });
    }
    expect(actionsOn(policyOf(st, t, "Controller"), "secretsmanager:GetSecretValue")).toEqual([]);
    expect(actionsOn(policyOf(st, t, "ManifestCheck"), "secretsmanager:GetSecretValue")).toEqual([]);
    expect(JSON.stringify(t.toJSON())).not.toContain("resolve:secretsmanager");

    expect(() => synth({ ...bearer, prometheus: { ...bearer.prometheus, bearerTokenSecrets: { SEOUL_TOKEN: "prom/seoul" } } })).toThrow(
      /gpuBilling\.prometheus\.bearerTokenSecrets\.BUSAN_TOKEN: the billing config's clusters\.1\.prometheus \(busan\) reads its bearer token from BUSAN_TOKEN/,
    );
    expect(() =>
      synth({
        ...bearer,
        prometheus: { ...bearer.prometheus, bearerTokenSecrets: { SEOUL_TOKEN: "a", BUSAN_TOKEN: "b", SEUOL_TOKEN: "c" } },
      }),
    ).toThrow(
      /gpuBilling\.prometheus\.bearerTokenSecrets\.SEUOL_TOKEN: no bearer auth in the billing config reads its token from SEUOL_TOKEN/,
    );
    expect(() => synth({ ...bearer, prometheus: { ...bearer.prometheus, bearerTokenSecretName: "one" } })).toThrow(
      /gpuBilling\.prometheus\.bearerTokenSecretName: the billing config reads tokens from SEOUL_TOKEN, BUSAN_TOKEN; name each one's secret/,
    );
  });

  it("given a bad setting, then synth fails naming the field", () => {
    expect(() => parseSettings({ vpc: { vpcId: "my-vpc", availabilityZones: ["a"], privateSubnetIds: ["subnet-1"] } })).toThrow(
      /gpuBilling\.vpc\.vpcId/,
    );
    expect(() => synth({ retention: { logDays: 42 } })).toThrow(/retention\.logDays: 42/);
    expect(() => parseSettings({ quota: { statePrefix: "chargeback" } })).toThrow(
      /gpuBilling\.quota\.statePrefix: must differ from dataPrefix/,
    );
    expect(() => parseSettings({ controller: { statePrefix: "audit" } })).toThrow(
      /gpuBilling\.controller\.statePrefix: "audit" is reserved/,
    );
    // enforcement needs a cluster to enforce on
    expect(() => synth({ quota: { enforce: true } })).toThrow(/gpuBilling\.eksClusterName: required because quota enforcement is on/);
    expect(() => synth({ prometheus: { bearerTokenSecretName: "t" } })).toThrow(
      /gpuBilling\.prometheus\.bearerTokenSecretName: the billing config's prometheus\.auth is not bearer/,
    );
  });
});
