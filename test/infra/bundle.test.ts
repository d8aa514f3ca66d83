import { existsSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { execFile, execFileSync } from "node:child_process";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { App } from "aws-cdk-lib";
import { GetObjectCommand, ListObjectsV2Command } from "@aws-sdk/client-s3";
import { buildApp, cdkJsonContext } from "../../infra/bin/app.js";
import { QUOTA_HOURS_METRIC, QUOTA_RATIO_METRIC, QUOTA_TENANT_DIMENSION } from "../../infra/lib/gpu-billing-stack.js";
import { createHash } from "node:crypto";
import type { Dataset } from "../../functions/core/dataset.js";
import type { DatasetSink } from "../../functions/metering/metering-ports.js";
import { createPrometheusClient } from "../../functions/adapters/prometheus-client.js";
import { loadQueries } from "../../functions/adapters/query-files.js";

import { EXPORTERS } from "../../functions/export/dataset-exports.js";
import { generateMonth } from "../../functions/demo/month-generator.js";
import { backfillMonth, startPrometheus, type RunningPrometheus } from "../../functions/demo/local-prometheus.js";
import { startS3 } from "../support/s3.js";
import { startSesLocal } from "../support/ses-local.js";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { referenceConfig } from "../core/fixtures.js";
import { meterMonthFromPrometheus } from "../../functions/wiring/prometheus-metering.js";

type Handler = { handler: (e: unknown) => Promise<unknown> };

/**
 * Loads a bundle in a plain Node process, as Lambda does (vitest's module loader would
 * transform and source-map megabytes of minified code first), and calls its handler.
 */
function invokeBundle(dir: string, event: unknown): { ok?: unknown; error?: string } {
  const url = pathToFileURL(path.join(dir, "index.mjs")).href;
  const script = `const m = await import(${JSON.stringify(url)}); try { console.log(JSON.stringify({ ok: await m.handler(${JSON.stringify(event)}) })) } catch (e) { console.log(JSON.stringify({ error: e.message })) }`;
  const out = execFileSync(process.execPath, ["--input-type=module", "-e", script], { encoding: "utf8", env: { PATH: process.env.PATH } });
  return JSON.parse(out.trim().split("\n").pop()!);
}

async function listKeys(
  s3: { client: { send: (c: ListObjectsV2Command) => Promise<{ Contents?: { Key?: string }[] }> } },
  prefix: string,
): Promise<string[]> {
  const r = await s3.client.send(new ListObjectsV2Command({ Bucket: "data", Prefix: prefix }));
  return (r.Contents ?? []).map((o) => o.Key!);
}

/** Same, without blocking this process (the local servers the bundle talks to run in it), with an environment. */
async function invokeBundleAsync(dir: string, event: unknown, env: Record<string, string>): Promise<{ ok?: unknown; error?: string }> {
  const url = pathToFileURL(path.join(dir, "index.mjs")).href;
  const script = `const m = await import(${JSON.stringify(url)}); try { console.log(JSON.stringify({ ok: await m.handler(${JSON.stringify(event)}) })) } catch (e) { console.log(JSON.stringify({ error: e.message })) }`;
  const { stdout } = await promisify(execFile)(process.execPath, ["--input-type=module", "-e", script], {
    encoding: "utf8",
    env: { PATH: process.env.PATH, ...env },
    maxBuffer: 64 * 1024 * 1024,
  });
  return JSON.parse(stdout.trim().split("\n").pop()!);
}

/**
 * `cdk synth` offline with bundling ON: local esbuild (no Docker), nothing
 * fetched. One synth of the whole app, then the bundles themselves are
 * loaded and run — the rerun bundle meters two generated days from a real
 * Prometheus into a local S3 server with only the files its asset carries —
 * so a bundling or asset-copy mistake fails here, not in Lambda.
 */
describe("CDK app: synth with local esbuild bundling", () => {
  const outdir = mkdtempSync(path.join(tmpdir(), "cdk-out-"));
  let assetOf: (id: string) => string;
  let envOf: (id: string) => Record<string, unknown>;
  let functionIds: string[];
  beforeAll(() => {
    // cdk.json plus a cluster, so the controller is bundled too
    const context = cdkJsonContext() as { gpuBilling: Record<string, unknown> };
    const app = new App({ outdir, context: { ...context, gpuBilling: { ...context.gpuBilling, eksClusterName: "gpu" } } });
    const { stack } = buildApp(app);
    const template = app.synth().getStackArtifact(stack.artifactId).template as {
      Resources: Record<string, { Type: string; Properties: any }>;
    };
    // the function's code key is `<asset hash>.zip`; its staged directory is `asset.<hash>`
    assetOf = (id: string) => {
      const [, fn] = Object.entries(template.Resources).find(
        ([logicalId, r]) => r.Type === "AWS::Lambda::Function" && logicalId.startsWith(`${id}Fn`),
      )!;
      return path.join(outdir, `asset.${String(fn.Properties.Code.S3Key).replace(/\.zip$/, "")}`);
    };
    envOf = (id: string) =>
      Object.entries(template.Resources).find(([logicalId, r]) => r.Type === "AWS::Lambda::Function" && logicalId.startsWith(`${id}Fn`))![1]
        .Properties.Environment.Variables;
    functionIds = [...stack.functions.keys()];
  });
  afterAll(() => rmSync(outdir, { recursive: true, force: true }));

  it("given the app, when synthesized with bundling, then every function has an ESM bundle with its run-time files, and the bundles load and validate their events", async () => {
    const meter = assetOf("Meter");
    expect(readdirSync(meter).sort()).toEqual(["config", "index.mjs", "index.mjs.map", "queries"]);
    expect(readdirSync(path.join(meter, "queries")).filter((f) => f.endsWith(".promql")).length).toBeGreaterThanOrEqual(8);
    expect(existsSync(path.join(meter, "config", "billing.yaml"))).toBe(true);
    expect(readdirSync(assetOf("ManifestCheck")).sort()).toEqual(["index.mjs", "index.mjs.map"]);
    // Monthly meters (queries, config) and renders: templates, the two Pretendard weights, pdfkit's data and standard fonts.
    const monthly = assetOf("Monthly");
    expect(readdirSync(monthly).sort()).toEqual([
      "config",
      "data",
      "fonts",
      "index.mjs",
      "index.mjs.map",
      "package.json",
      "queries",
      "standard-fonts",
      "templates",
    ]);
    expect(readdirSync(path.join(monthly, "fonts")).sort()).toEqual(["Pretendard-Bold.ttf", "Pretendard-Regular.ttf"]);
    expect(existsSync(path.join(monthly, "data", "Helvetica.afm"))).toBe(true);
    expect(existsSync(path.join(monthly, "templates", "ko", "tenant.html"))).toBe(true);
    expect(existsSync(path.join(assetOf("Quota"), "templates", "ko", "quota-alert.txt"))).toBe(true);
    // Every path a function's environment names (/var/task/...) is in its bundle.
    expect(functionIds).toEqual(["Meter", "Monthly", "Quota", "Controller", "Rerun", "ManifestCheck"]);
    expect(readdirSync(assetOf("Controller")).sort()).toEqual(["config", "index.mjs", "index.mjs.map", "queries"]);
    expect(readdirSync(path.join(assetOf("Controller"), "config"))).toEqual(["controller-policy.yaml"]);
    for (const id of functionIds)
      for (const [k, v] of Object.entries(envOf(id)))
        if (typeof v === "string" && v.startsWith("/var/task/"))
          expect({ id, k, present: existsSync(path.join(assetOf(id), v.slice("/var/task/".length))) }).toEqual({ id, k, present: true });

    expect(invokeBundle(assetOf("Rerun"), { month: "../../etc", reason: "x" }).error).toMatch(
      /invalid re-run request: month: must be YYYY-MM/,
    );
    for (const id of ["Meter", "Monthly", "Quota", "ManifestCheck"])
      expect({ id, ...invokeBundle(assetOf(id), { month: "2026-13" }) }).toEqual({
        id,
        error: expect.stringMatching(/month: must be YYYY-MM/),
      });
    expect(invokeBundle(assetOf("Controller"), { source: 42 }).error).toMatch(/invalid event: source/);
  });

  describe("the rerun, monthly and quota bundles against a real Prometheus, local S3 and SES servers and a CloudWatch stub", () => {
    let prom: RunningPrometheus;
    let s3: Awaited<ReturnType<typeof startS3>>;
    let ses: Awaited<ReturnType<typeof startSesLocal>>;
    let cloudWatch: Server;
    const cloudWatchCalls: {
      target: string;
      body: { Namespace?: string; MetricData?: { MetricName: string; Dimensions?: { Name: string }[] }[] };
    }[] = [];
    let work: string;
    const saved = { ...process.env };
    const gen = generateMonth({ month: "2026-10", scale: "demo", days: 2 });
    beforeAll(async () => {
      work = await mkdtemp(path.join(tmpdir(), "bundle-e2e-"));
      await backfillMonth(gen, path.join(work, "blocks"));
      [prom, s3, ses] = await Promise.all([
        startPrometheus({ dataDir: path.join(work, "blocks") }),
        startS3("data", { preconditions: true }),
        startSesLocal(),
      ]);
      // CloudWatch does not run locally: a small HTTP server answers PutMetricData (AWS JSON 1.0) and keeps each request.
      cloudWatch = createServer((req, res) => {
        let body = "";
        req.on("data", (c) => (body += c));
        req.on("end", () => {
          cloudWatchCalls.push({ target: String(req.headers["x-amz-target"]), body: JSON.parse(body || "{}") });
          res.writeHead(200, { "content-type": "application/x-amz-json-1.0" }).end("{}");
        });
      });
      await new Promise<void>((resolve) => cloudWatch.listen(0, "127.0.0.1", resolve));
      const asset = assetOf("Rerun");
      // What Lambda would set (paths inside the asset instead of /var/task), and an S3 endpoint
      // override the SDK reads from the environment (an IP endpoint means path-style requests).
      Object.assign(process.env, {
        DATA_BUCKET: "data",
        DATA_PREFIX: "chargeback",
        EXPORTS: "parquet,focus",
        BILLING_CONFIG_FILE: path.join(asset, "config", "billing.yaml"),
        QUERIES_DIR: path.join(asset, "queries"),
        PROMETHEUS_URL: prom.url,
        AWS_ENDPOINT_URL_S3: s3.endpoint,
        AWS_REGION: "us-east-1",
        AWS_ACCESS_KEY_ID: "S3RVER",
        AWS_SECRET_ACCESS_KEY: "S3RVER",
      });
    });
    afterAll(async () => {
      process.env = saved;
      await Promise.all([
        prom?.stop(),
        s3?.stop(),
        ses?.stop(),
        new Promise((resolve) => (cloudWatch ? cloudWatch.close(resolve) : resolve(undefined))),
      ]);
      if (work) await rm(work, { recursive: true, force: true });
    });

    it("given a re-run of October, when the bundled handler runs, then S3 holds the same dataset the source code computes and the record is beside it", async () => {
      const rerun = (await import(pathToFileURL(path.join(assetOf("Rerun"), "index.mjs")).href + "?e2e")) as Handler;
      const record = (await rerun.handler({ month: "2026-10", reason: "bundle end-to-end", requestedBy: "test" })) as {
        recordLocation: string;
        manifestSha256: string;
        totalsAfter: Record<string, string>;
      };
      // the same month metered by the unbundled source, written nowhere
      let fromSource: Dataset | undefined;
      const sink: DatasetSink = { location: "mem", write: async (_m, d) => ((fromSource = d), "mem"), readManifest: async () => undefined };
      await meterMonthFromPrometheus(
        {
          prometheus: createPrometheusClient({ url: prom.url }),
          sink,
          queries: loadQueries(),
          exporters: [EXPORTERS.parquet, EXPORTERS.focus],
        },
        referenceConfig(),
        "2026-10",
        new Date(),
      );
      expect(record.manifestSha256).toBe(createHash("sha256").update(fromSource!.manifest.body).digest("hex"));
      expect(Number(record.totalsAfter.allocatedGpuHours)).toBeGreaterThan(0);
      expect(record.recordLocation).toMatch(/^s3:\/\/data\/chargeback\/reruns\/month=2026-10\/.+\.json$/);
      const m = await s3.client.send(new GetObjectCommand({ Bucket: "data", Key: "chargeback/month=2026-10/manifest.json" }));
      const manifest = JSON.parse(await m.Body!.transformToString());
      expect(Object.keys(manifest.files)).toEqual(
        expect.arrayContaining(["chargeback.csv", "focus.csv", "parquet/chargeback/data.parquet"]),
      );
      expect(manifest.totals.allocatedGpuHours).toBe(record.totalsAfter.allocatedGpuHours);
    });

    it("given a month with no dataset, when the bundled Monthly handler runs in a plain node process with only its bundle's files, then it meters the month and mails every report through a real local SES, PDFs rendered with the bundled fonts", async () => {
      const asset = assetOf("Monthly");
      // What Lambda would set from the synthesized environment, with the bundle's paths for /var/task.
      const env = Object.fromEntries(
        Object.entries(envOf("Monthly")).map(([k, v]) => [k, typeof v === "string" ? v.replace(/^\/var\/task/, asset) : "data"]),
      );
      const r = await invokeBundleAsync(
        asset,
        { month: "2026-10" },
        {
          ...env,
          DATA_BUCKET: "data",
          DATA_PREFIX: "monthly-e2e",
          PROMETHEUS_URL: prom.url,
          AWS_ENDPOINT_URL_S3: s3.endpoint,
          AWS_ENDPOINT_URL_SESV2: ses.url,
          AWS_REGION: "us-east-1",
          AWS_ACCESS_KEY_ID: "S3RVER",
          AWS_SECRET_ACCESS_KEY: "S3RVER",
        },
      );
      expect(r.error).toBeUndefined();
      const cfg = referenceConfig();
      const recipients = [
        ...cfg.tenants.flatMap((t) => t.recipients ?? []),
        ...(cfg.reports?.financeRecipients ?? []),
        ...(cfg.reports?.executiveRecipients ?? []),
      ];
      expect(r.ok).toMatchObject({ month: "2026-10", sent: recipients.length, failed: 0 });
      const mails = await ses.emails();
      expect(mails.flatMap((m) => m.destination.to).sort()).toEqual([...recipients].sort());
      for (const m of mails) expect(m.attachments.some((a) => a.contentType === "application/pdf" && a.size > 10_000)).toBe(true);
      // metered first: the month's dataset (manifest last) is under the function's prefix
      await s3.client.send(new GetObjectCommand({ Bucket: "data", Key: "monthly-e2e/month=2026-10/manifest.json" }));
    });

    it("given October, when the bundled Quota handler runs (report-only) in a plain node process, then it writes its state under its prefix and publishes the metrics the alarms read", async () => {
      const asset = assetOf("Quota");
      const env = Object.fromEntries(
        Object.entries(envOf("Quota")).map(([k, v]) => [k, typeof v === "string" ? v.replace(/^\/var\/task/, asset) : "data"]),
      );
      const cw = `http://127.0.0.1:${(cloudWatch.address() as AddressInfo).port}`;
      const r = await invokeBundleAsync(
        asset,
        { month: "2026-10" },
        {
          ...env,
          DATA_BUCKET: "data",
          PROMETHEUS_URL: prom.url,
          AWS_ENDPOINT_URL_S3: s3.endpoint,
          AWS_ENDPOINT_URL_SESV2: ses.url,
          AWS_ENDPOINT_URL_CLOUDWATCH: cw,
          AWS_REGION: "us-east-1",
          AWS_ACCESS_KEY_ID: "S3RVER",
          AWS_SECRET_ACCESS_KEY: "S3RVER",
        },
      );
      expect(r.error).toBeUndefined();
      expect(r.ok).toMatchObject({ month: "2026-10", enforce: false });
      const puts = cloudWatchCalls.filter((c) => c.target.endsWith(".PutMetricData"));
      expect(puts.length).toBeGreaterThan(0);
      const sent = puts.flatMap((p) =>
        p.body.MetricData!.map((d) => ({ namespace: p.body.Namespace, name: d.MetricName, dims: (d.Dimensions ?? []).map((x) => x.Name) })),
      );
      expect(new Set(sent.map((x) => JSON.stringify(x)))).toEqual(
        new Set([
          JSON.stringify({ namespace: "GpuBilling/Quota", name: QUOTA_HOURS_METRIC, dims: [QUOTA_TENANT_DIMENSION] }),
          JSON.stringify({ namespace: "GpuBilling/Quota", name: QUOTA_RATIO_METRIC, dims: [QUOTA_TENANT_DIMENSION] }),
        ]),
      );
      const keys = await listKeys(s3, `${env.QUOTA_STATE_PREFIX}/`);
      expect(keys.length).toBeGreaterThan(0);
    });
  });
});
