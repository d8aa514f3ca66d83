import { DEFAULT_CLUSTER_ID, type BaseConfig, type Granularity } from "./config.js";
import {
  gpuFractionPerUnit,
  makeTenantResolver,
  normaliseCapacityType,
  type CapacityType,
  type RowSplit,
  type TenantAttribution,
} from "./attribution.js";
import { correctionFactor } from "./correction.js";
import { D, type Dec } from "./decimal.js";
import type { MonthUsage, NamespaceRecord, NodeRecord, PodUsageRecord } from "./usage.js";
import { podRows, type PodRow, type PodShare } from "./pod-detail.js";
import { DOCTOR_HINT } from "./doctor-hint.js";
import { BadInputError } from "./errors.js";
import { nodeHourlyPrices, type PriceSnapshot } from "./price-snapshot.js";

/** GPU-hours and utilization are published with this many decimals; cost is computed from the published values. */
export const HOURS_DP = 6;
export const RATIO_DP = 4;
/** Unit prices (hourly ÷ GPUs) are kept exact up to this many decimals. */
export const PRICE_DP = 10;
/** Used GPU-minutes arrive as float sums; they are quantised to this many decimals first. */
export const USED_MINUTES_DP = 6;

/** The split a chargeback row stands for: cluster × tenant × namespace × GPU model × instance type × capacity type. */
export interface ChargebackRow extends RowSplit {
  month: string;
  allocatedGpuHours: Dec;
  usedGpuHours: Dec;
  avgUtilization: Dec;
  correctionFactor: Dec;
  billableGpuHours: Dec;
  unitPrice: Dec;
  cost: Dec;
  currency: string;
}

export interface DailyRow extends RowSplit {
  day: string;
  allocatedGpuHours: Dec;
  usedGpuHours: Dec;
  avgUtilization: Dec;
}

export interface CapacityRow {
  cluster: string;
  nodeGroup: string;
  gpuModel: string;
  instanceType: string;
  capacityType: CapacityType;
  nodes: number;
  nodeGpuHours: Dec;
  allocatedGpuHours: Dec;
  idleGpuHours: Dec;
  idleRatio: Dec;
  unitPrice: Dec;
  idleCost: Dec;
}

/** One GPU node over the month: what its capacity cost at the unit price (the metered side of the reconciliation to the AWS bill). */
export interface NodeRow {
  cluster: string;
  node: string;
  /** kube_node_info provider_id(s), space-separated; empty when kube-state-metrics exported none. */
  providerId: string;
  nodeGroup: string;
  gpuModel: string;
  instanceType: string;
  capacityType: CapacityType;
  nodeGpuHours: Dec;
  unitPrice: Dec;
  /** node_gpu_hours × unit_price, rounded half-up to the currency's minor unit once per node. */
  capacityCost: Dec;
}

export interface Chargeback {
  month: string;
  currency: string;
  /** Money columns are printed with exactly this many decimals (3.80, not 3.8). */
  currencyDecimals: number;
  rows: ChargebackRow[];
  daily: DailyRow[];
  capacity: CapacityRow[];
  /** Per-node capacity (nodes.csv). Absent only in chargebacks built by hand (older callers and fixtures). */
  nodes?: NodeRow[];
  /**
   * Per-pod detail (pod-detail.ts): the pods of each row add up to its allocated and used
   * GPU-hours exactly. Absent when the usage carried no pod records.
   */
  pods?: PodRow[];
  totals: {
    allocatedGpuHours: Dec;
    usedGpuHours: Dec;
    billableGpuHours: Dec;
    cost: Dec;
    nodeGpuHours: Dec;
    idleGpuHours: Dec;
    idleCost: Dec;
  };
  /** Things finance should know that do not stop the bill (e.g. an unknown tenant label billed as unallocated). */
  warnings: string[];
}

/** Input that cannot be billed correctly; every problem is listed so one fix-and-rerun suffices. */
export class UnbillableInputError extends BadInputError {
  constructor(readonly problems: string[]) {
    super(`cannot bill this month:\n  ${problems.join("\n  ")}\n${DOCTOR_HINT}`);
    this.name = "UnbillableInputError";
  }
}

