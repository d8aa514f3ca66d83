import ExcelJS from "exceljs";
import { neutraliseFormula } from "../core/dataset.js";
import type { Dec } from "../core/decimal.js";
import { capacityLabel, labels, localTime, originLabel, type Labels } from "./i18n.js";
import type { DailyPoint, IdleLine, NamespaceLine, PriceLine, QuotaLine, ReportModel, TenantLine } from "./report-model.js";
import type { ControllerLine, PodLine } from "./dataset-files.js";
import type { Language } from "../core/language.js";

export const SHEETS = {
  en: {
    summary: "Summary",
    tenants: "Tenants",
    namespaces: "Namespaces",
    daily: "Daily",
    capacity: "Capacity & Idle",
    rates: "Rates",
    quota: "Quota",
    pods: "Pods",
    controller: "Controller",
  },
  ko: {
    summary: "요약",
    tenants: "테넌트",
    namespaces: "네임스페이스",
    daily: "일별",
    capacity: "용량 및 유휴",
    rates: "단가",
    quota: "쿼터",
    pods: "파드",
    controller: "컨트롤러",
  },
} as const;

type SheetNames = (typeof SHEETS)[Language];

type Kind = "text" | "hours" | "money" | "pct" | "price" | "int" | "factor";
type Cell = string | number | Dec | null | { formula: string; result?: number };

/** A data sheet's column: its header, format and width, and the cell it takes from each line. */
interface Col<T> {
  header: string;
  kind: Kind;
  width?: number;
  /** Sum this column in the totals row (as a formula the spreadsheet recomputes). */
  sum?: boolean;
  cell: (line: T, index: number) => Cell;
}

/** A data sheet's totals row: its label, and the cells (by column index) that are not plain sums. */
interface Totals {
  label: string;
  extra?: (row: number, first: number, last: number) => Record<number, Cell>;
}

/** A data sheet as written: where its rows are and, when it has one, its totals row. */
interface DataSheet {
  ws: ExcelJS.Worksheet;
  totalRow: number | undefined;
  first: number;
  last: number;
}

/** What every sheet writes with: the workbook, the model with its labels and sheet names, the shared columns and the cell writer. */
interface WorkbookLayout {
  wb: ExcelJS.Workbook;
  model: ReportModel;
  L: Labels;
  S: SheetNames;
  col: SharedColumns;
  /** A header with the report's currency: `Cost (USD)`. */
  inCurrency: (header: string) => string;
  put: (c: ExcelJS.Cell, v: Cell, kind: Kind) => void;
}

const n = (d: Dec) => Number(d.toFixed());
const isDec = (v: unknown): v is Dec => typeof v === "object" && v !== null && "toFixed" in v && "mul" in v;

/** A1 column letters. */
export function colLetter(i: number): string {
  let s = "";
  for (let x = i + 1; x > 0; x = Math.floor((x - 1) / 26)) s = String.fromCharCode(65 + ((x - 1) % 26)) + s;
  return s;
}
const ref = (sheet: string, cell: string) => `'${sheet.replace(/'/g, "''")}'!${cell}`;

/**
 * The report as an Excel workbook: real numbers with formats, frozen headers,
 * autofilters and totals as SUM formulas (with their computed values cached, and
 * full recalculation requested on open). Every text cell that could start a
 * formula (= + - @) is neutralised.
 */
export async function renderReportWorkbook(model: ReportModel, opts: { lang: Language }): Promise<Buffer> {
  const ctx = openWorkbook(model, opts.lang);
  // Summary first so it opens first; filled in once the other sheets' totals rows are known.
  const summary = ctx.wb.addWorksheet(ctx.S.summary);
  const tenants = tenantsSheet(ctx);
  namespacesSheet(ctx);
  dailySheet(ctx);
  if (model.pods?.length) podsSheet(ctx, model.pods);
  const capacity = model.idle ? capacitySheet(ctx, model.idle.lines) : undefined;
  const controller = model.controller ? controllerSheet(ctx, model.controller) : undefined;
  ratesSheet(ctx);
  quotaSheet(ctx);
  summarySheet(ctx, summary, { tenants, capacity, controller });
  fitSheetsToPage(ctx);
  return Buffer.from(await ctx.wb.xlsx.writeBuffer());
}

