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
  /**
   * The node the pod is bound to; "" while it is not (kube-state-metrics exports the request
   * with no `node` label until the scheduler binds the pod, then a new series with the node).
   */
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
    // Waiting unbound, then bound, is every scheduled pod's life, not a second placement: the
    // unbound series bills nothing (see joinPodMinutes), so only bound placements count here.
    if (s.node) (placements.get(k) ?? placements.set(k, new Set()).get(k)!).add(`${s.node}/${s.resource}`);
    if (s.max !== s.min) reasons.push(`${k} container ${s.container} changed its request from ${s.min} to ${s.max} ${s.resource}`);
  }
  for (const [k, where] of placements) if (where.size > 1) reasons.push(`${k} requests GPUs on ${[...where].sort().join(" and on ")}`);
  return [...new Set(reasons)].sort();
}

/** One kube-state-metrics replica's reporting over a window: ticks at which it had any sample. */
export interface ReplicaCoverage {
  instance: string;
  ticks: number;
}

/**
 * The fast path merges the kube-state-metrics replicas' per-series Running minutes with max,
 * exact only when one replica reported at every tick any replica did. A replica replaced by a
 * new pod (a rollout, a drained node) returns under a new `instance`, so its series split in
 * two; then the window is metered per tick, where the replicas are merged at each minute.
 */
export function replicaCoverageExceptions(replicas: readonly ReplicaCoverage[], anyReplicaTicks: number): string[] {
  const best = replicas.reduce((m, r) => Math.max(m, r.ticks), 0);
  if (best >= anyReplicaTicks) return [];
  const seen = [...replicas].sort((a, b) => (a.instance < b.instance ? -1 : 1)).map((r) => `${r.instance || "(no instance)"} ${r.ticks}`);
  return [
    `no kube-state-metrics replica reported at all ${anyReplicaTicks} minutes any did (${seen.join(", ")}): a replica was replaced or missed minutes`,
  ];
}

/**
 * Pods that were Running in the window with GPU requests exported only without a node: they
 * cannot be priced (the node says instance and capacity type), and dropping them would
 * under-bill silently. kube-state-metrics exports no such pod in a healthy cluster (a pod is
 * bound before it can run), so each one is an error for the operator to look at.
 */
export function runningPodsWithoutNode(series: readonly PodRequestSeries[], runningMinutes: ReadonlyMap<string, number>): string[] {
  const bound = new Set<string>();
  const unbound = new Set<string>();
  for (const s of series) (s.node ? bound : unbound).add(podKey(s.namespace, s.pod));
  const out: string[] = [];
  for (const k of unbound) if (!bound.has(k) && (runningMinutes.get(k) ?? 0) > 0) out.push(k.replace("\u0000", "/"));
  return out.sort();
}

/**
 * Joins a day's constant requests with each pod's Running and utilization minutes:
 * requestMinutes = Σ containers' units × Running minutes; usedMinutes = Σ units × utilization-minutes,
 * summed per (namespace, node, resource). Pods never Running in the window contribute nothing,
 * nor does a pod's unbound request series (its time waiting for a node).
 */
export function joinPodMinutes(
  day: string,
  series: PodRequestSeries[],
  runningMinutes: ReadonlyMap<string, number>,
  usedUtilizationMinutes: ReadonlyMap<string, number>,
): UsageRecord[] {
  return joinRunningMinutes(
    series,
    runningMinutes,
    usedUtilizationMinutes,
    (s) => `${s.namespace}\u0000${s.node}\u0000${s.resource}`,
    (s, node) => ({ day, namespace: s.namespace, node, resource: s.resource, requestMinutes: 0, usedMinutes: 0 }),
  );
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
  return joinRunningMinutes(
    series,
    runningMinutes,
    usedUtilizationMinutes,
    (s) => `${s.namespace}\u0000${s.pod}\u0000${s.node}\u0000${s.resource}`,
    (s, node) => ({ day, namespace: s.namespace, pod: s.pod, node, resource: s.resource, requestMinutes: 0, usedMinutes: 0 }),
  );
}

/** Both joins: each bound, Running series' units × minutes summed into the record `keyOf` names (created by `empty`). */
function joinRunningMinutes<R extends { requestMinutes: number; usedMinutes: number }>(
  series: PodRequestSeries[],
  runningMinutes: ReadonlyMap<string, number>,
  usedUtilizationMinutes: ReadonlyMap<string, number>,
  keyOf: (s: PodRequestSeries) => string,
  empty: (s: PodRequestSeries, node: string) => R,
): R[] {
  const out = new Map<string, R>();
  for (const s of series) {
    const k = podKey(s.namespace, s.pod);
    const running = runningMinutes.get(k) ?? 0;
    // An unbound series is the pod's wait for a node: it never runs while unbound.
    if (!s.node || running <= 0 || s.max <= 0) continue;
    const rk = keyOf(s);
    const r = out.get(rk) ?? out.set(rk, empty(s, s.node)).get(rk)!;
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
    const r =
      out.get(k) ??
      out.set(k, { day: p.day, namespace: p.namespace, node: p.node, resource: p.resource, requestMinutes: 0, usedMinutes: 0 }).get(k)!;
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
