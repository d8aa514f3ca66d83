import { parseArgs } from "node:util";
import os from "node:os";
import { InvokeCommand, LambdaClient } from "@aws-sdk/client-lambda";
import { describeIssues } from "../core/config.js";
import { localSink, s3Sink } from "../adapters/dataset-sink.js";
import type { DatasetSink } from "../metering/metering-ports.js";
import { localRerunStore, s3RerunStore } from "../adapters/rerun-records.js";
import { loadQueries } from "../adapters/query-files.js";
import type { PrometheusClient } from "../adapters/prometheus-client.js";
import { EXPORTERS, parseExportNames } from "../export/dataset-exports.js";
import { prometheusForClusters } from "../wiring/prometheus-from-config.js";
import { priceFeedFromConfig } from "../wiring/price-feed-from-config.js";
import type { AwsPriceFeed } from "../metering/month-prices.js";
import { RerunRequestSchema, type RerunRecord, type RerunRequest, type RerunStore } from "../metering/rerun-month.js";
import { DATASET_LOCATION_OPTIONS, DEFAULT_CONFIG, EXIT, loadConfig, s3ClientFor, UsageError } from "./cli-args.js";
import { rerunMonthFromPrometheus } from "../wiring/prometheus-metering.js";

/** Seams for tests: a stand-in Prometheus, a mocked Lambda client. */
export interface RerunCommandDeps {
  prometheus?: PrometheusClient;
  lambda?: LambdaClient;
  /** The AWS price feed (test seam; otherwise made from the config's prices.source). */
  priceFeed?: AwsPriceFeed;
}

function operator(env: NodeJS.ProcessEnv): string {
  if (env.GPU_BILLING_OPERATOR) return env.GPU_BILLING_OPERATOR;
  try {
    return `${os.userInfo().username}@${os.hostname()}`;
  } catch {
    return "unknown";
  }
}

function printRecord(r: RerunRecord): void {
  const lines = [
    `${r.dryRun ? "dry run of " : ""}re-run of ${r.month} by ${r.requestedBy}: ${r.reason}`,
    `dataset: ${r.location}`,
    r.changed.length === 0
      ? "unchanged: the re-run reproduced every file byte for byte"
      : `changed: ${r.changed.map((c) => `${c.file}${c.before ? "" : " (new)"}`).join(", ")}`,
    `cost: ${r.totalsBefore?.cost ?? "(no previous dataset)"} → ${r.totalsAfter.cost}`,
    ...(r.prices
      ? [
          `prices: ${r.prices === "reused" ? "the published prices.json (--refresh-prices fetches them again)" : r.prices === "fetched" ? "fetched from AWS" : "the config's table"}`,
        ]
      : []),
    `delivery: ${r.delivery.status}${r.delivery.status === "not-configured" ? " (deliver with `gpu-billing report --send`)" : ""}`,
  ];
  if (r.recordLocation) lines.push(`record: ${r.recordLocation}`);
  console.log(lines.join("\n"));
}

/** Invokes the deployed rerun function and waits for its record (a synchronous invoke; no Lambda retry). */
export async function invokeRemoteRerun(lambda: LambdaClient, functionName: string, req: RerunRequest): Promise<RerunRecord> {
  const r = await lambda.send(
    new InvokeCommand({ FunctionName: functionName, InvocationType: "RequestResponse", Payload: Buffer.from(JSON.stringify(req)) }),
  );
  const text = r.Payload ? Buffer.from(r.Payload).toString("utf8") : "";
  if (r.FunctionError) {
    let message = text;
    try {
      message = (JSON.parse(text) as { errorMessage?: string }).errorMessage ?? text;
    } catch {
      /* not JSON: show it as is */
    }
    throw new Error(`remote re-run failed (${r.FunctionError}): ${message}`);
  }
  return JSON.parse(text) as RerunRecord;
}

export async function rerunCommand(argv: string[], env: NodeJS.ProcessEnv, now: Date, deps: RerunCommandDeps = {}): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      month: { type: "string" },
      tenant: { type: "string", multiple: true },
      deliver: { type: "boolean", default: false },
      resend: { type: "boolean", default: false },
      "dry-run": { type: "boolean", default: false },
      "refresh-prices": { type: "boolean", default: false },
      reason: { type: "string" },
      remote: { type: "boolean", default: false },
      "function-name": { type: "string" },
      region: { type: "string" },
      config: { type: "string" },
      "prometheus-url": { type: "string" },
      ...DATASET_LOCATION_OPTIONS,
    },
    strict: true,
  });
  // Validated before anything is read or invoked: month and tenants become S3 keys.
  const parsed = RerunRequestSchema.safeParse({
    month: values.month,
    tenants: values.tenant,
    deliver: values.deliver,
    resend: values.resend,
    dryRun: values["dry-run"],
    refreshPrices: values["refresh-prices"],
    reason: values.reason,
    requestedBy: operator(env),
  });
  if (!parsed.success)
    throw new UsageError(
      describeIssues(parsed.error.issues)
        .map((m) => `--${m}`)
        .join("; "),
    );
  const req = parsed.data;

  if (values.remote) {
    const fn = values["function-name"] ?? env.GPU_BILLING_RERUN_FUNCTION;
    if (!fn) throw new UsageError("--remote needs --function-name NAME (the stack output RerunFunctionName) or GPU_BILLING_RERUN_FUNCTION");
    const lambda = deps.lambda ?? new LambdaClient(values.region ? { region: values.region } : {});
    printRecord(await invokeRemoteRerun(lambda, fn, req));
    return EXIT.ok;
  }

  if (!values.out === !values.bucket) throw new UsageError("give exactly one of --out DIR or --bucket B (or --remote)");
  const cfg = await loadConfig(values.config ?? DEFAULT_CONFIG);
  let sink: DatasetSink;
  let records: RerunStore;
  if (values.bucket) {
    const s3 = s3ClientFor(values["s3-endpoint"]);
    sink = s3Sink(s3, values.bucket, values.prefix ?? "");
    records = s3RerunStore(s3, values.bucket, values.prefix ?? "");
  } else {
    sink = localSink(values.out!);
    records = localRerunStore(values.out!);
  }
  // The test seam gives one client (a single-cluster config); otherwise one client per configured cluster.
  const prometheus = deps.prometheus;
  const prometheusFor = prometheus ? undefined : prometheusForClusters(cfg, env, { url: values["prometheus-url"] ?? env.PROMETHEUS_URL });
  const record = await rerunMonthFromPrometheus(
    {
      prometheus,
      prometheusFor,
      sink,
      records,
      queries: loadQueries(),
      exporters: parseExportNames(env.EXPORTS ?? "parquet,focus").map((n) => EXPORTERS[n]),
      priceFeed: deps.priceFeed ?? priceFeedFromConfig(cfg),
      // Local delivery belongs to the report command (another module); a local re-run does not send.
      deliver: undefined,
    },
    cfg,
    req,
    now,
  );
  printRecord(record);
  return EXIT.ok;
}
