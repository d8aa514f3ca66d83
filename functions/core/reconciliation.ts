import type { CapacityType } from "./attribution.js";
import { D, type Dec } from "./decimal.js";
import { toCsv } from "./dataset.js";
import { BadInputError } from "./errors.js";

/**
 * The month's metered capacity against what AWS billed for the same instances.
 * Pure: the metered nodes (nodes.csv) and the CUR's compute line items in, per node group
 * and capacity type the AWS cost, the metered cost, their difference, and the instances
 * only one side knows.
 */

/** A GPU node of the month as nodes.csv records it. */
export interface MeteredNode {
  cluster: string;
  node: string;
  /** kube_node_info provider_id(s), space-separated; empty when none was exported. */
  providerId: string;
  nodeGroup: string;
  instanceType: string;
  capacityType: CapacityType;
  nodeGpuHours: Dec;
  capacityCost: Dec;
}

/**
 * One CUR 2.0 line item of EC2 instance usage, in the columns' own terms
 * (https://docs.aws.amazon.com/cur/latest/userguide/table-dictionary-cur2-line-item.html and
 * table-dictionary-cur2-bill.html): line_item_resource_id is the instance id for EC2 instance
 * usage, line_item_usage_type "APN2-BoxUsage:g5.12xlarge" (On-Demand, also when a Savings Plan or
 * reservation covers it) or "APN2-SpotUsage:g5.12xlarge" (Spot).
 */
export interface CurLineItem {
  resourceId: string;
  /** line_item_line_item_type: Usage, SavingsPlanCoveredUsage, DiscountedUsage, Credit, Refund, … */
  lineItemType: string;
  usageType: string;
  /** line_item_usage_start_date, ms since the epoch (UTC). */
  usageStartMs: number;
  currency: string;
  unblendedCost: Dec;
  /** savings_plan_savings_plan_effective_cost: what a Savings Plan-covered hour really cost. */
  savingsPlanEffectiveCost?: Dec;
  /** reservation_effective_cost: what a reservation-covered hour really cost. */
  reservationEffectiveCost?: Dec;
}

/** What a CUR source holds for the window: its compute line items and how far its data reaches. */
export interface CurExtract {
  items: CurLineItem[];
  /** The latest line_item_usage_end_date of any line item in the export (undefined: the export is empty). */
  coveredUntilMs?: number;
  /** Every line item of the window carries a bill_invoice_id: AWS has finalised the bill (until then figures may move). */
  invoiced: boolean;
}

/** The CUR does not reach the end of the metered month yet: AWS has not delivered (or finalised) it. */
export class CurNotYetAvailableError extends BadInputError {
  constructor(month: string, windowEnd: string, coveredUntil: string | undefined) {
    super(
      `AWS cost for ${month} is not yet available: the CUR ${coveredUntil ? `reaches only ${coveredUntil}` : "has no line items"}, the month ends ${windowEnd}. ` +
        "AWS delivers the CUR up to a day late and finalises the month after it closes; reconcile again with a newer export.",
    );
    this.name = "CurNotYetAvailableError";
  }
}

/** The instance id of an EKS node's spec.providerID, "aws:///ap-northeast-2a/i-0abc…" (undefined: not an EC2 instance). */
export function instanceIdOf(providerId: string): string | undefined {
  return /^aws:\/\/\/[^/]*\/(i-[0-9a-f]+)$/.exec(providerId)?.[1];
}

/** Spot or On-Demand from the usage type's operation ("APN2-SpotUsage:…" / "APN2-BoxUsage:…"); undefined: not instance hours. */
export function capacityTypeOfUsage(usageType: string): CapacityType | undefined {
  const op = /(?:^|-)(BoxUsage|SpotUsage)(?::|$)/.exec(usageType)?.[1];
  return op === "SpotUsage" ? "spot" : op === "BoxUsage" ? "on-demand" : undefined;
}

/** The instance type the usage type names ("APN2-BoxUsage:g5.12xlarge" → g5.12xlarge; a bare "BoxUsage" is m1.small, per AWS's convention). */
export function instanceTypeOfUsage(usageType: string): string | undefined {
  if (!capacityTypeOfUsage(usageType)) return undefined;
  return /:([a-z0-9-]+\.[a-z0-9-]+)$/.exec(usageType)?.[1] ?? "m1.small";
}