/** A GPU node as the bill sees it: its price-relevant facts, resolved once per cluster and node. */
interface BilledNode {
  cluster: string;
  instanceType: string;
  gpuModel: string;
  gpus: number;
  capacityType: CapacityType;
  gpuReplicas: number;
  nodeGroup: string;
  hourly: Dec;
}

/**
 * used ÷ allocated. Hours carry repeating decimals (÷60, MIG ÷7), so a quotient that is
 * exactly 0.7 can come out as 0.6999…9 at 40 digits; cutting it to 20 decimals first
 * puts it back on the tier bound and the half-step where it belongs.
 */
function ratio(used: Dec, alloc: Dec): Dec {
  return alloc.isZero() ? new D(0) : used.div(alloc).toDecimalPlaces(20);
}

const rowKey = (...parts: string[]) => parts.join("\u0000");

/** The cluster a record belongs to; records without one (single-cluster callers) are the default cluster. */
const clusterOf = (r: { cluster?: string }) => r.cluster ?? DEFAULT_CLUSTER_ID;

/** Node names are unique only inside a cluster: every key that names a node names its cluster too. */
const nodeKey = (r: { cluster?: string; node: string }) => rowKey(clusterOf(r), r.node);

/** How a node is named in messages: `node` alone for the default cluster, `cluster/node` otherwise. */
const nodeLabel = (r: { cluster?: string; node: string }) => (clusterOf(r) === DEFAULT_CLUSTER_ID ? r.node : `${clusterOf(r)}/${r.node}`);

function unitKey(g: Granularity, r: RowSplit): string {
  switch (g) {
    case "namespace-gpu_model":
      return rowKey(r.namespace, r.gpuModel);
    case "namespace":
      return rowKey(r.namespace);
    case "tenant":
      return rowKey(r.tenantId);
    case "tenant-gpu_model":
      return rowKey(r.tenantId, r.gpuModel);
    case "row":
      // Deliberately without the cluster: a correction unit spans clusters, so moving work between clusters never changes its factor.
      return rowKey(r.tenantId, r.namespace, r.gpuModel, r.instanceType, r.capacityType);
  }
}

/**
 * Resolves every node's price-relevant facts once, collecting every problem instead of stopping at
 * the first. With a price snapshot each node's hourly price is the snapshot's (the month's Spot
 * history, the price list or the config, price-snapshot.ts); without one, the config's.
 */
function resolveNodes(nodes: NodeRecord[], cfg: BaseConfig, problems: string[], prices?: PriceSnapshot): Map<string, BilledNode> {
  const out = new Map<string, BilledNode>();
  const missingPrice = new Set<string>();
  const snapshot = prices ? nodeHourlyPrices(prices) : undefined;
  const unpricedNodes: string[] = [];
  for (const n of nodes) {
    if (out.has(nodeKey(n))) continue;
    const price = cfg.prices[n.instanceType];
    const cap = normaliseCapacityType(n.capacityLabel);
    if (!n.instanceType) problems.push(`node ${nodeLabel(n)} has no instance-type label (label_node_kubernetes_io_instance_type)`);
    else if (!price) missingPrice.add(n.instanceType);
    if (!cap)
      problems.push(
        `node ${nodeLabel(n)} has capacity-type label "${n.capacityLabel}"; expected spot/on-demand (Karpenter) or SPOT/ON_DEMAND (EKS)`,
      );
    if (!price || !cap) continue;
    const hourly = snapshot ? snapshot.get(nodeKey(n)) : new D(cap === "spot" ? price.spotHourly : price.onDemandHourly);
    if (!hourly) {
      unpricedNodes.push(nodeLabel(n));
      continue;
    }
    out.set(nodeKey(n), {
      cluster: clusterOf(n),
      instanceType: n.instanceType,
      gpuModel: price.gpuModel,
      gpus: price.gpus,
      capacityType: cap,
      gpuReplicas: n.gpuReplicas,
      nodeGroup: n.nodeGroup || `${n.instanceType}/${cap}`,
      hourly,
    });
  }
  if (missingPrice.size) problems.push(`instance types with no price in the config: ${[...missingPrice].sort().join(", ")}`);
  if (unpricedNodes.length)
    problems.push(`GPU nodes with no price in the month's price snapshot (${prices!.source}): ${unpricedNodes.join(", ")}`);
  return out;
}

