import { z } from "zod";
import { S3Client } from "@aws-sdk/client-s3";
import { CloudWatchClient } from "@aws-sdk/client-cloudwatch";
import { Logger } from "@aws-lambda-powertools/logger";
import { previousMonth } from "../core/month.js";
import { KEY_PART_ID } from "../core/key-part.js";
import { EventMonth, parseFunctionEnv, parseEvent } from "./handler-env.js";
import { checkMonthComplete } from "../metering/check-month-complete.js";
import { s3MonthManifests } from "../adapters/s3-month-manifests.js";
import { cloudWatchCompletenessMetric } from "../adapters/cloudwatch-metrics.js";
import { systemClock, type Clock } from "../core/clock.js";

export const ManifestCheckEnvSchema = z.object({
  DATA_BUCKET: z.string().min(3),
  DATA_PREFIX: z.string().default("chargeback"),
  METRICS_NAMESPACE: z.string().min(1).default("GpuBilling"),
  BILLING_TIME_ZONE: z.string().default("Asia/Seoul"),
  /** The billing config's cluster ids (comma-separated), when it has several: a missing month then says which clusters have no stage. */
  CLUSTER_IDS: z
    .string()
    .refine((v) => v.split(",").every((id) => KEY_PART_ID.test(id)), "must be comma-separated cluster ids")
    .optional(),
});

/** Scheduled on the 2nd (no month: check the previous one); ops may name a month. Nothing else is accepted. */
export const ManifestCheckEventSchema = z.object({ month: EventMonth.optional(), source: z.string().optional() }).strict();

export interface ManifestCheckDeps {
  s3: S3Client;
  cloudwatch: CloudWatchClient;
  env: z.infer<typeof ManifestCheckEnvSchema>;
}

export function buildManifestCheckDeps(env: Record<string, string | undefined>): ManifestCheckDeps {
  return {
    s3: new S3Client({}),
    cloudwatch: new CloudWatchClient({}),
    env: parseFunctionEnv("manifest-check", ManifestCheckEnvSchema, env),
  };
}

/**
 * Publishes MonthManifestMissing = 1 when the month has no manifest (the alarm
 * fires), 0 when it has (checkMonthComplete); logs the decision and its reason.
 */
export function makeManifestCheckHandler(
  getDeps: () => ManifestCheckDeps,
  clock: Clock = systemClock,
  logger = new Logger({ serviceName: "gpu-billing-manifest-check" }),
) {
  return async (event: unknown) => {
    const ev = parseEvent(ManifestCheckEventSchema, event);
    const { s3, cloudwatch, env } = getDeps();
    const month = ev.month ?? previousMonth(clock(), env.BILLING_TIME_ZONE);
    const decision = await checkMonthComplete(
      month,
      env.CLUSTER_IDS?.split(","),
      s3MonthManifests(s3, env.DATA_BUCKET, env.DATA_PREFIX),
      cloudWatchCompletenessMetric(cloudwatch, env.METRICS_NAMESPACE),
      clock(),
    );
    if (decision.complete) logger.info(decision.reason, { month });
    else logger.error(decision.reason, { month, missing: decision.missing });
    return decision;
  };
}

let deps: ManifestCheckDeps | undefined;
export const handler = makeManifestCheckHandler(() => (deps ??= buildManifestCheckDeps(process.env)));