/** The workbook with its fixed metadata, and the cell writer with the formats of the model's currency. */
function openWorkbook(model: ReportModel, lang: Language): WorkbookLayout {
  const wb = new ExcelJS.Workbook();
  wb.creator = "gpu-billing";
  wb.created = new Date(model.period.end);
  wb.modified = new Date(model.period.end);
  wb.calcProperties.fullCalcOnLoad = true;
  const cur = model.currency;
  const moneyFmt = `"${cur}" #,##0.${"0".repeat(model.currencyDecimals)};-"${cur}" #,##0.${"0".repeat(model.currencyDecimals)}`.replace(
    /\.(?=;|$)/g,
    "",
  );
  const FMT: Record<Kind, string | undefined> = {
    text: undefined,
    hours: "#,##0.00",
    money: moneyFmt,
    pct: "0.0%",
    price: "0.0000######",
    int: "0",
    factor: "0.0",
  };
  const put = (c: ExcelJS.Cell, v: Cell, kind: Kind) => {
    if (v === null) return;
    if (typeof v === "string") c.value = neutraliseFormula(v);
    else if (isDec(v)) c.value = n(v);
    else c.value = v as ExcelJS.CellValue;
    const f = FMT[kind];
    if (f && typeof v !== "string") c.numFmt = f;
  };
  const L = labels(lang);
  const inCurrency = (header: string) => `${header} (${cur})`;
  return { wb, model, L, S: SHEETS[lang], col: sharedColumns(L, inCurrency), inCurrency, put };
}

type SharedColumns = ReturnType<typeof sharedColumns>;

/**
 * The columns that mean the same on every sheet that has them, defined once: header, format,
 * width and the field each reads (from any line that has the field).
 */
function sharedColumns(L: Labels, inCurrency: (header: string) => string) {
  return {
    tenant: { header: L.tenant, kind: "text", cell: (x: { tenantName: string }) => x.tenantName },
    namespace: { header: L.namespace, kind: "text", cell: (x: { namespace: string }) => x.namespace },
    nodeGroup: { header: L.nodeGroup, kind: "text", width: 26, cell: (x: { nodeGroup: string }) => x.nodeGroup },
    instanceType: { header: L.instanceType, kind: "text", width: 16, cell: (x: { instanceType: string }) => x.instanceType },
    gpuModel: { header: L.gpuModel, kind: "text", width: 10, cell: (x: { gpuModel: string }) => x.gpuModel },
    // A controller line of a group whose capacity type is not known leaves it blank.
    capacityType: {
      header: L.capacityType,
      kind: "text",
      width: 12,
      cell: (x: { capacityType: string }) => (x.capacityType ? capacityLabel(L, x.capacityType) : ""),
    },
    allocated: { header: L.allocated, kind: "hours", sum: true, cell: (x: { allocatedGpuHours: Dec }) => x.allocatedGpuHours },
    used: { header: L.used, kind: "hours", sum: true, cell: (x: { usedGpuHours: Dec }) => x.usedGpuHours },
    billable: { header: L.billable, kind: "hours", sum: true, cell: (x: { billableGpuHours: Dec }) => x.billableGpuHours },
    cost: { header: inCurrency(L.cost), kind: "money", sum: true, cell: (x: { cost: Dec }) => x.cost },
    unitPrice: { header: inCurrency(L.unitPrice), kind: "price", cell: (x: { unitPrice: Dec }) => x.unitPrice },
  } satisfies Record<string, Col<never>>;
}

/** Allocated and used GPU-hours (both summed) and the utilization between them: the three columns every usage sheet has. */
function usageColumns<T extends { allocatedGpuHours: Dec; usedGpuHours: Dec }>(
  { L, col }: WorkbookLayout,
  utilization: (line: T) => Cell,
): Col<T>[] {
  return [col.allocated, col.used, { header: L.utilization, kind: "pct", cell: utilization }];
}

/** The totals of a sheet whose usage columns start at column `at`: the utilization is recomputed from the summed hours, never summed. */
function usageTotals(L: Labels, at: number): Totals {
  return { label: L.total, extra: (row) => ({ [at + 2]: ratioFormula(colLetter(at + 1), colLetter(at), row) }) };
}

/** `part ÷ whole` of one row as a formula, 0 where the whole is 0. */
const ratioFormula = (partCol: string, wholeCol: string, row: number) => ({
  formula: `IF(${wholeCol}${row}=0,0,${partCol}${row}/${wholeCol}${row})`,
});

