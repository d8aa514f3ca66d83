import { parseArgs } from "node:util";
import { userInfo } from "node:os";
import { loadQueries } from "../adapters/query-files.js";
import { s3QuotaStateStore } from "../adapters/quota-state-store.js";

import { prometheusForClusters } from "../wiring/prometheus-from-config.js";
import { evaluateQuotas, quotaSettings, type QuotaStatus } from "../quota/evaluate-quota.js";
import { recordMode, type EnforcementRecord } from "../quota/enforcement-decision.js";
import { localDateTime } from "../quota/month-to-date.js";
import { runQuotaCheck, QuotaCheckIncompleteError, type QuotaCheckReport } from "../quota/run-quota-check.js";
import { formatQuotaStatusTable } from "../quota/quota-status-table.js";
import { buildQuotaCheckDeps, newRunId, unreachableCluster } from "../wiring/quota-check-deps.js";
import { DEFAULT_CONFIG, EXIT, UsageError, loadConfig, monthArg, s3ClientFor } from "./cli-args.js";
import { meterMonthToDateFromPrometheus } from "../wiring/prometheus-metering.js";

export const QUOTA_USAGE = `  gpu-billing quota status [--month YYYY-MM] [--config FILE] [--prometheus-url URL] [--bucket B [--state-prefix P] [--s3-endpoint URL]]
  gpu-billing quota check  [--enforce] [--month YYYY-MM] [--config FILE] [--prometheus-url URL] --bucket B [--state-prefix P] [--s3-endpoint URL]
                           [--eks-cluster NAME [--eks-endpoint URL]]`;

const common = {
  month: { type: "string" },
  config: { type: "string" },
  "prometheus-url": { type: "string" },
  bucket: { type: "string" },
  "state-prefix": { type: "string" },
  "s3-endpoint": { type: "string" },
} as const;

/** The enforcement of a subject as its record says: `kueue held 2 queues, 3 queued (as of …)`, `resourcequota blocked 3 namespaces`. */
export function describeEnforcementRecord(rec: EnforcementRecord | undefined, month: string, timeZone: string): string {
  if (!rec || rec.month !== month || rec.status === "lifted") return "";
  const mode = recordMode(rec);
  const what = mode === "kueue" ? `${Object.keys(rec.queues ?? {}).length} queue(s)` : `${Object.keys(rec.namespaces).length} namespace(s)`;
  const state =
    rec.status === "enforced"
      ? `${mode === "kueue" ? "held" : "blocked"} ${what}`
      : `${rec.status}${rec.lastError ? ` (${rec.lastError})` : ""}`;
  const queued =
    mode === "kueue" && rec.queuedWorkloads !== undefined
      ? `, ${rec.queuedWorkloads} queued (as of ${localDateTime(Date.parse(rec.queuedObservedAt ?? rec.updatedAt), timeZone)})`
      : "";
  return `${mode} ${state}${queued}`;
}

/** `alerts: warn, block · kueue held 2 queue(s), 3 queued (as of …)` — what the state in S3 says about a subject this month. */
function stateOf(s: QuotaStatus, month: string, fired: string[], records: Map<string, EnforcementRecord>, timeZone: string): string {
  const mine = fired
    .filter((k) => k.startsWith(`alerts/month=${month}/${s.subject.key}/`))
    .map((k) => k.split("/").at(-1)!.replace(/-q.*/, ""));
  const d = describeEnforcementRecord(records.get(s.subject.key), month, timeZone);
  const enf = d ? ` · ${d}` : "";
  return mine.length || enf ? `alerts: ${mine.length ? mine.join(", ") : "-"}${enf}` : "";
}

async function status(argv: string[], env: NodeJS.ProcessEnv, now: Date): Promise<number> {
  const { values } = parseArgs({ args: argv, options: common, strict: true });
  const cfg = await loadConfig(values.config ?? DEFAULT_CONFIG);
  const month = monthArg(values.month, cfg, now, "current");
  const prometheusFor = prometheusForClusters(cfg, env, { url: values["prometheus-url"] ?? env.PROMETHEUS_URL });
  const usage = await meterMonthToDateFromPrometheus({ prometheusFor, queries: loadQueries() }, cfg, month, now);
  const statuses = evaluateQuotas(usage, cfg);
  const basis = quotaSettings(cfg).basis;
  const asOf = usage.window.complete ? "whole month" : `as of ${localDateTime(usage.window.asOfMs, cfg.timeZone)}`;
  const settings = quotaSettings(cfg);
  const mode =
    settings.enforcement.mode === "kueue"
      ? `kueue (stopPolicy ${settings.enforcement.kueue.stopPolicy}; held classes: ${settings.enforcement.kueue.holdClasses.join(", ")})`
      : settings.enforcement.mode;
  console.log(
    `GPU-hour quotas ${month} (${cfg.timeZone}), ${asOf}; basis: ${basis} GPU-hours; enforcement: ${mode}${settings.enforce ? "" : ", dry-run"}\n`,
  );
  let table = formatQuotaStatusTable(statuses);
  if (values.bucket) {
    const s3 = s3ClientFor(values["s3-endpoint"]);
    const store = s3QuotaStateStore(s3, values.bucket, values["state-prefix"] ?? "quota");
    const alerts = await store.list<{ status: string }>(`alerts/month=${month}/`);
    const fired = [...alerts].filter(([, v]) => v.value.status === "sent" || v.value.status === "suppressed").map(([k]) => k);
    const records = new Map([...(await store.list<EnforcementRecord>("enforcement/")).values()].map((r) => [r.value.subjectKey, r.value]));
    const lines = table.split("\n");
    table = [lines[0], ...statuses.map((s, i) => `${lines[i + 1]}  ${stateOf(s, month, fired, records, cfg.timeZone)}`.trimEnd())].join(
      "\n",
    );
  }
  console.log(table);
  return EXIT.ok;
}

