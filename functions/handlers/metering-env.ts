import { z } from "zod";
import type { S3Client } from "@aws-sdk/client-s3";
import { s3AuditSource } from "../adapters/controller-audit-log.js";
import { loadQueries } from "../adapters/query-files.js";
import { s3Sink } from "../adapters/dataset-sink.js";
import type { Config } from "../config/config-schema.js";
import { EXPORTERS, EXPORT_NAMES, parseExportNames } from "../export/dataset-exports.js";
import type { MeterDeps } from "../metering/meter-month.js";
import { priceFeedFromConfig } from "../wiring/price-feed-from-config.js";
import { prometheusForClusters } from "../wiring/prometheus-from-config.js";
import type { PrometheusWired } from "../wiring/prometheus-metering.js";

/**
 * The environment a function that meters reads: the meter function, and the monthly function
 * when the month has no dataset yet. One list, so both meter a month from the same settings.
 */
export const METERING_ENV = {
  DATA_BUCKET: z.string().min(3),
  DATA_PREFIX: z.string().default("chargeback"),
  PROMETHEUS_URL: z.string().url().optional(),
  QUERIES_DIR: z.string().optional(),
  /** Extra files of the month besides the CSVs (comma-separated; "" = none), as the CLI writes by default. */
  EXPORTS: z.string().default(EXPORT_NAMES.join(",")),
  /** `<controller prefix>/audit` in DATA_BUCKET: the controller's audit log, summarised into controller-actions.csv (absent: "not-deployed"). */
  CONTROLLER_AUDIT_PREFIX: z.string().min(1).optional(),
};

type MeteringEnv = z.infer<z.ZodObject<typeof METERING_ENV>>;

/** The meter's dependencies from that environment: each cluster's Prometheus, the S3 dataset, the exports, prices and the audit log. */
export function meterDepsFromEnv(
  cfg: Config,
  env: Record<string, string | undefined>,
  e: MeteringEnv,
  s3: S3Client,
): PrometheusWired<MeterDeps> {
  return {
    prometheusFor: prometheusForClusters(cfg, env, { url: e.PROMETHEUS_URL }),
    sink: s3Sink(s3, e.DATA_BUCKET, e.DATA_PREFIX),
    queries: loadQueries(e.QUERIES_DIR),
    exporters: parseExportNames(e.EXPORTS).map((n) => EXPORTERS[n]),
    priceFeed: priceFeedFromConfig(cfg),
    ...(e.CONTROLLER_AUDIT_PREFIX ? { controllerAudit: s3AuditSource(s3, e.DATA_BUCKET, e.CONTROLLER_AUDIT_PREFIX) } : {}),
  };
}
