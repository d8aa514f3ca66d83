/**
 * Query windows, and how a window the query engine refused is split (pure: no I/O).
 *
 * A window [start, end) is queried at end − 1 s with a range of end − start, so its 1-minute
 * subquery ticks are exactly its own minutes: windows that tile a billing day never share a
 * tick, and what they return adds up to what the whole day returns. A refused window is
 * halved on whole hours down to one hour; a window of an hour or less is split by namespace
 * (the namespaces whose pods request GPUs in it), halving the list down to one namespace.
 */

export const MINUTE_MS = 60_000;
export const HOUR_MS = 3_600_000;

/** One query window: a billing day or a part of one, optionally restricted to some namespaces. */
export interface QueryWindow {
  /** The billing day the window is part of (records are keyed by it). */
  day: string;
  startMs: number;
  endMs: number;
  /** Only these namespaces (absent: every namespace). Sorted, never empty. */
  namespaces?: readonly string[];
}

/** What to do with a window the engine refused. */
export type SplitPlan =
  /** Query these windows instead (they tile the refused one; empty: nothing there to query). */
  | { kind: "split"; windows: QueryWindow[] }
  /** The window is an hour or less: list its namespaces, then splitByNamespace. */
  | { kind: "list-namespaces" }
  /** Nothing smaller to try: the refusal stands. */
  | { kind: "smallest" };

const seconds = (w: QueryWindow) => (w.endMs - w.startMs) / 1000;

/** The window's duration in whole seconds (what `{{windowSeconds}}` becomes). */
export const windowSeconds = seconds;

/**
 * The next windows for a refused one. Longer than an hour: two parts split on a whole hour
 * from its start (a 24-hour day → 12 + 12, 3 h → 1 + 2, 1 h 37 min → 1 h + 37 min), so every
 * boundary stays on a whole minute. An hour or less: by namespace when the query allows it.
 */
export function planSplit(w: QueryWindow, opts: { byNamespace: boolean }): SplitPlan {
  if (w.endMs <= w.startMs || (w.endMs - w.startMs) % MINUTE_MS !== 0)
    throw new Error(`query window ${describeWindow(w)} is not a whole number of minutes`);
  const length = w.endMs - w.startMs;
  if (length > HOUR_MS) {
    const mid = w.startMs + Math.max(1, Math.floor(length / 2 / HOUR_MS)) * HOUR_MS;
    return {
      kind: "split",
      windows: [
        { ...w, endMs: mid },
        { ...w, startMs: mid },
      ],
    };
  }
  if (!opts.byNamespace) return { kind: "smallest" };
  if (w.namespaces === undefined) return { kind: "list-namespaces" };
  if (w.namespaces.length <= 1) return { kind: "smallest" };
  const half = Math.ceil(w.namespaces.length / 2);
  return {
    kind: "split",
    windows: [
      { ...w, namespaces: w.namespaces.slice(0, half) },
      { ...w, namespaces: w.namespaces.slice(half) },
    ],
  };
}

/**
 * A window of an hour or less, restricted to the namespaces found in it: one window over all
 * of them first (that alone leaves out every pod that requests no GPU), none when no pod
 * requests GPUs there (nothing to bill, nothing to query).
 */
export function splitByNamespace(w: QueryWindow, namespaces: readonly string[]): QueryWindow[] {
  const sorted = [...new Set(namespaces)].sort();
  return sorted.length === 0 ? [] : [{ ...w, namespaces: sorted }];
}

/** "2026-10-01 [2026-09-30T15:00:00.000Z, 2026-10-01T15:00:00.000Z) namespaces a, b". */
export function describeWindow(w: QueryWindow): string {
  const ns = w.namespaces ? ` namespaces ${w.namespaces.join(", ")}` : "";
  return `${w.day} [${new Date(w.startMs).toISOString()}, ${new Date(w.endMs).toISOString()})${ns}`;
}

/** How a run's windows went, for the manifest: billing days, how many of them were split, the smallest window (seconds). */
export interface QueryWindowStats {
  days: number;
  split: number;
  smallestSeconds: number;
}

/** Folds the windows a run actually queried (each tagged with its day) into its stats. */
export function queryWindowStats(days: number, queried: readonly QueryWindow[], splitDays: ReadonlySet<string>): QueryWindowStats {
  const smallest = queried.reduce((m, w) => Math.min(m, seconds(w)), Infinity);
  return { days, split: splitDays.size, smallestSeconds: Number.isFinite(smallest) ? smallest : 0 };
}
