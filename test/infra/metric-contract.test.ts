// The stack's alarms and dashboard against the metrics the quota and controller adapters
// really publish. CloudWatch does not run locally, so PutMetricData is captured with
// aws-sdk-client-mock; the quota datums come from the adapter's own builder.
import { afterEach, describe, expect, it } from "vitest";
import { mockClient } from "aws-sdk-client-mock";
import { CloudWatchClient, PutMetricDataCommand, type MetricDatum } from "@aws-sdk/client-cloudwatch";
import { App } from "aws-cdk-lib";
import { Template } from "aws-cdk-lib/assertions";
import { cdkJsonContext } from "../../infra/bin/app.js";
import {
  CONTROLLER_DIMENSIONS,
  CONTROLLER_HALTED_METRIC,
  GPU_HOURS_SAVED_METRIC,
  GpuBillingStack,
  NODES_ADDED_METRIC,
  NODES_RECLAIMED_METRIC,
  QUOTA_HOURS_METRIC,
  QUOTA_RATIO_METRIC,
  QUOTA_TENANT_DIMENSION,
} from "../../infra/lib/gpu-billing-stack.js";
import { parseSettings } from "../../infra/lib/settings.js";
import {
  CONTROLLER_METRIC_DIMENSIONS,
  CONTROLLER_METRIC_NAMES,
  CONTROLLER_NAMESPACE,
  publishRunMetrics,
} from "../../functions/adapters/cloudwatch-metrics.js";
import { quotaMetricDatums } from "../../functions/adapters/cloudwatch-metrics.js";
import { quotaSettings } from "../../functions/quota/evaluate-quota.js";
import { referenceConfig } from "../core/fixtures.js";
import { buildDashboard } from "../../infra/grafana/build-dashboard.js";

const repoRoot = new URL("../..", import.meta.url).pathname;
const cw = mockClient(CloudWatchClient);
afterEach(() => cw.reset());

function synth(raw: unknown) {
  const app = new App({ context: { ...cdkJsonContext(), "aws:cdk:bundling-stacks": [] } });
  const stack = new GpuBillingStack(app, "GpuBilling", {
    settings: parseSettings(raw),
    repoRoot,
    env: { account: "111122223333", region: "ap-northeast-2" },
  });
  return { stack, template: Template.fromStack(stack) };
}

type Alarm = { Properties: { Namespace: string; MetricName: string; Dimensions?: { Name: string }[] } };
const alarms = (t: Template) => Object.values(t.findResources("AWS::CloudWatch::Alarm")) as Alarm[];
/** Every metric expression of the dashboard (its body is a Fn::Join; the tokens are ARNs and names, not expressions). */
function dashboardExpressions(t: Template): string {
  const join = (
    Object.values(t.findResources("AWS::CloudWatch::Dashboard"))[0] as {
      Properties: { DashboardBody: { "Fn::Join": [string, unknown[]] } };
    }
  ).Properties.DashboardBody["Fn::Join"][1];
  const body = JSON.parse(join.map((p) => (typeof p === "string" ? p : "token")).join("")) as {
    widgets: { properties: { metrics?: unknown[][] } }[];
  };
  return body.widgets
    .flatMap((w) => (w.properties.metrics ?? []).flat().map((m) => (m as { expression?: string }).expression ?? ""))
    .join("\n");
}
/** The SEARCH key a dashboard needs to find these datums: namespace and the exact dimension names. */
const searchKey = (namespace: string, d: MetricDatum) =>
  `SEARCH('{"${namespace}",${(d.Dimensions ?? [])
    .map((x) => x.Name)
    .sort()
    .join(",")}} MetricName="${d.MetricName}"'`;

async function controllerDatums(namespace?: string): Promise<{ namespace: string; datums: MetricDatum[] }> {
  cw.on(PutMetricDataCommand).resolves({});
  await publishRunMetrics(
    new CloudWatchClient({ region: "ap-northeast-2" }),
    new Date(Date.UTC(2026, 10, 2)),
    [{ nodeGroup: "g5-spot-a", dryRun: true, nodesReclaimed: 1, nodesAdded: 0, gpuHoursSaved: 0.5 }],
    true,
    namespace,
  );
  const input = cw.commandCalls(PutMetricDataCommand)[0]!.args[0].input;
  return { namespace: input.Namespace!, datums: input.MetricData! };
}

