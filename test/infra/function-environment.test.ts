import { describe, expect, it } from "vitest";
import { App } from "aws-cdk-lib";
import { Template } from "aws-cdk-lib/assertions";
import type { z } from "zod";
import { cdkJsonContext } from "../../infra/bin/app.js";
import { GpuBillingStack } from "../../infra/lib/gpu-billing-stack.js";
import { FUNCTIONS } from "../../infra/lib/function-catalog.js";
import { parseSettings } from "../../infra/lib/settings.js";
import { MeterEnvSchema } from "../../functions/handlers/meter-handler.js";
import { MonthlyEnvSchema } from "../../functions/handlers/monthly-handler.js";
import { QuotaEnvSchema } from "../../functions/handlers/quota-handler.js";
import { ControllerEnvSchema } from "../../functions/handlers/controller-handler.js";
import { RerunEnvSchema } from "../../functions/handlers/rerun-handler.js";
import { ManifestCheckEnvSchema } from "../../functions/handlers/manifest-check-handler.js";

const repoRoot = new URL("../..", import.meta.url).pathname;

/** Each catalog entry's handler schema: the one its handler parses process.env with. */
const SCHEMAS: Record<string, z.ZodObject> = {
  Meter: MeterEnvSchema,
  Monthly: MonthlyEnvSchema,
  Quota: QuotaEnvSchema,
  Controller: ControllerEnvSchema,
  Rerun: RerunEnvSchema,
  ManifestCheck: ManifestCheckEnvSchema,
};

/** Set by Lambda itself (reserved: a template may not set them); the handlers read some of them. */
const LAMBDA_RUNTIME = { AWS_REGION: "ap-northeast-2", AWS_LAMBDA_FUNCTION_NAME: "gpu-billing-fn" };
/** Read by the runtime rather than by a handler schema: Node (source maps) and the Powertools logger. */
const RUNTIME_KEYS = new Set(["NODE_OPTIONS", "POWERTOOLS_SERVICE_NAME"]);

/** A CloudFormation value (Ref, Fn::GetAtt, Fn::Join, dynamic reference) as the plain string Lambda would see. */
function resolveToken(v: unknown, key: string): string {
  return typeof v === "string" ? v : `resolved-${key.toLowerCase()}-${JSON.stringify(v).length}`;
}

/**
 * What is wrong with a function's environment against its handler's schema: keys it
 * does not read (a renamed or stale variable), and whatever its parse rejects (a
 * required variable missing, a bad value). `extraKeys`: variables a config names (a token).
 */
