import { readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { App, Validations } from "aws-cdk-lib";
import { AwsSolutionsChecks } from "cdk-nag";
import { GpuBillingStack } from "../lib/gpu-billing-stack.js";
import { parseSettings } from "../lib/settings.js";

/** The context of cdk.json (feature flags and defaults), for synthesizing outside the CDK CLI (tests, scripts). */
export function cdkJsonContext(): Record<string, unknown> {
  const file = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../cdk.json");
  return (JSON.parse(readFileSync(file, "utf8")) as { context: Record<string, unknown> }).context;
}

/** `npx cdk synth` / `npx cdk deploy` entry (cdk.json at the repository root). Settings come from the `gpuBilling` context. */
export function buildApp(app = new App()): { app: App; stack: GpuBillingStack } {
  const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
  const settings = parseSettings(app.node.tryGetContext("gpuBilling"));
  const stack = new GpuBillingStack(app, app.node.tryGetContext("stackName") ?? "GpuBilling", {
    settings,
    repoRoot,
    env: { account: process.env.CDK_DEFAULT_ACCOUNT, region: process.env.CDK_DEFAULT_REGION },
    description: "GPU metering and monthly chargeback (gpu-billing)",
  });
  // cdk-nag 3 is a policy-validation plugin: `cdk synth` fails on any unacknowledged finding.
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app, { verbose: true }));
  return { app, stack };
}

if (process.argv[1] && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) {
  // Under the CDK CLI, CDK_OUTDIR and CDK_CONTEXT_JSON carry cdk.json; run directly
  // (`npx tsx infra/bin/app.ts`), it reads cdk.json itself and writes infra/cdk.out.
  const direct = !process.env.CDK_OUTDIR;
  const infraDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
  const app = direct ? new App({ outdir: path.join(infraDir, "cdk.out"), context: cdkJsonContext() }) : new App();
  buildApp(app).app.synth();
  if (direct) console.error(`synthesized ${path.join(infraDir, "cdk.out")}`);
}
