import type { BillingMonth } from "../core/month.js";
import type { MonthUsage, NamespaceRecord, NodeRecord, PodDayRecord, UsageRecord } from "../core/usage.js";
import { PrometheusQueryError, PrometheusQueryTooLargeError, type InstantSample, type PrometheusClient } from "./prometheus-client.js";
import { namespaceMatcher, renderQuery, type QueryName } from "./query-files.js";
import { DOCTOR_HINT } from "../core/doctor-hint.js";
import {
  describeWindow,
  planSplit,
  queryWindowStats,
  splitByNamespace,
  windowSeconds,
  type QueryWindow,
  type QueryWindowStats,
} from "../core/query-windows.js";
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
import { BadInputError } from "../core/errors.js";

/** A series came back that cannot be attributed to a namespace/node: billing it wrong or dropping it would both be silent. */
export class UnattributableSeriesError extends BadInputError {
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
  if (!Number.isFinite(s.value))
    throw new UnattributableSeriesError(`${query}: non-finite value ${s.value} for ${JSON.stringify(s.metric)}`);
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
    const r =
      byContainer.get(k) ??
      byContainer
        .set(k, { namespace: key[0]!, pod: key[1]!, container: key[2]!, node: key[3]!, resource: key[4]!, max: NaN, min: NaN })
        .get(k)!;
    const stat = s.metric.stat;
    if (stat !== "max" && stat !== "min")
      throw new UnattributableSeriesError(`${q}: a series has stat="${stat}", expected max or min: ${JSON.stringify(s.metric)}`);
    r[stat] = finite(s, q);
  }
  for (const r of byContainer.values())
    if (!Number.isFinite(r.max) || !Number.isFinite(r.min))
      throw new UnattributableSeriesError(`${q}: ${r.namespace}/${r.pod} container ${r.container} came back without both its max and min`);
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
 * A query window (a billing day, or a part of one) the engine refused with every smaller
 * window it could be split into: the query, the window and the limit to raise.
 */
export class QueryWindowTooLargeError extends PrometheusQueryError {
  constructor(
    readonly query: QueryName,
    readonly window: QueryWindow,
    readonly refusal: PrometheusQueryTooLargeError,
  ) {
    super(
      `${query}.promql was refused for window ${describeWindow(window)} (${windowSeconds(window)} s), the smallest window it can be split into: ${refusal.detail}. ` +
        `Raise the limit: ${LIMIT_TO_RAISE[refusal.limit]}.`,
    );
    this.name = "QueryWindowTooLargeError";
  }
}

const LIMIT_TO_RAISE: Record<PrometheusQueryTooLargeError["limit"], string> = {
  samples:
    "Prometheus or the Thanos querier: --query.max-samples (default 50000000); Mimir/Cortex: -querier.max-samples; Amazon Managed Service for Prometheus: the query samples threshold or a quota increase",
  series: "Mimir/Cortex: -querier.max-fetched-series-per-query; Thanos store: --store.limits.request-series",
  chunks:
    "Mimir/Cortex: -querier.max-fetched-chunks-per-query; Thanos store: --store.limits.request-samples; Amazon Managed Service for Prometheus: its chunks-per-query quota cannot be raised",
  bytes:
    "Mimir/Cortex: -querier.max-fetched-chunk-bytes-per-query, Mimir: -querier.max-estimated-memory-consumption-per-query, Cortex: -querier.max-fetched-data-bytes-per-query; Amazon Managed Service for Prometheus: its bytes-per-query quota cannot be raised",
  "time-range": "Mimir: -querier.max-partial-query-length",
  timeout: "Prometheus: --query.timeout (default 2m) and prometheus.timeoutSeconds in the config; Mimir/Cortex: -querier.timeout",
};

/** A metering query the engine refused, with the query's name; internal to the window splitting below. */
class RefusedQuery extends Error {
  constructor(
    readonly query: QueryName,
    readonly cause: PrometheusQueryTooLargeError,
  ) {
    super(cause.message);
  }
}

