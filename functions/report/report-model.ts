import { billingMonth } from "../core/month.js";
import { configHash, UNALLOCATED } from "../core/config.js";
import { quotaSettings } from "../quota/evaluate-quota.js";
import { D, type Dec } from "../core/decimal.js";
import type { NodePrice, PriceOrigin, PriceSnapshot } from "../core/price-snapshot.js";
import { PRICE_DP, RATIO_DP, type CapacityRow } from "../core/chargeback.js";
import type { CapacityType } from "../core/attribution.js";
import type { ChargebackLine, ControllerLine, ParsedDataset, PodLine } from "./dataset-files.js";
import type { ControllerStatus } from "../core/controller-savings.js";
import { BadInputError } from "../core/errors.js";
import type { QuotaConfig } from "../quota/quota-config.js";

/** Whose report: the whole platform (executives, finance) or one tenant (that tenant only). */
export type ReportScope = { kind: "all" } | { kind: "tenant"; tenantId: string };

export interface Sums {
  allocatedGpuHours: Dec;
  usedGpuHours: Dec;
  billableGpuHours: Dec;
  cost: Dec;
  /** used ÷ allocated */
  utilization: Dec;
}

export interface TenantLine extends Sums {
  tenantId: string;
  tenantName: string;
}

export interface CapacityTypeLine extends Sums {
  capacityType: CapacityType;
  /** What the same billable GPU-hours would have cost at On-Demand prices. */
  onDemandCost: Dec;
  /** onDemandCost − cost: what Spot saved (0 for On-Demand). */
  savings: Dec;
}

export interface NamespaceLine extends Sums {
  tenantId: string;
  tenantName: string;
  namespace: string;
  gpuModel: string;
  /** The correction factor(s) applied (one per correction unit; a namespace normally has one per GPU model). */
  factors: Dec[];
}

export interface DailyPoint {
  day: string;
  allocatedGpuHours: Dec;
  usedGpuHours: Dec;
}

/** Idle capacity of one node group; `nodeGroup` reads `cluster/node group` when the month has several clusters. */
export type IdleLine = Omit<CapacityRow, "cluster">;

export interface QuotaLine {
  tenantId: string;
  tenantName: string;
  /** On the quota check's basis (`quota.basis`): allocated GPU-hours by default (capacity held, whatever the utilization), or billable. */
  usedGpuHours: Dec;
  quotaGpuHours?: Dec;
  /** used ÷ quota, absent when unlimited. */
  ratio?: Dec;
  over: boolean;
}

export interface PriceLine {
  instanceType: string;
  gpus: number;
  gpuModel: string;
  onDemandHourly: Dec;
  /** Absent: the month's snapshot priced no Spot node of this type (source aws). */
  spotHourly?: Dec;
  onDemandPerGpu: Dec;
  spotPerGpu?: Dec;
  onDemandOrigin: PriceOrigin;
  spotOrigin?: PriceOrigin;
}

/** Spot prices of one instance type in one zone over the month (source aws): minutes-weighted over its nodes. */
export interface SpotZoneLine {
  instanceType: string;
  zone: string;
  nodes: number;
  hourly: Dec;
  perGpu: Dec;
  /** Price changes in effect during the month (the one in effect at its start included). */
  changes: number;
  lowest: Dec;
  highest: Dec;
}

