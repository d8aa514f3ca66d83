import type { BaseConfig } from "../core/config.js";
import { HOURS_DP, unitPrice, type Chargeback, type ChargebackRow } from "../core/chargeback.js";
import type { RowSplit } from "../core/attribution.js";
import { toCsv, type DatasetFile } from "../core/dataset.js";
import { D, type Dec } from "../core/decimal.js";
import { apportion, type PodRow } from "../core/pod-detail.js";
import { billingMonth } from "../core/month.js";

/**
 * FinOps FOCUS 1.3 export of a month's chargeback, so the bill loads into FinOps tools. The spec
 * columns and their order are FOCUS 1.3's Cost and Usage dataset (focus-1.3-columns.json, vendored
 * from FinOps-Open-Cost-and-Usage-Spec/FOCUS_Spec with the commits it came from); null values are
 * empty cells; custom columns carry the `x_` prefix the specification reserves for them.
 *
 * Each chargeback row (cluster × tenant × namespace × GPU model × instance type × capacity type) is
 * the origin charge. With pod detail, it is written as its split cost allocation: one allocated
 * charge per pod (AllocatedResourceId cluster/namespace/pod), its costs and quantities the row's
 * apportioned by the pod's allocated GPU-hours (largest remainder), so the allocated charges of a
 * row add up exactly to the row, and their AllocatedRatio to exactly 1, as FOCUS 1.3 requires
 * (allocatedmethoddetails.md). Without pod detail a row is one unallocated charge.
 * The cluster is part of ResourceId (the same namespace in two clusters is two resources), a
 * `cluster` tag, and `x_Cluster` for tools that do not parse tags.
 */
export const FOCUS_VERSION = "1.3";

export const FOCUS_SPEC_COLUMNS = [
  "AllocatedMethodId",
  "AllocatedMethodDetails",
  "AllocatedResourceId",
  "AllocatedResourceName",
  "AllocatedTags",
  "AvailabilityZone",
  "BilledCost",
  "BillingAccountId",
  "BillingAccountName",
  "BillingAccountType",
  "BillingCurrency",
  "BillingPeriodEnd",
  "BillingPeriodStart",
  "CapacityReservationId",
  "CapacityReservationStatus",
  "ChargeCategory",
  "ChargeClass",
  "ChargeDescription",
  "ChargeFrequency",
  "ChargePeriodEnd",
  "ChargePeriodStart",
  "CommitmentDiscountCategory",
  "CommitmentDiscountId",
  "CommitmentDiscountName",
  "CommitmentDiscountQuantity",
  "CommitmentDiscountStatus",
  "CommitmentDiscountType",
  "CommitmentDiscountUnit",
  "ConsumedQuantity",
  "ConsumedUnit",
  "ContractApplied",
  "ContractedCost",
  "ContractedUnitPrice",
  "EffectiveCost",
  "HostProviderName",
  "InvoiceId",
  "InvoiceIssuerName",
  "ListCost",
  "ListUnitPrice",
  "PricingCategory",
  "PricingCurrency",
  "PricingCurrencyContractedUnitPrice",
  "PricingCurrencyEffectiveCost",
  "PricingCurrencyListUnitPrice",
  "PricingQuantity",
  "PricingUnit",
  "ProviderName",
  "PublisherName",
  "RegionId",
  "RegionName",
  "ResourceId",
  "ResourceName",
  "ResourceType",
  "ServiceProviderName",
  "ServiceCategory",
  "ServiceName",
  "ServiceSubcategory",
  "SkuId",
  "SkuMeter",
  "SkuPriceDetails",
  "SkuPriceId",
  "SubAccountId",
  "SubAccountName",
  "SubAccountType",
  "Tags",
] as const;

export const FOCUS_COLUMNS = [
  ...FOCUS_SPEC_COLUMNS,
  "x_AllocatedGpuHours",
  "x_UsedGpuHours",
  "x_AvgUtilization",
  "x_CorrectionFactor",
  "x_CapacityType",
  "x_GpuModel",
  "x_Cluster",
  "x_Node",
] as const;

/** How the platform splits a namespace's GPU charge over its pods (FOCUS AllocatedMethodId; documented in the README). */
export const ALLOCATED_METHOD_ID = "gpu-platform:pod-allocated-gpu-hours";