type WindowResult = {
  usage?: UsageRecord[];
  pods?: PodDayRecord[];
  nodes?: NodeRecord[];
  namespaces?: NamespaceRecord[];
  perTickDays?: string[];
};

/**
 * One month's metering queries against one Prometheus: how each query is rendered and asked,
 * and the windows queried and split so far (for the run's query-window stats).
 */
class MonthQueries {
  queries = 0;
  readonly queried: QueryWindow[] = [];
  readonly splitDays = new Set<string>();

  constructor(
    private readonly client: PrometheusClient,
    private readonly opts: UsageQueryOptions,
  ) {}

  private render(name: QueryName, w: QueryWindow): string {
    const o = this.opts;
    return renderQuery(
      o.queries[name],
      {
        windowSeconds: windowSeconds(w),
        dcgmNamespaceLabel: o.dcgmNamespaceLabel,
        dcgmPodLabel: o.dcgmPodLabel,
        namespaceMatcher: namespaceMatcher("namespace", w.namespaces),
        dcgmNamespaceMatcher: namespaceMatcher(o.dcgmNamespaceLabel, w.namespaces),
      },
      `${name}.promql`,
    );
  }

  /** Evaluates `name` over `w`, 1 s before the window ends; a refusal for size names the query. */
  ask(name: QueryName, w: QueryWindow): Promise<InstantSample[]> {
    this.queries++;
    return this.client.query(this.render(name, w), w.endMs / 1000 - 1).catch((e: unknown) => {
      throw e instanceof PrometheusQueryTooLargeError ? new RefusedQuery(name, e) : e;
    });
  }

  /** `ask` for a query that no split could make smaller: a refusal is final. */
  async askWhole(name: QueryName, w: QueryWindow): Promise<InstantSample[]> {
    try {
      return await this.ask(name, w);
    } catch (e) {
      throw e instanceof RefusedQuery ? new QueryWindowTooLargeError(name, w, e.cause) : e;
    }
  }

  /** Meters `w`, or, when the engine refuses it, the parts planSplit cuts it into (recursively). */
  async meterSplitting<T>(w: QueryWindow, byNamespace: boolean, meter: (w: QueryWindow) => Promise<T>): Promise<T[]> {
    try {
      const r = await meter(w);
      this.queried.push(w);
      return [r];
    } catch (e) {
      if (!(e instanceof RefusedQuery)) throw e;
      return this.meterParts(w, e, byNamespace, meter);
    }
  }

  /** The parts of a refused window, each metered (and split again if refused); the refusal stands at the smallest. */
  async meterParts<T>(w: QueryWindow, refused: RefusedQuery, byNamespace: boolean, meter: (w: QueryWindow) => Promise<T>): Promise<T[]> {
    this.splitDays.add(w.day);
    const plan = planSplit(w, { byNamespace });
    if (plan.kind === "smallest") throw new QueryWindowTooLargeError(refused.query, w, refused.cause);
    const parts = plan.kind === "split" ? plan.windows : splitByNamespace(w, await this.windowNamespaces(w));
    const out: T[] = [];
    for (const part of parts) out.push(...(await this.meterSplitting(part, byNamespace, meter)));
    return out;
  }

  private async windowNamespaces(w: QueryWindow): Promise<string[]> {
    const q = "window-namespaces";
    return (await this.askWhole(q, w)).map((s) => need(s, "namespace", q));
  }
}

/** The pods of one window: the fast path, or the per-tick queries when its guard says so. */
async function meterPodWindow(mq: MonthQueries, w: QueryWindow): Promise<WindowResult> {
  // The fast path assumes each pod keeps its node and request for the window, and that one
  // kube-state-metrics replica saw the whole window; check first.
  const [requestSamples, coverageSamples] = await Promise.all([mq.ask("pod-gpu-requests", w), mq.ask("ksm-instance-coverage", w)]);
  const requests = toRequestSeries(requestSamples);
  const coverage = toReplicaCoverage(coverageSamples);
  const exceptions = [...fastPathExceptions(requests), ...replicaCoverageExceptions(coverage.replicas, coverage.anyReplicaTicks)];
  return exceptions.length === 0 ? meterPodsFast(mq, w, requests) : meterPodsPerTick(mq, w);
}