/** A data sheet: bold frozen header, autofilter, a row per line, and a totals row of SUM formulas. */
function dataSheet<T>(ctx: WorkbookLayout, name: string, cols: Col<T>[], lines: readonly T[], totals?: Totals): DataSheet {
  const ws = ctx.wb.addWorksheet(name, { views: [{ state: "frozen", ySplit: 1 }] });
  ws.columns = cols.map((c) => ({ width: c.width ?? (c.kind === "text" ? 22 : 16) }));
  const head = ws.getRow(1);
  cols.forEach((c, i) => {
    const cell = head.getCell(i + 1);
    cell.value = neutraliseFormula(c.header);
    cell.font = { bold: true, color: { argb: "FFFFFFFF" } };
    cell.fill = { type: "pattern", pattern: "solid", fgColor: { argb: "FF243B53" } };
    cell.alignment = { vertical: "middle", wrapText: true };
  });
  const rows = lines.map((x, li) => cols.map((c) => c.cell(x, li)));
  rows.forEach((r, ri) => {
    const row = ws.getRow(ri + 2);
    r.forEach((v, i) => ctx.put(row.getCell(i + 1), v, cols[i]!.kind));
  });
  const first = 2;
  const last = rows.length + 1;
  ws.autoFilter = { from: { row: 1, column: 1 }, to: { row: Math.max(1, last), column: cols.length } };
  const totalRow = totals ? totalsRow(ctx, ws, { cols, rows, first, last }, totals) : undefined;
  return { ws, totalRow, first, last };
}

/** The totals row under the data: SUM formulas (with their values cached) for the summed columns, and the `extra` cells. */
function totalsRow<T>(
  { put }: WorkbookLayout,
  ws: ExcelJS.Worksheet,
  { cols, rows, first, last }: { cols: Col<T>[]; rows: Cell[][]; first: number; last: number },
  totals: Totals,
): number {
  const totalRow = last + 1;
  const row = ws.getRow(totalRow);
  row.getCell(1).value = neutraliseFormula(totals.label);
  const extra = totals.extra?.(totalRow, first, last) ?? {};
  cols.forEach((c, i) => {
    if (i === 0) return;
    const cell = row.getCell(i + 1);
    if (extra[i] !== undefined) put(cell, extra[i]!, c.kind);
    else if (c.sum) {
      const L1 = colLetter(i);
      const result = rows.reduce((a, r) => a + (isDec(r[i]) ? n(r[i] as Dec) : typeof r[i] === "number" ? (r[i] as number) : 0), 0);
      put(cell, { formula: rows.length ? `SUM(${L1}${first}:${L1}${last})` : "0", result }, c.kind);
    }
  });
  row.font = { bold: true };
  row.border = { top: { style: "thin" } } as ExcelJS.Borders;
  cols.forEach((_, i) => (row.getCell(i + 1).border = { top: { style: "thin" } }));
  return totalRow;
}

/** Tenants: A tenant, B id, C allocated, D used, E utilization, F billable, G cost */
function tenantsSheet(ctx: WorkbookLayout): DataSheet {
  const { model, L, S, col } = ctx;
  const tenantId: Col<TenantLine> = { header: L.tenantId, kind: "text", width: 16, cell: (t) => t.tenantId };
  const cols = [col.tenant, tenantId, ...usageColumns<TenantLine>(ctx, (t) => t.utilization), col.billable, col.cost];
  return dataSheet(ctx, S.tenants, cols, model.tenants, usageTotals(L, 2));
}

/** Namespaces: A ns, B tenant, C gpu, D alloc, E used, F util, G factor, H billable, I cost */
function namespacesSheet(ctx: WorkbookLayout): DataSheet {
  const { model, L, S, col } = ctx;
  const factor: Col<NamespaceLine> = {
    header: L.factor,
    kind: "factor",
    cell: (x) => (x.factors.length === 1 ? x.factors[0]! : x.factors.map((f) => f.toFixed(1)).join(" / ")),
  };
  const cols: Col<NamespaceLine>[] = [
    { ...col.namespace, width: 26 },
    { ...col.tenant, width: 16 },
    col.gpuModel,
    ...usageColumns<NamespaceLine>(ctx, (x) => x.utilization),
    factor,
    col.billable,
    col.cost,
  ];
  return dataSheet(ctx, S.namespaces, cols, model.namespaces, usageTotals(L, 3));
}