export interface ReportModel {
  month: string;
  timeZone: string;
  period: { start: string; end: string };
  currency: string;
  currencyDecimals: number;
  scope: { kind: "all" } | { kind: "tenant"; tenantId: string; tenantName: string };
  totals: Sums & { spotSavings: Dec; onDemandEquivalentCost: Dec };
  tenants: TenantLine[];
  capacityTypes: CapacityTypeLine[];
  daily: DailyPoint[];
  namespaces: NamespaceLine[];
  topNamespaces: NamespaceLine[];
  /**
   * The tenant's pods (pods.csv): tenant scope only, and only that tenant's lines. Absent in
   * the platform scope (finance has pods.csv itself) and for months without pod detail.
   */
  pods?: PodLine[];
  /** Cluster capacity and idle: platform-wide, so only in the "all" scope (it would reveal other tenants' totals). */
  idle?: { lines: IdleLine[]; nodeGpuHours: Dec; idleGpuHours: Dec; idleCost: Dec };
  /**
   * What the idle-node controller did (controller-actions.csv), platform scope only, beside idle:
   * absent for months metered before the file existed. `statuses` is one per cluster.
   */
  controller?: {
    lines: ControllerLine[];
    statuses: { cluster: string; status: ControllerStatus }[];
    nodesReclaimed: number;
    scaleOuts: number;
    gpuNodeHoursSaved: Dec;
    savedCost: Dec;
    estimate: string;
  };
  /**
   * The month against the AWS bill (reconciliation.csv), platform scope only, when `reconcile` has run:
   * per node group AWS cost, metered capacity cost, difference; and how many instances only one side knows.
   */
  reconciliation?: {
    lines: { nodeGroup: string; capacityType: CapacityType; awsCost: Dec; meteredCost: Dec; difference: Dec; differencePct?: Dec }[];
    total: { awsCost: Dec; meteredCost: Dec; difference: Dec; differencePct?: Dec };
    billedNotMetered: number;
    /** What AWS billed for those instances: in the total, on no node group's line. */
    billedNotMeteredCost: Dec;
    meteredNotBilled: number;
    invoiced: boolean;
  };
  quota: QuotaLine[];
  /** What `quota[].usedGpuHours` counts (config `quota.basis`). */
  quotaBasis: "allocated" | "billable";
  methodology: {
    prices: PriceLine[];
    /** The month's Spot prices by zone (prices.json from AWS); empty under the config's prices. */
    spotByZone: SpotZoneLine[];
    /** `config` / `aws` from prices.json; absent for a month metered before prices.json. */
    priceFeed?: { source: "config" | "aws"; region?: string; skus: string[] };
    priceSource: string;
    tiers: { minUtilization: number; factor: Dec }[];
    granularity: string;
    manifestSha256: string;
    datasetConfigHash: string;
    /** The config the report was built with differs from the one the dataset was metered with. */
    configChanged: boolean;
    prometheusUrl: string;
    rounding: string;
    /** Manifest warnings (all scope only: they name other tenants' namespaces). */
    warnings: string[];
  };
}

export class UnknownTenantError extends BadInputError {
  constructor(readonly tenantId: string) {
    super(`tenant "${tenantId}" is not in the config`);
    this.name = "UnknownTenantError";
  }
}

const zero = () => new D(0);
const ratio = (a: Dec, b: Dec) => (b.isZero() ? zero() : a.div(b).toDecimalPlaces(RATIO_DP));

function sums(lines: ChargebackLine[]): Sums {
  let a = zero(),
    u = zero(),
    b = zero(),
    c = zero();
  for (const l of lines) {
    a = a.add(l.allocatedGpuHours);
    u = u.add(l.usedGpuHours);
    b = b.add(l.billableGpuHours);
    c = c.add(l.cost);
  }
  return { allocatedGpuHours: a, usedGpuHours: u, billableGpuHours: b, cost: c, utilization: ratio(u, a) };
}

function groupBy<T>(xs: T[], key: (x: T) => string): Map<string, T[]> {
  const m = new Map<string, T[]>();
  for (const x of xs) {
    const k = key(x);
    const g = m.get(k);
    if (g) g.push(x);
    else m.set(k, [x]);
  }
  return m;
}

const byKey =
  <T>(key: (x: T) => string) =>
  (a: T, b: T) => {
    const ka = key(a),
      kb = key(b);
    return ka < kb ? -1 : ka > kb ? 1 : 0;
  };

export const TOP_NAMESPACES = 10;

/** `cluster/group` when the month has several clusters, so two clusters' groups of the same name stay two lines a reader can tell apart. */
const qualified = (several: boolean, cluster: string | undefined, group: string) => (several ? `${cluster}/${group}` : group);

const sumOf = <T>(xs: T[], value: (x: T) => Dec) => xs.reduce((a, x) => a.add(value(x)), zero());

/**
 * The report's numbers, from the dataset as read back (never from Prometheus) and
 * the config (names, quotas, price table). Pure: the same dataset and config give
 * the same model. A tenant scope filters every row first, so nothing of another
 * tenant can reach a renderer.
 */