export function unitPrice(info: Pick<BilledNode, "hourly" | "gpus">): Dec {
  return info.hourly.div(info.gpus).toDecimalPlaces(PRICE_DP);
}

/** The unit prices of the nodes behind one row (or node group), weighted by the GPU-hours each contributed. */
interface PriceMix {
  add(unit: Dec, gpuHours: Dec): void;
  /** One price: that price exactly. Several (Spot nodes in different zones or spans): Σ unit × GPU-hours ÷ Σ GPU-hours, to PRICE_DP. */
  unit(): Dec;
}

function priceMix(): PriceMix {
  const distinct = new Set<string>();
  let weighted = new D(0);
  let hours = new D(0);
  let first: Dec | undefined;
  return {
    add(unit, gpuHours) {
      first ??= unit;
      distinct.add(unit.toFixed());
      weighted = weighted.add(unit.mul(gpuHours));
      hours = hours.add(gpuHours);
    },
    unit() {
      if (distinct.size <= 1 || hours.isZero()) return first ?? new D(0);
      return weighted.div(hours).toDecimalPlaces(PRICE_DP);
    },
  };
}

function sortBy<T>(xs: T[], key: (x: T) => string): T[] {
  return xs.sort((a, b) => {
    const ka = key(a);
    const kb = key(b);
    return ka < kb ? -1 : ka > kb ? 1 : 0;
  });
}

/**
 * The metering model, from measured minutes to a priced chargeback.
 * Pure: same usage + config + month → same result, so any run can be replayed.
 *
 * The passes: resolve the nodes and the namespaces' tenant labels, accumulate the usage per
 * row and day, take the pods' shares, refuse the month if anything could not be billed (every
 * problem at once), then correct and price the rows, and summarise the days and the capacity.
 */
export function computeChargeback(usage: MonthUsage, cfg: BaseConfig, month: string, prices?: PriceSnapshot): Chargeback {
  const problems: string[] = [];
  const warnings: string[] = [];
  const billing: Billing = {
    nodes: resolveNodes(usage.nodes, cfg, problems, prices),
    labels: namespaceTenantLabels(usage.namespaces, warnings),
    resolveTenant: makeTenantResolver(cfg.tenants),
    migSlicesPerGpu: cfg.migSlicesPerGpu,
  };
  const acc = accumulateUsage(usage, billing, problems, warnings);
  const podShares = usage.pods ? podSharesOf(usage, (p) => podShare(p, billing), problems) : undefined;
  if (acc.unattributed.size)
    problems.push(
      `GPU requests on nodes with no kube_node_labels series (cannot price them; refusing to drop them): ${[...acc.unattributed].sort().join("; ")}`,
    );
  if (problems.length) throw new UnbillableInputError(problems);

  const { rows, rowKeys } = chargebackRows(acc.monthly, cfg, month);
  const capacity = computeCapacity(usage.nodes, billing.nodes, acc.allocByNode, cfg);
  return {
    month,
    currency: cfg.currency,
    currencyDecimals: cfg.currencyDecimals,
    rows,
    daily: dailyRowsOf(acc.daily, acc.monthly),
    capacity,
    nodes: computeNodeRows(usage.nodes, billing.nodes, cfg),
    ...(podShares
      ? {
          pods: podRows(
            podShares,
            rows.map((r) => ({ rowKey: rowKeys.get(r)!, allocatedGpuHours: r.allocatedGpuHours, usedGpuHours: r.usedGpuHours })),
            HOURS_DP,
            RATIO_DP,
          ),
        }
      : {}),
    totals: chargebackTotals(rows, capacity),
    warnings,
  };
}

/** What every pass needs to put a usage or pod record on its row: the resolved nodes and how namespaces map to tenants. */
interface Billing {
  nodes: Map<string, BilledNode>;
  /** Each namespace's tenant label, keyed by cluster and namespace (namespaceKey). */
  labels: Map<string, string>;
  resolveTenant: ReturnType<typeof makeTenantResolver>;
  migSlicesPerGpu: BaseConfig["migSlicesPerGpu"];
}