/** Daily: A day, B allocated, C used, D utilization */
function dailySheet(ctx: WorkbookLayout): DataSheet {
  const { model, L, S } = ctx;
  const day: Col<DailyPoint> = { header: L.day, kind: "text", width: 12, cell: (d) => d.day };
  const utilization = (d: DailyPoint) => (d.allocatedGpuHours.isZero() ? 0 : d.usedGpuHours.div(d.allocatedGpuHours).toDecimalPlaces(4));
  return dataSheet(ctx, S.daily, [day, ...usageColumns(ctx, utilization)], model.daily, usageTotals(L, 1));
}

/** Pods (tenant scope only: the model holds only this tenant's pods): A ns, B pod, C node, D gpu, E instance, F capacity type, G alloc, H used, I util */
function podsSheet(ctx: WorkbookLayout, pods: PodLine[]): DataSheet {
  const { L, S, col } = ctx;
  const pod: Col<PodLine> = { header: L.pod, kind: "text", width: 30, cell: (p) => p.pod };
  const node: Col<PodLine> = { header: L.node, kind: "text", width: 20, cell: (p) => p.node };
  const cols = [
    col.namespace,
    pod,
    node,
    col.gpuModel,
    col.instanceType,
    col.capacityType,
    ...usageColumns<PodLine>(ctx, (p) => p.avgUtilization),
  ];
  return dataSheet(ctx, S.pods, cols, pods, usageTotals(L, 6));
}

/** Capacity & Idle (platform scope only): A group, B instance, C gpu, D capacity type, E nodes, F node h, G alloc, H idle, I ratio, J price, K idle cost */
function capacitySheet(ctx: WorkbookLayout, lines: IdleLine[]): DataSheet {
  const { L, S, col, inCurrency } = ctx;
  const cols: Col<IdleLine>[] = [
    col.nodeGroup,
    col.instanceType,
    col.gpuModel,
    col.capacityType,
    { header: L.nodes, kind: "int", width: 8, sum: true, cell: (c) => c.nodes },
    { header: L.capacity, kind: "hours", sum: true, cell: (c) => c.nodeGpuHours },
    col.allocated,
    { header: L.idleHours, kind: "hours", sum: true, cell: (c) => c.idleGpuHours },
    { header: L.idleRatio, kind: "pct", cell: (c) => c.idleRatio },
    col.unitPrice,
    { header: inCurrency(L.idleCost), kind: "money", sum: true, cell: (c) => c.idleCost },
  ];
  return dataSheet(ctx, S.capacity, cols, lines, { label: L.total, extra: (row) => ({ 8: ratioFormula("H", "F", row) }) });
}

/**
 * Controller (platform scope only, after Capacity & Idle): A group, B instance, C capacity type, D reclaimed, E scale-outs,
 * F nodes added, G GPU-h saved, H price, I saved; under the table each cluster's status and how the estimate is made.
 */
function controllerSheet(ctx: WorkbookLayout, k: NonNullable<ReportModel["controller"]>): DataSheet {
  const { L, S, col, inCurrency } = ctx;
  const cols: Col<ControllerLine>[] = [
    col.nodeGroup,
    col.instanceType,
    col.capacityType,
    { header: L.nodesReclaimed, kind: "int", width: 10, sum: true, cell: (c) => c.nodesReclaimed },
    { header: L.scaleOuts, kind: "int", width: 10, sum: true, cell: (c) => c.scaleOuts },
    { header: L.nodes, kind: "int", width: 8, sum: true, cell: (c) => c.nodesAdded },
    { header: L.gpuHoursSaved, kind: "hours", sum: true, cell: (c) => c.gpuNodeHoursSaved },
    col.unitPrice,
    { header: inCurrency(L.savedCost), kind: "money", sum: true, cell: (c) => c.savedCost },
  ];
  const controller = dataSheet(ctx, S.controller, cols, k.lines, { label: L.total });
  // An empty table must still say why.
  let r = (controller.totalRow ?? controller.last) + 2;
  for (const st of k.statuses)
    controller.ws.getRow(r++).getCell(1).value = neutraliseFormula(`${st.cluster}: ${L.controllerStatus[st.status] ?? st.status}`);
  controller.ws.getRow(r).getCell(1).value = L.controllerNote;
  return controller;
}

