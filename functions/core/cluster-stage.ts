/**
 * One cluster's metered month, staged until every configured cluster has one
 * (pure: rendering, checking and combining; the stores live in adapters).
 *
 * A stage is two files: `usage.json` (the cluster's records) and
 * `manifest.json`, written last, which vouches for it with a sha256. A month
 * is published only from stages whose manifest checks out.
 */
import { createHash } from "node:crypto";
import { D } from "./decimal.js";
import { USED_MINUTES_DP } from "./chargeback.js";
import type { MonthUsage } from "./usage.js";
import type { QueryWindowStats } from "./query-windows.js";

export const STAGE_USAGE_FILE = "usage.json";
export const STAGE_MANIFEST_FILE = "manifest.json";
/** 2: usage.json carries the per-pod records (`pods`); a version-1 stage has none, so it is metered again rather than reused. */
export const STAGE_SCHEMA_VERSION = 2;

/** What a stage is for: a retry may reuse it only if all of this still matches. */
export interface StageIdentity {
  month: string;
  cluster: string;
  /** Redacted Prometheus URL the cluster was metered from. */
  prometheusUrl: string;
  /** Billing window, ISO instants. */
  start: string;
  end: string;
}

export interface StageManifest extends StageIdentity {
  kind: "gpu-billing.cluster-stage";
  schemaVersion: number;
  meteredAt: string;
  perTickDays: string[];
  /** How the run's query windows went (absent in stages written before windows were split). */
  queryWindows?: QueryWindowStats;
  files: { [STAGE_USAGE_FILE]: { sha256: string; bytes: number } };
}

export interface ClusterStage {
  identity: StageIdentity;
  usage: MonthUsage;
  perTickDays: string[];
  queryWindows?: QueryWindowStats;
  /** sha256 of usage.json: deterministic for the same Prometheus data, so the dataset manifest can carry it. */
  usageSha256: string;
  meteredAt: string;
}

export interface StageFiles {
  usage: Buffer;
  manifest: Buffer;
}

const sha256 = (b: Buffer) => createHash("sha256").update(b).digest("hex");
const k = (...p: (string | number)[]) => p.join("\u0000");

/**
 * Tags every record with its cluster, quantises used GPU-minutes the way the
 * chargeback does (so staging loses nothing and the float noise of
 * Prometheus's sums never reaches the stage's hash) and sorts the records, so
 * the same data always stages as the same bytes.
 */
export function tagClusterUsage(usage: MonthUsage, cluster: string): MonthUsage {
  const q = (x: number) => new D(x).toDecimalPlaces(USED_MINUTES_DP).toNumber();
  const byKey = <T>(xs: T[], key: (x: T) => string) =>
    xs
      .map((x) => [key(x), x] as const)
      .sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))
      .map(([, x]) => x);
  return {
    usage: byKey(
      usage.usage.map((u) => ({ ...u, cluster, usedMinutes: q(u.usedMinutes) })),
      (u) => k(u.day, u.namespace, u.node, u.resource, u.requestMinutes, u.usedMinutes),
    ),
    nodes: byKey(
      usage.nodes.map((n) => ({ ...n, cluster })),
      (n) => k(n.day, n.node, n.instanceType, n.capacityLabel, n.nodeMinutes),
    ),
    namespaces: byKey(
      usage.namespaces.map((n) => ({ ...n, cluster })),
      (n) => k(n.namespace, n.tenantLabel),
    ),
    ...(usage.pods
      ? {
          pods: byKey(
            usage.pods.map((p) => ({ ...p, cluster, usedMinutes: q(p.usedMinutes) })),
            (p) => k(p.namespace, p.pod, p.node, p.resource, p.requestMinutes, p.usedMinutes),
          ),
        }
      : {}),
  };
}