/** The line item types that are the hours themselves, and the cost column that says what each really cost. */
const COST_OF: Record<string, (i: CurLineItem) => Dec | undefined> = {
  Usage: (i) => i.unblendedCost,
  SavingsPlanCoveredUsage: (i) => i.savingsPlanEffectiveCost,
  DiscountedUsage: (i) => i.reservationEffectiveCost,
};

export interface ReconciliationGroup {
  cluster: string;
  nodeGroup: string;
  capacityType: CapacityType;
  instanceType: string;
  nodes: number;
  awsCost: Dec;
  meteredCost: Dec;
  /** aws − metered. */
  difference: Dec;
  /** difference ÷ aws × 100, 2 decimals (undefined when AWS billed nothing). */
  differencePct?: Dec;
}

export interface BilledNotMetered {
  instanceId: string;
  instanceType: string;
  capacityType: CapacityType;
  awsCost: Dec;
}

/** A metered node the CUR has no line for: its identity as nodes.csv has it, and its metered cost. */
export type MeteredNotBilled = Omit<MeteredNode, "nodeGpuHours" | "capacityCost"> & {
  meteredCost: Dec;
  reason: "no-instance-id" | "not-in-cur";
};

export interface Reconciliation {
  month: string;
  currency: string;
  groups: ReconciliationGroup[];
  billedNotMetered: BilledNotMetered[];
  meteredNotBilled: MeteredNotBilled[];
  /** Line items of GPU instance hours left out of the AWS cost (credits, refunds, negations…), summed per type: shown, never dropped silently. */
  otherLineItems: { lineItemType: string; unblendedCost: Dec; items: number }[];
  totals: { awsCost: Dec; meteredCost: Dec; difference: Dec; differencePct?: Dec };
  invoiced: boolean;
}

export interface ReconcileInput {
  month: string;
  currency: string;
  currencyDecimals: number;
  /** The metered window (the billing month in its time zone), ISO UTC. */
  window: { startMs: number; endMs: number };
  /** Instance types the config prices: the GPU instances the platform meters (CPU instances in the CUR are not its business). */
  gpuInstanceTypes: ReadonlySet<string>;
  nodes: MeteredNode[];
  cur: CurExtract;
}

const key = (...p: string[]) => p.join("\u0000");
const pct = (diff: Dec, base: Dec) => (base.isZero() ? undefined : diff.div(base).mul(100).toDecimalPlaces(2));
const byKey = <T>(xs: T[], k: (x: T) => string) => xs.sort((a, b) => (k(a) < k(b) ? -1 : k(a) > k(b) ? 1 : 0));

export function reconcile(input: ReconcileInput): Reconciliation {
  const { cur, window } = input;
  if (cur.coveredUntilMs === undefined || cur.coveredUntilMs < window.endMs)
    throw new CurNotYetAvailableError(
      input.month,
      new Date(window.endMs).toISOString(),
      cur.coveredUntilMs === undefined ? undefined : new Date(cur.coveredUntilMs).toISOString(),
    );
  const { billed, other } = awsInstanceCosts(input);
  const { groups, meteredNotBilled, seen } = meteredGroups(input.nodes, billed);

  const money = (d: Dec) => d.toDecimalPlaces(input.currencyDecimals);
  const rows = [...groups.values()].map(({ aws, metered, ...g }): ReconciliationGroup => {
    const awsCost = money(aws);
    const difference = awsCost.sub(metered);
    return { ...g, awsCost, meteredCost: metered, difference, differencePct: pct(difference, awsCost) };
  });
  const billedNotMetered = [...billed]
    .filter(([id]) => !seen.has(id))
    .map(([instanceId, b]): BilledNotMetered => ({
      instanceId,
      instanceType: b.instanceType,
      capacityType: b.capacityType,
      awsCost: money(b.cost),
    }));

  const sum = (xs: Dec[]) => xs.reduce((a, b) => a.add(b), new D(0));
  const awsCost = sum([...rows.map((r) => r.awsCost), ...billedNotMetered.map((b) => b.awsCost)]);
  const meteredCost = sum(rows.map((r) => r.meteredCost));
  const difference = awsCost.sub(meteredCost);
  return {
    month: input.month,
    currency: input.currency,
    groups: byKey(rows, (r) => key(r.cluster, r.nodeGroup, r.capacityType, r.instanceType)),
    billedNotMetered: byKey(billedNotMetered, (b) => b.instanceId),
    meteredNotBilled: byKey(meteredNotBilled, (m) => key(m.cluster, m.node)),
    otherLineItems: byKey(
      [...other].map(([lineItemType, o]) => ({ lineItemType, unblendedCost: money(o.unblendedCost), items: o.items })),
      (o) => o.lineItemType,
    ),
    totals: { awsCost, meteredCost, difference, differencePct: pct(difference, awsCost) },
    invoiced: cur.invoiced,
  };
}