export function buildReportModel(ds: ParsedDataset, cfg: QuotaConfig, scope: ReportScope): ReportModel {
  const m = ds.manifest;
  const { rows, daily, scopeOut } = scopedRows(ds, cfg, scope);
  const { capacityTypes, spotSavings } = capacityTypeLines(ds, cfg, rows);
  const total = sums(rows);
  const { tenants, nameOf } = tenantLines(rows, cfg, scope);
  const namespaces = namespaceLines(rows, nameOf);
  const topNamespaces = [...namespaces]
    .sort((a, b) => b.cost.cmp(a.cost) || b.allocatedGpuHours.cmp(a.allocatedGpuHours))
    .slice(0, TOP_NAMESPACES);
  const { quota, quotaBasis } = quotaLines(tenants, cfg);
  const pods = scope.kind === "tenant" && ds.pods ? tenantPods(ds.pods, scope.tenantId) : undefined;
  const idle = scope.kind === "all" ? idleCapacity(ds.capacity) : undefined;
  const controller = scope.kind === "all" && ds.controller && m.controller ? controllerSavings(ds.controller, m.controller) : undefined;
  const reconciliation = scope.kind === "all" && ds.reconciliation ? reconciliationLines(ds.reconciliation) : undefined;

  return {
    month: m.month,
    timeZone: m.timeZone,
    period: m.period,
    currency: m.currency,
    currencyDecimals: cfg.currencyDecimals,
    scope: scopeOut,
    totals: { ...total, spotSavings, onDemandEquivalentCost: total.cost.add(spotSavings) },
    tenants,
    capacityTypes,
    daily: dailyPoints(m, daily),
    namespaces,
    topNamespaces,
    ...(pods ? { pods } : {}),
    idle,
    ...(controller ? { controller } : {}),
    ...(reconciliation ? { reconciliation } : {}),
    quota,
    quotaBasis,
    methodology: methodology(ds, cfg, scope),
  };
}

/** The chargeback and daily rows the report may show: all of them, or only the tenant's. */
function scopedRows(
  ds: ParsedDataset,
  cfg: QuotaConfig,
  scope: ReportScope,
): { rows: ChargebackLine[]; daily: ParsedDataset["daily"]; scopeOut: ReportModel["scope"] } {
  if (scope.kind === "all") return { rows: ds.chargeback, daily: ds.daily, scopeOut: { kind: "all" } };
  const t = cfg.tenants.find((x) => x.id === scope.tenantId);
  if (!t && scope.tenantId !== UNALLOCATED) throw new UnknownTenantError(scope.tenantId);
  const rows = ds.chargeback.filter((r) => r.tenantId === scope.tenantId);
  const daily = ds.daily.filter((r) => r.tenantId === scope.tenantId);
  return {
    rows,
    daily,
    scopeOut: { kind: "tenant", tenantId: scope.tenantId, tenantName: t?.name ?? rows[0]?.tenantName ?? scope.tenantId },
  };
}

/**
 * Spot savings: the same billable GPU-hours at the On-Demand unit price of the same instance type
 * (the month's price snapshot's when it has one: the price list's under source aws).
 */
function capacityTypeLines(
  ds: ParsedDataset,
  cfg: QuotaConfig,
  rows: ChargebackLine[],
): { capacityTypes: CapacityTypeLine[]; spotSavings: Dec } {
  const money = (d: Dec) => d.toDecimalPlaces(cfg.currencyDecimals);
  const snapshotTypes = new Map((ds.prices?.instanceTypes ?? []).map((t) => [t.instanceType, t]));
  const onDemandUnit = (instanceType: string): Dec | undefined => {
    const t = snapshotTypes.get(instanceType);
    if (t) return new D(t.onDemandHourly).div(t.gpus).toDecimalPlaces(PRICE_DP);
    const p = cfg.prices[instanceType];
    return p ? new D(p.onDemandHourly).div(p.gpus).toDecimalPlaces(PRICE_DP) : undefined;
  };
  const capacityTypes: CapacityTypeLine[] = (["on-demand", "spot"] as const).map((ct) => {
    const ls = rows.filter((r) => r.capacityType === ct);
    const s = sums(ls);
    let od = zero();
    for (const r of ls) od = od.add(ct === "spot" ? money(r.billableGpuHours.mul(onDemandUnit(r.instanceType) ?? r.unitPrice)) : r.cost);
    return { capacityType: ct, ...s, onDemandCost: od, savings: od.sub(s.cost) };
  });
  return { capacityTypes, spotSavings: sumOf(capacityTypes, (c) => c.savings) };
}

