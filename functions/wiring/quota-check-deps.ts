/**
 * Wires the quota check's adapters from plain options; shared by the Lambda
 * handler and the CLI so both run exactly the same check.
 */
import { randomUUID } from "node:crypto";
import { S3Client } from "@aws-sdk/client-s3";
import { SESv2Client } from "@aws-sdk/client-sesv2";
import { CloudWatchClient } from "@aws-sdk/client-cloudwatch";
import { SNSClient } from "@aws-sdk/client-sns";
import { EKSClient, DescribeClusterCommand } from "@aws-sdk/client-eks";
import { defaultProvider } from "@aws-sdk/credential-provider-node";
import { loadQueries } from "../adapters/query-files.js";
import { s3QuotaStateStore } from "../adapters/quota-state-store.js";
import { sesAlertMailer } from "../adapters/ses-alert-mailer.js";
import { snsAlertPublisher } from "../adapters/sns-alert-publisher.js";
import { cloudWatchQuotaMetrics } from "../adapters/cloudwatch-metrics.js";
import { loadAlertTemplates } from "../adapters/quota-templates.js";
import { eksToken } from "../adapters/eks-token.js";
import { eksKubernetesApis, kubernetesKueueQueues, kubernetesQuotaEnforcer } from "../adapters/kubernetes-quota.js";

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

/** AWS clients are made once; the EKS token (valid 15 min) is made per run in `clusterFor`. */
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
  let cluster: { endpoint: string; caData?: string } | undefined;
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
        if (eks.endpoint) cluster = { endpoint: eks.endpoint, caData: eks.caData };
        else {
          const d = await new EKSClient(region).send(new DescribeClusterCommand({ name: eks.clusterName }));
          cluster = { endpoint: d.cluster!.endpoint!, caData: d.cluster!.certificateAuthority?.data };
        }
      }
      const token = await eksToken({ clusterName: eks.clusterName, region: regionName, credentials: defaultProvider() });
      const apis = await eksKubernetesApis({ server: cluster.endpoint, caData: cluster.caData, token });
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
