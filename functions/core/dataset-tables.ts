import type { CapacityRow, Chargeback, ChargebackRow, DailyRow, NodeRow } from "./chargeback.js";
import type { ControllerSavingsRow } from "./controller-savings.js";
import type { Dec } from "./decimal.js";
import type { PodRow } from "./pod-detail.js";

/**
 * The month's tables, each defined once: a column's name, its value in a row and its
 * Glue/Athena type. The CSV files (dataset.ts), the Parquet files (export/parquet-export.ts)
 * and the Glue tables of the CDK app all read these lists, so a column added here reaches
 * every copy of the table in the same place.
 *
 * `type` is also the CSV's rule for money: a MONEY cell is printed at the currency's minor
 * unit, the exact value the Parquet column stores. The month is the dataset's partition (its
 * path), so its column has no type and only the CSV carries it.
 */
export type Cell = string | number | Dec;

export const STR = "string";
export const INT = "int";
export const DATE = "date";
export const HOURS = "decimal(18,6)";
export const RATIO = "decimal(9,4)";
export const FACTOR = "decimal(12,6)";
export const PRICE = "decimal(18,10)";
/** Cost carries the currency's minor unit (≤ 4 decimals by config), stored exactly at scale 4. */
export const MONEY = "decimal(18,4)";

export interface DatasetColumn<R> {
  name: string;
  /** `string`, `int`, `date` or `decimal(p,s)` with p ≤ 18; absent for the month, which is the partition. */
  type?: string;
  value: (row: R, cb: Chargeback) => Cell;
}

const month = <R>(): DatasetColumn<R> => ({ name: "month", value: (_r, cb) => cb.month });
const col = <R>(name: string, type: string, value: (row: R, cb: Chargeback) => Cell): DatasetColumn<R> => ({ name, type, value });
const currency = <R>(): DatasetColumn<R> => col("currency", STR, (_r, cb) => cb.currency);

type Split = Pick<ChargebackRow, "cluster" | "tenantId" | "tenantName" | "namespace" | "gpuModel" | "instanceType" | "capacityType">;
/** The split a row stands for; pods name their pod and node between the namespace and the GPU model. */
const split = <R extends Split>(between: DatasetColumn<R>[] = []): DatasetColumn<R>[] => [
  col("cluster", STR, (r) => r.cluster),
  col("tenant_id", STR, (r) => r.tenantId),
  col("tenant_name", STR, (r) => r.tenantName),
  col("namespace", STR, (r) => r.namespace),
  ...between,
  col("gpu_model", STR, (r) => r.gpuModel),
  col("instance_type", STR, (r) => r.instanceType),
  col("capacity_type", STR, (r) => r.capacityType),
];
const usage = <R extends { allocatedGpuHours: Dec; usedGpuHours: Dec; avgUtilization: Dec }>(): DatasetColumn<R>[] => [
  col("allocated_gpu_hours", HOURS, (r) => r.allocatedGpuHours),
  col("used_gpu_hours", HOURS, (r) => r.usedGpuHours),
  col("avg_utilization", RATIO, (r) => r.avgUtilization),
];

type NodeGroupSplit = { cluster: string; nodeGroup: string; instanceType: string; capacityType: string };
/** The node group a row is about; a node names itself between the cluster and its group, and a GPU model stands before the instance type. */
const nodeGroupSplit = <R extends NodeGroupSplit>(between: DatasetColumn<R>[], gpuModel: DatasetColumn<R>[] = []): DatasetColumn<R>[] => [
  col("cluster", STR, (r) => r.cluster),
  ...between,
  col("node_group", STR, (r) => r.nodeGroup),
  ...gpuModel,
  col("instance_type", STR, (r) => r.instanceType),
  col("capacity_type", STR, (r) => r.capacityType),
];
const gpuModel = <R extends { gpuModel: string }>(): DatasetColumn<R>[] => [col("gpu_model", STR, (r) => r.gpuModel)];
/** GPU-hours at the unit price: the price, what it cost (`name`) and the currency. */
const priced = <R extends { unitPrice: Cell }>(name: string, cost: (r: R) => Cell): DatasetColumn<R>[] => [
  col("unit_price", PRICE, (r) => r.unitPrice),
  col(name, MONEY, cost),
  currency(),
];

export const CHARGEBACK_TABLE: DatasetColumn<ChargebackRow>[] = [
  { name: "month", value: (r) => r.month },
  ...split<ChargebackRow>(),
  ...usage<ChargebackRow>(),
  col("correction_factor", FACTOR, (r) => r.correctionFactor),
  col("billable_gpu_hours", HOURS, (r) => r.billableGpuHours),
  col("unit_price", PRICE, (r) => r.unitPrice),
  col("cost", MONEY, (r) => r.cost),
  col("currency", STR, (r) => r.currency),
];

export const DAILY_TABLE: DatasetColumn<DailyRow>[] = [col("day", DATE, (r) => r.day), ...split<DailyRow>(), ...usage<DailyRow>()];

export const CAPACITY_TABLE: DatasetColumn<CapacityRow>[] = [
  month(),
  ...nodeGroupSplit<CapacityRow>([], gpuModel()),
  col("nodes", INT, (r) => r.nodes),
  col("node_gpu_hours", HOURS, (r) => r.nodeGpuHours),
  col("allocated_gpu_hours", HOURS, (r) => r.allocatedGpuHours),
  col("idle_gpu_hours", HOURS, (r) => r.idleGpuHours),
  col("idle_ratio", RATIO, (r) => r.idleRatio),
  ...priced<CapacityRow>("idle_cost", (r) => r.idleCost),
];

/** pods.csv: one line per pod × node in a chargeback row's split; the pods of a row add up to it exactly (pod-detail.ts). */
export const POD_TABLE: DatasetColumn<PodRow>[] = [
  month(),
  ...split<PodRow>([col("pod", STR, (r) => r.pod), col("node", STR, (r) => r.node)]),
  ...usage<PodRow>(),
];

/** controller-actions.csv: what the idle-node controller did per cluster × node group (core/controller-savings.ts). */
export const CONTROLLER_TABLE: DatasetColumn<ControllerSavingsRow>[] = [
  month(),
  ...nodeGroupSplit<ControllerSavingsRow>([]),
  col("nodes_reclaimed", INT, (r) => r.nodesReclaimed),
  col("scale_outs", INT, (r) => r.scaleOuts),
  col("nodes_added", INT, (r) => r.nodesAdded),
  col("gpu_node_hours_saved", HOURS, (r) => r.gpuNodeHoursSaved),
  ...priced<ControllerSavingsRow>("saved_cost", (r) => r.savedCost),
];

/**
 * nodes.csv: one line per GPU node of the month with the cloud instance(s) behind it (kube_node_info
 * provider_id) and its capacity cost at the unit price; what `reconcile` matches to the AWS bill.
 */
export const NODE_TABLE: DatasetColumn<NodeRow>[] = [
  month(),
  ...nodeGroupSplit<NodeRow>([col("node", STR, (r) => r.node), col("provider_id", STR, (r) => r.providerId)], gpuModel()),
  col("node_gpu_hours", HOURS, (r) => r.nodeGpuHours),
  ...priced<NodeRow>("capacity_cost", (r) => r.capacityCost),
];