/** Rates: the price table, then under it the correction tiers, where the prices came from and the Spot prices by zone. */
function ratesSheet(ctx: WorkbookLayout): DataSheet {
  const { model, L, S, col, inCurrency } = ctx;
  const price = (header: string, cell: (p: PriceLine) => Cell): Col<PriceLine> => ({ header: inCurrency(header), kind: "price", cell });
  const cols: Col<PriceLine>[] = [
    col.instanceType,
    col.gpuModel,
    { header: L.gpus, kind: "int", width: 8, cell: (p) => p.gpus },
    price(L.onDemandHourly, (p) => p.onDemandHourly),
    price(L.spotHourly, (p) => p.spotHourly ?? null),
    price(L.perGpuOnDemand, (p) => p.onDemandPerGpu),
    price(L.perGpuSpot, (p) => p.spotPerGpu ?? null),
  ];
  const rates = dataSheet(ctx, S.rates, cols, model.methodology.prices);
  let r = correctionTiers(ctx, rates.ws, rates.last + 2);
  r = priceSources(ctx, rates.ws, r + 2);
  if (model.methodology.spotByZone.length) spotByZone(ctx, rates.ws, r + 2);
  return rates;
}

/** The correction tiers from row `r`, under a bold title and header. Returns the last row written. */
function correctionTiers({ model, L, put }: WorkbookLayout, ws: ExcelJS.Worksheet, r: number): number {
  ws.getCell(`A${r}`).value = neutraliseFormula(`${L.tiers} (${L.granularity}: ${model.methodology.granularity})`);
  ws.getCell(`A${r}`).font = { bold: true };
  r++;
  ws.getCell(`A${r}`).value = L.minUtilization;
  ws.getCell(`B${r}`).value = L.factor;
  ws.getRow(r).font = { bold: true };
  for (const t of model.methodology.tiers) {
    r++;
    put(ws.getCell(`A${r}`), t.minUtilization, "pct");
    put(ws.getCell(`B${r}`), t.factor, "factor");
  }
  return r;
}

/** Where the prices came from (the feed, or the price table's note) and their origins, on rows `r` and `r + 1`. Returns the last row written. */
function priceSources({ model, L }: WorkbookLayout, ws: ExcelJS.Worksheet, r: number): number {
  const feed = model.methodology.priceFeed;
  const source =
    feed?.source === "aws"
      ? L.awsPriceSourceText.replace("{region}", feed.region ?? "").replace("{skus}", feed.skus.join(", "))
      : model.methodology.priceSource || L.none;
  ws.getCell(`A${r}`).value = neutraliseFormula(`${L.priceSource}: ${source}`);
  r++;
  const origins = [...new Set(model.methodology.prices.flatMap((p) => [p.onDemandOrigin, ...(p.spotOrigin ? [p.spotOrigin] : [])]))];
  ws.getCell(`A${r}`).value = neutraliseFormula(`${L.priceOrigin}: ${origins.map((o) => originLabel(L, o)).join("; ")}`);
  return r;
}

/** The month's Spot prices by zone from row `r`, under a bold title and header. */
function spotByZone({ model, L, inCurrency, put }: WorkbookLayout, ws: ExcelJS.Worksheet, r: number): void {
  ws.getCell(`A${r}`).value = neutraliseFormula(inCurrency(L.spotByZone));
  ws.getCell(`A${r}`).font = { bold: true };
  r++;
  [L.instanceType, L.zone, L.nodes, L.spotHourly, L.perGpuSpot, L.priceChanges, L.lowHigh].forEach(
    (h, i) => (ws.getCell(r, i + 1).value = h),
  );
  ws.getRow(r).font = { bold: true };
  for (const z of model.methodology.spotByZone) {
    r++;
    ws.getCell(r, 1).value = neutraliseFormula(z.instanceType);
    ws.getCell(r, 2).value = neutraliseFormula(z.zone);
    put(ws.getCell(r, 3), z.nodes, "int");
    put(ws.getCell(r, 4), z.hourly, "price");
    put(ws.getCell(r, 5), z.perGpu, "price");
    put(ws.getCell(r, 6), z.changes, "int");
    ws.getCell(r, 7).value = `${z.lowest.toFixed()}–${z.highest.toFixed()}`;
  }
}

