import type { BillingMonth } from "../core/month.js";
import type { RunSpan } from "../core/spot-price.js";
import { windowSeconds } from "../core/query-windows.js";
import { renderQuery } from "./query-files.js";
import { PrometheusQueryError, type PrometheusClient } from "./prometheus-client.js";
import { runBounded } from "./prometheus-usage.js";

const MIN = 60_000;

/**
 * The minutes each of `nodes` ran in the month, as spans: per billing day the first and last
 * 1-minute tick its kube_node_labels series was seen (queries/node-run-spans.promql), one span
 * [first, last + 1 min) per day, adjacent days joined. Evaluated like every metering query: 1 s
 * before the day ends over the whole day, so the ticks are exactly the day's minutes. A node that
 * left and came back within one day is weighted over the whole of that day's span (the Spot
 * price of a gap it did not run is counted); node-minutes still bills only the minutes it ran.
 */
export async function fetchNodeRunSpans(
  client: PrometheusClient,
  month: BillingMonth,
  query: string,
  nodes: ReadonlySet<string>,
  concurrency = 4,
): Promise<Map<string, RunSpan[]>> {
  const perDay = await runBounded(
    month.days.map((d) => async () => {
      const rows = await client.query(renderQuery(query, { windowSeconds: windowSeconds(d) }, "node-run-spans.promql"), d.endMs / 1000 - 1);
      const edges = new Map<string, { first?: number; last?: number }>();
      for (const s of rows) {
        const node = s.metric.node;
        if (!node || !nodes.has(node)) continue;
        const edge = s.metric.edge;
        const ms = s.value * 1000;
        if ((edge !== "first" && edge !== "last") || !Number.isFinite(ms))
          throw new PrometheusQueryError(`node-run-spans: unexpected series ${JSON.stringify(s.metric)} = ${s.value}`);
        const e = edges.get(node) ?? edges.set(node, {}).get(node)!;
        e[edge] = ms;
      }
      return { day: d, edges };
    }),
    concurrency,
  );
  const out = new Map<string, RunSpan[]>();
  for (const { edges } of perDay)
    for (const [node, e] of edges) {
      if (e.first === undefined || e.last === undefined)
        throw new PrometheusQueryError(`node-run-spans: node ${node} has only a ${e.first === undefined ? "last" : "first"} tick`);
      const spans = out.get(node) ?? out.set(node, []).get(node)!;
      const span = { startMs: e.first, endMs: e.last + MIN };
      const prev = spans[spans.length - 1];
      if (prev && prev.endMs === span.startMs) prev.endMs = span.endMs;
      else spans.push(span);
    }
  return out;
}
