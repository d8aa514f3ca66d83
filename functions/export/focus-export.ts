import type { BaseConfig } from "../core/config.js";
import { unitPrice, type Chargeback, type ChargebackRow } from "../core/chargeback.js";
import { toCsv, type DatasetFile } from "../core/dataset.js";
import { D } from "../core/decimal.js";
import { billingMonth } from "../core/month.js";

/**
 * FinOps FOCUS (1.1 column set) export of a month's chargeback, so the bill
 * loads into FinOps tools: one FOCUS row per chargeback row (cluster × tenant ×
 * namespace × GPU model × instance type × capacity type). Null values are
 * empty cells. Custom columns carry the `x_` prefix the specification asks for.
 * The cluster is part of ResourceId (the same namespace in two clusters is two
 * resources), a `cluster` tag, and `x_Cluster` for tools that do not parse tags.
 */
export const FOCUS_COLUMNS = [
  "AvailabilityZone", "BilledCost", "BillingAccountId", "BillingAccountName", "BillingCurrency",
  "BillingPeriodEnd", "BillingPeriodStart", "CapacityReservationId", "CapacityReservationStatus",
  "ChargeCategory", "ChargeClass", "ChargeDescription", "ChargeFrequency", "ChargePeriodEnd", "ChargePeriodStart",
  "CommitmentDiscountCategory", "CommitmentDiscountId", "CommitmentDiscountName", "CommitmentDiscountQuantity",
  "CommitmentDiscountStatus", "CommitmentDiscountType", "CommitmentDiscountUnit",
  "ConsumedQuantity", "ConsumedUnit", "ContractedCost", "ContractedUnitPrice", "EffectiveCost",
  "InvoiceIssuerName", "ListCost", "ListUnitPrice", "PricingCategory", "PricingQuantity", "PricingUnit",
  "ProviderName", "PublisherName", "RegionId", "RegionName", "ResourceId", "ResourceName", "ResourceType",
  "ServiceCategory", "ServiceName", "ServiceSubcategory", "SkuId", "SkuPriceId", "SubAccountId", "SubAccountName", "Tags",
  "x_AllocatedGpuHours", "x_UsedGpuHours", "x_AvgUtilization", "x_CorrectionFactor", "x_CapacityType", "x_GpuModel",
  "x_Cluster",
] as const;

export const FOCUS_FILE = "focus.csv";

/** FOCUS PricingCategory of a capacity type: Spot is priced dynamically, On-Demand at the standard rate. */
export const PRICING_CATEGORY = { spot: "Dynamic", "on-demand": "Standard" } as const;

export interface FocusOptions {
  /** The internal platform that sells GPU time to tenants (FOCUS ProviderName and InvoiceIssuerName). */
  providerName: string;
  /** Who produced the underlying resources. */
  publisherName: string;
  billingAccountId: string;
  billingAccountName: string;
  regionId?: string;
  regionName?: string;
}

export const DEFAULT_FOCUS_OPTIONS: FocusOptions = {
  providerName: "GPU Platform",
  publisherName: "Amazon Web Services",
  billingAccountId: "gpu-platform",
  billingAccountName: "GPU Platform chargeback",
};

/** FOCUS date-times are ISO 8601 in UTC, to the second, with a Z. */
const utc = (ms: number) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, "Z");

/** Pure mapping of one chargeback row to FOCUS cells, in FOCUS_COLUMNS order. */
export function focusRow(r: ChargebackRow, cb: Chargeback, cfg: BaseConfig, period: { start: string; end: string }, o: FocusOptions): string[] {
  const price = cfg.prices[r.instanceType];
  // List price is the public On-Demand rate, for Spot rows too: ListCost − BilledCost is what Spot saved.
  const listUnit = price ? unitPrice({ hourly: new D(price.onDemandHourly), gpus: price.gpus }) : r.unitPrice;
  const money = (d: InstanceType<typeof D>) => d.toFixed(cb.currencyDecimals);
  const cost = money(r.cost);
  const tags = JSON.stringify({
    cluster: r.cluster,
    tenant: r.tenantId,
    namespace: r.namespace,
    capacity_type: r.capacityType,
    gpu_model: r.gpuModel,
    instance_type: r.instanceType,
  });
  const resourceId = `${r.cluster}/${r.namespace}/${r.gpuModel}/${r.instanceType}/${r.capacityType}`;
  const cells: Record<(typeof FOCUS_COLUMNS)[number], string> = {
    AvailabilityZone: "",
    BilledCost: cost,
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
    ConsumedQuantity: r.allocatedGpuHours.toFixed(),
    ConsumedUnit: "GPU-Hours",
    ContractedCost: cost,
    ContractedUnitPrice: r.unitPrice.toFixed(),
    EffectiveCost: cost,
    InvoiceIssuerName: o.providerName,
    ListCost: money(r.billableGpuHours.mul(listUnit)),
    ListUnitPrice: listUnit.toFixed(),
    PricingCategory: PRICING_CATEGORY[r.capacityType],
    PricingQuantity: r.billableGpuHours.toFixed(),
    PricingUnit: "GPU-Hours",
    ProviderName: o.providerName,
    PublisherName: o.publisherName,
    RegionId: o.regionId ?? "",
    RegionName: o.regionName ?? "",
    ResourceId: resourceId,
    ResourceName: r.namespace,
    ResourceType: "Kubernetes Namespace GPU Allocation",
    ServiceCategory: "Compute",
    ServiceName: "EKS GPU Compute",
    ServiceSubcategory: "Containers",
    SkuId: `${r.instanceType}:${r.capacityType}`,
    SkuPriceId: `${r.instanceType}:${r.capacityType}:${r.unitPrice.toFixed()}`,
    SubAccountId: r.tenantId,
    SubAccountName: r.tenantName,
    Tags: tags,
    x_AllocatedGpuHours: r.allocatedGpuHours.toFixed(),
    x_UsedGpuHours: r.usedGpuHours.toFixed(),
    x_AvgUtilization: r.avgUtilization.toFixed(),
    x_CorrectionFactor: r.correctionFactor.toFixed(),
    x_CapacityType: r.capacityType,
    x_GpuModel: r.gpuModel,
    x_Cluster: r.cluster,
  };
  return FOCUS_COLUMNS.map((c) => cells[c]);
}

/** The month's `focus.csv` (charge and billing period = the billing month, in UTC). */
export function focusFiles(cb: Chargeback, cfg: BaseConfig, o: FocusOptions = { ...DEFAULT_FOCUS_OPTIONS, ...cfg.focus }): DatasetFile[] {
  const bm = billingMonth(cb.month, cfg.timeZone);
  const period = { start: utc(bm.startMs), end: utc(bm.endMs) };
  const rows = cb.rows.map((r) => focusRow(r, cb, cfg, period, o));
  return [{ name: FOCUS_FILE, body: toCsv(FOCUS_COLUMNS, rows), rows: rows.length }];
}