function environmentViolations(schema: z.ZodObject, vars: Record<string, string>, extraKeys: string[] = []): string[] {
  const known = new Set([...Object.keys(schema.shape), ...RUNTIME_KEYS, ...extraKeys]);
  const unknown = Object.keys(vars)
    .filter((k) => !known.has(k))
    .map((k) => `unknown variable ${k}`);
  const reserved = Object.keys(vars)
    .filter((k) => k in LAMBDA_RUNTIME)
    .map((k) => `reserved variable ${k} set`);
  const parsed = schema.safeParse({ ...LAMBDA_RUNTIME, ...vars });
  const rejected = parsed.success ? [] : parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`);
  return [...unknown, ...reserved, ...rejected];
}

const synthesized = new Map<string, { ids: string[]; envs: Map<string, Record<string, string>> }>();
/** One synth per distinct settings (without bundling); the environments are read, never changed. */
function synthEnvironments(raw: unknown): { ids: string[]; envs: Map<string, Record<string, string>> } {
  const key = JSON.stringify(raw);
  if (!synthesized.has(key)) synthesized.set(key, synthOnce(raw));
  return synthesized.get(key)!;
}

function synthOnce(raw: unknown): { ids: string[]; envs: Map<string, Record<string, string>> } {
  const app = new App({ context: { ...cdkJsonContext(), "aws:cdk:bundling-stacks": [] } });
  const stack = new GpuBillingStack(app, "GpuBilling", {
    settings: parseSettings(raw),
    repoRoot,
    env: { account: "111122223333", region: "ap-northeast-2" },
  });
  const resources = Template.fromStack(stack).findResources("AWS::Lambda::Function") as Record<
    string,
    { Properties: { Environment?: { Variables?: Record<string, unknown> } } }
  >;
  const envs = new Map<string, Record<string, string>>();
  for (const [id, f] of stack.functions) {
    const vars = resources[stack.getLogicalId(f.fn.node.defaultChild as never)]!.Properties.Environment?.Variables ?? {};
    envs.set(id, Object.fromEntries(Object.entries(vars).map(([k, v]) => [k, resolveToken(v, k)])));
  }
  expect(envs.size).toBe(Object.keys(resources).length);
  return { ids: [...stack.functions.keys()], envs };
}

const FULL = {
  vpc: { vpcId: "vpc-0abc1234567890def", availabilityZones: ["ap-northeast-2a"], privateSubnetIds: ["subnet-0a1b2c3d4e5f60718"] },
  prometheus: { url: "https://prometheus.internal.example.com", ampWorkspaceArn: "arn:aws:aps:ap-northeast-2:111122223333:workspace/ws-1" },
  eksClusterName: "gpu",
  quota: { enforce: true, statePrefix: "quota-state" },
  controller: { statePrefix: "node-controller", metricsNamespace: "Acme/GpuController" },
  ses: { fromAddress: "billing@acme.example.com" },
};

describe("CDK app: each function's environment is exactly what its handler's env schema reads", () => {
  it("given the catalog, then every function has its handler's env schema here (a new function must be added to this contract)", () => {
    expect(FUNCTIONS.map((f) => f.id).sort()).toEqual(Object.keys(SCHEMAS).sort());
  });

  for (const [name, raw] of [
    ["default settings (no cluster, config's Prometheus)", {}],
    ["every setting on (cluster, AMP, own prefixes and namespaces)", FULL],
  ] as const) {
    it(`given ${name}, when synthesized, then each function's variables parse with its schema, with no unknown key and no required key missing`, () => {
      const { ids, envs } = synthEnvironments(raw);
      expect(ids.length).toBeGreaterThanOrEqual(5);
      for (const id of ids) expect({ id, violations: environmentViolations(SCHEMAS[id]!, envs.get(id)!) }).toEqual({ id, violations: [] });
    });
  }

  it("given every setting on, then the values are the settings' (prefixes, namespace, interval, sender, enforcement) and the bundled files' paths", () => {
    const { envs } = synthEnvironments(FULL);
    expect(envs.get("Controller")).toMatchObject({
      CONTROLLER_PREFIX: "node-controller",
      CONTROLLER_METRICS_NAMESPACE: "Acme/GpuController",
      CONTROLLER_POLICY_FILE: "/var/task/config/controller-policy.yaml",
      PROMETHEUS_URL: "https://prometheus.internal.example.com",
      PROMETHEUS_SIGV4_REGION: "ap-northeast-2",
      RUN_INTERVAL_MINUTES: "2",
      EKS_CLUSTER_NAME: "gpu",
    });
    expect(envs.get("Quota")).toMatchObject({
      QUOTA_STATE_PREFIX: "quota-state",
      QUOTA_ENFORCE: "true",
      EKS_CLUSTER_NAME: "gpu",
      TEMPLATES_DIR: "/var/task/templates",
    });
    expect(envs.get("Monthly")).toMatchObject({
      SES_FROM: "billing@acme.example.com",
      FONT_DIR: "/var/task/fonts",
      TEMPLATES_DIR: "/var/task/templates",
      QUERIES_DIR: "/var/task/queries",
      BILLING_CONFIG_FILE: "/var/task/config/billing.yaml",
    });
    expect(envs.get("Rerun")!.MONTHLY_FUNCTION_NAME).toMatch(/^resolved-monthly_function_name-/);
  });

  it("given a bearer-token secret and a config that names its variable, then only the Prometheus functions get the secret's name in <variable>_SECRET_ID, never the token", () => {
    const { envs } = synthEnvironments({
      prometheus: { bearerTokenSecretName: "prom-token" },
      billingConfigFile: "test/infra/fixtures/bearer-billing.yaml",
    });
    for (const id of ["Meter", "Monthly", "Quota", "Rerun"]) {
      expect(envs.get(id)!.PROM_BEARER_SECRET_ID).toBe("prom-token");
      expect(envs.get(id)!.PROM_BEARER).toBeUndefined();
      expect(JSON.stringify(envs.get(id))).not.toContain("resolve:secretsmanager");
      expect(environmentViolations(SCHEMAS[id]!, envs.get(id)!, ["PROM_BEARER_SECRET_ID"])).toEqual([]);
    }
    expect(envs.get("ManifestCheck")!.PROM_BEARER_SECRET_ID).toBeUndefined();
    // Two clusters, two tokens: each variable's secret, and the controller (no bearer support) gets none.
    const two = synthEnvironments({
      billingConfigFile: "test/infra/fixtures/two-cluster-bearer-billing.yaml",
      eksClusterName: "gpu",
      prometheus: {
        url: "https://prometheus-seoul.internal",
        bearerTokenSecrets: { SEOUL_TOKEN: "prom/seoul", BUSAN_TOKEN: "prom/busan" },
      },
    }).envs;
    for (const id of ["Meter", "Monthly", "Quota", "Rerun"]) {
      expect(two.get(id)).toMatchObject({ SEOUL_TOKEN_SECRET_ID: "prom/seoul", BUSAN_TOKEN_SECRET_ID: "prom/busan" });
      expect(environmentViolations(SCHEMAS[id]!, two.get(id)!, ["SEOUL_TOKEN_SECRET_ID", "BUSAN_TOKEN_SECRET_ID"])).toEqual([]);
    }
    expect(environmentViolations(SCHEMAS.Controller!, two.get("Controller")!)).toEqual([]);
  });

  it("given a billing config with two clusters, then the metering functions get no PROMETHEUS_URL (each cluster names its own) and the controller gets the setting's", () => {
    const { envs } = synthEnvironments({ ...FULL, billingConfigFile: "test/infra/fixtures/two-cluster-billing.yaml" });
    for (const id of ["Meter", "Monthly", "Quota", "Rerun"]) {
      expect({ id, url: envs.get(id)!.PROMETHEUS_URL }).toEqual({ id, url: undefined });
      expect(environmentViolations(SCHEMAS[id]!, envs.get(id)!)).toEqual([]);
    }
    expect(envs.get("Controller")!.PROMETHEUS_URL).toBe(FULL.prometheus.url);
  });

  it("given a variable renamed on one side (FONTS_DIR for FONT_DIR) or a required one dropped, then the check names it", () => {
    const { envs } = synthEnvironments(FULL);
    const { FONT_DIR, ...monthly } = { ...envs.get("Monthly")! };
    expect(environmentViolations(MonthlyEnvSchema, { ...monthly, FONTS_DIR: FONT_DIR! })).toEqual(["unknown variable FONTS_DIR"]);
    const { EKS_CLUSTER_NAME: _, ...controller } = envs.get("Controller")!;
    const violations = environmentViolations(ControllerEnvSchema, controller);
    expect(violations).toHaveLength(1);
    expect(violations[0]).toMatch(/^EKS_CLUSTER_NAME: /);
  });
});
