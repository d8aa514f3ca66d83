import type { BillingDay, BillingMonth } from "../core/month.js";
import type { MonthUsage, NamespaceRecord, NodeRecord, PodDayRecord, UsageRecord } from "../core/usage.js";
import type { InstantSample, PrometheusClient } from "./prometheus-client.js";
import { renderQuery, type QueryName } from "./query-files.js";
import { DOCTOR_HINT } from "../core/doctor-hint.js";
import {
  fastPathExceptions,
  joinPodMinutes,
  joinPodUsage,
  namespaceUsageFromPods,
  podKey,
  replicaCoverageExceptions,
  runningPodsWithoutNode,
  sumPodDays,
  type PodRequestSeries,
  type ReplicaCoverage,
} from "../core/pod-minutes.js";

/** A series came back that cannot be attributed to a namespace/node: billing it wrong or dropping it would both be silent. */
export class UnattributableSeriesError extends Error {
  constructor(message: string) {
    super(`${message}\n${DOCTOR_HINT}`);
    this.name = "UnattributableSeriesError";
  }
}

export interface UsageQueryOptions {
  queries: Record<QueryName, string>;
  dcgmNamespaceLabel: string;
  dcgmPodLabel: string;
  concurrency: number;
  onProgress?: (done: number, total: number) => void;
}

/** Runs `tasks` with at most `limit` in flight; the first failure rejects the whole run. */
export async function runBounded<T>(tasks: (() => Promise<T>)[], limit: number, onDone?: () => void): Promise<T[]> {
  const results = new Array<T>(tasks.length);
  let next = 0;
  let failed = false;
  async function worker() {
    while (!failed && next < tasks.length) {
      const i = next++;
      try {
        results[i] = await tasks[i]!();
      } catch (e) {
        failed = true;
        throw e;
      }
      onDone?.();
    }
  }
  await Promise.all(Array.from({ length: Math.min(limit, tasks.length) }, worker));
  return results;
}

function need(s: InstantSample, label: string, query: string): string {
  const v = s.metric[label];
  if (!v) throw new UnattributableSeriesError(`${query}: a series has no "${label}" label: ${JSON.stringify(s.metric)}`);
  return v;
}

function finite(s: InstantSample, query: string): number {
  if (!Number.isFinite(s.value)) throw new UnattributableSeriesError(`${query}: non-finite value ${s.value} for ${JSON.stringify(s.metric)}`);
  return s.value;
}

/** The `pod-gpu-requests` result (a max and a min series per container) as one record per container. */
function toRequestSeries(samples: InstantSample[]): PodRequestSeries[] {
  const q = "pod-gpu-requests";
  const byContainer = new Map<string, PodRequestSeries>();
  for (const s of samples) {
    // No `node` label: the pod is not bound yet (kube-state-metrics' spec.nodeName is empty).
    const key = [need(s, "namespace", q), need(s, "pod", q), s.metric.container ?? "", s.metric.node ?? "", need(s, "resource", q)];
    const k = key.join("\u0000");
    const r = byContainer.get(k) ?? byContainer.set(k, { namespace: key[0]!, pod: key[1]!, container: key[2]!, node: key[3]!, resource: key[4]!, max: NaN, min: NaN }).get(k)!;
    const stat = s.metric.stat;
    if (stat !== "max" && stat !== "min") throw new UnattributableSeriesError(`${q}: a series has stat="${stat}", expected max or min: ${JSON.stringify(s.metric)}`);
    r[stat] = finite(s, q);
  }
  for (const r of byContainer.values())
    if (!Number.isFinite(r.max) || !Number.isFinite(r.min)) throw new UnattributableSeriesError(`${q}: ${r.namespace}/${r.pod} container ${r.container} came back without both its max and min`);
  return [...byContainer.values()];
}

/** The `ksm-instance-coverage` result: ticks per replica, and the ticks at which any replica reported. */
function toReplicaCoverage(samples: InstantSample[]): { replicas: ReplicaCoverage[]; anyReplicaTicks: number } {
  const q = "ksm-instance-coverage";
  const replicas: ReplicaCoverage[] = [];
  let anyReplicaTicks = 0;
  for (const s of samples) {
    if (s.metric.scope === "any") anyReplicaTicks = finite(s, q);
    else replicas.push({ instance: s.metric.instance ?? "", ticks: finite(s, q) });
  }
  return { replicas, anyReplicaTicks };
}

/** Per-pod minutes keyed by namespace and pod; a pod twice in one result would be summed wrong, so it is an error. */
function byPod(samples: InstantSample[], q: string): Map<string, number> {
  const m = new Map<string, number>();
  for (const s of samples) {
    const k = podKey(need(s, "namespace", q), need(s, "pod", q));
    if (m.has(k)) throw new UnattributableSeriesError(`${q}: pod ${JSON.stringify(s.metric)} came back twice`);
    m.set(k, finite(s, q));
  }
  return m;
}

/**
 * Meters one billing month from Prometheus, one billing day per query window.
 * Each query is evaluated 1 s before the day ends with a range of the whole
 * day, so its 1-minute ticks are exactly [dayStart, dayEnd): back-to-back days
 * never share a boundary tick and the month's edges cut pods' lives exactly.
 */
