import { z } from "zod";
import { HeadObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { CloudWatchClient, PutMetricDataCommand } from "@aws-sdk/client-cloudwatch";
import { Logger } from "@aws-lambda-powertools/logger";
import { previousMonth } from "../core/month.js";
import { KEY_PART_ID } from "../core/key-part.js";
import { MANIFEST_FILE } from "../core/dataset.js";
import { decideMonthComplete, MANIFEST_MISSING_METRIC } from "../core/month-completeness.js";
import { monthDir, stageObjectKey } from "../adapters/dataset-sink.js";
import { STAGE_MANIFEST_FILE } from "../core/cluster-stage.js";
import { EventMonth, parseFunctionEnv, parseEvent } from "./handler-env.js";
import { isS3NotFound, s3Key } from "../adapters/s3-objects.js";
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

async function exists(s3: S3Client, bucket: string, key: string): Promise<boolean> {
  try {
    await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
    return true;
  } catch (e) {
    if (isS3NotFound(e)) return false;
    throw e; // access denied or S3 down is not "the month is missing"
  }
}

/**
 * Publishes MonthManifestMissing = 1 when the month has no manifest (the alarm
 * fires), 0 when it has. A failure to look (S3 or CloudWatch unavailable)
 * throws: the function's error alarm fires instead of a false "complete".
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
    const key = s3Key(env.DATA_PREFIX, monthDir(month), MANIFEST_FILE);
    const present = await exists(s3, env.DATA_BUCKET, key);
    const stages =
      !present && env.CLUSTER_IDS
        ? Object.fromEntries(
            await Promise.all(
              env.CLUSTER_IDS.split(",").map(
                async (c) =>
                  [c, await exists(s3, env.DATA_BUCKET, stageObjectKey(env.DATA_PREFIX, month, c, STAGE_MANIFEST_FILE))] as const,
              ),
            ),
          )
        : undefined;
    const decision = decideMonthComplete(month, { [key]: present }, stages);
    await cloudwatch.send(
      new PutMetricDataCommand({
        Namespace: env.METRICS_NAMESPACE,
        MetricData: [{ MetricName: MANIFEST_MISSING_METRIC, Value: decision.metricValue, Unit: "Count", Timestamp: clock() }],
      }),
    );
    if (decision.complete) logger.info(decision.reason, { month });
    else logger.error(decision.reason, { month, missing: decision.missing });
    return decision;
  };
}

let deps: ManifestCheckDeps | undefined;
export const handler = makeManifestCheckHandler(() => (deps ??= buildManifestCheckDeps(process.env)));
