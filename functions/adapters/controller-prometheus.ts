import { readFileSync } from "node:fs";
import path from "node:path";
import type { PrometheusClient } from "./prometheus-client.js";
import { defaultQueriesDir, renderQuery } from "./query-files.js";
import type { GpuWindow, GroupUtilWindow, MetricsSnapshot } from "../controller/snapshot.js";

export interface ControllerQueryOptions {
  idleWindowSeconds: number;
  scaleOutWindowSeconds: number;
  stepSeconds: number;
  /** dcgm-exporter's node and GPU label names. */
  nodeLabel?: string;
  gpuLabel?: string;
  queriesDir?: string;
}

const FILES = ["node-gpu-window", "node-gpu-last-sample", "node-group-gpu-utilization"] as const;

export function loadControllerQueries(dir = defaultQueriesDir()): Record<(typeof FILES)[number], string> {
  return Object.fromEntries(FILES.map((f) => [f, readFileSync(path.join(dir, `${f}.promql`), "utf8")])) as Record<
    (typeof FILES)[number],
    string
  >;
}

/**
 * The controller's metrics window, summarised inside Prometheus (a handful of
 * instant queries, no raw samples). Errors propagate: the caller turns them
 * into a halt, never into "no metrics = idle".
 */
export async function fetchControllerMetrics(client: PrometheusClient, now: Date, o: ControllerQueryOptions): Promise<MetricsSnapshot> {
  const q = loadControllerQueries(o.queriesDir);
  const labels = { nodeLabel: o.nodeLabel ?? "Hostname", gpuLabel: o.gpuLabel ?? "gpu" };
  const t = now.getTime() / 1000;
  const win = (fn: string) =>
    client.query(renderQuery(q["node-gpu-window"], { ...labels, fn, windowSeconds: o.idleWindowSeconds }, "node-gpu-window"), t);
  const grp = (fn: string) =>
    client.query(
      renderQuery(
        q["node-group-gpu-utilization"],
        { ...labels, fn, windowSeconds: o.scaleOutWindowSeconds, stepSeconds: o.stepSeconds },
        "node-group-gpu-utilization",
      ),
      t,
    );
  const [count, max, avg, last, gMin, gAvg, gCount] = await Promise.all([
    win("count"),
    win("max"),
    win("avg"),
    client.query(renderQuery(q["node-gpu-last-sample"], labels, "node-gpu-last-sample"), t),
    grp("min"),
    grp("avg"),
    grp("count"),
  ]);
  const key = (m: Record<string, string>) => `${m[labels.nodeLabel]}\u0000${m[labels.gpuLabel] ?? ""}`;
  const gpus = new Map<string, GpuWindow>();
  for (const s of count)
    gpus.set(key(s.metric), {
      node: s.metric[labels.nodeLabel]!,
      gpu: s.metric[labels.gpuLabel] ?? "",
      samples: s.value,
      maxUtil: NaN,
      meanUtil: NaN,
      lastSampleMs: 0,
    });
  for (const s of max) {
    const g = gpus.get(key(s.metric));
    if (g) g.maxUtil = s.value;
  }
  for (const s of avg) {
    const g = gpus.get(key(s.metric));
    if (g) g.meanUtil = s.value;
  }
  for (const s of last) {
    const g = gpus.get(key(s.metric));
    if (g) g.lastSampleMs = s.value * 1000;
  }
  // A GPU whose max is unknown must not look idle: NaN > floor is false, so make it +Infinity.
  for (const g of gpus.values()) if (!Number.isFinite(g.maxUtil)) g.maxUtil = Infinity;
  const ng = "label_eks_amazonaws_com_nodegroup";
  const groups: GroupUtilWindow[] = gMin.map((s) => ({
    nodeGroup: s.metric[ng]!,
    minUtil: s.value,
    meanUtil: gAvg.find((x) => x.metric[ng] === s.metric[ng])?.value ?? NaN,
    steps: gCount.find((x) => x.metric[ng] === s.metric[ng])?.value ?? 0,
    // Filled by withGroupFreshness() once nodes are known (the oldest newest-sample of the group's GPUs); 0 = stale until then.
    lastSampleMs: 0,
  }));
  return { gpus: [...gpus.values()].map((g) => ({ ...g, meanUtil: Number.isFinite(g.meanUtil) ? g.meanUtil : 0 })), groups };
}
