import { parseArgs } from "node:util";
import os from "node:os";
import { LambdaClient } from "@aws-sdk/client-lambda";
import { invokeRemoteRerun } from "../adapters/lambda-invoke.js";
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

const RERUN_OPTIONS = {
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
} as const;

type RerunArgs = ReturnType<typeof parseArgs<{ args: string[]; options: typeof RERUN_OPTIONS; strict: true }>>["values"];

/** The request, validated before anything is read or invoked: month and tenants become S3 keys. */
function rerunRequest(values: RerunArgs, env: NodeJS.ProcessEnv): RerunRequest {
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
  return parsed.data;
}

export async function rerunCommand(argv: string[], env: NodeJS.ProcessEnv, now: Date, deps: RerunCommandDeps = {}): Promise<number> {
  const { values } = parseArgs({ args: argv, options: RERUN_OPTIONS, strict: true });
  const req = rerunRequest(values, env);
  if (values.remote) {
    const fn = values["function-name"] ?? env.GPU_BILLING_RERUN_FUNCTION;
    if (!fn) throw new UsageError("--remote needs --function-name NAME (the stack output RerunFunctionName) or GPU_BILLING_RERUN_FUNCTION");
    const lambda = deps.lambda ?? new LambdaClient(values.region ? { region: values.region } : {});
    printRecord(await invokeRemoteRerun(lambda, fn, req));
    return EXIT.ok;
  }
  printRecord(await rerunLocally(values, env, now, req, deps));
  return EXIT.ok;
}

/** Re-meters from Prometheus into the dataset on disk or in S3; a local re-run does not send (that is `report --send`). */
async function rerunLocally(
  values: RerunArgs,
  env: NodeJS.ProcessEnv,
  now: Date,
  req: RerunRequest,
  deps: RerunCommandDeps,
): Promise<RerunRecord> {
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
  return rerunMonthFromPrometheus(
    {
      prometheus,
      prometheusFor,
      sink,
      records,
      queries: loadQueries(),
      exporters: parseExportNames(env.EXPORTS ?? "parquet,focus").map((n) => EXPORTERS[n]),
      priceFeed: deps.priceFeed ?? priceFeedFromConfig(cfg),
      deliver: undefined,
    },
    cfg,
    req,
    now,
  );
}