export async function fetchMonthUsage(
  client: PrometheusClient,
  month: BillingMonth,
  opts: UsageQueryOptions,
): Promise<MonthUsage & { perTickDays: string[] }> {
  const render = (name: QueryName, day: BillingDay) =>
    renderQuery(
      opts.queries[name],
      {
        windowSeconds: (day.endMs - day.startMs) / 1000,
        dcgmNamespaceLabel: opts.dcgmNamespaceLabel,
        dcgmPodLabel: opts.dcgmPodLabel,
      },
      `${name}.promql`,
    );
  const at = (day: BillingDay) => day.endMs / 1000 - 1;

  type DayResult = { usage: UsageRecord[]; pods: PodDayRecord[]; nodes: NodeRecord[]; namespaces: NamespaceRecord[]; perTickDays: string[] };
  const tasks: (() => Promise<Partial<DayResult>>)[] = [];
  for (const day of month.days) {
    tasks.push(async () => {
      // The fast path assumes each pod keeps its node and request for the day, and that one
      // kube-state-metrics replica saw the whole day; check first.
      const [requestSamples, coverageSamples] = await Promise.all([
        client.query(render("pod-gpu-requests", day), at(day)),
        client.query(render("ksm-instance-coverage", day), at(day)),
      ]);
      const requests = toRequestSeries(requestSamples);
      const coverage = toReplicaCoverage(coverageSamples);
      const exceptions = [...fastPathExceptions(requests), ...replicaCoverageExceptions(coverage.replicas, coverage.anyReplicaTicks)];
      if (exceptions.length === 0) {
        const [running, used] = await Promise.all([
          client.query(render("pod-running-minutes", day), at(day)),
          client.query(render("pod-used-gpu-minutes", day), at(day)),
        ]);
        const runningByPod = byPod(running, "pod-running-minutes");
        const usedByPod = byPod(used, "pod-used-gpu-minutes");
        const orphans = runningPodsWithoutNode(requests, runningByPod);
        if (orphans.length)
          throw new UnattributableSeriesError(
            `${day.day}: pods Running with GPU requests but no node label on them (kube_pod_container_resource_requests without "node"): ${orphans.join(", ")}`,
          );
        return { usage: joinPodMinutes(day.day, requests, runningByPod, usedByPod), pods: joinPodUsage(day.day, requests, runningByPod, usedByPod), perTickDays: [] };
      }
      const qa = "allocated-gpu-minutes-per-tick";
      const qu = "used-gpu-minutes-per-tick";
      const [alloc, used] = await Promise.all([client.query(render(qa, day), at(day)), client.query(render(qu, day), at(day))]);
      const record = (q: string, s: InstantSample, requestMinutes: number, usedMinutes: number): PodDayRecord => ({
        day: day.day,
        namespace: need(s, "namespace", q),
        pod: need(s, "pod", q),
        node: need(s, "node", q),
        resource: need(s, "resource", q),
        requestMinutes,
        usedMinutes,
      });
      const pods = [...alloc.map((s) => record(qa, s, finite(s, qa), 0)), ...used.map((s) => record(qu, s, 0, finite(s, qu)))];
      return {
        usage: namespaceUsageFromPods(pods),
        pods,
        perTickDays: [day.day],
      };
    });
    tasks.push(async () => {
      const q = "node-minutes";
      const rows = await client.query(render(q, day), at(day));
      return {
        nodes: rows.map((s) => ({
          day: day.day,
          node: need(s, "node", q),
          instanceType: s.metric.label_node_kubernetes_io_instance_type ?? "",
          capacityLabel: s.metric.label_karpenter_sh_capacity_type || s.metric.label_eks_amazonaws_com_capacity_type || "",
          gpuReplicas: Number(s.metric.label_nvidia_com_gpu_replicas || 1),
          nodeGroup: s.metric.label_eks_amazonaws_com_nodegroup || s.metric.label_karpenter_sh_nodepool || undefined,
          nodeMinutes: finite(s, q),
        })),
      };
    });
    tasks.push(async () => {
      const q = "namespace-tenants";
      const rows = await client.query(render(q, day), at(day));
      return { namespaces: rows.map((s) => ({ namespace: need(s, "namespace", q), tenantLabel: need(s, "label_tenant", q) })) };
    });
  }
  let done = 0;
  const parts = await runBounded(tasks, opts.concurrency, () => opts.onProgress?.(++done, tasks.length));
  return { ...mergeUsage(parts), perTickDays: parts.flatMap((p) => p.perTickDays ?? []).sort() };
}

/**
 * Joins allocated and used minutes of the same (day, namespace, node, resource) into one
 * record, and sums each pod's days into one record per (namespace, pod, node, resource).
 */
function mergeUsage(parts: { usage?: UsageRecord[]; pods?: PodDayRecord[]; nodes?: NodeRecord[]; namespaces?: NamespaceRecord[] }[]): MonthUsage {
  const usage = new Map<string, UsageRecord>();
  const nodes: NodeRecord[] = [];
  const namespaces = new Map<string, NamespaceRecord>();
  for (const p of parts) {
    for (const u of p.usage ?? []) {
      const k = `${u.day}\u0000${u.namespace}\u0000${u.node}\u0000${u.resource}`;
      const prev = usage.get(k);
      if (prev) {
        prev.requestMinutes += u.requestMinutes;
        prev.usedMinutes += u.usedMinutes;
      } else usage.set(k, { ...u });
    }
    nodes.push(...(p.nodes ?? []));
    for (const n of p.namespaces ?? []) namespaces.set(`${n.namespace}\u0000${n.tenantLabel}`, n);
  }
  return { usage: [...usage.values()], nodes, namespaces: [...namespaces.values()], pods: sumPodDays(parts.flatMap((p) => p.pods ?? [])) };
}
