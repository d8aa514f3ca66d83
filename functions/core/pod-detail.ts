/**
 * Per-pod detail of a chargeback (pods.csv): which pods a row's GPU-hours came from.
 *
 * Pure. A pod row carries the same split as its chargeback row (cluster × tenant ×
 * namespace × GPU model × instance type × capacity type) plus the pod and its node, and
 * the same fractions (MIG slice ÷ slices per GPU, time-slicing ÷ replicas) as the row.
 *
 * Rounding: the row publishes its exact sum rounded to 6 decimals once; rounding every
 * pod on its own would make the pods add up to a few millionths more or less than the
 * row. So the row's published GPU-hours are apportioned over its pods in proportion to
 * their exact GPU-hours (largest remainder at 1e-6), and the pods of a row add up to it
 * exactly. A pod therefore differs from its own exact value by less than 1e-6 GPU-h.
 *
 * No cost per pod: cost is rounded once per row. A pod's share of a row's cost is its
 * allocated GPU-hours × that row's correction factor × that row's unit price.
 */
import { D, type Dec } from "./decimal.js";
import type { RowSplit } from "./attribution.js";

export interface PodRow extends RowSplit {
  pod: string;
  node: string;
  allocatedGpuHours: Dec;
  usedGpuHours: Dec;
  /** The pod's exact used ÷ allocated (not the quotient of its apportioned hours). */
  avgUtilization: Dec;
}

/** A pod's exact (unrounded) GPU-hours on one node, with the chargeback row it belongs to. */
export interface PodShare {
  /** Key of the chargeback row (same split). */
  rowKey: string;
  split: RowSplit;
  pod: string;
  node: string;
  alloc: Dec;
  used: Dec;
}

/** The rounded totals of one chargeback row, as published. */
export interface RowTotals {
  rowKey: string;
  allocatedGpuHours: Dec;
  usedGpuHours: Dec;
}

/**
 * Splits `target` (a value with at most `dp` decimals) over `weights` in proportion,
 * each part with at most `dp` decimals and the parts summing to `target` exactly
 * (largest remainder; ties go to the earlier weight, so callers sort their input).
 * All-zero weights: `fallback` weights are used, and a zero target gives zeros.
 */
export function apportion(target: Dec, weights: readonly Dec[], dp: number, fallback?: readonly Dec[]): Dec[] {
  if (weights.length === 0) {
    if (!target.isZero()) throw new Error(`cannot apportion ${target.toFixed()} over no parts`);
    return [];
  }
  const total = weights.reduce((a, b) => a.add(b), new D(0));
  if (total.isZero()) {
    if (target.isZero()) return weights.map(() => new D(0));
    if (fallback && fallback.some((w) => !w.isZero())) return apportion(target, fallback, dp);
    throw new Error(`cannot apportion ${target.toFixed()} over parts that all weigh 0`);
  }
  // One division per row, not per part: the residual step below keeps the sum exact whatever the last digit.
  const perWeight = target.div(total);
  const shares = weights.map((w) => w.mul(perWeight));
  const parts = shares.map((s) => s.toDecimalPlaces(dp, D.ROUND_DOWN));
  const unit = new D(1).div(new D(10).pow(dp));
  let left = target
    .sub(parts.reduce((a, b) => a.add(b), new D(0)))
    .div(unit)
    .round()
    .toNumber();
  const order = shares.map((s, i) => ({ i, rem: s.sub(parts[i]!) })).sort((a, b) => b.rem.cmp(a.rem) || a.i - b.i);
  // `left` is below the number of parts; the loop also absorbs a last unit of the division's own rounding.
  for (let j = 0; left > 0; j = (j + 1) % order.length, left--) parts[order[j]!.i] = parts[order[j]!.i]!.add(unit);
  for (let j = order.length - 1; left < 0; j = (j - 1 + order.length) % order.length, left++)
    parts[order[j]!.i] = parts[order[j]!.i]!.sub(unit);
  return parts;
}

/**
 * The pod rows of a chargeback: each row's published allocated and used GPU-hours
 * apportioned over its pods (see the file comment). Pods of a split with no row (no
 * allocation) are left out, as the row is.
 */
export function podRows(shares: readonly PodShare[], rows: readonly RowTotals[], hoursDp: number, ratioDp: number): PodRow[] {
  const byRow = new Map<string, PodShare[]>();
  for (const s of shares) (byRow.get(s.rowKey) ?? byRow.set(s.rowKey, []).get(s.rowKey)!).push(s);
  const out: PodRow[] = [];
  for (const r of rows) {
    const pods = (byRow.get(r.rowKey) ?? []).sort((a, b) =>
      a.pod < b.pod ? -1 : a.pod > b.pod ? 1 : a.node < b.node ? -1 : a.node > b.node ? 1 : 0,
    );
    if (pods.length === 0) continue;
    const alloc = apportion(
      r.allocatedGpuHours,
      pods.map((p) => p.alloc),
      hoursDp,
    );
    const used = apportion(
      r.usedGpuHours,
      pods.map((p) => p.used),
      hoursDp,
      pods.map((p) => p.alloc),
    );
    pods.forEach((p, i) =>
      out.push({
        ...p.split,
        pod: p.pod,
        node: p.node,
        allocatedGpuHours: alloc[i]!,
        usedGpuHours: used[i]!,
        avgUtilization: p.alloc.isZero() ? new D(0) : p.used.div(p.alloc).toDecimalPlaces(20).toDecimalPlaces(ratioDp),
      }),
    );
  }
  return out;
}