/** Tenants: every configured tenant appears (a tenant with no usage still sees its zero), then unallocated if billed. */
function tenantLines(
  rows: ChargebackLine[],
  cfg: QuotaConfig,
  scope: ReportScope,
): { tenants: TenantLine[]; nameOf: (id: string) => string } {
  const byTenant = groupBy(rows, (r) => r.tenantId);
  const tenantIds =
    scope.kind === "tenant" ? [scope.tenantId] : [...cfg.tenants.map((t) => t.id), ...(byTenant.has(UNALLOCATED) ? [UNALLOCATED] : [])];
  for (const id of byTenant.keys()) if (!tenantIds.includes(id)) tenantIds.push(id); // a tenant since removed from config
  const nameOf = (id: string) => cfg.tenants.find((t) => t.id === id)?.name ?? byTenant.get(id)?.[0]?.tenantName ?? id;
  return { tenants: tenantIds.map((id) => ({ tenantId: id, tenantName: nameOf(id), ...sums(byTenant.get(id) ?? []) })), nameOf };
}

/** One line per tenant × namespace × GPU model, with the correction factors its rows were billed at. */
function namespaceLines(rows: ChargebackLine[], nameOf: (id: string) => string): NamespaceLine[] {
  return [...groupBy(rows, (r) => `${r.tenantId}\u0000${r.namespace}\u0000${r.gpuModel}`).values()]
    .map((ls) => {
      const f = ls[0]!;
      const factors = [...new Set(ls.map((l) => l.correctionFactor.toFixed()))].sort().map((x) => new D(x));
      return { tenantId: f.tenantId, tenantName: nameOf(f.tenantId), namespace: f.namespace, gpuModel: f.gpuModel, factors, ...sums(ls) };
    })
    .sort(byKey((n) => `${n.tenantId}\u0000${n.namespace}\u0000${n.gpuModel}`));
}

/** Every day of the month appears, zero where nothing ran, so the trend line has no false gaps. */
function dailyPoints(m: ParsedDataset["manifest"], daily: ParsedDataset["daily"]): DailyPoint[] {
  const dayMap = new Map(
    billingMonth(m.month, m.timeZone).days.map((d) => [d.day, { day: d.day, allocatedGpuHours: zero(), usedGpuHours: zero() }]),
  );
  for (const d of daily) {
    const p = dayMap.get(d.day) ?? dayMap.set(d.day, { day: d.day, allocatedGpuHours: zero(), usedGpuHours: zero() }).get(d.day)!;
    p.allocatedGpuHours = p.allocatedGpuHours.add(d.allocatedGpuHours);
    p.usedGpuHours = p.usedGpuHours.add(d.usedGpuHours);
  }
  return [...dayMap.values()].sort(byKey((d) => d.day));
}

/** The report shows quota usage as the quota check counts it, so the two never disagree. */
function quotaLines(tenants: TenantLine[], cfg: QuotaConfig): { quota: QuotaLine[]; quotaBasis: ReportModel["quotaBasis"] } {
  const quotaBasis = quotaSettings(cfg).basis;
  const quota: QuotaLine[] = tenants
    .filter((t) => t.tenantId !== UNALLOCATED)
    .map((t) => {
      const q = cfg.tenants.find((x) => x.id === t.tenantId)?.monthlyQuotaGpuHours;
      const quotaGpuHours = q === undefined ? undefined : new D(q);
      const used = quotaBasis === "billable" ? t.billableGpuHours : t.allocatedGpuHours;
      const r = quotaGpuHours ? ratio(used, quotaGpuHours) : undefined;
      return { tenantId: t.tenantId, tenantName: t.tenantName, usedGpuHours: used, quotaGpuHours, ratio: r, over: !!r && r.gt(1) };
    });
  return { quota, quotaBasis };
}

/** The tenant's own pods, in a stable order. */
function tenantPods(pods: PodLine[], tenantId: string): PodLine[] {
  return pods
    .filter((p) => p.tenantId === tenantId)
    .sort(
      byKey(
        (p) =>
          `${p.namespace}\u0000${p.pod}\u0000${p.cluster}\u0000${p.node}\u0000${p.gpuModel}\u0000${p.instanceType}\u0000${p.capacityType}`,
      ),
    );
}