export function formatCheckReport(r: QuotaCheckReport): string {
  const out = [
    `quota check ${r.month}, as of ${r.asOf}; basis ${r.basis}; enforcement ${r.mode} ${r.enforce ? "ON" : "dry-run"}`,
    "",
    formatQuotaStatusTable(r.statuses),
    "",
  ];
  out.push(r.alerts.length ? "alerts:" : "alerts: none due");
  for (const a of r.alerts) out.push(`  ${a.outcome.padEnd(21)} ${a.key}  — ${a.reason}${a.error ? ` [${a.error}]` : ""}`);
  const acts = r.enforcement.filter((e) => e.action !== "none" || e.queues?.some((q) => q.action !== "none") || e.error);
  out.push(acts.length ? "enforcement:" : "enforcement: nothing to do");
  for (const e of acts) {
    const where =
      e.mode === "kueue" ? `${e.queuedWorkloads !== undefined ? ` (${e.queuedWorkloads} queued)` : ""}` : ` [${e.namespaces.join(", ")}]`;
    out.push(
      `  ${e.dryRun ? `would ${e.action}` : e.action} ${e.subjectKey} via ${e.mode}${where} → ${e.outcome} — ${e.reason}${e.error ? ` [${e.error}]` : ""}`,
    );
    for (const q of e.queues ?? [])
      out.push(
        `    ${q.action.padEnd(4)} ${(q.id ?? "-").padEnd(40)} ${q.outcome.padEnd(11)} ${q.reason}${q.error ? ` [${q.error}]` : ""}`,
      );
  }
  return out.join("\n");
}

async function check(argv: string[], env: NodeJS.ProcessEnv, now: Date): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: { ...common, enforce: { type: "boolean" }, "eks-cluster": { type: "string" }, "eks-endpoint": { type: "string" } },
    strict: true,
  });
  const cfg = await loadConfig(values.config ?? DEFAULT_CONFIG);
  const month = monthArg(values.month, cfg, now, "current");
  if (!values.bucket) throw new UsageError("--bucket: the alert and enforcement state lives in S3; give the data bucket");
  const enforce = values.enforce ?? quotaSettings(cfg).enforce;
  const cluster = values["eks-cluster"] ?? env.EKS_CLUSTER_NAME;
  if (enforce && !cluster) throw new UsageError("--enforce needs --eks-cluster NAME (or EKS_CLUSTER_NAME)");
  const wiring = buildQuotaCheckDeps(cfg, {
    bucket: values.bucket,
    statePrefix: values["state-prefix"] ?? "quota",
    prometheusUrl: values["prometheus-url"] ?? env.PROMETHEUS_URL,
    s3Endpoint: values["s3-endpoint"],
    region: env.AWS_REGION,
    eks: cluster ? { clusterName: cluster, endpoint: values["eks-endpoint"] ?? env.EKS_ENDPOINT, caData: env.EKS_CA_DATA } : undefined,
    actor: `cli:${userInfo().username}`,
    env,
  });
  try {
    const report = await runQuotaCheck(
      { ...wiring.deps, ...(await wiring.clusterFor(enforce).catch(unreachableCluster)), runId: newRunId() },
      cfg,
      now,
      { month, enforce },
    );
    console.log(formatCheckReport(report));
    return EXIT.ok;
  } catch (e) {
    if (!(e instanceof QuotaCheckIncompleteError)) throw e;
    console.log(formatCheckReport(e.report));
    console.error(`error: ${e.message}`);
    return EXIT.unavailable;
  }
}

export async function quotaCommand(argv: string[], env: NodeJS.ProcessEnv, now: Date): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub === "status") return status(rest, env, now);
  if (sub === "check") return check(rest, env, now);
  throw new UsageError(`unknown quota command "${sub ?? ""}"; usage:\n${QUOTA_USAGE}`);
}