export const FOCUS_FILE = "focus.csv";

/** FOCUS PricingCategory of a capacity type: Spot is priced dynamically, On-Demand at the standard rate. */
export const PRICING_CATEGORY = {
  spot: "Dynamic",
  "on-demand": "Standard",
} as const;

export interface FocusOptions {
  /** The internal platform that sells GPU time to tenants (FOCUS ProviderName and InvoiceIssuerName). */
  providerName: string;
  /** Who produced the underlying resources. */
  publisherName: string;
  billingAccountId: string;
  billingAccountName: string;
  /** FOCUS BillingAccountType: the one kind of account the platform bills through. */
  billingAccountType: string;
  regionId?: string;
  regionName?: string;
}

export const DEFAULT_FOCUS_OPTIONS: FocusOptions = {
  providerName: "GPU Platform",
  publisherName: "Amazon Web Services",
  billingAccountId: "gpu-platform",
  billingAccountName: "GPU Platform chargeback",
  billingAccountType: "Chargeback Account",
};

/** FOCUS date-times are ISO 8601 in UTC, to the second, with a Z. */
const utc = (ms: number) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, "Z");

/** A pod's part of a chargeback row: its allocated GPU-hours in the row's split, and the cells apportioned to it. */
interface PodPart {
  pod: PodRow;
  ratio: Dec;
  cost: Dec;
  listCost: Dec;
  billableGpuHours: Dec;
}

/**
 * Pure mapping of one chargeback row to its FOCUS rows (FOCUS_COLUMNS order): one per pod of
 * the row (its allocated charges), or the row alone when it has no pods.
 */
export function focusRows(
  r: ChargebackRow,
  pods: readonly PodRow[],
  cb: Chargeback,
  cfg: BaseConfig,
  period: { start: string; end: string },
  o: FocusOptions,
): string[][] {
  const price = cfg.prices[r.instanceType];
  // List price is the public On-Demand rate, for Spot rows too: ListCost − BilledCost is what Spot saved.
  const listUnit = price ? unitPrice({ hourly: new D(price.onDemandHourly), gpus: price.gpus }) : r.unitPrice;
  const rowListCost = r.billableGpuHours.mul(listUnit).toDecimalPlaces(cb.currencyDecimals);
  const row: FocusRow = { r, period, o, listUnit, rowListCost, money: (d: Dec) => d.toFixed(cb.currencyDecimals) };
  const weights = pods.map((p) => p.allocatedGpuHours);
  if (pods.length === 0 || r.allocatedGpuHours.isZero()) return [focusCells(row, undefined)];
  const ratios = apportion(new D(1), weights, RATIO_DP_FOCUS);
  const costs = apportion(r.cost, weights, cb.currencyDecimals);
  const lists = apportion(rowListCost, weights, cb.currencyDecimals);
  const billable = apportion(r.billableGpuHours, weights, HOURS_DP);
  return pods.map((pod, i) =>
    focusCells(row, {
      pod,
      ratio: ratios[i]!,
      cost: costs[i]!,
      listCost: lists[i]!,
      billableGpuHours: billable[i]!,
    }),
  );
}

/** What every FOCUS row of one chargeback row shares. */
interface FocusRow {
  r: ChargebackRow;
  period: { start: string; end: string };
  o: FocusOptions;
  /** The On-Demand unit price (the row's own when the config has no price). */
  listUnit: Dec;
  rowListCost: Dec;
  /** Money in the currency's decimals. */
  money: (d: Dec) => string;
}

type FocusCells<C extends (typeof FOCUS_COLUMNS)[number]> = Record<C, string>;
type AllocationColumn = Extract<(typeof FOCUS_COLUMNS)[number], `Allocated${string}`>;
type ExtensionColumn = Extract<(typeof FOCUS_COLUMNS)[number], `x_${string}`>;
type CostColumn =
  | "BilledCost"
  | "ContractedCost"
  | "ContractedUnitPrice"
  | "EffectiveCost"
  | "ListCost"
  | "ListUnitPrice"
  | "ConsumedQuantity"
  | "ConsumedUnit"
  | "PricingCategory"
  | "PricingCurrency"
  | "PricingCurrencyContractedUnitPrice"
  | "PricingCurrencyEffectiveCost"
  | "PricingCurrencyListUnitPrice"
  | "PricingQuantity"
  | "PricingUnit";

