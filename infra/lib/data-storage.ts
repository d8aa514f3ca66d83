import { Duration, RemovalPolicy } from "aws-cdk-lib";
import * as iam from "aws-cdk-lib/aws-iam";
import * as kms from "aws-cdk-lib/aws-kms";
import * as s3 from "aws-cdk-lib/aws-s3";
import { Construct } from "constructs";
import type { Settings } from "./settings.js";

/** Prefixes inside the data bucket; each has its own lifecycle and its own grants. */
export const PREFIXES = {
  /** Raw run logs: expire after retention.rawRunLogDays. */
  runs: "runs/",
  /** Controller and quota audit JSON lines: raw logs too, same expiry. */
  audit: "audit/",
  /** Athena query results. */
  athenaResults: "athena-results/",
} as const;

/**
 * The data bucket and what protects it: a customer-managed KMS key with
 * rotation, versioning (a re-run keeps the previous dataset), block public
 * access, TLS-only policy, lifecycle per prefix, optional Object Lock, and a
 * separate bucket for S3 server access logs.
 */
export class DataStorage extends Construct {
  readonly key: kms.Key;
  readonly bucket: s3.Bucket;
  readonly accessLogs: s3.Bucket;

  constructor(scope: Construct, id: string, settings: Settings) {
    super(scope, id);
    const r = settings.retention;
    this.key = new kms.Key(this, "Key", {
      description: "GPU billing: data bucket, alert topic",
      enableKeyRotation: true,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    // CloudWatch alarms publish to the KMS-encrypted alert topic.
    this.key.addToResourcePolicy(
      new iam.PolicyStatement({
        principals: [new iam.ServicePrincipal("cloudwatch.amazonaws.com")],
        actions: ["kms:Decrypt", "kms:GenerateDataKey"],
        resources: ["*"], // in a key policy, "*" means this key
      }),
    );
    // Server access logs only support SSE-S3 on the target bucket.
    this.accessLogs = new s3.Bucket(this, "AccessLogs", {
      encryption: s3.BucketEncryption.S3_MANAGED,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      enforceSSL: true,
      lifecycleRules: [{ id: "expire-access-logs", expiration: Duration.days(r.accessLogDays) }],
      removalPolicy: RemovalPolicy.RETAIN,
    });
    // Audit lines of the quota and controller functions live under their state prefixes (the
    // state itself, e.g. the controller's lease, does not expire).
    const stateAudits = [`${settings.quota.statePrefix}/audit/`, `${settings.controller.statePrefix}/audit/`];
    const expiring = [PREFIXES.runs, PREFIXES.audit, ...stateAudits].map((prefix) => ({
      id: `expire-${prefix.replace(/\/$/, "").replace(/\//g, "-")}`,
      prefix,
      expiration: Duration.days(r.rawRunLogDays),
      noncurrentVersionExpiration: Duration.days(1),
    }));
    this.bucket = new s3.Bucket(this, "Data", {
      encryption: s3.BucketEncryption.KMS,
      encryptionKey: this.key,
      bucketKeyEnabled: true,
      versioned: true,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      enforceSSL: true,
      minimumTLSVersion: 1.2,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      serverAccessLogsBucket: this.accessLogs,
      serverAccessLogsPrefix: "data-bucket/",
      objectLockEnabled: settings.objectLock ? true : undefined,
      objectLockDefaultRetention: settings.objectLock
        ? settings.objectLock.mode === "COMPLIANCE"
          ? s3.ObjectLockRetention.compliance(Duration.days(settings.objectLock.days))
          : s3.ObjectLockRetention.governance(Duration.days(settings.objectLock.days))
        : undefined,
      lifecycleRules: [
        ...expiring,
        { id: "expire-athena-results", prefix: PREFIXES.athenaResults, expiration: Duration.days(r.athenaResultDays) },
        {
          id: "datasets",
          prefix: `${settings.dataPrefix}/`,
          // Datasets are finance records: kept unless a retention is configured.
          expiration: r.datasetDays ? Duration.days(r.datasetDays) : undefined,
          noncurrentVersionExpiration: Duration.days(r.noncurrentVersionDays),
        },
        { id: "abort-incomplete-uploads", abortIncompleteMultipartUploadAfter: Duration.days(7) },
      ],
      removalPolicy: RemovalPolicy.RETAIN,
    });
  }

  /** ARN pattern of objects under a prefix (the keys themselves are months and tenants, unknown at deploy time). */
  objects(prefix: string): string {
    return this.bucket.arnForObjects(`${prefix.replace(/\/$/, "")}/*`);
  }
}
