import { readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { DEFAULT_QUOTA_SETTINGS } from "../../functions/quota/quota-config.js";

/**
 * Builds the Grafana dashboard JSON from queries/dashboard-*.promql, so the
 * PromQL lives once (in queries/, tested against a real Prometheus) and the
 * dashboard is generated, never hand-edited:
 *   npx tsx infra/grafana/build-dashboard.ts   → infra/grafana/gpu-billing-dashboard.json
 * Quota % comes from the CloudWatch metric the quota function publishes (it is
 * not a Prometheus series).
 */
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
export const DASHBOARD_FILE = path.join(root, "infra/grafana/gpu-billing-dashboard.json");

interface PromPanel {
  title: string;
  query: string;
  unit: string;
  legend: string;
  type: "timeseries" | "stat";
  stack?: boolean;
}

export const PROM_PANELS: PromPanel[] = [
  { title: "GPU utilization (mean)", query: "dashboard-gpu-utilization", unit: "percentunit", legend: "utilization", type: "timeseries" },
  {
    title: "Allocated GPUs by namespace",
    query: "dashboard-allocated-gpus-by-namespace",
    unit: "short",
    legend: "{{namespace}}",
    type: "timeseries",
    stack: true,
  },
  {
    title: "Used GPUs by namespace",
    query: "dashboard-used-gpus-by-namespace",
    unit: "short",
    legend: "{{namespace}}",
    type: "timeseries",
    stack: true,
  },
  {
    title: "GPUs: Spot vs On-Demand",
    query: "dashboard-gpus-by-capacity-type",
    unit: "short",
    legend: "{{capacity_type}}",
    type: "timeseries",
    stack: true,
  },
  { title: "Idle GPUs by node", query: "dashboard-idle-gpus", unit: "short", legend: "{{node}}", type: "timeseries", stack: true },
];

/** The query text Grafana gets: the file without its comment lines. */
export function promqlOf(name: string): string {
  return readFileSync(path.join(root, "queries", `${name}.promql`), "utf8")
    .split("\n")
    .filter((l) => !l.trimStart().startsWith("#"))
    .join("\n")
    .trim();
}

/** `quotaNamespace`: the billing config's quota.cloudwatchNamespace (default GpuBilling/Quota), where the quota function publishes. */
export function buildDashboard(quotaNamespace = DEFAULT_QUOTA_SETTINGS.cloudwatchNamespace) {
  const panels: object[] = PROM_PANELS.map((p, i) => ({
    id: i + 1,
    type: p.type,
    title: p.title,
    datasource: { type: "prometheus", uid: "${prometheus}" },
    gridPos: { h: 8, w: 12, x: (i % 2) * 12, y: Math.floor(i / 2) * 8 },
    fieldConfig: { defaults: { unit: p.unit, custom: p.stack ? { stacking: { mode: "normal" }, fillOpacity: 30 } : {} }, overrides: [] },
    targets: [{ refId: "A", expr: promqlOf(p.query), legendFormat: p.legend, datasource: { type: "prometheus", uid: "${prometheus}" } }],
    description: `queries/${p.query}.promql`,
  }));
  panels.push({
    id: PROM_PANELS.length + 1,
    type: "bargauge",
    title: "Quota used this month by tenant (%)",
    datasource: { type: "cloudwatch", uid: "${cloudwatch}" },
    gridPos: { h: 8, w: 12, x: (PROM_PANELS.length % 2) * 12, y: Math.floor(PROM_PANELS.length / 2) * 8 },
    fieldConfig: {
      defaults: {
        unit: "percentunit",
        min: 0,
        max: 1.2,
        thresholds: {
          mode: "absolute",
          steps: [
            { color: "green", value: null },
            { color: "orange", value: 0.8 },
            { color: "red", value: 1 },
          ],
        },
      },
      overrides: [],
    },
    targets: [
      {
        refId: "A",
        datasource: { type: "cloudwatch", uid: "${cloudwatch}" },
        namespace: quotaNamespace,
        metricName: "GpuQuotaUsedRatio",
        dimensions: { Tenant: "*" },
        statistic: "Maximum",
        period: "3600",
        matchExact: true,
        region: "default",
        queryMode: "Metrics",
        label: "${PROP('Dim.Tenant')}",
      },
    ],
    description: `CloudWatch ${quotaNamespace}/GpuQuotaUsedRatio, published hourly by the quota function`,
  });
  return {
    title: "GPU billing",
    uid: "gpu-billing",
    tags: ["gpu", "billing", "eks"],
    timezone: "Asia/Seoul",
    schemaVersion: 39,
    time: { from: "now-7d", to: "now" },
    refresh: "5m",
    templating: {
      list: [
        { name: "prometheus", type: "datasource", query: "prometheus", label: "Prometheus" },
        { name: "cloudwatch", type: "datasource", query: "cloudwatch", label: "CloudWatch" },
      ],
    },
    panels,
  };
}

export function renderDashboard(): string {
  return JSON.stringify(buildDashboard(), null, 2) + "\n";
}

if (process.argv[1] && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) {
  writeFileSync(DASHBOARD_FILE, renderDashboard());
  console.log(`wrote ${path.relative(root, DASHBOARD_FILE)}`);
}
