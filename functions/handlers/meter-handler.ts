import { z } from "zod";
import { S3Client } from "@aws-sdk/client-s3";
import { s3AuditSource } from "../adapters/controller-audit-log.js";
import { configuredClusters, type MeteredCluster } from "../core/config.js";
import { previousMonth } from "../core/month.js";
import { loadQueries } from "../adapters/query-files.js";
import { s3Sink } from "../adapters/dataset-sink.js";
import type { MeterDeps } from "../metering/meter-month.js";
import { priceFeedFromConfig } from "../wiring/price-feed-from-config.js";
import { PriceFeedUnavailableError } from "../metering/month-prices.js";
import { PrometheusUnavailableError } from "../adapters/prometheus-client.js";
import { loadDoctorQueries, prometheusDoctorObserver } from "../adapters/doctor-observations.js";
import { diagnoseAfterFailure } from "../doctor/run-doctor.js";
import { prometheusForClusters } from "../wiring/prometheus-from-config.js";
import { EXPORTERS, EXPORT_NAMES, parseExportNames } from "../export/dataset-exports.js";
import { monthMetricsEmf } from "../export/month-metrics.js";
import { BILLING_CONFIG_ENV, EventMonth, requiringBillingConfig, parseFunctionEnv, loadBillingConfig, parseEvent } from "./handler-env.js";
import type { Config } from "../config/config-schema.js";
import { meterMonthFromPrometheus, type PrometheusWired } from "../wiring/prometheus-metering.js";
import { clientResolver } from "../adapters/prometheus-usage-source.js";

/** The function's environment; every error names the variable. */
export const MeterEnvSchema = requiringBillingConfig(
  z.object({
    DATA_BUCKET: z.string().min(3),
    DATA_PREFIX: z.string().default("chargeback"),
    ...BILLING_CONFIG_ENV,
    PROMETHEUS_URL: z.string().url().optional(),
    QUERIES_DIR: z.string().optional(),
    /** Extra files of the month besides the CSVs (comma-separated; "" = none), as the CLI writes by default. */
    EXPORTS: z.string().default(EXPORT_NAMES.join(",")),
    /** `<controller prefix>/audit` in DATA_BUCKET: the controller's audit log, summarised into controller-actions.csv (absent: "not-deployed"). */
    CONTROLLER_AUDIT_PREFIX: z.string().min(1).optional(),
    /** When set, the month's headline numbers are published as CloudWatch metrics (embedded metric format). */
    METRICS_NAMESPACE: z.string().optional(),
  }),
);

/** A scheduled EventBridge invocation carries no month (bill the previous one); ops may name one. */
export const MeterEventSchema = z.object({ month: EventMonth.optional() }).passthrough();

interface Built {
  cfg: Config;
  deps: PrometheusWired<MeterDeps>;
  metricsNamespace?: string;
  /** Where the doctor's queries are read from when metering fails (QUERIES_DIR); default the repo's queries/. */
  queriesDir?: string;
}

/** Prometheus (or the AWS price feed) being down explains the failure by itself; the doctor would only wait on it too. */
function unavailable(e: unknown): boolean {
  return (
    e instanceof PrometheusUnavailableError ||
    e instanceof PriceFeedUnavailableError ||
    (e instanceof Error && "cause" in e && e.cause !== e && e.cause !== undefined && unavailable(e.cause))
  );
}

let built: Built | undefined;

/** Dependencies are built once per container, on first use, never at import time. */
export function buildMeterDeps(env: Record<string, string | undefined>, s3 = new S3Client({})): Built {
  const e = parseFunctionEnv("meter", MeterEnvSchema, env);
  const cfg = loadBillingConfig(e);
  return {
    cfg,
    metricsNamespace: e.METRICS_NAMESPACE,
    queriesDir: e.QUERIES_DIR,
    deps: {
      prometheusFor: prometheusForClusters(cfg, env, { url: e.PROMETHEUS_URL }),
      sink: s3Sink(s3, e.DATA_BUCKET, e.DATA_PREFIX),
      queries: loadQueries(e.QUERIES_DIR),
      exporters: parseExportNames(e.EXPORTS).map((n) => EXPORTERS[n]),
      priceFeed: priceFeedFromConfig(cfg),
      ...(e.CONTROLLER_AUDIT_PREFIX ? { controllerAudit: s3AuditSource(s3, e.DATA_BUCKET, e.CONTROLLER_AUDIT_PREFIX) } : {}),
    },
  };
}

export function makeMeterHandler(getBuilt: () => Built, clock: () => Date = () => new Date()) {
  return async (event: unknown) => {
    const ev = parseEvent(MeterEventSchema, event);
    const { cfg, deps, metricsNamespace, queriesDir } = getBuilt();
    const now = clock();
    const month = ev.month ?? previousMonth(now, cfg.timeZone);
    const log = (level: string, msg: string, extra: object = {}) => console.log(JSON.stringify({ level, msg, month, ...extra }));
    log("INFO", "metering month");
    try {
      const r = await meterMonthFromPrometheus(deps, cfg, month, now);
      const t = r.chargeback.totals;
      log("INFO", "month metered", {
        location: r.location,
        rows: r.chargeback.rows.length,
        allocatedGpuHours: t.allocatedGpuHours.toFixed(),
        cost: t.cost.toFixed(),
        warnings: r.chargeback.warnings,
      });
      // Raw stdout, not console.log: CloudWatch only extracts metrics from unwrapped JSON lines.
      if (metricsNamespace) for (const line of monthMetricsEmf(r.chargeback, metricsNamespace, now)) process.stdout.write(line + "\n");
      return { month, location: r.location, rows: r.chargeback.rows.length, cost: t.cost.toFixed(), currency: r.chargeback.currency };
    } catch (err) {
      log("ERROR", "metering failed", { error: (err as Error).name, message: (err as Error).message });
      // Best effort: the doctor's findings say which prerequisite is missing and its fix. It never throws,
      // so the original error is what Lambda sees.
      if (!unavailable(err)) {
        let clientFor;
        try {
          clientFor = clientResolver(deps, configuredClusters(cfg));
        } catch {
          clientFor = undefined;
        }
        if (clientFor) {
          const observers = () => {
            const queries = loadDoctorQueries(queriesDir);
            return (c: MeteredCluster) => prometheusDoctorObserver(clientFor(c), queries);
          };
          for (const d of await diagnoseAfterFailure(cfg, month, now, { observers })) {
            if ("error" in d) {
              log("WARN", "doctor checks could not run", { cluster: d.cluster, error: d.error });
              continue;
            }
            for (const f of d.findings)
              if (f.status !== "ok")
                log(f.status === "fail" ? "ERROR" : f.status === "warn" ? "WARN" : "INFO", "doctor finding", { cluster: d.cluster, ...f });
            log("INFO", "doctor checks done", {
              cluster: d.cluster,
              failed: d.findings.filter((f) => f.status === "fail").map((f) => f.check),
            });
          }
        }
      }
      throw err; // let Lambda retry and, after that, the dead-letter queue have it
    }
  };
}

export const handler = makeMeterHandler(() => (built ??= buildMeterDeps(process.env)));