// A namespace's tenant label is what its own cluster says (the same name may be labelled differently elsewhere).
const namespaceKey = (r: { cluster?: string; namespace: string }) => rowKey(clusterOf(r), r.namespace);
const namespaceLabel = (r: { cluster?: string; namespace: string }) =>
  clusterOf(r) === DEFAULT_CLUSTER_ID ? r.namespace : `${clusterOf(r)}/${r.namespace}`;

/** Each namespace's tenant label; a namespace relabelled during the month is billed to the first of its labels in sort order, with a warning. */
function namespaceTenantLabels(namespaces: NamespaceRecord[], warnings: string[]): Map<string, string> {
  const labels = new Map<string, string>();
  for (const ns of namespaces) {
    const prev = labels.get(namespaceKey(ns));
    if (prev !== undefined && prev !== ns.tenantLabel) {
      const chosen = [prev, ns.tenantLabel].sort()[0]!;
      warnings.push(
        `namespace ${namespaceLabel(ns)} carried tenant labels "${prev}" and "${ns.tenantLabel}" during the month; billed to "${chosen}"`,
      );
      labels.set(namespaceKey(ns), chosen);
    } else labels.set(namespaceKey(ns), ns.tenantLabel);
  }
  return labels;
}

/** The row a record on this node is billed on, and the row's key. */
function rowOf(node: BilledNode, tenant: TenantAttribution, namespace: string): { key: string; split: RowSplit } {
  return {
    key: rowKey(node.cluster, tenant.tenantId, namespace, node.gpuModel, node.instanceType, node.capacityType),
    split: {
      cluster: node.cluster,
      tenantId: tenant.tenantId,
      tenantName: tenant.tenantName,
      namespace,
      gpuModel: node.gpuModel,
      instanceType: node.instanceType,
      capacityType: node.capacityType,
    },
  };
}

type Acc = { alloc: Dec; used: Dec };
const emptyAcc = (): Acc => ({ alloc: new D(0), used: new D(0) });

interface MonthlyRow {
  key: RowSplit;
  acc: Acc;
  info: BilledNode;
  price: PriceMix;
}

interface UsageTotals {
  /** Per row key, in the order the rows were first seen. */
  monthly: Map<string, MonthlyRow>;
  daily: Map<string, { day: string; key: string; acc: Acc }>;
  /** Allocated GPU-hours per node (nodeKey), for the idle capacity. */
  allocByNode: Map<string, Dec>;
  /** Usage on nodes that have no node record at all, by label. */
  unattributed: Set<string>;
}

/** The namespace records' exact GPU-hours summed per row, per row and day, and per node. */
function accumulateUsage(usage: MonthUsage, billing: Billing, problems: string[], warnings: string[]): UsageTotals {
  const totals: UsageTotals = { monthly: new Map(), daily: new Map(), allocByNode: new Map(), unattributed: new Set() };
  const warned = new Set<string>();
  for (const u of usage.usage) {
    if (u.requestMinutes === 0 && u.usedMinutes === 0) continue;
    const info = billing.nodes.get(nodeKey(u));
    if (!info) {
      if (!usage.nodes.some((n) => nodeKey(n) === nodeKey(u))) totals.unattributed.add(`${u.namespace} on node ${nodeLabel(u)}`);
      continue;
    }
    let frac: { num: number; den: number };
    try {
      frac = gpuFractionPerUnit(u.resource, info.gpuModel, info.gpuReplicas, billing.migSlicesPerGpu);
    } catch (e) {
      problems.push(`${u.namespace} on node ${nodeLabel(u)}: ${(e as Error).message}`);
      continue;
    }
    const t = billing.resolveTenant(u.namespace, billing.labels.get(namespaceKey(u)));
    if (t.warning && !warned.has(t.warning)) {
      warned.add(t.warning);
      warnings.push(t.warning);
    }
    const alloc = new D(u.requestMinutes).mul(frac.num).div(frac.den).div(60);
    // Prometheus sums floats in no fixed order; quantising to 1e-6 GPU-minutes keeps that noise
    // out of every published digit, so a re-run is byte-identical.
    const used = new D(u.usedMinutes).toDecimalPlaces(USED_MINUTES_DP).mul(frac.num).div(frac.den).div(60);
    const { key, split } = rowOf(info, t, u.namespace);
    let m = totals.monthly.get(key);
    if (!m) totals.monthly.set(key, (m = { key: split, acc: emptyAcc(), info, price: priceMix() }));
    m.price.add(unitPrice(info), alloc);
    m.acc.alloc = m.acc.alloc.add(alloc);
    m.acc.used = m.acc.used.add(used);
    const dk = rowKey(u.day, key);
    let d = totals.daily.get(dk);
    if (!d) totals.daily.set(dk, (d = { day: u.day, key, acc: emptyAcc() }));
    d.acc.alloc = d.acc.alloc.add(alloc);
    d.acc.used = d.acc.used.add(used);
    totals.allocByNode.set(nodeKey(u), (totals.allocByNode.get(nodeKey(u)) ?? new D(0)).add(alloc));
  }
  return totals;
}

