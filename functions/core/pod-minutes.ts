import type { PodDayRecord, PodUsageRecord, UsageRecord } from "./usage.js";

/**
 * The fast path of the metering, as pure functions: Prometheus returns, per billing day,
 * each GPU request series (largest and smallest value), each pod's Running minutes and
 * each pod's utilization-minutes; the join to usage records happens here, once per pod,
 * instead of inside PromQL where every operator is re-evaluated at every tick.
 */

/** One container's GPU request series over a billing day (kube-state-metrics replicas merged). */
export interface PodRequestSeries {
  namespace: string;
  pod: string;
  container: string;
  node: string;
  resource: string;
  /** Largest and smallest requested units seen in the window. */
  max: number;
  min: number;
}

export const podKey = (namespace: string, pod: string) => `${namespace}\u0000${pod}`;

/**
 * Why the fast path's assumption — a pod keeps one node, one resource and one request for
 * the window — does not hold this day; empty when it holds. Any reason sends the day to the
 * per-tick queries, which join requests and phase at every minute.
 */
export function fastPathExceptions(series: PodRequestSeries[]): string[] {
  const reasons: string[] = [];
  const placements = new Map<string, Set<string>>();
  for (const s of series) {
    const k = `${s.namespace}/${s.pod}`;
    (placements.get(k) ?? placements.set(k, new Set()).get(k)!).add(`${s.node}/${s.resource}`);
    if (s.max !== s.min) reasons.push(`${k} container ${s.container} changed its request from ${s.min} to ${s.max} ${s.resource}`);
  }
  for (const [k, where] of placements) if (where.size > 1) reasons.push(`${k} requests GPUs on ${[...where].sort().join(" and on ")}`);
  return [...new Set(reasons)].sort();
}

/**
 * Joins a day's constant requests with each pod's Running and utilization minutes:
 * requestMinutes = Σ containers' units × Running minutes; usedMinutes = Σ units × utilization-minutes,
 * summed per (namespace, node, resource). Pods never Running in the window contribute nothing.
 */
export function joinPodMinutes(
  day: string,
  series: PodRequestSeries[],
  runningMinutes: ReadonlyMap<string, number>,
  usedUtilizationMinutes: ReadonlyMap<string, number>,
): UsageRecord[] {
  const out = new Map<string, UsageRecord>();
  for (const s of series) {
    const k = podKey(s.namespace, s.pod);
    const running = runningMinutes.get(k) ?? 0;
    if (running <= 0 || s.max <= 0) continue;
    const rk = `${s.namespace}\u0000${s.node}\u0000${s.resource}`;
    const r = out.get(rk) ?? out.set(rk, { day, namespace: s.namespace, node: s.node, resource: s.resource, requestMinutes: 0, usedMinutes: 0 }).get(rk)!;
    r.requestMinutes += s.max * running;
    r.usedMinutes += s.max * (usedUtilizationMinutes.get(k) ?? 0);
  }
  return [...out.values()];
}

/**
 * The same join as joinPodMinutes, kept per pod: one record per (namespace, pod, node, resource)
 * with the same request and used minutes, so the pods of a namespace add up to its record.
 */
export function joinPodUsage(
  day: string,
  series: PodRequestSeries[],
  runningMinutes: ReadonlyMap<string, number>,
  usedUtilizationMinutes: ReadonlyMap<string, number>,
): PodDayRecord[] {
  const out = new Map<string, PodDayRecord>();
  for (const s of series) {
    const k = podKey(s.namespace, s.pod);
    const running = runningMinutes.get(k) ?? 0;
    if (running <= 0 || s.max <= 0) continue;
    const rk = `${s.namespace}\u0000${s.pod}\u0000${s.node}\u0000${s.resource}`;
    const r = out.get(rk) ?? out.set(rk, { day, namespace: s.namespace, pod: s.pod, node: s.node, resource: s.resource, requestMinutes: 0, usedMinutes: 0 }).get(rk)!;
    r.requestMinutes += s.max * running;
    r.usedMinutes += s.max * (usedUtilizationMinutes.get(k) ?? 0);
  }
  return [...out.values()];
}

/**
 * A per-tick day's per-pod records (the per-tick queries group by pod) summed to the
 * namespace records the chargeback bills: Σ over pods per (day, namespace, node, resource).
 * Prometheus did this sum before; doing it here keeps the pods without a second query.
 */
export function namespaceUsageFromPods(pods: readonly PodDayRecord[]): UsageRecord[] {
  const out = new Map<string, UsageRecord>();
  for (const p of pods) {
    const k = `${p.day}\u0000${p.namespace}\u0000${p.node}\u0000${p.resource}`;
    const r = out.get(k) ?? out.set(k, { day: p.day, namespace: p.namespace, node: p.node, resource: p.resource, requestMinutes: 0, usedMinutes: 0 }).get(k)!;
    r.requestMinutes += p.requestMinutes;
    r.usedMinutes += p.usedMinutes;
  }
  return [...out.values()];
}

/** Per-pod records summed over their days: one record per (cluster, namespace, pod, node, resource). */
export function sumPodDays(pods: readonly PodUsageRecord[]): PodUsageRecord[] {
  const out = new Map<string, PodUsageRecord>();
  for (const p of pods) {
    const k = `${p.cluster ?? ""}\u0000${p.namespace}\u0000${p.pod}\u0000${p.node}\u0000${p.resource}`;
    const prev = out.get(k);
    if (prev) {
      prev.requestMinutes += p.requestMinutes;
      prev.usedMinutes += p.usedMinutes;
    } else
      out.set(k, {
        ...(p.cluster !== undefined ? { cluster: p.cluster } : {}),
        namespace: p.namespace,
        pod: p.pod,
        node: p.node,
        resource: p.resource,
        requestMinutes: p.requestMinutes,
        usedMinutes: p.usedMinutes,
      });
  }
  return [...out.values()];
}