type BilledInstance = { instanceType: string; capacityType: CapacityType; cost: Dec };

/**
 * The AWS side: each GPU instance's cost over the metered window (by instance id), and the line
 * items of GPU instance hours that are not their cost (credits, refunds…) summed per type.
 */
function awsInstanceCosts(input: ReconcileInput): {
  billed: Map<string, BilledInstance>;
  other: Map<string, { unblendedCost: Dec; items: number }>;
} {
  const { cur, window } = input;
  const billed = new Map<string, BilledInstance>();
  const other = new Map<string, { unblendedCost: Dec; items: number }>();
  const currencies = new Set<string>();
  for (const i of cur.items) {
    if (i.usageStartMs < window.startMs || i.usageStartMs >= window.endMs) continue;
    const capacityType = capacityTypeOfUsage(i.usageType);
    const instanceType = instanceTypeOfUsage(i.usageType);
    if (!capacityType || !instanceType || !input.gpuInstanceTypes.has(instanceType)) continue;
    currencies.add(i.currency);
    const costOf = COST_OF[i.lineItemType];
    const cost = costOf?.(i);
    if (!costOf || cost === undefined) {
      const o = other.get(i.lineItemType) ?? other.set(i.lineItemType, { unblendedCost: new D(0), items: 0 }).get(i.lineItemType)!;
      o.unblendedCost = o.unblendedCost.add(i.unblendedCost);
      o.items++;
      continue;
    }
    const b = billed.get(i.resourceId) ?? billed.set(i.resourceId, { instanceType, capacityType, cost: new D(0) }).get(i.resourceId)!;
    b.cost = b.cost.add(cost);
  }
  const foreign = [...currencies].filter((c) => c !== input.currency);
  if (foreign.length)
    throw new BadInputError(`the CUR bills in ${foreign.join(", ")}, the chargeback in ${input.currency}: the two cannot be compared`);
  return { billed, other };
}

/** The metered side per node group, with the AWS cost of the instances its nodes ran on (matched by instance id). */
function meteredGroups(
  nodes: MeteredNode[],
  billed: Map<string, BilledInstance>,
): {
  groups: Map<string, ReconciliationGroup & { aws: Dec; metered: Dec }>;
  meteredNotBilled: MeteredNotBilled[];
  /** The billed instance ids some metered node ran on. */
  seen: Set<string>;
} {
  const groups = new Map<string, ReconciliationGroup & { aws: Dec; metered: Dec }>();
  const meteredNotBilled: MeteredNotBilled[] = [];
  const seen = new Set<string>();
  for (const n of nodes) {
    const gk = key(n.cluster, n.nodeGroup, n.capacityType, n.instanceType);
    let g = groups.get(gk);
    if (!g)
      groups.set(
        gk,
        (g = {
          cluster: n.cluster,
          nodeGroup: n.nodeGroup,
          capacityType: n.capacityType,
          instanceType: n.instanceType,
          nodes: 0,
          awsCost: new D(0),
          meteredCost: new D(0),
          difference: new D(0),
          aws: new D(0),
          metered: new D(0),
        }),
      );
    g.nodes++;
    g.metered = g.metered.add(n.capacityCost);
    const ids = n.providerId.split(" ").filter(Boolean).map(instanceIdOf);
    const known = ids.filter((id): id is string => id !== undefined);
    const matched = known.filter((id) => billed.has(id));
    for (const id of matched) {
      g.aws = g.aws.add(billed.get(id)!.cost);
      seen.add(id);
    }
    if (matched.length === 0)
      meteredNotBilled.push({
        cluster: n.cluster,
        node: n.node,
        providerId: n.providerId,
        nodeGroup: n.nodeGroup,
        instanceType: n.instanceType,
        capacityType: n.capacityType,
        meteredCost: n.capacityCost,
        reason: known.length ? "not-in-cur" : "no-instance-id",
      });
  }
  return { groups, meteredNotBilled, seen };
}

export const RECONCILIATION_FILE = "reconciliation.csv";

