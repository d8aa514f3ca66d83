/**
 * Wires the quota check's adapters from plain options; shared by the Lambda
 * handler and the CLI so both run exactly the same check.
 */
import { randomUUID } from "node:crypto";
import { S3Client } from "@aws-sdk/client-s3";
import { SESv2Client } from "@aws-sdk/client-sesv2";
import { CloudWatchClient } from "@aws-sdk/client-cloudwatch";
import { SNSClient } from "@aws-sdk/client-sns";
import { EKSClient } from "@aws-sdk/client-eks";
import { defaultProvider } from "@aws-sdk/credential-provider-node";
import { loadQueries } from "../adapters/query-files.js";
import { s3QuotaStateStore } from "../adapters/quota-state-store.js";
import { sesAlertMailer } from "../adapters/ses-email.js";
import { snsAlertPublisher } from "../adapters/sns-alert-publisher.js";
import { cloudWatchQuotaMetrics } from "../adapters/cloudwatch-metrics.js";
import { loadAlertTemplates } from "../adapters/template-files.js";
import { describeClusterAccess, eksTokenProvider } from "../adapters/eks-auth.js";
import { kubernetesApis, type KubernetesApis } from "../adapters/kubernetes-client.js";
import { kubernetesKueueQueues, kubernetesQuotaEnforcer } from "../adapters/kubernetes-quota.js";

import { prometheusForClusters } from "./prometheus-from-config.js";
import { quotaSettings } from "../quota/evaluate-quota.js";
import type { QuotaCheckDeps, QuotaEnforcer } from "../quota/run-quota-check.js";
import type { KueueQueuePort } from "../quota/kueue-hold.js";
import type { QuotaConfig } from "../quota/quota-config.js";
import { BadInputError, UnavailableError } from "../core/errors.js";
import { meterMonthToDateFromPrometheus } from "../wiring/prometheus-metering.js";

/** What the quota check changes in the cluster: ResourceQuotas (enforcer) and Kueue queues. */
export type ClusterPorts = Pick<QuotaCheckDeps, "enforcer" | "kueue">;

export interface QuotaWiring {
  bucket: string;
  statePrefix: string;
  prometheusUrl?: string;
  queriesDir?: string;
  templatesDir?: string;
  s3Endpoint?: string;
  region?: string;
  eks?: { clusterName: string; endpoint?: string; caData?: string };
  actor: string;
  env: Record<string, string | undefined>;
}

/** AWS clients are made once; the Kubernetes clients on the first enforcing run, with a token refreshed as it nears expiry. */
export function buildQuotaCheckDeps(
  cfg: QuotaConfig,
  w: QuotaWiring,
): { deps: Omit<QuotaCheckDeps, "runId" | "enforcer" | "kueue">; clusterFor(enforce: boolean): Promise<ClusterPorts> } {
  const settings = quotaSettings(cfg);
  const region = w.region ? { region: w.region } : {};
  const s3 = new S3Client(w.s3Endpoint ? { ...region, endpoint: w.s3Endpoint, forcePathStyle: true } : region);
  const prometheusFor = prometheusForClusters(cfg, w.env, { url: w.prometheusUrl });
  const queries = loadQueries(w.queriesDir);
  const deps: Omit<QuotaCheckDeps, "runId" | "enforcer" | "kueue"> = {
    meter: (c, month, now) => meterMonthToDateFromPrometheus({ prometheusFor, queries }, c, month, now),
    store: s3QuotaStateStore(s3, w.bucket, w.statePrefix),
    mailer: sesAlertMailer(new SESv2Client(region), settings.sender),
    templates: loadAlertTemplates(w.templatesDir),
    metrics: cloudWatchQuotaMetrics(new CloudWatchClient(region), settings.cloudwatchNamespace),
    publisher: settings.snsTopicArn ? snsAlertPublisher(new SNSClient(region), settings.snsTopicArn) : undefined,
    actor: w.actor,
  };
  let cluster: { apis: KubernetesApis; token: () => Promise<string> } | undefined;
  return {
    deps,
    async clusterFor(enforce) {
      // Dry-run reports without a cluster connection. Mode off still connects: it lifts a block an earlier mode applied.
      if (!enforce) return {};
      if (!w.eks) throw new BadInputError("EKS_CLUSTER_NAME: enforcement is on but no EKS cluster is configured");
      const eks = w.eks;
      const regionName = w.region ?? w.env.AWS_REGION;
      if (!regionName) throw new BadInputError("AWS_REGION: needed to sign the EKS token");
      if (!cluster) {
        const access = eks.endpoint
          ? { endpoint: eks.endpoint, caData: eks.caData }
          : await describeClusterAccess(new EKSClient(region), eks.clusterName);
        const token = eksTokenProvider({ clusterName: eks.clusterName, region: regionName, credentials: defaultProvider() });
        cluster = { apis: kubernetesApis({ server: access.endpoint, caData: access.caData, token }), token };
      }
      // Signed here, not at the first request: a run whose credentials fail reports the cluster as unreachable up front.
      await cluster.token();
      const { apis } = cluster;
      // Both, whatever the mode: a block applied in the other mode before a mode change is lifted the way it was applied.
      return { enforcer: kubernetesQuotaEnforcer(apis.core), kueue: kubernetesKueueQueues(apis) };
    },
  };
}

export const newRunId = () => randomUUID();

/**
 * Stands in for the enforcer when the cluster could not even be reached for a
 * token or endpoint: every call fails with that error, so the run still sends
 * its alerts and records the enforcement as pending (retried next run).
 */
export function unreachableCluster(cause: unknown): Required<ClusterPorts> {
  const fail = async (): Promise<never> => {
    throw new UnavailableError(`Kubernetes API not reachable: ${(cause as Error).message}`);
  };
  const enforcer: QuotaEnforcer = { namespacesOf: fail, block: fail, restore: fail };
  const kueue: KueueQueuePort = { snapshot: fail, setStopPolicy: fail };
  return { enforcer, kueue };
}
