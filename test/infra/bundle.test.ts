import { existsSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { App } from "aws-cdk-lib";
import { buildApp, cdkJsonContext } from "../../infra/bin/app.js";

/**
 * `cdk synth` offline with bundling ON: local esbuild (no Docker), nothing
 * fetched. One synth of the whole app, then the bundles themselves are
 * loaded and called, so an ESM/CommonJS bundling mistake fails here, not in
 * Lambda. (~30 s on a shared 2-core machine.)
 */
describe("CDK app: synth with local esbuild bundling", () => {
  const outdir = mkdtempSync(path.join(tmpdir(), "cdk-out-"));
  afterAll(() => rmSync(outdir, { recursive: true, force: true }));

  const synth = () => {
    const app = new App({ outdir, context: cdkJsonContext() });
    const { stack } = buildApp(app);
    const assembly = app.synth();
    const template = assembly.getStackArtifact(stack.artifactId).template as { Resources: Record<string, { Type: string; Properties: any }> };
    // the function's code key is `<asset hash>.zip`; its staged directory is `asset.<hash>`
    const assetOf = (id: string) => {
      const [, fn] = Object.entries(template.Resources).find(([logicalId, r]) => r.Type === "AWS::Lambda::Function" && logicalId.startsWith(`${id}Fn`))!;
      return path.join(outdir, `asset.${String(fn.Properties.Code.S3Key).replace(/\.zip$/, "")}`);
    };
    return { assetOf };
  };

  it("given the app, when synthesized with bundling, then every function has an ESM bundle with its run-time files, and the bundles load and validate their events", async () => {
    const { assetOf } = synth();
    const meter = assetOf("Meter");
    expect(readdirSync(meter).sort()).toEqual(["config", "index.mjs", "index.mjs.map", "queries"]);
    expect(readdirSync(path.join(meter, "queries")).filter((f) => f.endsWith(".promql")).length).toBeGreaterThanOrEqual(8);
    expect(existsSync(path.join(meter, "config", "billing.yaml"))).toBe(true);
    expect(readdirSync(assetOf("ManifestCheck")).sort()).toEqual(["config", "index.mjs", "index.mjs.map"]);

    const rerun = (await import(pathToFileURL(path.join(assetOf("Rerun"), "index.mjs")).href)) as { handler: (e: unknown) => Promise<unknown> };
    await expect(rerun.handler({ month: "../../etc", reason: "x" })).rejects.toThrow(/invalid re-run request: month: must be YYYY-MM/);
    const meterFn = (await import(pathToFileURL(path.join(meter, "index.mjs")).href)) as { handler: (e: unknown) => Promise<unknown> };
    await expect(meterFn.handler({ month: "2026-13" })).rejects.toThrow(/month: must be YYYY-MM/);
  });
});