/**
 * reconciliation.csv: one `node_group` line per cluster × node group × capacity type × instance type,
 * then one line per instance AWS billed that no metered node ran on (`billed_not_metered`) and per
 * metered node AWS did not bill (`metered_not_billed`, with why), then the `total` line.
 * difference = aws_cost − metered_cost; difference_pct is of aws_cost (empty when AWS billed nothing).
 */
export const RECONCILIATION_COLUMNS = [
  "month",
  "kind",
  "cluster",
  "node_group",
  "capacity_type",
  "instance_type",
  "nodes",
  "node",
  "instance_id",
  "aws_cost",
  "metered_cost",
  "difference",
  "difference_pct",
  "note",
  "currency",
] as const;

export function reconciliationCsv(r: Reconciliation, currencyDecimals: number): Buffer {
  const f: CsvFormat = { money: (d) => d.toFixed(currencyDecimals), pct: (d) => (d === undefined ? "" : d.toFixed(2)) };
  const line = (kind: string, cells: LineCells): string[] => {
    const all: Partial<Record<(typeof RECONCILIATION_COLUMNS)[number], string>> = { month: r.month, kind, currency: r.currency, ...cells };
    return RECONCILIATION_COLUMNS.map((c) => all[c] ?? "");
  };
  return toCsv(RECONCILIATION_COLUMNS, [
    ...r.groups.map((g) => line("node_group", groupCells(g, f))),
    ...r.billedNotMetered.map((b) => line("billed_not_metered", billedNotMeteredCells(b, f))),
    ...r.meteredNotBilled.map((n) => line("metered_not_billed", meteredNotBilledCells(n, f))),
    ...r.otherLineItems.map((o) => line("other_line_items", otherLineItemsCells(o, f))),
    line("total", totalCells(r, f)),
  ]);
}

/** How reconciliation.csv prints money (the currency's decimals) and percentages (2 decimals, empty when undefined). */
interface CsvFormat {
  money: (d: Dec) => string;
  pct: (d: Dec | undefined) => string;
}

/** The cells a kind of line fills; the columns it leaves out are empty (month, kind and currency are every line's). */
type LineCells = Partial<Record<Exclude<(typeof RECONCILIATION_COLUMNS)[number], "month" | "kind" | "currency">, string>>;

function groupCells(g: ReconciliationGroup, { money, pct }: CsvFormat): LineCells {
  return {
    cluster: g.cluster,
    node_group: g.nodeGroup,
    capacity_type: g.capacityType,
    instance_type: g.instanceType,
    nodes: String(g.nodes),
    aws_cost: money(g.awsCost),
    metered_cost: money(g.meteredCost),
    difference: money(g.difference),
    difference_pct: pct(g.differencePct),
  };
}

function billedNotMeteredCells(b: BilledNotMetered, { money }: CsvFormat): LineCells {
  return {
    capacity_type: b.capacityType,
    instance_type: b.instanceType,
    instance_id: b.instanceId,
    aws_cost: money(b.awsCost),
    metered_cost: money(new D(0)),
    difference: money(b.awsCost),
    note: "AWS billed this instance; Prometheus never saw a GPU node on it",
  };
}

function meteredNotBilledCells(n: MeteredNotBilled, { money }: CsvFormat): LineCells {
  return {
    cluster: n.cluster,
    node_group: n.nodeGroup,
    capacity_type: n.capacityType,
    instance_type: n.instanceType,
    node: n.node,
    instance_id: n.providerId
      .split(" ")
      .map((x) => instanceIdOf(x) ?? x)
      .join(" "),
    aws_cost: money(new D(0)),
    metered_cost: money(n.meteredCost),
    difference: money(n.meteredCost.neg()),
    note:
      n.reason === "no-instance-id"
        ? "no EC2 instance id (kube_node_info provider_id missing or not aws:///)"
        : "metered; no line item for its instance in the CUR window",
  };
}

function otherLineItemsCells(o: Reconciliation["otherLineItems"][number], { money }: CsvFormat): LineCells {
  return {
    nodes: String(o.items),
    aws_cost: money(o.unblendedCost),
    note: `${o.lineItemType}: not instance-hour cost, left out of aws_cost`,
  };
}

function totalCells(r: Reconciliation, { money, pct }: CsvFormat): LineCells {
  return {
    aws_cost: money(r.totals.awsCost),
    metered_cost: money(r.totals.meteredCost),
    difference: money(r.totals.difference),
    difference_pct: pct(r.totals.differencePct),
    note: r.invoiced ? "invoiced" : "AWS has not invoiced this period yet: figures may still change",
  };
}
