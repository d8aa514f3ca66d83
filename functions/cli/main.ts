import { parseArgs } from "node:util";
import { fileURLToPath } from "node:url";
import path from "node:path";
import { errorKind } from "../core/errors.js";
import { PrometheusQueryError, PrometheusUnavailableError } from "../adapters/prometheus-client.js";
import { loadQueries } from "../adapters/query-files.js";
import { localSink, s3Sink } from "../adapters/dataset-sink.js";
import type { DatasetSink } from "../metering/metering-ports.js";
import { IncompleteMonthError } from "../metering/meter-month.js";
import { EXPORTERS, EXPORT_NAMES, parseExportNames } from "../export/dataset-exports.js";
import { localAuditSource, s3AuditSource } from "../adapters/controller-audit-log.js";
import { prometheusForClusters } from "../wiring/prometheus-from-config.js";
import { priceFeedFromConfig } from "../wiring/price-feed-from-config.js";
import { PriceFeedUnavailableError, type PricesStatus } from "../metering/month-prices.js";

const PRICES_STATUS_TEXT: Record<PricesStatus, string> = {
  config: "the config's table (prices.source: config)",
  reused: "the published month's prices.json (--refresh-prices fetches them again)",
  fetched: "fetched from AWS (Spot price history, Price List)",
};
import { formatTenantSummary } from "../metering/summary-table.js";
import { DATASET_LOCATION_OPTIONS, DEFAULT_CONFIG, EXIT, UsageError, loadConfig, monthArg, s3ClientFor } from "./cli-args.js";
import { meterMonthFromPrometheus } from "../wiring/prometheus-metering.js";

export { DEFAULT_CONFIG, EXIT, UsageError, loadConfig } from "./cli-args.js";

const USAGE = `usage:
  gpu-billing meter --month YYYY-MM [--config FILE] [--prometheus-url URL] [--exports parquet,focus|none] [--refresh] [--refresh-prices] (--out DIR | --bucket B [--prefix P] [--s3-endpoint URL])
                    [--controller-audit DIR|s3://BUCKET/PREFIX]   (the controller's audit log; {cluster} = the cluster id with several)
                    (--refresh: meter every cluster again instead of reusing the stages a failed run kept;
                     --refresh-prices: with prices.source aws, fetch the prices again instead of reusing the published prices.json)
  gpu-billing quota status [--month YYYY-MM] [--config FILE] [--prometheus-url URL] [--bucket B [--state-prefix P] [--s3-endpoint URL]]
  gpu-billing quota check [--enforce] [--month YYYY-MM] [--config FILE] [--prometheus-url URL] --bucket B [--state-prefix P] [--s3-endpoint URL] [--eks-cluster NAME [--eks-endpoint URL]]
  gpu-billing rerun --month YYYY-MM --reason TEXT [--tenant ID]... [--deliver] [--resend] [--dry-run] [--refresh-prices]
                    [--remote [--function-name NAME] [--region R]]
                    [--config FILE] [--prometheus-url URL] (--out DIR | --bucket B [--prefix P] [--s3-endpoint URL])
  gpu-billing controller plan [--node-group NAME] [--state FILE] [--policy FILE] [--json]
  gpu-billing report --month YYYY-MM [--config FILE] (--out DIR | --bucket B [--prefix P] [--s3-endpoint URL])
                    [--send [--resend] [--ses-endpoint URL] [--from ADDRESS]] [--lang ko|en] [--reports-dir DIR] [--font-dir DIR]
  gpu-billing doctor [--config FILE] [--prometheus-url URL] [--cluster ID] [--month YYYY-MM] [--json]
                    (checks the cluster prerequisites over the last 24 hours or the month: exit 0 billable, 2 not, 3 Prometheus unavailable)
  gpu-billing reconcile --month YYYY-MM --cur FILE.parquet [--config FILE] (--out DIR | --bucket B [--prefix P] [--s3-endpoint URL])
                    (the month's metered nodes against a CUR 2.0 Parquet export; writes reconciliation.csv beside the dataset)

exit codes: 0 done, 2 bad input (nothing written), 3 a dependency is unavailable (retry later), 1 other failure`;

function progress(label: string) {
  if (!process.stderr.isTTY) return undefined;
  return (done: number, total: number) => {
    const w = 30;
    const filled = Math.round((done / total) * w);
    process.stderr.write(`\r${label} [${"#".repeat(filled)}${".".repeat(w - filled)}] ${done}/${total} queries`);
    if (done === total) process.stderr.write("\n");
  };
}