/** Every pod kept its node and request and one replica saw the window: running and used minutes per pod, joined to the requests. */
async function meterPodsFast(mq: MonthQueries, w: QueryWindow, requests: PodRequestSeries[]): Promise<WindowResult> {
  const [running, used] = await Promise.all([mq.ask("pod-running-minutes", w), mq.ask("pod-used-gpu-minutes", w)]);
  const runningByPod = byPod(running, "pod-running-minutes");
  const usedByPod = byPod(used, "pod-used-gpu-minutes");
  const orphans = runningPodsWithoutNode(requests, runningByPod);
  if (orphans.length)
    throw new UnattributableSeriesError(
      `${describeWindow(w)}: pods Running with GPU requests but no node label on them (kube_pod_container_resource_requests without "node"): ${orphans.join(", ")}`,
    );
  return {
    usage: joinPodMinutes(w.day, requests, runningByPod, usedByPod),
    pods: joinPodUsage(w.day, requests, runningByPod, usedByPod),
    perTickDays: [],
  };
}

/** A pod moved, changed its request or the replicas overlapped: allocated and used minutes merged per tick. */
async function meterPodsPerTick(mq: MonthQueries, w: QueryWindow): Promise<WindowResult> {
  const qa = "allocated-gpu-minutes-per-tick";
  const qu = "used-gpu-minutes-per-tick";
  const [alloc, used] = await Promise.all([mq.ask(qa, w), mq.ask(qu, w)]);
  const record = (q: string, s: InstantSample, requestMinutes: number, usedMinutes: number): PodDayRecord => ({
    day: w.day,
    namespace: need(s, "namespace", q),
    pod: need(s, "pod", q),
    node: need(s, "node", q),
    resource: need(s, "resource", q),
    requestMinutes,
    usedMinutes,
  });
  const pods = [...alloc.map((s) => record(qa, s, finite(s, qa), 0)), ...used.map((s) => record(qu, s, 0, finite(s, qu)))];
  return { usage: namespaceUsageFromPods(pods), pods, perTickDays: [w.day] };
}

const nodeRecords = (day: string, rows: InstantSample[], q: string): NodeRecord[] =>
  rows.map((s) => ({
    day,
    node: need(s, "node", q),
    instanceType: s.metric.label_node_kubernetes_io_instance_type ?? "",
    capacityLabel: s.metric.label_karpenter_sh_capacity_type || s.metric.label_eks_amazonaws_com_capacity_type || "",
    gpuReplicas: Number(s.metric.label_nvidia_com_gpu_replicas || 1),
    nodeGroup: s.metric.label_eks_amazonaws_com_nodegroup || s.metric.label_karpenter_sh_nodepool || undefined,
    zone: s.metric.label_topology_kubernetes_io_zone || undefined,
    nodeMinutes: finite(s, q),
  }));

/**
 * The GPU nodes of one day. Split, node-minutes' "and" is taken per day, not per part: a node
 * is a GPU node for the day when it had GPU capacity in any part (as over the whole day), and
 * its label series' minutes are summed over the parts.
 */
async function meterNodeDay(mq: MonthQueries, day: QueryWindow): Promise<WindowResult> {
  const [labelled, providerIds] = await Promise.all([meterNodeMinutes(mq, day), nodeProviderIds(mq, day)]);
  return { nodes: labelled.map((n) => (providerIds.has(n.node) ? { ...n, providerId: providerIds.get(n.node)! } : n)) };
}