/** A pod record's exact GPU-hours on its row; undefined where its namespace record is already a problem. */
function podShare(p: PodUsageRecord, billing: Billing): PodShare | undefined {
  const info = billing.nodes.get(nodeKey(p));
  if (!info) return undefined; // the namespace record on this node is already a problem
  let frac: { num: number; den: number };
  try {
    frac = gpuFractionPerUnit(p.resource, info.gpuModel, info.gpuReplicas, billing.migSlicesPerGpu);
  } catch {
    return undefined; // likewise reported for the namespace record
  }
  const t = billing.resolveTenant(p.namespace, billing.labels.get(namespaceKey(p)));
  const { key, split } = rowOf(info, t, p.namespace);
  return {
    rowKey: key,
    split,
    pod: p.pod,
    node: p.node,
    // The same values as the rows' (units × num ÷ den ÷ 60) with one division each: pods are many.
    alloc: new D(p.requestMinutes * frac.num).div(frac.den * 60),
    used:
      p.usedMinutes === 0
        ? new D(0)
        : new D(p.usedMinutes)
            .toDecimalPlaces(USED_MINUTES_DP)
            .mul(frac.num)
            .div(frac.den * 60),
  };
}

/**
 * The corrected, priced rows, sorted, with each row's key (for its pods). Correction is decided
 * per unit (namespace × GPU model by default) on the unit's whole month.
 */
function chargebackRows(
  monthly: Map<string, MonthlyRow>,
  cfg: BaseConfig,
  month: string,
): { rows: ChargebackRow[]; rowKeys: Map<ChargebackRow, string> } {
  const g = cfg.correction.granularity;
  const units = new Map<string, Acc>();
  for (const m of monthly.values()) {
    const uk = unitKey(g, m.key);
    const a = units.get(uk) ?? emptyAcc();
    units.set(uk, { alloc: a.alloc.add(m.acc.alloc), used: a.used.add(m.acc.used) });
  }
  const unitUtil = (k: string) => {
    const a = units.get(k)!;
    return ratio(a.used, a.alloc);
  };

  const rows: ChargebackRow[] = [];
  const rowKeys = new Map<ChargebackRow, string>();
  for (const [mk, m] of monthly) {
    if (m.acc.alloc.isZero()) continue;
    const util = unitUtil(unitKey(g, m.key));
    const factor = correctionFactor(util, cfg.correction.tiers);
    const allocated = m.acc.alloc.toDecimalPlaces(HOURS_DP);
    const billable = allocated.mul(factor).toDecimalPlaces(HOURS_DP);
    const price = m.price.unit();
    rows.push({
      month,
      ...m.key,
      allocatedGpuHours: allocated,
      usedGpuHours: m.acc.used.toDecimalPlaces(HOURS_DP),
      avgUtilization: util.toDecimalPlaces(RATIO_DP),
      correctionFactor: factor,
      billableGpuHours: billable,
      unitPrice: price,
      cost: billable.mul(price).toDecimalPlaces(cfg.currencyDecimals),
      currency: cfg.currency,
    });
    rowKeys.set(rows[rows.length - 1]!, mk);
  }
  sortBy(rows, (r) => rowKey(r.tenantId, r.namespace, r.gpuModel, r.instanceType, r.capacityType, r.cluster));
  return { rows, rowKeys };
}

