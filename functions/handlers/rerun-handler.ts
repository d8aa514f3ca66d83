import { z } from "zod";
import { S3Client } from "@aws-sdk/client-s3";
import { LambdaClient } from "@aws-sdk/client-lambda";
import { lambdaDeliver } from "../adapters/lambda-invoke.js";
import { Logger } from "@aws-lambda-powertools/logger";
import { s3RerunStore } from "../adapters/rerun-records.js";
import { buildMeterDeps, MeterEnvSchema } from "./meter-handler.js";
import { RerunRequestSchema, type RerunDeps } from "../metering/rerun-month.js";
import { parseFunctionEnv, parseEvent } from "./handler-env.js";
import { failureFields } from "../core/errors.js";
import type { Config } from "../config/config-schema.js";
import { rerunMonthFromPrometheus, type PrometheusWired } from "../wiring/prometheus-metering.js";
import { systemClock, type Clock } from "../core/clock.js";

interface Built {
  cfg: Config;
  deps: PrometheusWired<RerunDeps>;
}

/** The meter function's environment (the re-run meters the same way), plus the monthly function to deliver through. */
export const RerunEnvSchema = MeterEnvSchema.safeExtend({
  /** Set by the stack when the Monthly function is deployed; absent = a re-run never delivers. */
  MONTHLY_FUNCTION_NAME: z.string().min(1).optional(),
});

export function buildRerunDeps(env: Record<string, string | undefined>, s3 = new S3Client({}), lambda?: LambdaClient): Built {
  const { MONTHLY_FUNCTION_NAME: monthly } = parseFunctionEnv("rerun", RerunEnvSchema, env);
  const { cfg, deps } = buildMeterDeps(env, s3);
  return {
    cfg,
    deps: {
      ...deps,
      records: s3RerunStore(s3, env.DATA_BUCKET!, env.DATA_PREFIX ?? "chargeback"),
      deliver: monthly ? lambdaDeliver(lambda ?? new LambdaClient({}), monthly) : undefined,
    },
  };
}

/**
 * Ops re-run. A forged or malformed payload fails before anything is built
 * or read; every failure is logged and rethrown (the caller sees it; a
 * synchronous invoke does not retry).
 */
export function makeRerunHandler(
  getBuilt: () => Built,
  clock: Clock = systemClock,
  logger = new Logger({ serviceName: "gpu-billing-rerun" }),
) {
  return async (event: unknown) => {
    const req = parseEvent(RerunRequestSchema, event, "re-run request");
    const { cfg, deps } = getBuilt();
    logger.info("re-run requested", {
      month: req.month,
      requestedBy: req.requestedBy,
      reason: req.reason,
      dryRun: req.dryRun,
      deliver: req.deliver,
    });
    try {
      const record = await rerunMonthFromPrometheus(deps, cfg, req, clock());
      logger.info("re-run done", {
        month: req.month,
        changed: record.changed.length,
        delivery: record.delivery.status,
        record: record.recordLocation,
      });
      return record;
    } catch (err) {
      logger.error("re-run failed", { month: req.month, ...failureFields(err) });
      throw err;
    }
  };
}

let built: Built | undefined;
export const handler = makeRerunHandler(() => (built ??= buildRerunDeps(process.env)));