/** Quota: A tenant, B used, C quota, D ratio */
function quotaSheet(ctx: WorkbookLayout): DataSheet {
  const { model, L, S, col } = ctx;
  const cols: Col<QuotaLine>[] = [
    col.tenant,
    {
      header: model.quotaBasis === "billable" ? L.quotaUsedBillable : L.quotaUsed,
      kind: "hours",
      sum: true,
      cell: (q) => q.usedGpuHours,
    },
    { header: L.quotaLimit, kind: "hours", cell: (q) => q.quotaGpuHours ?? L.unlimited },
    {
      header: L.quotaRatio,
      kind: "pct",
      cell: (q, i) => (q.quotaGpuHours ? { formula: `B${i + 2}/C${i + 2}`, result: n(q.ratio!) } : null),
    },
  ];
  return dataSheet(ctx, S.quota, cols, model.quota, { label: L.total });
}

/** Summary: the totals point at the sheets' SUM rows, so the summary recomputes with them. */
function summarySheet(
  ctx: WorkbookLayout,
  summary: ExcelJS.Worksheet,
  sheets: { tenants: DataSheet; capacity: DataSheet | undefined; controller: DataSheet | undefined },
): void {
  const { model, L, S, inCurrency, put } = ctx;
  summary.columns = [{ width: 30 }, { width: 70 }];
  const tr = sheets.tenants.totalRow!;
  const t = model.totals;
  /** A cell of another sheet's totals row, with the model's value cached. */
  const total = (sheet: string, cell: string, value: Dec) => ({ formula: ref(sheet, cell), result: n(value) });
  const scopeName = model.scope.kind === "tenant" ? `${model.scope.tenantName} (${model.scope.tenantId})` : L.platform;
  const lines: [string, Cell, Kind][] = [
    [L.title, scopeName, "text"],
    [L.month, model.month, "text"],
    [L.timeZone, model.timeZone, "text"],
    [L.period, `${localTime(model.period.start, model.timeZone)} — ${localTime(model.period.end, model.timeZone)}`, "text"],
    [inCurrency(L.totalCost), total(S.tenants, `G${tr}`, t.cost), "money"],
    [L.allocated, total(S.tenants, `C${tr}`, t.allocatedGpuHours), "hours"],
    [L.used, total(S.tenants, `D${tr}`, t.usedGpuHours), "hours"],
    [L.billable, total(S.tenants, `F${tr}`, t.billableGpuHours), "hours"],
    [L.utilization, { formula: "IF(B6=0,0,B7/B6)", result: n(t.utilization) }, "pct"],
    [inCurrency(L.spotSavings), t.spotSavings, "money"],
    [inCurrency(L.onDemandEquivalent), t.onDemandEquivalentCost, "money"],
  ];
  const { capacity, controller } = sheets;
  if (capacity && model.idle) {
    lines.push([inCurrency(L.idleCost), total(S.capacity, `K${capacity.totalRow}`, model.idle.idleCost), "money"]);
    lines.push([L.idleHours, total(S.capacity, `H${capacity.totalRow}`, model.idle.idleGpuHours), "hours"]);
  }
  if (controller && model.controller) {
    lines.push([inCurrency(L.savedCost), total(S.controller, `I${controller.totalRow}`, model.controller.savedCost), "money"]);
    lines.push([L.gpuHoursSaved, total(S.controller, `G${controller.totalRow}`, model.controller.gpuNodeHoursSaved), "hours"]);
  }
  lines.push([L.manifestHash, model.methodology.manifestSha256, "text"], [L.configHash, model.methodology.datasetConfigHash, "text"]);
  lines.forEach(([k, v, kind], i) => {
    const row = summary.getRow(i + 1);
    row.getCell(1).value = neutraliseFormula(k);
    row.getCell(1).font = { bold: true };
    put(row.getCell(2), v, kind);
    row.getCell(2).alignment = { horizontal: "left" };
  });
  summary.getRow(1).font = { bold: true, size: 13 };
}

/** Printed, every sheet fits the page width (landscape), however many rows follow. */
function fitSheetsToPage({ wb, S }: WorkbookLayout): void {
  wb.eachSheet((ws) => {
    ws.pageSetup = { ...ws.pageSetup, orientation: "landscape", fitToPage: true, fitToWidth: 1, fitToHeight: 0, paperSize: 9 };
    if (ws.name !== S.summary) ws.pageSetup.printTitlesRow = "1:1";
  });
}
