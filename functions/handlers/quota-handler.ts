import { z } from "zod";
import { Logger } from "@aws-lambda-powertools/logger";
import { quotaSettings, describeStatus } from "../quota/evaluate-quota.js";
import { runQuotaCheck, QuotaCheckIncompleteError, type QuotaCheckReport } from "../quota/run-quota-check.js";
import { buildQuotaCheckDeps, newRunId, unreachableCluster } from "../wiring/quota-check-deps.js";
import { BILLING_CONFIG_ENV, EventMonth, requiringBillingConfig, parseFunctionEnv, loadBillingConfig, parseEvent } from "./handler-env.js";
import { BadInputError, failureFields } from "../core/errors.js";
import type { Config } from "../config/config-schema.js";
import { systemClock, type Clock } from "../core/clock.js";

/** The function's environment; every error names the variable. */
export const QuotaEnvSchema = requiringBillingConfig(
  z.object({
    DATA_BUCKET: z.string().min(3),
    QUOTA_STATE_PREFIX: z.string().default("quota"),
    ...BILLING_CONFIG_ENV,
    PROMETHEUS_URL: z.string().url().optional(),
    QUERIES_DIR: z.string().optional(),
    TEMPLATES_DIR: z.string().optional(),
    /** Overrides quota.enforce of the config ("true"/"false"). */
    QUOTA_ENFORCE: z.enum(["true", "false"]).optional(),
    EKS_CLUSTER_NAME: z.string().min(1).optional(),
    EKS_ENDPOINT: z.string().url().optional(),
    EKS_CA_DATA: z.string().optional(),
    AWS_REGION: z.string().optional(),
    AWS_LAMBDA_FUNCTION_NAME: z.string().default("gpu-billing-quota"),
  }),
);

/** An hourly EventBridge invocation carries nothing (the current month); ops may name a month or force enforcement off/on. */
export const QuotaEventSchema = z
  .object({
    month: EventMonth.optional(),
    enforce: z.boolean().optional(),
  })
  .passthrough();

type Built = { cfg: Config; enforce: boolean; wiring: ReturnType<typeof buildQuotaCheckDeps> };
let built: Built | undefined;

export function buildQuotaHandlerDeps(env: Record<string, string | undefined>): Built {
  const e = parseFunctionEnv("quota", QuotaEnvSchema, env);
  const cfg = loadBillingConfig(e);
  const enforce = e.QUOTA_ENFORCE ? e.QUOTA_ENFORCE === "true" : quotaSettings(cfg).enforce;
  if (enforce && !e.EKS_CLUSTER_NAME)
    throw new BadInputError("quota function environment invalid: EKS_CLUSTER_NAME: required when enforcement is on");
  return {
    cfg,
    enforce,
    wiring: buildQuotaCheckDeps(cfg, {
      bucket: e.DATA_BUCKET,
      statePrefix: e.QUOTA_STATE_PREFIX,
      prometheusUrl: e.PROMETHEUS_URL,
      queriesDir: e.QUERIES_DIR,
      templatesDir: e.TEMPLATES_DIR,
      region: e.AWS_REGION,
      eks: e.EKS_CLUSTER_NAME ? { clusterName: e.EKS_CLUSTER_NAME, endpoint: e.EKS_ENDPOINT, caData: e.EKS_CA_DATA } : undefined,
      actor: `lambda:${e.AWS_LAMBDA_FUNCTION_NAME}`,
      env,
    }),
  };
}

/** What the logs and the invocation result say about a run: one line per tenant and every action. */
export function summariseReport(r: QuotaCheckReport, timeZone: string) {
  return {
    month: r.month,
    asOf: r.asOf,
    basis: r.basis,
    enforce: r.enforce,
    mode: r.mode,
    tenants: r.statuses.map((s) => ({ subject: s.subject.key, level: s.level, summary: describeStatus(s, timeZone) })),
    alerts: r.alerts.map(({ key, outcome, reason, error }) => ({ key, outcome, reason, error })),
    enforcement: r.enforcement
      .filter((e) => e.action !== "none" || e.queues?.some((q) => q.action !== "none"))
      .map(({ subjectKey, action, dryRun, outcome, mode, namespaces, queues, queuedWorkloads, reason, error }) => ({
        subjectKey,
        action,
        dryRun,
        outcome,
        mode,
        namespaces,
        reason,
        error,
        ...(mode === "kueue"
          ? {
              queues: queues?.map((q) => ({ queue: q.id, action: q.action, outcome: q.outcome, reason: q.reason, error: q.error })),
              queuedWorkloads,
            }
          : {}),
      })),
  };
}

export function makeQuotaHandler(
  getBuilt: () => Built,
  clock: Clock = systemClock,
  logger = new Logger({ serviceName: "gpu-billing-quota" }),
) {
  return async (event: unknown, context?: { awsRequestId?: string }) => {
    const ev = parseEvent(QuotaEventSchema, event);
    const { cfg, enforce: envEnforce, wiring } = getBuilt();
    const enforce = ev.enforce ?? envEnforce;
    const runId = context?.awsRequestId ?? newRunId();
    try {
      const cluster = await wiring.clusterFor(enforce).catch(unreachableCluster);
      const report = await runQuotaCheck({ ...wiring.deps, ...cluster, runId }, cfg, clock(), { month: ev.month, enforce });
      const summary = summariseReport(report, cfg.timeZone);
      logger.info("quota check done", { ...summary });
      return summary;
    } catch (err) {
      const extra = err instanceof QuotaCheckIncompleteError ? summariseReport(err.report, cfg.timeZone) : {};
      logger.error("quota check failed", { ...failureFields(err), ...extra });
      throw err; // Lambda retries; alerts already sent are not repeated, pending work is retried
    }
  };
}

export const handler = makeQuotaHandler(() => (built ??= buildQuotaHandlerDeps(process.env)));
