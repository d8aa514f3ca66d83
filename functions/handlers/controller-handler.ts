import { readFileSync } from "node:fs";
import { randomUUID } from "node:crypto";
import { z } from "zod";
import { Logger } from "@aws-lambda-powertools/logger";
import { AutoScalingClient } from "@aws-sdk/client-auto-scaling";
import { CloudWatchClient } from "@aws-sdk/client-cloudwatch";
import { EKSClient } from "@aws-sdk/client-eks";
import { S3Client } from "@aws-sdk/client-s3";
import type { CoreV1Api } from "@kubernetes/client-node";
import { defaultProvider } from "@aws-sdk/credential-provider-node";
import { parsePolicy, type ControllerPolicy } from "../controller/policy.js";
import { gpuHoursSavedEstimate, runController, type ControllerDeps } from "../controller/run-controller.js";
import { ControllerLease, type HeldLease } from "../adapters/controller-lease.js";
import { auditRecordOf, writeAuditLog } from "../adapters/controller-audit-log.js";
import { CONTROLLER_NAMESPACE, publishRunMetrics } from "../adapters/cloudwatch-metrics.js";
import { setDesiredCapacity, terminateInstance } from "../adapters/autoscaling-node-groups.js";
import { cordonAndTaint, listPods, releaseNode } from "../adapters/kubernetes-nodes.js";
import { kubernetesApis } from "../adapters/kubernetes-client.js";
import { describeClusterAccess, eksTokenProvider } from "../adapters/eks-auth.js";
import { gatherSnapshot } from "../adapters/controller-snapshot.js";
import { createPrometheusClient, type PrometheusClient } from "../adapters/prometheus-client.js";
import { poolOf } from "../controller/policy.js";
import { parseFunctionEnv, parseEvent } from "./handler-env.js";
import { failureFields } from "../core/errors.js";
import { systemClock, type Clock } from "../core/clock.js";
import { runMetricsOf } from "../controller/run-metrics.js";

/** The controller function's environment; every error names the variable. */
export const ControllerEnvSchema = z
  .object({
    CONTROLLER_BUCKET: z.string().min(3),
    CONTROLLER_PREFIX: z.string().default("controller"),
    CONTROLLER_POLICY: z.string().optional(),
    CONTROLLER_POLICY_FILE: z.string().optional(),
    PROMETHEUS_URL: z.string().url(),
    /** Region of Amazon Managed Service for Prometheus: set it to sign queries with SigV4. */
    PROMETHEUS_SIGV4_REGION: z.string().optional(),
    DCGM_NODE_LABEL: z.string().default("Hostname"),
    DCGM_GPU_LABEL: z.string().default("gpu"),
    EKS_CLUSTER_NAME: z.string().min(1),
    AWS_REGION: z.string().min(1),
    /** Schedule period; the lease lasts a little less than two of them. */
    RUN_INTERVAL_MINUTES: z.coerce.number().int().positive().default(2),
    QUERIES_DIR: z.string().optional(),
    /** CloudWatch namespace of NodesReclaimed & co.; the stack's alarms and dashboard read the same value. */
    CONTROLLER_METRICS_NAMESPACE: z.string().min(1).default(CONTROLLER_NAMESPACE),
  })
  .refine((e) => e.CONTROLLER_POLICY || e.CONTROLLER_POLICY_FILE, {
    message: "set CONTROLLER_POLICY (JSON/YAML) or CONTROLLER_POLICY_FILE",
    path: ["CONTROLLER_POLICY"],
  });
export type ControllerEnv = z.infer<typeof ControllerEnvSchema>;

/** A scheduled EventBridge event, or `{}` from an operator; nothing in it changes what the controller does. */
export const ControllerEventSchema = z.object({ source: z.string().optional() }).passthrough();

export interface ControllerClients {
  s3: S3Client;
  autoScaling: AutoScalingClient;
  cloudWatch: CloudWatchClient;
  kube: CoreV1Api;
  prometheus: PrometheusClient;
}

export interface BuiltController {
  env: ControllerEnv;
  policy: ControllerPolicy;
  clients: ControllerClients;
}

export function parseControllerEnv(env: Record<string, string | undefined>): { env: ControllerEnv; policy: ControllerPolicy } {
  const e = parseFunctionEnv("controller", ControllerEnvSchema, env);
  const file = e.CONTROLLER_POLICY_FILE ?? "";
  // The schema requires one of the two; the inline policy wins when both are set.
  const policy = e.CONTROLLER_POLICY
    ? parsePolicy(e.CONTROLLER_POLICY, "CONTROLLER_POLICY")
    : parsePolicy(readFileSync(file, "utf8"), file);
  return { env: e, policy };
}

