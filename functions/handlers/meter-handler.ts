import { z } from "zod";
import { Logger } from "@aws-lambda-powertools/logger";
import { failureFields } from "../core/errors.js";
import { S3Client } from "@aws-sdk/client-s3";
import { configuredClusters, type MeteredCluster } from "../core/config.js";
import { previousMonth } from "../core/month.js";
import type { MeterDeps } from "../metering/meter-month.js";
import { PriceFeedUnavailableError } from "../metering/month-prices.js";
import { PrometheusUnavailableError } from "../adapters/prometheus-client.js";
import { loadDoctorQueries, prometheusDoctorObserver } from "../adapters/doctor-observations.js";
import { diagnoseAfterFailure } from "../doctor/run-doctor.js";
import { monthMetricsEmf } from "../export/month-metrics.js";
import { BILLING_CONFIG_ENV, EventMonth, requiringBillingConfig, parseFunctionEnv, loadBillingConfig, parseEvent } from "./handler-env.js";
import type { Config } from "../config/config-schema.js";
import { meterMonthFromPrometheus, type PrometheusWired } from "../wiring/prometheus-metering.js";
import { clientResolver } from "../adapters/prometheus-usage-source.js";
import { METERING_ENV, meterDepsFromEnv } from "./metering-env.js";
import { systemClock, type Clock } from "../core/clock.js";

/** The function's environment; every error names the variable. */
export const MeterEnvSchema = requiringBillingConfig(
  z.object({
    ...METERING_ENV,
    ...BILLING_CONFIG_ENV,
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
    deps: meterDepsFromEnv(cfg, env, e, s3),
  };
}

/** What the handler logs through: Powertools' Logger (structured JSON lines, as the other functions), or a test's recorder. */
export interface MeterLog {
  info(msg: string, extra: Record<string, unknown>): void;
  warn(msg: string, extra: Record<string, unknown>): void;
  error(msg: string, extra: Record<string, unknown>): void;
}

export function makeMeterHandler(
  getBuilt: () => Built,
  clock: Clock = systemClock,
  logger: MeterLog = new Logger({ serviceName: "gpu-billing-meter" }),
) {
  return async (event: unknown) => {
    const ev = parseEvent(MeterEventSchema, event);
    const { cfg, deps, metricsNamespace, queriesDir } = getBuilt();
    const now = clock();
    const month = ev.month ?? previousMonth(now, cfg.timeZone);
    const log = (level: "info" | "warn" | "error", msg: string, extra: object = {}) => logger[level](msg, { month, ...extra });
    log("info", "metering month");
    try {
      const r = await meterMonthFromPrometheus(deps, cfg, month, now);
      const t = r.chargeback.totals;
      log("info", "month metered", {
        location: r.location,
        rows: r.chargeback.rows.length,
        allocatedGpuHours: t.allocatedGpuHours.toFixed(),
        cost: t.cost.toFixed(),
        warnings: r.chargeback.warnings,
      });
      // Raw stdout, not a log line: CloudWatch only extracts metrics from unwrapped JSON lines.
      if (metricsNamespace) for (const line of monthMetricsEmf(r.chargeback, metricsNamespace, now)) process.stdout.write(line + "\n");
      return { month, location: r.location, rows: r.chargeback.rows.length, cost: t.cost.toFixed(), currency: r.chargeback.currency };
    } catch (err) {
      log("error", "metering failed", failureFields(err));
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
              log("warn", "doctor checks could not run", { cluster: d.cluster, error: d.error });
              continue;
            }
            for (const f of d.findings)
              if (f.status !== "ok")
                log(f.status === "fail" ? "error" : f.status === "warn" ? "warn" : "info", "doctor finding", { cluster: d.cluster, ...f });
            log("info", "doctor checks done", {
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
