import { HeadObjectCommand, type S3Client } from "@aws-sdk/client-s3";
import { MANIFEST_FILE } from "../core/dataset.js";
import { STAGE_MANIFEST_FILE } from "../core/cluster-stage.js";
import type { MonthManifests } from "../metering/check-month-complete.js";
import { monthDir, stageObjectKey } from "./dataset-sink.js";
import { isS3NotFound, s3Key } from "./s3-objects.js";

/** The manifests the sink publishes (`<prefix>/month=…/manifest.json`, and each cluster's stage), looked up with HeadObject. */
export function s3MonthManifests(s3: S3Client, bucket: string, prefix: string): MonthManifests {
  const exists = async (key: string): Promise<boolean> => {
    try {
      await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
      return true;
    } catch (e) {
      if (isS3NotFound(e)) return false;
      throw e; // access denied or S3 down is not "the month is missing"
    }
  };
  const manifestLocation = (month: string) => s3Key(prefix, monthDir(month), MANIFEST_FILE);
  return {
    manifestLocation,
    manifestExists: (month) => exists(manifestLocation(month)),
    stageExists: (month, cluster) => exists(stageObjectKey(prefix, month, cluster, STAGE_MANIFEST_FILE)),
  };
}