async function meterCommand(argv: string[], env: NodeJS.ProcessEnv, now: Date): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      month: { type: "string" },
      config: { type: "string" },
      "prometheus-url": { type: "string" },
      exports: { type: "string" },
      refresh: { type: "boolean" },
      "refresh-prices": { type: "boolean" },
      "controller-audit": { type: "string" },
      ...DATASET_LOCATION_OPTIONS,
    },
    strict: true,
  });
  const cfg = await loadConfig(values.config ?? DEFAULT_CONFIG);
  const month = monthArg(values.month, cfg, now, "previous");
  let exporters;
  try {
    // Parquet and focus.csv by default, as the deployed meter function writes them; "none" = the CSVs only.
    const list = values.exports ?? env.EXPORTS ?? EXPORT_NAMES.join(",");
    exporters = parseExportNames(list === "none" ? "" : list, values.exports !== undefined ? "--exports" : "EXPORTS").map(
      (n) => EXPORTERS[n],
    );
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  if (!values.out === !values.bucket) throw new UsageError("give exactly one of --out DIR or --bucket B");
  let sink: DatasetSink;
  if (values.bucket) {
    const s3 = s3ClientFor(values["s3-endpoint"]);
    sink = s3Sink(s3, values.bucket, values.prefix ?? "");
  } else sink = localSink(values.out!);
  const prometheusFor = prometheusForClusters(cfg, env, { url: values["prometheus-url"] ?? env.PROMETHEUS_URL });
  const t0 = Date.now();
  const audit = values["controller-audit"] ?? env.CONTROLLER_AUDIT;
  const s3Audit = audit?.match(/^s3:\/\/([^/]+)\/?(.*)$/);
  const controllerAudit = !audit
    ? undefined
    : s3Audit
      ? s3AuditSource(s3ClientFor(values["s3-endpoint"]), s3Audit[1]!, s3Audit[2]!)
      : localAuditSource(path.resolve(audit));
  const result = await meterMonthFromPrometheus(
    { prometheusFor, sink, queries: loadQueries(), exporters, priceFeed: priceFeedFromConfig(cfg), controllerAudit },
    cfg,
    month,
    now,
    {
      onProgress: progress(`metering ${month}`),
      staged: values.refresh ? "refresh" : "reuse",
      refreshPrices: values["refresh-prices"] === true,
    },
  );
  const from = result.clusters
    .map((c) => (result.clusters.length === 1 ? c.prometheusUrl : `${c.id} (${c.status}, ${c.prometheusUrl})`))
    .join(", ");
  console.log(
    `\n${month} (${cfg.timeZone}) metered from ${from} in ${((Date.now() - t0) / 1000).toFixed(1)} s → ${result.location}; prices: ${PRICES_STATUS_TEXT[result.prices]}\n`,
  );
  console.log(formatTenantSummary(result.chargeback));
  const ct = result.controller.totals;
  const status = result.controller.clusters
    .map((c) => (result.controller.clusters.length === 1 ? c.status : `${c.cluster} ${c.status}`))
    .join(", ");
  console.log(
    `\ncontroller (${status}): ${ct.nodesReclaimed} node(s) reclaimed, ${ct.scaleOuts} scale-out(s), ${ct.gpuNodeHoursSaved.toFixed(2)} GPU node-hours saved ≈ ${result.chargeback.currency} ${ct.savedCost.toFixed(cfg.currencyDecimals)}`,
  );
  return EXIT.ok;
}

/** Maps an error to its exit code and a one-paragraph message, by its kind (core/errors.ts). */
export function classifyError(e: unknown): { code: number; message: string } {
  const err = e instanceof Error ? e : new Error(String(e));
  // Several clusters, some failed: the message names them all, the first failure decides the exit code.
  if (e instanceof IncompleteMonthError) return { code: classifyError(e.cause).code, message: `error: ${err.message}` };
  if ((err as { code?: string }).code?.startsWith("ERR_PARSE_ARGS"))
    return { code: EXIT.badInput, message: `error: ${err.message}\n${USAGE}` };
  switch (errorKind(e)) {
    case "bad-input":
      return { code: EXIT.badInput, message: `error: ${err.message}\nnothing was written.` };
    case "unavailable":
      if (e instanceof PrometheusUnavailableError)
        return { code: EXIT.unavailable, message: `error: ${err.message}\nnothing was written; run again when Prometheus is back.` };
      if (e instanceof PriceFeedUnavailableError)
        return { code: EXIT.unavailable, message: `error: ${err.message}\nnothing was written; run again when AWS answers.` };
      return { code: EXIT.unavailable, message: `error: ${err.message}` };
    case "internal":
      if (e instanceof PrometheusQueryError) return { code: EXIT.failure, message: `error: Prometheus rejected a query: ${err.message}` };
      return { code: EXIT.failure, message: `error: ${err.stack ?? err.message}` };
  }
}

/**
 * Each command's module is loaded when it runs: the report pulls in exceljs and pdfkit, the
 * controller the Kubernetes client, and `--help` or `meter` need neither.
 */
export async function main(argv: string[], env: NodeJS.ProcessEnv = process.env, now = new Date()): Promise<number> {
  const [command, ...rest] = argv;
  try {
    switch (command) {
      case "meter":
        return await meterCommand(rest, env, now);
      case "quota":
        return await (await import("./quota-command.js")).quotaCommand(rest, env, now);
      case "rerun":
        return await (await import("./rerun-command.js")).rerunCommand(rest, env, now);
      case "controller":
        return await (await import("./controller-command.js")).controllerCommand(rest, env, now);
      case "report":
        return await (await import("./report-command.js")).reportCommand(rest, env, now);
      case "doctor":
        return await (await import("./doctor-command.js")).doctorCommand(rest, env, now);
      case "reconcile":
        return await (await import("./reconcile-command.js")).reconcileCommand(rest, now);
      case undefined:
      case "help":
      case "--help":
        console.log(USAGE);
        return command ? EXIT.ok : EXIT.badInput;
      default:
        throw new UsageError(`unknown command "${command}"\n${USAGE}`);
    }
  } catch (e) {
    const { code, message } = classifyError(e);
    console.error(message);
    return code;
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) {
  main(process.argv.slice(2)).then((code) => process.exit(code));
}