/** One FOCUS row's cells, in FOCUS_COLUMNS order: of a pod's part of the row, or of the row alone. */
function focusCells(row: FocusRow, part: PodPart | undefined): string[] {
  const cells: FocusCells<(typeof FOCUS_COLUMNS)[number]> = {
    ...allocationCells(row, part),
    ...costCells(row, part),
    ...accountAndChargeCells(row),
    ...resourceCells(row),
    ...extensionCells(row, part),
  };
  return FOCUS_COLUMNS.map((c) => cells[c]);
}

/** The allocation columns: empty on a row without pods. */
function allocationCells({ r }: FocusRow, part: PodPart | undefined): FocusCells<AllocationColumn> {
  return {
    AllocatedMethodId: part ? ALLOCATED_METHOD_ID : "",
    AllocatedMethodDetails: part
      ? JSON.stringify({
          Elements: [
            {
              AllocatedRatio: Number(part.ratio.toFixed()),
              UsageUnit: "GPU-Hours",
              UsageQuantity: Number(part.pod.allocatedGpuHours.toFixed()),
            },
          ],
        })
      : "",
    AllocatedResourceId: part ? `${r.cluster}/${r.namespace}/${part.pod.pod}` : "",
    AllocatedResourceName: part ? part.pod.pod : "",
    // Tags already in Tags must not repeat here (allocatedtags.md): only what names the pod.
    AllocatedTags: part ? JSON.stringify({ pod: part.pod.pod, node: part.pod.node }) : "",
  };
}

/** Costs, prices and quantities: a pod's apportioned share, or the row's own. */
function costCells({ r, listUnit, rowListCost, money }: FocusRow, part: PodPart | undefined): FocusCells<CostColumn> {
  const cost = money(part ? part.cost : r.cost);
  return {
    BilledCost: cost,
    ContractedCost: cost,
    ContractedUnitPrice: r.unitPrice.toFixed(),
    EffectiveCost: cost,
    ListCost: money(part ? part.listCost : rowListCost),
    ListUnitPrice: listUnit.toFixed(),
    ConsumedQuantity: (part ? part.pod.allocatedGpuHours : r.allocatedGpuHours).toFixed(),
    ConsumedUnit: "GPU-Hours",
    PricingCategory: PRICING_CATEGORY[r.capacityType],
    PricingCurrency: "",
    PricingCurrencyContractedUnitPrice: "",
    PricingCurrencyEffectiveCost: "",
    PricingCurrencyListUnitPrice: "",
    PricingQuantity: (part ? part.billableGpuHours : r.billableGpuHours).toFixed(),
    PricingUnit: "GPU-Hours",
  };
}

type AccountAndChargeColumn =
  | "BillingAccountType"
  | "BillingAccountId"
  | "BillingAccountName"
  | "BillingCurrency"
  | "BillingPeriodEnd"
  | "BillingPeriodStart"
  | "CapacityReservationId"
  | "CapacityReservationStatus"
  | "ChargeCategory"
  | "ChargeClass"
  | "ChargeDescription"
  | "ChargeFrequency"
  | "ChargePeriodEnd"
  | "ChargePeriodStart"
  | `Commitment${string}`
  | "ContractApplied"
  | "InvoiceId"
  | "InvoiceIssuerName"
  | "SubAccountId"
  | "SubAccountName"
  | "SubAccountType";

/** Who is billed for what, when: the same for every pod of the row. */
function accountAndChargeCells({ r, period, o }: FocusRow): FocusCells<Extract<(typeof FOCUS_COLUMNS)[number], AccountAndChargeColumn>> {
  return {
    // Conditional, but never null once present (billingaccounttype.md): the platform has one kind of account.
    BillingAccountType: o.billingAccountType,
    BillingAccountId: o.billingAccountId,
    BillingAccountName: o.billingAccountName,
    BillingCurrency: r.currency,
    BillingPeriodEnd: period.end,
    BillingPeriodStart: period.start,
    CapacityReservationId: "",
    CapacityReservationStatus: "",
    ChargeCategory: "Usage",
    ChargeClass: "",
    ChargeDescription: `${r.gpuModel} GPU-hours on ${r.instanceType} (${r.capacityType}) for namespace ${r.namespace}, corrected ×${r.correctionFactor.toFixed()} at ${r.avgUtilization.times(100).toFixed(2)}% utilization`,
    ChargeFrequency: "Usage-Based",
    ChargePeriodEnd: period.end,
    ChargePeriodStart: period.start,
    CommitmentDiscountCategory: "",
    CommitmentDiscountId: "",
    CommitmentDiscountName: "",
    CommitmentDiscountQuantity: "",
    CommitmentDiscountStatus: "",
    CommitmentDiscountType: "",
    CommitmentDiscountUnit: "",
    ContractApplied: "",
    InvoiceId: "",
    InvoiceIssuerName: o.providerName,
    SubAccountId: r.tenantId,
    SubAccountName: r.tenantName,
    SubAccountType: "",
  };
}