/** Real clients for a Lambda (or the CLI's live mode); the Kubernetes endpoint and CA come from EKS. */
export async function buildController(rawEnv: Record<string, string | undefined>): Promise<BuiltController> {
  const { env, policy } = parseControllerEnv(rawEnv);
  const credentials = defaultProvider();
  const access = await describeClusterAccess(new EKSClient({}), env.EKS_CLUSTER_NAME);
  return {
    env,
    policy,
    clients: {
      s3: new S3Client({}),
      autoScaling: new AutoScalingClient({}),
      cloudWatch: new CloudWatchClient({}),
      kube: kubernetesApis({
        server: access.endpoint,
        caData: access.caData,
        token: eksTokenProvider({ clusterName: env.EKS_CLUSTER_NAME, region: env.AWS_REGION, credentials }),
      }).core,
      prometheus: createPrometheusClient({
        url: env.PROMETHEUS_URL,
        auth: env.PROMETHEUS_SIGV4_REGION ? { type: "sigv4", region: env.PROMETHEUS_SIGV4_REGION, credentials } : { type: "none" },
        retries: 2,
        timeoutMs: 20_000,
      }),
    },
  };
}

/** Wires the pure run to the clients. */
export function controllerDeps(b: BuiltController, runId: string, log: Logger): ControllerDeps<HeldLease> {
  const { env, policy, clients: c } = b;
  const lease = new ControllerLease(c.s3, env.CONTROLLER_BUCKET, `${env.CONTROLLER_PREFIX}/lease.json`);
  const ttl = env.RUN_INTERVAL_MINUTES * 60_000 * 2 - 10_000;
  const poolByGroup = new Map(policy.nodeGroups.map((g) => [g.name, poolOf(g)]));
  return {
    acquireLease: (now) => lease.acquire(now, ttl, runId),
    checkpoint: (l, s, now) => lease.checkpoint(l, s, now, ttl),
    releaseLease: (l, s, now) => lease.release(l, s, now),
    snapshot: (now) =>
      gatherSnapshot({ autoScaling: c.autoScaling, kube: c.kube, prometheus: c.prometheus }, policy, now, {
        nodeLabel: env.DCGM_NODE_LABEL,
        gpuLabel: env.DCGM_GPU_LABEL,
        queriesDir: env.QUERIES_DIR,
      }),
    cordonAndTaint: (n) => cordonAndTaint(c.kube, n),
    releaseNode: async (n) => void (await releaseNode(c.kube, n)),
    podsOnNode: (n) => listPods(c.kube, (ng) => poolByGroup.get(ng), n),
    terminateInstance: (id) => terminateInstance(c.autoScaling, id),
    setDesiredCapacity: (asg, from, to) => setDesiredCapacity(c.autoScaling, asg, from, to),
    audit: (recs, now) =>
      writeAuditLog(
        c.s3,
        env.CONTROLLER_BUCKET,
        `${env.CONTROLLER_PREFIX}/audit`,
        policy.timeZone,
        now,
        runId,
        recs.map((r) => auditRecordOf(r, runId, now)),
      ),
    publish: async (plan, state, now) => {
      const saved = gpuHoursSavedEstimate(state, policy, now, env.RUN_INTERVAL_MINUTES);
      await publishRunMetrics(
        c.cloudWatch,
        now,
        runMetricsOf(plan.decisions, policy, saved),
        plan.halted,
        env.CONTROLLER_METRICS_NAMESPACE,
      );
      for (const d of plan.decisions) log.info("decision", { ...d, inputs: undefined });
    },
  };
}

export function makeControllerHandler(
  getBuilt: () => Promise<BuiltController>,
  clock: Clock = systemClock,
  logger = new Logger({ serviceName: "gpu-node-controller" }),
) {
  return async (event: unknown) => {
    parseEvent(ControllerEventSchema, event);
    const built = await getBuilt();
    const runId = randomUUID();
    const now = clock();
    logger.appendKeys({ runId });
    try {
      const r = await runController(controllerDeps(built, runId, logger), built.policy, now);
      const summary = { ran: r.ran, halted: r.halted, acted: r.acted, decisions: r.decisions.length, auditKey: r.auditKey };
      logger.info("controller run done", summary);
      return summary;
    } catch (err) {
      logger.error("controller run failed", failureFields(err));
      throw err; // Lambda's error metric and the alarm see it; the next scheduled run starts clean
    }
  };
}

let built: Promise<BuiltController> | undefined;
/** Dependencies are built once per container, on first use, never at import time. */
export const handler = makeControllerHandler(
  () =>
    (built ??= buildController(process.env).catch((e) => {
      built = undefined; // a failed build (EKS unreachable) is retried by the next invocation
      throw e;
    })),
);
