import type { BillingDay, BillingMonth } from "../core/month.js";
import type { MonthUsage, NamespaceRecord, NodeRecord, UsageRecord } from "../core/usage.js";
import type { InstantSample, PrometheusClient } from "./prometheus-client.js";
import { renderQuery, type QueryName } from "./query-files.js";

/** A series came back that cannot be attributed to a namespace/node: billing it wrong or dropping it would both be silent. */
export class UnattributableSeriesError extends Error {
  constructor(message: string) {
    super(message);
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

  type DayResult = { usage: UsageRecord[]; nodes: NodeRecord[]; namespaces: NamespaceRecord[]; perTickDays: string[] };
  const tasks: (() => Promise<Partial<DayResult>>)[] = [];
  for (const day of month.days) {
    tasks.push(async () => {
      // The fast queries assume each pod keeps its node and request for the day; check first.
      const exceptions = await client.query(render("pods-not-constant", day), at(day));
      const perTick = exceptions.length > 0;
      const qa = perTick ? "allocated-gpu-minutes-per-tick" : "allocated-gpu-minutes";
      const qu = perTick ? "used-gpu-minutes-per-tick" : "used-gpu-minutes";
      const [alloc, used] = await Promise.all([client.query(render(qa, day), at(day)), client.query(render(qu, day), at(day))]);
      const record = (q: string, s: InstantSample, requestMinutes: number, usedMinutes: number): UsageRecord => ({
        day: day.day,
        namespace: need(s, "namespace", q),
        node: need(s, "node", q),
        resource: need(s, "resource", q),
        requestMinutes,
        usedMinutes,
      });
      return {
        usage: [...alloc.map((s) => record(qa, s, finite(s, qa), 0)), ...used.map((s) => record(qu, s, 0, finite(s, qu)))],
        perTickDays: perTick ? [day.day] : [],
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

/** Joins allocated and used minutes of the same (day, namespace, node, resource) into one record. */
function mergeUsage(parts: Partial<MonthUsage>[]): MonthUsage {
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
  return { usage: [...usage.values()], nodes, namespaces: [...namespaces.values()] };
}