/** Each row's days (uncorrected: correction is a month's decision), sorted by day. */
function dailyRowsOf(daily: UsageTotals["daily"], monthly: Map<string, MonthlyRow>): DailyRow[] {
  const dailyRows: DailyRow[] = [];
  for (const d of daily.values()) {
    if (d.acc.alloc.isZero()) continue;
    const k = monthly.get(d.key)!.key;
    dailyRows.push({
      day: d.day,
      ...k,
      allocatedGpuHours: d.acc.alloc.toDecimalPlaces(HOURS_DP),
      usedGpuHours: d.acc.used.toDecimalPlaces(HOURS_DP),
      avgUtilization: ratio(d.acc.used, d.acc.alloc).toDecimalPlaces(RATIO_DP),
    });
  }
  return sortBy(dailyRows, (r) => rowKey(r.day, r.tenantId, r.namespace, r.gpuModel, r.instanceType, r.capacityType, r.cluster));
}

/** The sums of the published (already rounded) values, so the totals are what the files add up to. */
function chargebackTotals(rows: ChargebackRow[], capacity: CapacityRow[]): Chargeback["totals"] {
  const sum = (xs: Dec[]) => xs.reduce((a, b) => a.add(b), new D(0));
  return {
    allocatedGpuHours: sum(rows.map((r) => r.allocatedGpuHours)),
    usedGpuHours: sum(rows.map((r) => r.usedGpuHours)),
    billableGpuHours: sum(rows.map((r) => r.billableGpuHours)),
    cost: sum(rows.map((r) => r.cost)),
    nodeGpuHours: sum(capacity.map((c) => c.nodeGpuHours)),
    idleGpuHours: sum(capacity.map((c) => c.idleGpuHours)),
    idleCost: sum(capacity.map((c) => c.idleCost)),
  };
}

/**
 * Each pod record's exact GPU-hours in its row's split, after checking that the pods
 * account for their namespace records: per (cluster, namespace, node, resource) the pods'
 * request minutes must equal the namespace records' (used minutes within quantisation
 * noise). Otherwise the per-pod detail would not be the bill's, and apportioning would hide it.
 */
function podSharesOf(usage: MonthUsage, share: (p: PodUsageRecord) => PodShare | undefined, problems: string[]): PodShare[] {
  const sums = new Map<string, { label: string; req: number; used: number; podReq: number; podUsed: number; pods: number }>();
  const at = (r: { cluster?: string; namespace: string; node: string; resource: string }) => {
    const key = rowKey(clusterOf(r), r.namespace, r.node, r.resource);
    return (
      sums.get(key) ??
      sums
        .set(key, { label: `${r.namespace} on node ${nodeLabel(r)} (${r.resource})`, req: 0, used: 0, podReq: 0, podUsed: 0, pods: 0 })
        .get(key)!
    );
  };
  for (const u of usage.usage) {
    const s = at(u);
    s.req += u.requestMinutes;
    s.used += u.usedMinutes;
  }
  const shares: PodShare[] = [];
  for (const p of usage.pods ?? []) {
    const s = at(p);
    s.podReq += p.requestMinutes;
    s.podUsed += p.usedMinutes;
    s.pods++;
    if (p.requestMinutes === 0 && p.usedMinutes === 0) continue;
    const sh = share(p);
    if (sh) shares.push(sh);
  }
  for (const s of sums.values()) {
    const tol = (x: number) => 1e-9 * Math.abs(x) + 1e-6 * (s.pods + 1) + 1e-6;
    if (Math.abs(s.req - s.podReq) > tol(s.req) || Math.abs(s.used - s.podUsed) > tol(s.used) + 1e-3)
      problems.push(
        `pod detail of ${s.label} does not add up to its usage: pods ${s.podReq} request / ${s.podUsed} used GPU-minutes, namespace ${s.req} / ${s.used}`,
      );
  }
  return shares;
}

