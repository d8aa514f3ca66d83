import ExcelJS from "exceljs";
import { neutraliseFormula } from "../core/dataset.js";
import type { Dec } from "../core/decimal.js";
import { capacityLabel, labels, localTime, originLabel } from "./i18n.js";
import type { ReportModel } from "./report-model.js";
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

type Kind = "text" | "hours" | "money" | "pct" | "price" | "int" | "factor";
interface Col {
  header: string;
  kind: Kind;
  width?: number;
  /** Sum this column in the totals row (as a formula the spreadsheet recomputes). */
  sum?: boolean;
}
type Cell = string | number | Dec | null | { formula: string; result?: number };

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
  const L = labels(opts.lang);
  const S = SHEETS[opts.lang];
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

  /** A data sheet: bold frozen header, autofilter, rows, and a totals row of SUM formulas. Returns the totals row number. */
  const dataSheet = (
    name: string,
    cols: Col[],
    rows: Cell[][],
    totals?: { label: string; extra?: (row: number, first: number, last: number) => Record<number, Cell> },
  ) => {
    const ws = wb.addWorksheet(name, { views: [{ state: "frozen", ySplit: 1 }] });
    ws.columns = cols.map((c) => ({ width: c.width ?? (c.kind === "text" ? 22 : 16) }));
    const head = ws.getRow(1);
    cols.forEach((c, i) => {
      const cell = head.getCell(i + 1);
      cell.value = neutraliseFormula(c.header);
      cell.font = { bold: true, color: { argb: "FFFFFFFF" } };
      cell.fill = { type: "pattern", pattern: "solid", fgColor: { argb: "FF243B53" } };
      cell.alignment = { vertical: "middle", wrapText: true };
    });
    rows.forEach((r, ri) => {
      const row = ws.getRow(ri + 2);
      r.forEach((v, i) => put(row.getCell(i + 1), v, cols[i]!.kind));
    });
    const first = 2;
    const last = rows.length + 1;
    ws.autoFilter = { from: { row: 1, column: 1 }, to: { row: Math.max(1, last), column: cols.length } };
    let totalRow: number | undefined;
    if (totals) {
      totalRow = last + 1;
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
    }
    return { ws, totalRow, first, last };
  };

  const util = (usedCol: string, allocCol: string) => (row: number) => ({
    formula: `IF(${allocCol}${row}=0,0,${usedCol}${row}/${allocCol}${row})`,
  });

  // Summary first so it opens first; filled in once the other sheets' totals rows are known.
  const summary = wb.addWorksheet(S.summary);

  // Tenants: A tenant, B id, C allocated, D used, E utilization, F billable, G cost
  const tenants = dataSheet(
    S.tenants,
    [
      { header: L.tenant, kind: "text" },
      { header: L.tenantId, kind: "text", width: 16 },
      { header: L.allocated, kind: "hours", sum: true },
      { header: L.used, kind: "hours", sum: true },
      { header: L.utilization, kind: "pct" },
      { header: L.billable, kind: "hours", sum: true },
      { header: `${L.cost} (${cur})`, kind: "money", sum: true },
    ],
    model.tenants.map((t) => [t.tenantName, t.tenantId, t.allocatedGpuHours, t.usedGpuHours, t.utilization, t.billableGpuHours, t.cost]),
    { label: L.total, extra: (row) => ({ 4: util("D", "C")(row) }) },
  );

  // Namespaces: A ns, B tenant, C gpu, D alloc, E used, F util, G factor, H billable, I cost
  dataSheet(
    S.namespaces,
    [
      { header: L.namespace, kind: "text", width: 26 },
      { header: L.tenant, kind: "text", width: 16 },
      { header: L.gpuModel, kind: "text", width: 10 },
      { header: L.allocated, kind: "hours", sum: true },
      { header: L.used, kind: "hours", sum: true },
      { header: L.utilization, kind: "pct" },
      { header: L.factor, kind: "factor" },
      { header: L.billable, kind: "hours", sum: true },
      { header: `${L.cost} (${cur})`, kind: "money", sum: true },
    ],
    model.namespaces.map((x) => [
      x.namespace,
      x.tenantName,
      x.gpuModel,
      x.allocatedGpuHours,
      x.usedGpuHours,
      x.utilization,
      x.factors.length === 1 ? x.factors[0]! : x.factors.map((f) => f.toFixed(1)).join(" / "),
      x.billableGpuHours,
      x.cost,
    ]),
    { label: L.total, extra: (row) => ({ 5: util("E", "D")(row) }) },
  );

  // Daily: A day, B allocated, C used, D utilization
  dataSheet(
    S.daily,
    [
      { header: L.day, kind: "text", width: 12 },
      { header: L.allocated, kind: "hours", sum: true },
      { header: L.used, kind: "hours", sum: true },
      { header: L.utilization, kind: "pct" },
    ],
    model.daily.map((d) => [
      d.day,
      d.allocatedGpuHours,
      d.usedGpuHours,
      d.allocatedGpuHours.isZero() ? 0 : d.usedGpuHours.div(d.allocatedGpuHours).toDecimalPlaces(4),
    ]),
    { label: L.total, extra: (row) => ({ 3: util("C", "B")(row) }) },
  );

  // Pods (tenant scope only: the model holds only this tenant's pods): A ns, B pod, C node, D gpu, E instance, F capacity type, G alloc, H used, I util
  if (model.pods?.length) {
    dataSheet(
      S.pods,
      [
        { header: L.namespace, kind: "text", width: 22 },
        { header: L.pod, kind: "text", width: 30 },
        { header: L.node, kind: "text", width: 20 },
        { header: L.gpuModel, kind: "text", width: 10 },
        { header: L.instanceType, kind: "text", width: 16 },
        { header: L.capacityType, kind: "text", width: 12 },
        { header: L.allocated, kind: "hours", sum: true },
        { header: L.used, kind: "hours", sum: true },
        { header: L.utilization, kind: "pct" },
      ],
      model.pods.map((p) => [
        p.namespace,
        p.pod,
        p.node,
        p.gpuModel,
        p.instanceType,
        capacityLabel(L, p.capacityType),
        p.allocatedGpuHours,
        p.usedGpuHours,
        p.avgUtilization,
      ]),
      { label: L.total, extra: (row) => ({ 8: util("H", "G")(row) }) },
    );
  }

  // Capacity & Idle (platform scope only): A group, B instance, C gpu, D capacity type, E nodes, F node h, G alloc, H idle, I ratio, J price, K idle cost
  let capacity: ReturnType<typeof dataSheet> | undefined;
  if (model.idle) {
    capacity = dataSheet(
      S.capacity,
      [
        { header: L.nodeGroup, kind: "text", width: 26 },
        { header: L.instanceType, kind: "text", width: 16 },
        { header: L.gpuModel, kind: "text", width: 10 },
        { header: L.capacityType, kind: "text", width: 12 },
        { header: L.nodes, kind: "int", width: 8, sum: true },
        { header: L.capacity, kind: "hours", sum: true },
        { header: L.allocated, kind: "hours", sum: true },
        { header: L.idleHours, kind: "hours", sum: true },
        { header: L.idleRatio, kind: "pct" },
        { header: `${L.unitPrice} (${cur})`, kind: "price" },
        { header: `${L.idleCost} (${cur})`, kind: "money", sum: true },
      ],
      model.idle.lines.map((c) => [
        c.nodeGroup,
        c.instanceType,
        c.gpuModel,
        capacityLabel(L, c.capacityType),
        c.nodes,
        c.nodeGpuHours,
        c.allocatedGpuHours,
        c.idleGpuHours,
        c.idleRatio,
        c.unitPrice,
        c.idleCost,
      ]),
      { label: L.total, extra: (row) => ({ 8: { formula: `IF(F${row}=0,0,H${row}/F${row})` } }) },
    );
  }

  // Controller (platform scope only, after Capacity & Idle): A group, B instance, C capacity type, D reclaimed, E scale-outs, F nodes added, G GPU-h saved, H price, I saved
  let controller: ReturnType<typeof dataSheet> | undefined;
  if (model.controller) {
    const k = model.controller;
    controller = dataSheet(
      S.controller,
      [
        { header: L.nodeGroup, kind: "text", width: 26 },
        { header: L.instanceType, kind: "text", width: 16 },
        { header: L.capacityType, kind: "text", width: 12 },
        { header: L.nodesReclaimed, kind: "int", width: 10, sum: true },
        { header: L.scaleOuts, kind: "int", width: 10, sum: true },
        { header: L.nodes, kind: "int", width: 8, sum: true },
        { header: L.gpuHoursSaved, kind: "hours", sum: true },
        { header: `${L.unitPrice} (${cur})`, kind: "price" },
        { header: `${L.savedCost} (${cur})`, kind: "money", sum: true },
      ],
      k.lines.map((c) => [
        c.nodeGroup,
        c.instanceType,
        c.capacityType ? capacityLabel(L, c.capacityType) : "",
        c.nodesReclaimed,
        c.scaleOuts,
        c.nodesAdded,
        c.gpuNodeHoursSaved,
        c.unitPrice,
        c.savedCost,
      ]),
      { label: L.total },
    );
    // Under the table: each cluster's status (an empty table must still say why) and how the estimate is made.
    let r = (controller.totalRow ?? controller.last) + 2;
    for (const st of k.statuses)
      controller.ws.getRow(r++).getCell(1).value = neutraliseFormula(`${st.cluster}: ${L.controllerStatus[st.status] ?? st.status}`);
    controller.ws.getRow(r).getCell(1).value = L.controllerNote;
  }

  // Rates: price table, then the correction tiers under it.
  const rates = dataSheet(
    S.rates,
    [
      { header: L.instanceType, kind: "text", width: 16 },
      { header: L.gpuModel, kind: "text", width: 10 },
      { header: L.gpus, kind: "int", width: 8 },
      { header: `${L.onDemandHourly} (${cur})`, kind: "price" },
      { header: `${L.spotHourly} (${cur})`, kind: "price" },
      { header: `${L.perGpuOnDemand} (${cur})`, kind: "price" },
      { header: `${L.perGpuSpot} (${cur})`, kind: "price" },
    ],
    model.methodology.prices.map((p) => [
      p.instanceType,
      p.gpuModel,
      p.gpus,
      p.onDemandHourly,
      p.spotHourly ?? null,
      p.onDemandPerGpu,
      p.spotPerGpu ?? null,
    ]),
  );
  {
    const ws = rates.ws;
    let r = rates.last + 2;
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
    r += 2;
    const feed = model.methodology.priceFeed;
    const source =
      feed?.source === "aws"
        ? L.awsPriceSourceText.replace("{region}", feed.region ?? "").replace("{skus}", feed.skus.join(", "))
        : model.methodology.priceSource || L.none;
    ws.getCell(`A${r}`).value = neutraliseFormula(`${L.priceSource}: ${source}`);
    r++;
    const origins = [...new Set(model.methodology.prices.flatMap((p) => [p.onDemandOrigin, ...(p.spotOrigin ? [p.spotOrigin] : [])]))];
    ws.getCell(`A${r}`).value = neutraliseFormula(`${L.priceOrigin}: ${origins.map((o) => originLabel(L, o)).join("; ")}`);
    if (model.methodology.spotByZone.length) {
      r += 2;
      ws.getCell(`A${r}`).value = neutraliseFormula(`${L.spotByZone} (${cur})`);
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
  }

  // Quota: A tenant, B used, C quota, D ratio
  dataSheet(
    S.quota,
    [
      { header: L.tenant, kind: "text" },
      { header: model.quotaBasis === "billable" ? L.quotaUsedBillable : L.quotaUsed, kind: "hours", sum: true },
      { header: L.quotaLimit, kind: "hours" },
      { header: L.quotaRatio, kind: "pct" },
    ],
    model.quota.map((q, i) => [
      q.tenantName,
      q.usedGpuHours,
      q.quotaGpuHours ?? L.unlimited,
      q.quotaGpuHours ? { formula: `B${i + 2}/C${i + 2}`, result: n(q.ratio!) } : null,
    ]),
    { label: L.total },
  );

  // Summary: the totals point at the sheets' SUM rows, so the summary recomputes with them.
  summary.columns = [{ width: 30 }, { width: 70 }];
  const tr = tenants.totalRow!;
  const t = model.totals;
  const scopeName = model.scope.kind === "tenant" ? `${model.scope.tenantName} (${model.scope.tenantId})` : L.platform;
  const lines: [string, Cell, Kind][] = [
    [L.title, scopeName, "text"],
    [L.month, model.month, "text"],
    [L.timeZone, model.timeZone, "text"],
    [L.period, `${localTime(model.period.start, model.timeZone)} — ${localTime(model.period.end, model.timeZone)}`, "text"],
    [`${L.totalCost} (${cur})`, { formula: ref(S.tenants, `G${tr}`), result: n(t.cost) }, "money"],
    [L.allocated, { formula: ref(S.tenants, `C${tr}`), result: n(t.allocatedGpuHours) }, "hours"],
    [L.used, { formula: ref(S.tenants, `D${tr}`), result: n(t.usedGpuHours) }, "hours"],
    [L.billable, { formula: ref(S.tenants, `F${tr}`), result: n(t.billableGpuHours) }, "hours"],
    [L.utilization, { formula: "IF(B6=0,0,B7/B6)", result: n(t.utilization) }, "pct"],
    [`${L.spotSavings} (${cur})`, t.spotSavings, "money"],
    [`${L.onDemandEquivalent} (${cur})`, t.onDemandEquivalentCost, "money"],
  ];
  if (capacity && model.idle) {
    lines.push([`${L.idleCost} (${cur})`, { formula: ref(S.capacity, `K${capacity.totalRow}`), result: n(model.idle.idleCost) }, "money"]);
    lines.push([L.idleHours, { formula: ref(S.capacity, `H${capacity.totalRow}`), result: n(model.idle.idleGpuHours) }, "hours"]);
  }
  if (controller && model.controller) {
    lines.push([
      `${L.savedCost} (${cur})`,
      { formula: ref(S.controller, `I${controller.totalRow}`), result: n(model.controller.savedCost) },
      "money",
    ]);
    lines.push([
      L.gpuHoursSaved,
      { formula: ref(S.controller, `G${controller.totalRow}`), result: n(model.controller.gpuNodeHoursSaved) },
      "hours",
    ]);
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

  // Printed, every sheet fits the page width (landscape), however many rows follow.
  wb.eachSheet((ws) => {
    ws.pageSetup = { ...ws.pageSetup, orientation: "landscape", fitToPage: true, fitToWidth: 1, fitToHeight: 0, paperSize: 9 };
    if (ws.name !== S.summary) ws.pageSetup.printTitlesRow = "1:1";
  });
  return Buffer.from(await wb.xlsx.writeBuffer());
}