/** Each GPU node's provider id(s) over the day (several, space-separated, when the name stood for several instances). */
async function nodeProviderIds(mq: MonthQueries, day: QueryWindow): Promise<Map<string, string>> {
  const q = "node-instance-ids";
  const ids = new Map<string, string[]>();
  // One series per node over a day: a refusal here is not a size the split could help with.
  for (const s of await mq.askWhole(q, day)) {
    const node = need(s, "node", q);
    ids.set(node, [...(ids.get(node) ?? []), need(s, "provider_id", q)]);
  }
  return new Map([...ids].map(([node, list]) => [node, [...new Set(list)].sort().join(" ")]));
}

async function meterNodeMinutes(mq: MonthQueries, day: QueryWindow): Promise<NodeRecord[]> {
  const q = "node-minutes";
  let refused: RefusedQuery;
  try {
    const nodes = nodeRecords(day.day, await mq.ask(q, day), q);
    mq.queried.push(day);
    return nodes;
  } catch (e) {
    if (!(e instanceof RefusedQuery)) throw e;
    refused = e;
  }
  const parts = await mq.meterParts(day, refused, false, async (w) => {
    const [labels, gpus] = await Promise.all([mq.ask("node-label-minutes", w), mq.ask("gpu-nodes", w)]);
    return { labels, gpus };
  });
  const gpuNodes = new Set(parts.flatMap((p) => p.gpus.map((s) => need(s, "node", "gpu-nodes"))));
  const summed = new Map<string, InstantSample>();
  for (const p of parts)
    for (const s of p.labels) {
      if (!gpuNodes.has(need(s, "node", "node-label-minutes"))) continue;
      const k = JSON.stringify(Object.entries(s.metric).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
      const prev = summed.get(k);
      if (prev) prev.value += finite(s, "node-label-minutes");
      else summed.set(k, { metric: s.metric, value: finite(s, "node-label-minutes") });
    }
  return nodeRecords(day.day, [...summed.values()], "node-label-minutes");
}

async function meterTenants(mq: MonthQueries, w: QueryWindow): Promise<WindowResult> {
  const q = "namespace-tenants";
  const rows = await mq.ask(q, w);
  return { namespaces: rows.map((s) => ({ namespace: need(s, "namespace", q), tenantLabel: need(s, "label_tenant", q) })) };
}

/**
 * Meters one billing month from Prometheus, one billing day per query window.
 * Each query is evaluated 1 s before its window ends with a range of the whole
 * window, so its 1-minute ticks are exactly [start, end): back-to-back windows
 * never share a boundary tick and the month's edges cut pods' lives exactly.
 * A window the engine refuses for its size (or times out on) is split
 * (planSplit) and its parts metered instead; they add up to the day.
 */
export async function fetchMonthUsage(
  client: PrometheusClient,
  month: BillingMonth,
  opts: UsageQueryOptions,
): Promise<MonthUsage & { perTickDays: string[]; queryWindows: QueryWindowStats; queries: number }> {
  const mq = new MonthQueries(client, opts);
  const tasks: (() => Promise<WindowResult[]>)[] = [];
  for (const day of month.days) {
    const w: QueryWindow = { day: day.day, startMs: day.startMs, endMs: day.endMs };
    tasks.push(() => mq.meterSplitting(w, true, (part) => meterPodWindow(mq, part)));
    tasks.push(async () => [await meterNodeDay(mq, w)]);
    tasks.push(() => mq.meterSplitting(w, false, (part) => meterTenants(mq, part)));
  }
  let done = 0;
  const parts = (await runBounded(tasks, opts.concurrency, () => opts.onProgress?.(++done, tasks.length))).flat();
  return {
    ...mergeUsage(parts),
    perTickDays: [...new Set(parts.flatMap((p) => p.perTickDays ?? []))].sort(),
    queryWindows: queryWindowStats(month.days.length, mq.queried, mq.splitDays),
    queries: mq.queries,
  };
}

/**
 * Joins allocated and used minutes of the same (day, namespace, node, resource) into one
 * record, and sums each pod's days into one record per (namespace, pod, node, resource).
 */
function mergeUsage(
  parts: { usage?: UsageRecord[]; pods?: PodDayRecord[]; nodes?: NodeRecord[]; namespaces?: NamespaceRecord[] }[],
): MonthUsage {
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