describe("CDK app: alarms and dashboard read the metrics the functions publish", () => {
  it("given the controller adapter's constants, then the stack's controller metric names and dimensions are the same", () => {
    expect([CONTROLLER_HALTED_METRIC, NODES_RECLAIMED_METRIC, NODES_ADDED_METRIC, GPU_HOURS_SAVED_METRIC]).toEqual([
      CONTROLLER_METRIC_NAMES.halted,
      CONTROLLER_METRIC_NAMES.nodesReclaimed,
      CONTROLLER_METRIC_NAMES.nodesAdded,
      CONTROLLER_METRIC_NAMES.gpuHoursSaved,
    ]);
    expect([...CONTROLLER_DIMENSIONS].sort()).toEqual(Object.values(CONTROLLER_METRIC_DIMENSIONS).sort());
    expect(parseSettings({}).controller.metricsNamespace).toBe(CONTROLLER_NAMESPACE);
  });

  it("given what the controller really sends, when the stack is synthesized with the same namespace, then the Halted alarm and every dashboard search find those metrics", async () => {
    const { namespace, datums } = await controllerDatums("Acme/GpuController");
    const { template } = synth({ eksClusterName: "gpu", controller: { metricsNamespace: "Acme/GpuController" } });
    const halted = datums.find((d) => d.MetricName === CONTROLLER_HALTED_METRIC)!;
    expect(
      alarms(template)
        .filter((a) => a.Properties.Namespace === namespace)
        .map((a) => [a.Properties.MetricName, a.Properties.Dimensions ?? []]),
    ).toEqual([[halted.MetricName, halted.Dimensions ?? []]]);
    const body = dashboardExpressions(template);
    for (const d of datums.filter((d) => d.Dimensions?.length)) expect(body).toContain(searchKey(namespace, d));
    // the namespace the function is told to publish under is the one the alarm reads
    const fn = Object.values(template.findResources("AWS::Lambda::Function")).find(
      (f) =>
        (f as { Properties: { Environment: { Variables: Record<string, unknown> } } }).Properties.Environment.Variables
          .CONTROLLER_METRICS_NAMESPACE,
    );
    expect(
      (fn as { Properties: { Environment: { Variables: Record<string, unknown> } } }).Properties.Environment.Variables
        .CONTROLLER_METRICS_NAMESPACE,
    ).toBe(namespace);
  });

  it("given what the quota adapter builds for a tenant with a quota, then each tenant's alarm and the dashboard read that name, Tenant dimension and the config's namespace (default GpuBilling/Quota)", () => {
    const cfg = referenceConfig();
    const namespace = quotaSettings(cfg).cloudwatchNamespace;
    expect(namespace).toBe("GpuBilling/Quota");
    const datums = quotaMetricDatums([{ tenantId: "suwon", usedGpuHours: 12, quotaUsedRatio: 0.5 }], new Date(Date.UTC(2026, 10, 2)));
    expect(datums.map((d) => d.MetricName).sort()).toEqual([QUOTA_HOURS_METRIC, QUOTA_RATIO_METRIC].sort());
    for (const d of datums) expect(d.Dimensions!.map((x) => x.Name)).toEqual([QUOTA_TENANT_DIMENSION]);

    const { template } = synth({});
    const ratio = datums.find((d) => d.MetricName === QUOTA_RATIO_METRIC)!;
    const quotaAlarms = alarms(template).filter((a) => a.Properties.MetricName === ratio.MetricName);
    expect(quotaAlarms.length).toBe(cfg.tenants.filter((t) => t.monthlyQuotaGpuHours !== undefined).length);
    for (const a of quotaAlarms) {
      expect(a.Properties.Namespace).toBe(namespace);
      expect(a.Properties.Dimensions!.map((d) => d.Name)).toEqual(ratio.Dimensions!.map((d) => d.Name));
    }
    const body = dashboardExpressions(template);
    for (const d of datums) expect(body).toContain(searchKey(namespace, d));
  });

  it("given the Grafana dashboard's CloudWatch panel, then it reads the quota ratio where the quota function publishes it, by Tenant", () => {
    const [ratio] = quotaMetricDatums([{ tenantId: "suwon", usedGpuHours: 1, quotaUsedRatio: 0.1 }], new Date(0)).filter(
      (d) => d.MetricName === QUOTA_RATIO_METRIC,
    );
    const targets = (
      buildDashboard().panels as { targets: { namespace?: string; metricName?: string; dimensions?: Record<string, string> }[] }[]
    )
      .flatMap((p) => p.targets)
      .filter((t) => t.namespace);
    expect(targets.map((t) => ({ namespace: t.namespace, metricName: t.metricName, dimensions: Object.keys(t.dimensions ?? {}) }))).toEqual(
      [
        {
          namespace: quotaSettings(referenceConfig()).cloudwatchNamespace,
          metricName: ratio!.MetricName,
          dimensions: ratio!.Dimensions!.map((d) => d.Name),
        },
      ],
    );
  });
});