/** Idle capacity by node group, with its totals. */
function idleCapacity(capacity: ParsedDataset["capacity"]): NonNullable<ReportModel["idle"]> {
  const several = new Set(capacity.map((c) => c.cluster)).size > 1;
  const lines = capacity.map(({ cluster, ...c }) => ({ ...c, nodeGroup: qualified(several, cluster, c.nodeGroup) }));
  return {
    lines,
    nodeGpuHours: sumOf(lines, (c) => c.nodeGpuHours),
    idleGpuHours: sumOf(lines, (c) => c.idleGpuHours),
    idleCost: sumOf(lines, (c) => c.idleCost),
  };
}

/** What the controller did by node group, each cluster's status and the totals. */
function controllerSavings(
  actions: ControllerLine[],
  month: NonNullable<ParsedDataset["manifest"]["controller"]>,
): ReportModel["controller"] {
  const several = month.clusters.length > 1;
  const lines = actions.map((c) => ({ ...c, nodeGroup: qualified(several, c.cluster, c.nodeGroup) }));
  return {
    lines,
    statuses: month.clusters.map((c) => ({ cluster: c.cluster, status: c.status })),
    nodesReclaimed: lines.reduce((a, c) => a + c.nodesReclaimed, 0),
    scaleOuts: lines.reduce((a, c) => a + c.scaleOuts, 0),
    gpuNodeHoursSaved: sumOf(lines, (c) => c.gpuNodeHoursSaved),
    savedCost: sumOf(lines, (c) => c.savedCost),
    estimate: month.estimate,
  };
}

/** reconciliation.csv's lines as the report shows them; none without its total line. */
function reconciliationLines(rec: Record<string, string>[]): ReportModel["reconciliation"] {
  const total = rec.find((r) => r.kind === "total");
  if (!total) return undefined;
  const pct = (x: string | undefined) => (x ? new D(x) : undefined);
  const groups = rec.filter((r) => r.kind === "node_group");
  const several = new Set(groups.map((r) => r.cluster)).size > 1;
  const billedNotMetered = rec.filter((r) => r.kind === "billed_not_metered");
  return {
    lines: groups.map((r) => ({
      nodeGroup: qualified(several, r.cluster, r.node_group!),
      capacityType: r.capacity_type === "spot" ? "spot" : "on-demand",
      awsCost: new D(r.aws_cost!),
      meteredCost: new D(r.metered_cost!),
      difference: new D(r.difference!),
      differencePct: pct(r.difference_pct),
    })),
    total: {
      awsCost: new D(total.aws_cost!),
      meteredCost: new D(total.metered_cost!),
      difference: new D(total.difference!),
      differencePct: pct(total.difference_pct),
    },
    billedNotMetered: billedNotMetered.length,
    billedNotMeteredCost: billedNotMetered.reduce((a, r) => a.add(r.aws_cost!), zero()),
    meteredNotBilled: rec.filter((r) => r.kind === "metered_not_billed").length,
    invoiced: total.note === "invoiced",
  };
}

/** How the month was priced and metered: prices, correction tiers, hashes, sources and warnings. */
function methodology(ds: ParsedDataset, cfg: QuotaConfig, scope: ReportScope): ReportModel["methodology"] {
  const m = ds.manifest;
  const { prices, spotByZone } = ds.prices ? snapshotPriceLines(ds.prices) : { prices: configPriceLines(cfg), spotByZone: [] };
  return {
    prices,
    spotByZone,
    ...(ds.prices
      ? {
          priceFeed: {
            source: ds.prices.source,
            ...(ds.prices.region ? { region: ds.prices.region } : {}),
            skus: [...new Set(ds.prices.instanceTypes.flatMap((t) => (t.sku ? [t.sku] : [])))].sort(),
          },
        }
      : {}),
    // The note of the table the month was priced with (prices.json); the config's for older months.
    priceSource: ds.prices ? (ds.prices.note ?? "") : cfg.priceSource,
    tiers: [...cfg.correction.tiers]
      .sort((a, b) => b.minUtilization - a.minUtilization)
      .map((t) => ({ minUtilization: t.minUtilization, factor: new D(t.factor) })),
    granularity: cfg.correction.granularity,
    manifestSha256: ds.manifestSha256,
    datasetConfigHash: m.inputs.configHash,
    configChanged: m.inputs.configHash !== configHash(cfg),
    prometheusUrl: m.inputs.prometheusUrl,
    rounding: m.rounding,
    warnings: scope.kind === "all" ? m.warnings : [],
  };
}