/** The provider, service, resource and SKU columns: what was sold, from where. */
function resourceCells({
  r,
  o,
}: FocusRow): FocusCells<
  Exclude<(typeof FOCUS_COLUMNS)[number], AllocationColumn | ExtensionColumn | CostColumn | AccountAndChargeColumn>
> {
  return {
    AvailabilityZone: "",
    HostProviderName: o.publisherName,
    ProviderName: o.providerName,
    PublisherName: o.publisherName,
    RegionId: o.regionId ?? "",
    RegionName: o.regionName ?? "",
    ResourceId: `${r.cluster}/${r.namespace}/${r.gpuModel}/${r.instanceType}/${r.capacityType}`,
    ResourceName: r.namespace,
    ResourceType: "Kubernetes Namespace GPU Allocation",
    ServiceProviderName: o.providerName,
    ServiceCategory: "Compute",
    ServiceName: "EKS GPU Compute",
    ServiceSubcategory: "Containers",
    SkuId: `${r.instanceType}:${r.capacityType}`,
    SkuMeter: "",
    SkuPriceDetails: "",
    SkuPriceId: `${r.instanceType}:${r.capacityType}:${r.unitPrice.toFixed()}`,
    Tags: JSON.stringify({
      cluster: r.cluster,
      tenant: r.tenantId,
      namespace: r.namespace,
      capacity_type: r.capacityType,
      gpu_model: r.gpuModel,
      instance_type: r.instanceType,
    }),
  };
}

/** The platform's own x_ columns: the metering behind the charge. */
function extensionCells({ r }: FocusRow, part: PodPart | undefined): FocusCells<ExtensionColumn> {
  return {
    x_AllocatedGpuHours: (part ? part.pod.allocatedGpuHours : r.allocatedGpuHours).toFixed(),
    x_UsedGpuHours: (part ? part.pod.usedGpuHours : r.usedGpuHours).toFixed(),
    x_AvgUtilization: (part ? part.pod.avgUtilization : r.avgUtilization).toFixed(),
    x_CorrectionFactor: r.correctionFactor.toFixed(),
    x_CapacityType: r.capacityType,
    x_GpuModel: r.gpuModel,
    x_Cluster: r.cluster,
    x_Node: part ? part.pod.node : "",
  };
}

/** AllocatedRatio decimals: enough that no pod's share rounds to nothing. */
const RATIO_DP_FOCUS = 10;

/** The month's `focus.csv` (charge and billing period = the billing month, in UTC). */
export function focusFiles(cb: Chargeback, cfg: BaseConfig, o: FocusOptions = { ...DEFAULT_FOCUS_OPTIONS, ...cfg.focus }): DatasetFile[] {
  const bm = billingMonth(cb.month, cfg.timeZone);
  const period = { start: utc(bm.startMs), end: utc(bm.endMs) };
  const split = (r: RowSplit) => [r.cluster, r.tenantId, r.namespace, r.gpuModel, r.instanceType, r.capacityType].join("\u0000");
  const podsOf = new Map<string, PodRow[]>();
  for (const p of cb.pods ?? []) (podsOf.get(split(p)) ?? podsOf.set(split(p), []).get(split(p))!).push(p);
  const rows = cb.rows.flatMap((r) => focusRows(r, podsOf.get(split(r)) ?? [], cb, cfg, period, o));
  return [{ name: FOCUS_FILE, body: toCsv(FOCUS_COLUMNS, rows), rows: rows.length }];
}