/** Node GPU-hours (GPUs × time the node existed) against what pods were allocated, per node group. */
function computeCapacity(
  records: NodeRecord[],
  nodes: Map<string, BilledNode>,
  allocByNode: Map<string, Dec>,
  cfg: BaseConfig,
): CapacityRow[] {
  const groups = new Map<string, { info: BilledNode; nodes: Set<string>; nodeHours: Dec; alloc: Dec; price: PriceMix }>();
  for (const r of records) {
    const info = nodes.get(nodeKey(r))!;
    const k = rowKey(info.cluster, info.nodeGroup, info.instanceType, info.capacityType);
    let gr = groups.get(k);
    if (!gr) groups.set(k, (gr = { info, nodes: new Set(), nodeHours: new D(0), alloc: new D(0), price: priceMix() }));
    if (!gr.nodes.has(r.node)) {
      gr.nodes.add(r.node); // a group lives in one cluster, so the bare node name is unique here
      gr.alloc = gr.alloc.add(allocByNode.get(nodeKey(r)) ?? 0);
    }
    const hours = new D(r.nodeMinutes).mul(info.gpus).div(60);
    gr.nodeHours = gr.nodeHours.add(hours);
    gr.price.add(unitPrice(info), hours);
  }
  const rows: CapacityRow[] = [];
  for (const gr of groups.values()) {
    const nodeGpuHours = gr.nodeHours.toDecimalPlaces(HOURS_DP);
    const allocated = gr.alloc.toDecimalPlaces(HOURS_DP);
    const idle = nodeGpuHours.sub(allocated);
    const price = gr.price.unit();
    rows.push({
      cluster: gr.info.cluster,
      nodeGroup: gr.info.nodeGroup,
      gpuModel: gr.info.gpuModel,
      instanceType: gr.info.instanceType,
      capacityType: gr.info.capacityType,
      nodes: gr.nodes.size,
      nodeGpuHours,
      allocatedGpuHours: allocated,
      idleGpuHours: idle,
      idleRatio: nodeGpuHours.isZero() ? new D(0) : idle.div(nodeGpuHours).toDecimalPlaces(RATIO_DP),
      unitPrice: price,
      idleCost: idle.mul(price).toDecimalPlaces(cfg.currencyDecimals),
    });
  }
  return sortBy(rows, (r) => rowKey(r.cluster, r.nodeGroup, r.instanceType, r.capacityType));
}

/** Each GPU node's GPU-hours over the month priced at its unit price, with the instance(s) behind it. */
function computeNodeRows(records: NodeRecord[], nodes: Map<string, BilledNode>, cfg: BaseConfig): NodeRow[] {
  const byNode = new Map<string, { info: BilledNode; node: string; providerIds: Set<string>; hours: Dec }>();
  for (const r of records) {
    const k = nodeKey(r);
    let n = byNode.get(k);
    if (!n) byNode.set(k, (n = { info: nodes.get(k)!, node: r.node, providerIds: new Set(), hours: new D(0) }));
    for (const id of (r.providerId ?? "").split(" ").filter(Boolean)) n.providerIds.add(id);
    n.hours = n.hours.add(new D(r.nodeMinutes).mul(n.info.gpus).div(60));
  }
  const rows = [...byNode.values()].map((n): NodeRow => {
    const nodeGpuHours = n.hours.toDecimalPlaces(HOURS_DP);
    const price = unitPrice(n.info);
    return {
      cluster: n.info.cluster,
      node: n.node,
      providerId: [...n.providerIds].sort().join(" "),
      nodeGroup: n.info.nodeGroup,
      gpuModel: n.info.gpuModel,
      instanceType: n.info.instanceType,
      capacityType: n.info.capacityType,
      nodeGpuHours,
      unitPrice: price,
      capacityCost: nodeGpuHours.mul(price).toDecimalPlaces(cfg.currencyDecimals),
    };
  });
  return sortBy(rows, (r) => rowKey(r.cluster, r.node));
}