const perGpu = (hourly: Dec, gpus: number) => hourly.div(gpus).toDecimalPlaces(PRICE_DP);

/** A month metered before prices.json: the config's table, every instance type in it. */
function configPriceLines(cfg: QuotaConfig): PriceLine[] {
  return Object.entries(cfg.prices)
    .sort(([a], [b]) => (a < b ? -1 : 1))
    .map(([instanceType, p]) => ({
      instanceType,
      gpus: p.gpus,
      gpuModel: p.gpuModel,
      onDemandHourly: new D(p.onDemandHourly),
      spotHourly: new D(p.spotHourly),
      onDemandPerGpu: perGpu(new D(p.onDemandHourly), p.gpus),
      spotPerGpu: perGpu(new D(p.spotHourly), p.gpus),
      onDemandOrigin: "config",
      spotOrigin: "config",
    }));
}

const spanMinutes = (n: NodePrice) => (n.spans ?? []).reduce((a, s) => a + (Date.parse(s.end) - Date.parse(s.start)) / 60_000, 0);

/**
 * The prices the month was billed at, from its prices.json: the instance types it used, and under
 * source aws the Spot price of each type and zone, weighted by the minutes its nodes ran.
 */
function snapshotPriceLines(s: PriceSnapshot): { prices: PriceLine[]; spotByZone: SpotZoneLine[] } {
  const spotNodes = s.nodes.filter((n) => n.capacityType === "spot" && n.origin === "aws-spot-price-history");
  const weighted = (ns: NodePrice[]): Dec | undefined => {
    const minutes = ns.reduce((a, n) => a + spanMinutes(n), 0);
    if (!minutes) return undefined;
    return ns
      .reduce((a, n) => a.add(new D(n.hourly).mul(spanMinutes(n))), new D(0))
      .div(minutes)
      .toDecimalPlaces(PRICE_DP);
  };
  const prices: PriceLine[] = s.instanceTypes.map((t) => {
    const spot = t.spotHourly !== undefined ? new D(t.spotHourly) : weighted(spotNodes.filter((n) => n.instanceType === t.instanceType));
    const od = new D(t.onDemandHourly);
    return {
      instanceType: t.instanceType,
      gpus: t.gpus,
      gpuModel: t.gpuModel,
      onDemandHourly: od,
      onDemandPerGpu: perGpu(od, t.gpus),
      onDemandOrigin: t.onDemandOrigin,
      ...(spot
        ? {
            spotHourly: spot,
            spotPerGpu: perGpu(spot, t.gpus),
            spotOrigin: t.spotHourly !== undefined ? ("config" as const) : ("aws-spot-price-history" as const),
          }
        : {}),
    };
  });
  const gpusOf = new Map(s.instanceTypes.map((t) => [t.instanceType, t.gpus]));
  const spotByZone: SpotZoneLine[] = s.spotHistory.flatMap((h) => {
    const ns = spotNodes.filter((n) => n.instanceType === h.instanceType && n.zone === h.zone);
    const hourly = weighted(ns);
    if (!hourly) return [];
    // The changes in effect during the month: the last one before it starts, and every one inside it.
    const start = Date.parse(s.period.start);
    const end = Date.parse(s.period.end);
    const before = h.changes.filter((c) => Date.parse(c.at) <= start).at(-1);
    const during = [...(before ? [before] : []), ...h.changes.filter((c) => Date.parse(c.at) > start && Date.parse(c.at) < end)];
    const values = during.map((c) => new D(c.hourly));
    return [
      {
        instanceType: h.instanceType,
        zone: h.zone,
        nodes: ns.length,
        hourly,
        perGpu: perGpu(hourly, gpusOf.get(h.instanceType) ?? 1),
        changes: during.length,
        lowest: D.min(...values),
        highest: D.max(...values),
      },
    ];
  });
  return { prices, spotByZone };
}