/** Renders a cluster's stage; `usage` must already be tagged (tagClusterUsage). */
export function renderClusterStage(
  identity: StageIdentity,
  usage: MonthUsage,
  perTickDays: string[],
  meteredAt: Date,
  queryWindows?: QueryWindowStats,
): { stage: ClusterStage; files: StageFiles } {
  const usageBody = Buffer.from(JSON.stringify(usage) + "\n", "utf8");
  const usageSha256 = sha256(usageBody);
  const manifest: StageManifest = {
    kind: "gpu-billing.cluster-stage",
    schemaVersion: STAGE_SCHEMA_VERSION,
    ...identity,
    meteredAt: meteredAt.toISOString(),
    perTickDays,
    ...(queryWindows ? { queryWindows } : {}),
    files: { [STAGE_USAGE_FILE]: { sha256: usageSha256, bytes: usageBody.length } },
  };
  return {
    stage: { identity, usage, perTickDays, ...(queryWindows ? { queryWindows } : {}), usageSha256, meteredAt: manifest.meteredAt },
    files: { usage: usageBody, manifest: Buffer.from(JSON.stringify(manifest, null, 2) + "\n", "utf8") },
  };
}

/** A stored stage checked against what the run expects: the stage, or why it cannot be reused. */
export type StageCheck = { ok: true; stage: ClusterStage } | { ok: false; reason: string };

/**
 * Checks a stored stage before a retry reuses it: its manifest must be
 * readable, vouch for exactly these usage bytes, and describe the same month,
 * cluster, window and Prometheus as the run (a changed time zone or endpoint
 * makes the stage stale).
 */
export function checkClusterStage(files: Partial<StageFiles>, expected: StageIdentity): StageCheck {
  if (!files.manifest) return { ok: false, reason: "no staged manifest" };
  let m: StageManifest;
  try {
    m = JSON.parse(files.manifest.toString("utf8")) as StageManifest;
  } catch {
    return { ok: false, reason: "staged manifest is not JSON" };
  }
  if (m.kind !== "gpu-billing.cluster-stage" || m.schemaVersion !== STAGE_SCHEMA_VERSION)
    return { ok: false, reason: `staged manifest is not a version-${STAGE_SCHEMA_VERSION} cluster stage` };
  for (const f of ["month", "cluster", "prometheusUrl", "start", "end"] as const)
    if (m[f] !== expected[f])
      return { ok: false, reason: `staged ${f} is ${JSON.stringify(m[f])}, the run expects ${JSON.stringify(expected[f])}` };
  if (!files.usage) return { ok: false, reason: `staged ${STAGE_USAGE_FILE} is missing` };
  const got = sha256(files.usage);
  if (got !== m.files?.[STAGE_USAGE_FILE]?.sha256)
    return { ok: false, reason: `staged ${STAGE_USAGE_FILE} has sha256 ${got}, its manifest says ${m.files?.[STAGE_USAGE_FILE]?.sha256}` };
  const usage = JSON.parse(files.usage.toString("utf8")) as MonthUsage;
  return {
    ok: true,
    stage: {
      identity: expected,
      usage,
      perTickDays: m.perTickDays ?? [],
      ...(m.queryWindows ? { queryWindows: m.queryWindows } : {}),
      usageSha256: got,
      meteredAt: m.meteredAt,
    },
  };
}

/** One cluster's usage as combining needs it (a stage, or a month-to-date read that is never staged). */
export interface ClusterUsage {
  cluster: string;
  usage: MonthUsage;
  perTickDays: string[];
}

export const stageUsage = (s: ClusterStage): ClusterUsage => ({ cluster: s.identity.cluster, usage: s.usage, perTickDays: s.perTickDays });

/** The month's usage across clusters: records keep their cluster, so nothing of two clusters is merged. */
export function combineClusterUsage(parts: ClusterUsage[]): MonthUsage & { perTickDays: string[] } {
  return {
    usage: parts.flatMap((s) => s.usage.usage),
    nodes: parts.flatMap((s) => s.usage.nodes),
    namespaces: parts.flatMap((s) => s.usage.namespaces),
    // Pod detail only when every cluster has it: a month with some clusters' pods missing would look complete and not be.
    ...(parts.length > 0 && parts.every((s) => s.usage.pods) ? { pods: parts.flatMap((s) => s.usage.pods!) } : {}),
    perTickDays: parts.flatMap((s) => s.perTickDays.map((d) => (parts.length > 1 ? `${s.cluster}:${d}` : d))).sort(),
  };
}
