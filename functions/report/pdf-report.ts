import PDFDocument from "pdfkit";
import type * as fontkit from "fontkit";
import { D, type Dec } from "../core/decimal.js";
import { capacityLabel, fmtHours, formulaLines, fmtMoney, fmtPct, grouped, labels, localTime, originLabel, type Labels } from "./i18n.js";
import type { CapacityTypeLine, IdleLine, NamespaceLine, PriceLine, ReportModel, SpotZoneLine } from "./report-model.js";
import type { ControllerLine } from "./dataset-files.js";
import type { Language } from "../core/language.js";

/** The report's two fonts, parsed (fontkit); read where a document first needs them. */
export type ReportFonts = () => { regular: fontkit.Font; bold: fontkit.Font };

export interface PdfOptions {
  lang: Language;
  /** Pretendard regular and bold (adapters/font-files.ts reads them from the package or a bundle's directory). */
  fonts: ReportFonts;
}

const C = {
  ink: "#1f2933",
  muted: "#616e7c",
  rule: "#cbd2d9",
  band: "#f0f4f8",
  head: "#243b53",
  accent: "#2f6fde",
  accent2: "#e8833a",
  good: "#2e9e6a",
  bad: "#d64545",
};

type Align = "left" | "right";
/** A table's column: its header and width, and the text it shows for each line. */
interface Column<T> {
  header: string;
  width: number;
  align?: Align;
  cell: (line: T, index: number) => string;
}
const left = <T>(header: string, width: number, cell: (line: T, index: number) => string): Column<T> => ({ header, width, cell });
const right = <T>(header: string, width: number, cell: (line: T, index: number) => string): Column<T> => ({
  header,
  width,
  align: "right",
  cell,
});

const num = (d: Dec) => Number(d.toFixed(6));

/** What every section draws with: the document, the model and its labels, and the page's text column. */
interface PdfLayout {
  doc: PDFKit.PDFDocument;
  model: ReportModel;
  L: Labels;
  /** The tenant's name and id, or "platform". */
  scopeName: string;
  /** Left edge and width of the text column (inside the page margins). */
  left: number;
  width: number;
  money: (d: Dec) => string;
  col: SharedColumns;
}

type SharedColumns = ReturnType<typeof sharedColumns>;

/**
 * The columns that show the same on every table that has them, defined once: header, alignment
 * and the field each reads (from any line that has the field); each table gives the width.
 */
function sharedColumns(L: Labels, money: (d: Dec) => string) {
  return {
    tenant: (w: number) => left(L.tenant, w, (x: { tenantName: string }) => x.tenantName),
    namespace: (w: number) => left(L.namespace, w, (x: { namespace: string }) => x.namespace),
    gpuModel: (w: number) => left(L.gpuModel, w, (x: { gpuModel: string }) => x.gpuModel),
    nodeGroup: (w: number) => left(L.nodeGroup, w, (x: { nodeGroup: string }) => x.nodeGroup),
    instanceType: (w: number) => left(L.instanceType, w, (x: { instanceType: string }) => x.instanceType),
    capacityType: (w: number) => left(L.capacityType, w, (x: { capacityType: string }) => capacityLabel(L, x.capacityType)),
    allocated: (w: number) => right(L.allocated, w, (x: { allocatedGpuHours: Dec }) => fmtHours(x.allocatedGpuHours)),
    used: (w: number) => right(L.used, w, (x: { usedGpuHours: Dec }) => fmtHours(x.usedGpuHours)),
    billable: (w: number) => right(L.billable, w, (x: { billableGpuHours: Dec }) => fmtHours(x.billableGpuHours)),
    utilization: (w: number) => right(L.utilization, w, (x: { utilization: Dec }) => fmtPct(x.utilization)),
    cost: (w: number) => right(L.cost, w, (x: { cost: Dec }) => money(x.cost)),
  };
}

/**
 * Renders the report model as a PDF: cover with totals and the cost bar chart, tenants and
 * Spot vs On-Demand, the daily trend line chart, namespaces, idle capacity, the controller's
 * savings, the reconciliation, quota, a methodology page, and a footer on every page.
 * Pretendard is embedded and subset by pdfkit, so Hangul renders and extracts.
 */
export async function renderReportPdf(model: ReportModel, opts: PdfOptions): Promise<Buffer> {
  const L = labels(opts.lang);
  const scopeName = model.scope.kind === "tenant" ? `${model.scope.tenantName} (${model.scope.tenantId})` : L.platform;
  const doc = openDocument(model, opts, L, scopeName);
  const chunks: Buffer[] = [];
  doc.on("data", (c: Buffer) => chunks.push(c));
  const done = new Promise<Buffer>((resolve, reject) => {
    doc.on("end", () => resolve(Buffer.concat(chunks)));
    doc.on("error", reject);
  });
  const left = doc.page.margins.left;
  const width = doc.page.width - left - doc.page.margins.right;
  const money = (d: Dec) => fmtMoney(d, model.currency, model.currencyDecimals);
  const ctx: PdfLayout = { doc, model, L, scopeName, left, width, money, col: sharedColumns(L, money) };

  coverSection(ctx);
  tenantsSection(ctx);
  capacityTypesSection(ctx);
  dailyTrendSection(ctx);
  namespacesSection(ctx);
  if (model.idle) idleSection(ctx, model.idle);
  if (model.controller) controllerSection(ctx, model.controller);
  if (model.reconciliation) reconciliationSection(ctx, model.reconciliation);
  quotaSection(ctx);
  methodologyPage(ctx);
  pageFooters(ctx);
  doc.end();
  return done;
}

/**
 * The document with its fixed metadata and both fonts registered. Fonts are selected here in a
 * fixed order (regular, then bold) whether parsed now or cached, so font ids (and bytes) never
 * depend on the cache.
 */
function openDocument(model: ReportModel, opts: PdfOptions, L: Labels, scopeName: string): PDFKit.PDFDocument {
  const fonts = opts.fonts();
  const doc = new PDFDocument({
    size: "A4",
    margins: { top: 50, bottom: 56, left: 50, right: 50 },
    bufferPages: true,
    autoFirstPage: true,
    lang: opts.lang === "ko" ? "ko-KR" : "en-US",
    // Fixed dates: the same dataset renders the same document.
    info: {
      Title: `${L.title} ${model.month} — ${scopeName}`,
      Author: "gpu-billing",
      Subject: `${model.month} ${model.scope.kind === "tenant" ? model.scope.tenantId : "all"}`,
      Keywords: `manifest-sha256:${model.methodology.manifestSha256}`,
      CreationDate: new Date(model.period.end),
      ModDate: new Date(model.period.end),
    },
  });
  for (const [name, font] of [
    ["R", fonts.regular],
    ["B", fonts.bold],
  ] as const) {
    // @types/pdfkit lists paths and buffers only; pdfkit itself takes a parsed fontkit font (see adapters/font-files.ts).
    doc.registerFont(name, font as unknown as Buffer);
    doc.font(name);
  }
  return doc;
}

/** Bottom of the writable area of the current page. */
const bottomOf = (doc: PDFKit.PDFDocument) => doc.page.height - doc.page.margins.bottom;

/** Starts a new page unless `h` more points fit on this one. */
function ensure({ doc }: PdfLayout, h: number): void {
  if (doc.y + h > bottomOf(doc)) doc.addPage();
}

/** `s`, cut with an ellipsis to fit `w` points in the current font. */
function fit({ doc }: PdfLayout, s: string, w: number): string {
  if (doc.widthOfString(s) <= w) return s;
  let t = s;
  while (t.length > 1 && doc.widthOfString(`${t}…`) > w) t = t.slice(0, -1);
  return `${t}…`;
}

/** A section heading with a rule under it. `keep`: height of what follows, so a heading never ends a page alone. */
function heading(ctx: PdfLayout, text: string, size = 15, keep = 60): void {
  const { doc, left, width } = ctx;
  ensure(ctx, size + 20 + keep);
  doc.moveDown(0.6);
  doc.font("B").fontSize(size).fillColor(C.head).text(text, left, doc.y, { width });
  const y = doc.y + 2;
  doc
    .moveTo(left, y)
    .lineTo(left + width, y)
    .lineWidth(0.8)
    .strokeColor(C.rule)
    .stroke();
  doc.y = y + 8;
  doc.font("R").fontSize(9).fillColor(C.ink);
}

/** A paragraph across the text column. */
function para({ doc, left, width }: PdfLayout, text: string, size = 9, color = C.ink): void {
  doc.font("R").fontSize(size).fillColor(color).text(text, left, doc.y, { width });
}

/** A bold sub-heading inside a section, at the current position. */
function subheading({ doc }: PdfLayout, text: string): void {
  doc.font("B").fontSize(10).fillColor(C.ink).text(text);
}

type RowKind = "head" | "body" | "total";

/** One table row at the current position: a filled band for the header, shading for odd body rows, a rule above the totals. */
function tableRow(
  ctx: PdfLayout,
  cols: Column<never>[],
  ws: number[],
  tw: number,
  rh: number,
  cells: string[],
  kind: RowKind,
  shade: boolean,
): void {
  const { doc, left } = ctx;
  const y = doc.y;
  if (kind === "head") doc.rect(left, y, tw, rh + 2).fill(C.head);
  else if (shade) doc.rect(left, y, tw, rh).fill(C.band);
  if (kind === "total")
    doc
      .moveTo(left, y)
      .lineTo(left + tw, y)
      .lineWidth(0.8)
      .strokeColor(C.ink)
      .stroke();
  doc
    .font(kind === "body" ? "R" : "B")
    .fontSize(8)
    .fillColor(kind === "head" ? "#ffffff" : C.ink);
  let x = left;
  cells.forEach((c, i) => {
    const w = ws[i]!;
    const s = fit(ctx, c, w - 8);
    doc.text(s, x + 4, y + (kind === "head" ? 5 : 4), { width: w - 8, align: cols[i]!.align ?? "left", lineBreak: false });
    x += w;
  });
  doc.y = y + rh + (kind === "head" ? 2 : 0);
  doc.x = left;
}

/**
 * A table: header row (repeated on every page it runs onto), a body row per line (then any `after`
 * rows), an optional totals row. Columns are scaled to the text column's width unless `natural`.
 */
function table<T>(
  ctx: PdfLayout,
  cols: Column<T>[],
  lines: readonly T[],
  opts: { after?: string[][]; total?: string[]; rowHeight?: number; natural?: boolean } = {},
): void {
  const { doc, width } = ctx;
  const rows = [...lines.map((l, i) => cols.map((c) => c.cell(l, i))), ...(opts.after ?? [])];
  const rh = opts.rowHeight ?? 16;
  const natural = cols.reduce((a, c) => a + c.width, 0);
  const tw = opts.natural ? natural : width;
  const scale = tw / natural;
  const ws = cols.map((c) => c.width * scale);
  const drawRow = (cells: string[], kind: RowKind, shade: boolean) => tableRow(ctx, cols, ws, tw, rh, cells, kind, shade);
  ensure(ctx, rh * 3);
  drawRow(
    cols.map((c) => c.header),
    "head",
    false,
  );
  rows.forEach((r, i) => {
    if (doc.y + rh > bottomOf(doc)) {
      doc.addPage();
      drawRow(
        cols.map((c) => c.header),
        "head",
        false,
      );
    }
    drawRow(r, "body", i % 2 === 1);
  });
  if (opts.total) {
    ensure(ctx, rh);
    drawRow(opts.total, "total", false);
  }
  doc.moveDown(0.5);
}

/** Horizontal bars, one per item, value printed at the bar's end. */
function barChart(ctx: PdfLayout, title: string, items: { label: string; value: number; text: string }[]): void {
  const { doc, left, width } = ctx;
  const barH = 14;
  const gap = 6;
  const h = 24 + items.length * (barH + gap);
  ensure(ctx, h + 10);
  doc.font("B").fontSize(10).fillColor(C.ink).text(title, left, doc.y);
  const top = doc.y + 6;
  const labelW = 110;
  const valueW = 170;
  const plotW = width - labelW - valueW;
  const max = Math.max(...items.map((i) => i.value), 0) || 1;
  items.forEach((it, i) => {
    const y = top + i * (barH + gap);
    doc
      .font("R")
      .fontSize(8.5)
      .fillColor(C.ink)
      .text(fit(ctx, it.label, labelW - 8), left, y + 3, { width: labelW - 8, align: "right", lineBreak: false });
    const w = Math.max(0.5, (it.value / max) * plotW);
    doc.rect(left + labelW, y, w, barH).fill(C.accent);
    doc
      .font("R")
      .fontSize(8)
      .fillColor(C.muted)
      .text(it.text, left + labelW + w + 4, y + 3.5, { lineBreak: false });
  });
  doc
    .moveTo(left + labelW, top - 2)
    .lineTo(left + labelW, top + items.length * (barH + gap) - gap + 2)
    .lineWidth(0.6)
    .strokeColor(C.muted)
    .stroke();
  doc.y = top + items.length * (barH + gap) + 8;
  doc.x = left;
}

type Series = { name: string; color: string; values: number[] };

/** Two-series line chart over the month's days with a labelled y axis and a legend. */
function lineChart(ctx: PdfLayout, title: string, xLabels: string[], series: Series[]): void {
  const { doc, left, width } = ctx;
  const h = 220;
  ensure(ctx, h + 40);
  doc.font("B").fontSize(10).fillColor(C.ink).text(title, left, doc.y);
  const top = doc.y + 10;
  const axisW = 48;
  const x0 = left + axisW;
  const w = width - axisW - 10;
  const plotH = h - 40;
  const rawMax = Math.max(...series.flatMap((s) => s.values), 0);
  const step = niceStep(rawMax / 4 || 1);
  const max = Math.max(step * 4, step * Math.ceil(rawMax / step));
  const ticks = Math.round(max / step);
  for (let i = 0; i <= ticks; i++) {
    const y = top + plotH - (i / ticks) * plotH;
    doc
      .moveTo(x0, y)
      .lineTo(x0 + w, y)
      .lineWidth(0.4)
      .strokeColor(i === 0 ? C.muted : C.rule)
      .stroke();
    doc
      .font("R")
      .fontSize(7.5)
      .fillColor(C.muted)
      .text(grouped(dec(step * i), step < 1 ? 2 : 0), left, y - 4, { width: axisW - 6, align: "right", lineBreak: false });
  }
  const n = xLabels.length;
  const xAt = (i: number) => x0 + (n <= 1 ? w / 2 : (i / (n - 1)) * w);
  xLabels.forEach((lab, i) => {
    if (i % Math.max(1, Math.ceil(n / 10)) !== 0 && i !== n - 1) return;
    doc
      .font("R")
      .fontSize(7.5)
      .fillColor(C.muted)
      .text(lab, xAt(i) - 15, top + plotH + 4, { width: 30, align: "center", lineBreak: false });
  });
  for (const s of series) {
    s.values.forEach((v, i) => {
      const x = xAt(i);
      const y = top + plotH - (v / max) * plotH;
      if (i === 0) doc.moveTo(x, y);
      else doc.lineTo(x, y);
    });
    doc.lineWidth(1.6).strokeColor(s.color).stroke();
    s.values.forEach((v, i) => doc.circle(xAt(i), top + plotH - (v / max) * plotH, 1.6).fill(s.color));
  }
  chartLegend(ctx, series, x0, top + plotH + 20);
}

/** A line chart's legend: a colour swatch and the name of each series, left to right from `x0`. */
function chartLegend({ doc, left }: PdfLayout, series: Series[], x0: number, ly: number): void {
  let lx = x0;
  for (const s of series) {
    doc.rect(lx, ly + 2, 14, 3).fill(s.color);
    doc
      .font("R")
      .fontSize(8)
      .fillColor(C.ink)
      .text(s.name, lx + 18, ly - 1, { lineBreak: false });
    lx += 30 + doc.widthOfString(s.name);
  }
  doc.y = ly + 18;
  doc.x = left;
}

/** Cover: what, when, the totals as six boxes, then cost by tenant (or by namespace for a tenant's own report). */
function coverSection(ctx: PdfLayout): void {
  const { doc, model, L, left, width, scopeName } = ctx;
  doc.font("B").fontSize(22).fillColor(C.head).text(L.title, left, 70, { width });
  doc.font("B").fontSize(14).fillColor(C.accent).text(`${model.month} · ${scopeName}`, { width });
  doc.moveDown(0.4);
  para(
    ctx,
    `${L.period}: ${localTime(model.period.start, model.timeZone)} — ${localTime(model.period.end, model.timeZone)} (${model.timeZone})`,
    9,
    C.muted,
  );
  para(ctx, `${L.manifestHash}: ${model.methodology.manifestSha256}`, 7.5, C.muted);
  doc.moveDown(0.8);
  coverTotals(ctx);
  if (model.totals.allocatedGpuHours.isZero()) para(ctx, L.noUsage, 10, C.muted);
  coverCostChart(ctx);
}

/** The cover's six total boxes, three to a row: cost, billable, allocated and used GPU-hours, utilization, Spot savings. */
function coverTotals(ctx: PdfLayout): void {
  const { doc, model, L, left, width, money } = ctx;
  const t = model.totals;
  const kpis: [string, string][] = [
    [L.totalCost, money(t.cost)],
    [L.billable, fmtHours(t.billableGpuHours)],
    [L.allocated, fmtHours(t.allocatedGpuHours)],
    [L.used, fmtHours(t.usedGpuHours)],
    [L.utilization, fmtPct(t.utilization)],
    [L.spotSavings, money(t.spotSavings)],
  ];
  const boxW = (width - 2 * 10) / 3;
  const boxH = 52;
  const ky = doc.y;
  kpis.forEach(([k, v], i) => {
    const x = left + (i % 3) * (boxW + 10);
    const y = ky + Math.floor(i / 3) * (boxH + 10);
    doc.roundedRect(x, y, boxW, boxH, 4).fill(C.band);
    doc
      .font("R")
      .fontSize(8.5)
      .fillColor(C.muted)
      .text(k, x + 10, y + 9, { width: boxW - 20, lineBreak: false });
    doc
      .font("B")
      .fontSize(15)
      .fillColor(C.ink)
      .text(v, x + 10, y + 24, { width: boxW - 20, lineBreak: false });
  });
  doc.y = ky + 2 * (boxH + 10) + 10;
  doc.x = left;
}

/** The cover's bar chart: cost by tenant for the platform, the twelve costliest namespaces for a tenant. */
function coverCostChart(ctx: PdfLayout): void {
  const { model, L, money } = ctx;
  const bar = (label: string, x: { cost: Dec; allocatedGpuHours: Dec }) => ({
    label,
    value: num(x.cost),
    text: `${money(x.cost)} · ${fmtHours(x.allocatedGpuHours)} h`,
  });
  if (model.scope.kind === "all")
    barChart(
      ctx,
      L.costByTenant,
      model.tenants.map((x) => bar(x.tenantName, x)),
    );
  else {
    const ns = [...model.namespaces].sort((a, b) => b.cost.cmp(a.cost)).slice(0, 12);
    barChart(
      ctx,
      L.costByNamespace,
      ns.map((x) => bar(`${x.namespace} ${x.gpuModel}`, x)),
    );
  }
}

/** Usage and cost by tenant, with the month's totals. */
function tenantsSection(ctx: PdfLayout): void {
  const { model, L, money, col } = ctx;
  const t = model.totals;
  heading(ctx, L.byTenant);
  table(ctx, [col.tenant(120), col.allocated(80), col.used(80), col.utilization(60), col.billable(80), col.cost(95)], model.tenants, {
    total: [
      L.total,
      fmtHours(t.allocatedGpuHours),
      fmtHours(t.usedGpuHours),
      fmtPct(t.utilization),
      fmtHours(t.billableGpuHours),
      money(t.cost),
    ],
  });
}

/** Spot vs On-Demand: the table with the On-Demand equivalent and savings, then the split bar of billable GPU-hours. */
function capacityTypesSection(ctx: PdfLayout): void {
  const { model, L, money, col } = ctx;
  const t = model.totals;
  heading(ctx, L.spotVsOnDemand);
  const onDemand = right(L.onDemandEquivalent, 100, (c: CapacityTypeLine) => money(c.onDemandCost));
  const savings = right(L.savings, 90, (c: CapacityTypeLine) => money(c.savings));
  table(ctx, [col.capacityType(90), col.allocated(80), col.billable(80), col.cost(90), onDemand, savings], model.capacityTypes, {
    total: [
      L.total,
      fmtHours(t.allocatedGpuHours),
      fmtHours(t.billableGpuHours),
      money(t.cost),
      money(t.onDemandEquivalentCost),
      money(t.spotSavings),
    ],
  });
  capacitySplitBar(ctx);
}

/** Split bar: share of billable GPU-hours on Spot vs On-Demand, labelled inside where it fits and in a line under it. */
function capacitySplitBar(ctx: PdfLayout): void {
  const { doc, model, L, left, width } = ctx;
  const t = model.totals;
  ensure(ctx, 40);
  const y = doc.y;
  const total = num(t.billableGpuHours) || 1;
  let x = left;
  const share = (c: (typeof model.capacityTypes)[number]) =>
    fmtPct(t.billableGpuHours.isZero() ? c.billableGpuHours : c.billableGpuHours.div(t.billableGpuHours));
  for (const [i, c] of model.capacityTypes.entries()) {
    const w = (num(c.billableGpuHours) / total) * width;
    if (w > 0) doc.rect(x, y, w, 16).fill(i === 0 ? C.head : C.accent2);
    const label = `${capacityLabel(L, c.capacityType)} ${share(c)}`;
    doc.font("B").fontSize(8);
    if (w > doc.widthOfString(label) + 12) doc.fillColor("#ffffff").text(label, x + 6, y + 4.5, { lineBreak: false });
    x += w;
  }
  doc.y = y + 20;
  doc.x = left;
  para(
    ctx,
    `${L.billable}: ${model.capacityTypes.map((c) => `${capacityLabel(L, c.capacityType)} ${share(c)}`).join("   ·   ")}`,
    8,
    C.muted,
  );
}

/** Daily trend: allocated and used GPU-hours per day of the month. */
function dailyTrendSection(ctx: PdfLayout): void {
  const { model, L } = ctx;
  heading(ctx, L.dailyTrend, 15, 270);
  lineChart(
    ctx,
    "",
    model.daily.map((d) => d.day.slice(8)),
    [
      { name: L.legendAllocated, color: C.accent, values: model.daily.map((d) => num(d.allocatedGpuHours)) },
      { name: L.legendUsed, color: C.accent2, values: model.daily.map((d) => num(d.usedGpuHours)) },
    ],
  );
}

/** The top namespaces by cost, then every namespace with its utilization, correction factors and cost. */
function namespacesSection(ctx: PdfLayout): void {
  const { model, L, money, col } = ctx;
  const t = model.totals;
  heading(ctx, L.topNamespaces);
  const rank = right("#", 22, (_: NamespaceLine, i) => String(i + 1));
  table(ctx, [rank, col.namespace(140), col.tenant(80), col.gpuModel(55), col.allocated(75), col.cost(90)], model.topNamespaces);
  heading(ctx, L.namespaces);
  const cols: Column<NamespaceLine>[] = [
    col.namespace(120),
    col.tenant(70),
    { ...col.gpuModel(45), header: L.gpuShort },
    col.allocated(65),
    col.used(65),
    { ...col.utilization(50), header: L.utilShort },
    right(L.factorShort, 50, (n) => n.factors.map((f) => f.toFixed(1)).join(" / ")),
    col.cost(80),
  ];
  table(ctx, cols, model.namespaces, {
    total: [L.total, "", "", fmtHours(t.allocatedGpuHours), fmtHours(t.usedGpuHours), fmtPct(t.utilization), "", money(t.cost)],
  });
}

/** Idle capacity by node group (platform scope only), with the note on how idle is counted. */
function idleSection(ctx: PdfLayout, idle: NonNullable<ReportModel["idle"]>): void {
  const { L, money, col } = ctx;
  heading(ctx, L.idle);
  const cols: Column<IdleLine>[] = [
    col.nodeGroup(120),
    col.instanceType(80),
    col.capacityType(60),
    right(L.nodes, 35, (c) => String(c.nodes)),
    right(L.capacity, 70, (c) => fmtHours(c.nodeGpuHours)),
    right(L.idleHours, 65, (c) => fmtHours(c.idleGpuHours)),
    right(L.idleRatio, 45, (c) => fmtPct(c.idleRatio)),
    right(L.idleCost, 75, (c) => money(c.idleCost)),
  ];
  table(ctx, cols, idle.lines, {
    total: [L.total, "", "", "", fmtHours(idle.nodeGpuHours), fmtHours(idle.idleGpuHours), "", money(idle.idleCost)],
  });
  para(ctx, L.idleNote, 8, C.muted);
}

/** What the controller's reclaiming saved, next to what stayed idle (platform scope only): each cluster's status, the summary, the table by node group. */
function controllerSection(ctx: PdfLayout, k: NonNullable<ReportModel["controller"]>): void {
  const { model, L, money, col } = ctx;
  heading(ctx, L.controller);
  para(
    ctx,
    k.statuses.map((s) => (k.statuses.length > 1 ? `${s.cluster}: ` : "") + (L.controllerStatus[s.status] ?? s.status)).join(" · "),
    9,
  );
  if (model.idle)
    para(
      ctx,
      L.controllerSummary(fmtHours(model.idle.idleGpuHours), money(model.idle.idleCost), fmtHours(k.gpuNodeHoursSaved), money(k.savedCost)),
      9,
    );
  if (k.lines.length) {
    const cols: Column<ControllerLine>[] = [
      col.nodeGroup(130),
      col.instanceType(85),
      right(L.nodesReclaimed, 60, (c) => String(c.nodesReclaimed)),
      right(L.scaleOuts, 60, (c) => String(c.scaleOuts)),
      right(L.gpuHoursSaved, 80, (c) => fmtHours(c.gpuNodeHoursSaved)),
      right(L.savedCost, 85, (c) => money(c.savedCost)),
    ];
    table(ctx, cols, k.lines, {
      total: [L.total, "", String(k.nodesReclaimed), String(k.scaleOuts), fmtHours(k.gpuNodeHoursSaved), money(k.savedCost)],
    });
  }
  para(ctx, L.controllerNote, 8, C.muted);
}

/** Reconciliation to the AWS bill by node group (platform scope, once `reconcile` has run), with what one side has and the other lacks. */
function reconciliationSection(ctx: PdfLayout, rc: NonNullable<ReportModel["reconciliation"]>): void {
  const { L, money, col } = ctx;
  const pct = (d: Dec | undefined) => (d === undefined ? "—" : `${d.toFixed(2)}%`);
  heading(ctx, L.reconciliation);
  const cols: Column<(typeof rc.lines)[number]>[] = [
    col.nodeGroup(150),
    col.capacityType(70),
    right(L.awsCost, 85, (l) => money(l.awsCost)),
    right(L.meteredCost, 85, (l) => money(l.meteredCost)),
    right(L.difference, 85, (l) => money(l.difference)),
    right("%", 75, (l) => pct(l.differencePct)),
  ];
  table(ctx, cols, rc.lines, {
    // What AWS billed for instances no metered node ran on: in the total, on no node group's line.
    after: rc.billedNotMetered
      ? [[L.billedNotMetered, "", money(rc.billedNotMeteredCost), money(new D(0)), money(rc.billedNotMeteredCost), ""]]
      : [],
    total: [L.total, "", money(rc.total.awsCost), money(rc.total.meteredCost), money(rc.total.difference), pct(rc.total.differencePct)],
  });
  para(ctx, L.reconciliationNote(rc.billedNotMetered, rc.meteredNotBilled, rc.invoiced), 8, C.muted);
}

/** Quota: the basis it is counted on, then a gauge per tenant (green, amber from 80%, red when over). */
function quotaSection(ctx: PdfLayout): void {
  const { doc, model, L, left, width } = ctx;
  heading(ctx, L.quota);
  para(ctx, model.quotaBasis === "billable" ? L.quotaBasisNoteBillable : L.quotaBasisNote, 8, C.muted);
  const labelW = 110;
  const textW = 170;
  const gaugeW = width - labelW - textW;
  for (const q of model.quota) {
    ensure(ctx, 20);
    const y = doc.y;
    doc
      .font("R")
      .fontSize(8.5)
      .fillColor(C.ink)
      .text(fit(ctx, q.tenantName, labelW - 8), left, y + 2, { width: labelW - 8, lineBreak: false });
    doc.rect(left + labelW, y, gaugeW, 11).fill(C.band);
    if (q.ratio) {
      const r = Math.min(1, num(q.ratio));
      doc.rect(left + labelW, y, gaugeW * r, 11).fill(q.over ? C.bad : num(q.ratio) >= 0.8 ? C.accent2 : C.good);
    }
    const txt = q.quotaGpuHours
      ? `${fmtHours(q.usedGpuHours)} / ${fmtHours(q.quotaGpuHours)} h  (${fmtPct(q.ratio!)}${q.over ? ` ${L.over}` : ""})`
      : `${fmtHours(q.usedGpuHours)} h  (${L.unlimited})`;
    doc
      .font(q.over ? "B" : "R")
      .fontSize(8.5)
      .fillColor(q.over ? C.bad : C.ink)
      .text(txt, left + labelW + gaugeW + 8, y + 1, { width: textW - 8, lineBreak: false });
    doc.y = y + 18;
  }
  doc.x = left;
}

/** Methodology, on its own page: formulas and correction tiers, prices and where they came from, data sources, rounding, warnings. */
function methodologyPage(ctx: PdfLayout): void {
  const { doc, model, L } = ctx;
  doc.addPage();
  heading(ctx, L.methodology, 17);
  subheading(ctx, L.formulas);
  doc.moveDown(0.2);
  for (const f of formulaLines(L, model.quotaBasis)) para(ctx, `• ${f}`, 8.5);
  doc.moveDown(0.5);
  const tiers = [
    right(L.minUtilization, 120, (x: (typeof model.methodology.tiers)[number]) => `≥ ${(x.minUtilization * 100).toFixed(0)}%`),
    right(L.factor, 80, (x: (typeof model.methodology.tiers)[number]) => x.factor.toFixed(1)),
  ];
  subTable(ctx, `${L.tiers} (${L.granularity}: ${model.methodology.granularity})`, tiers, model.methodology.tiers, { natural: true });
  methodologyPrices(ctx);
  methodologySources(ctx);
}

/** A table under its own bold sub-heading, inside a section. */
function subTable<T>(ctx: PdfLayout, title: string, cols: Column<T>[], lines: readonly T[], opts: { natural?: boolean } = {}): void {
  subheading(ctx, title);
  ctx.doc.moveDown(0.2);
  table(ctx, cols, lines, opts);
}

/** The price table, the prices' origins, the Spot prices by zone (when any) and the price feed. */
function methodologyPrices(ctx: PdfLayout): void {
  const { doc, model, L, col } = ctx;
  const prices: Column<PriceLine>[] = [
    col.instanceType(90),
    col.gpuModel(50),
    right(L.gpus, 35, (p) => String(p.gpus)),
    right(L.onDemandHourly, 75, (p) => p.onDemandHourly.toFixed()),
    right(L.spotHourly, 75, (p) => p.spotHourly?.toFixed() ?? "—"),
    right(L.perGpuOnDemand, 75, (p) => p.onDemandPerGpu.toFixed()),
    right(L.perGpuSpot, 75, (p) => p.spotPerGpu?.toFixed() ?? "—"),
  ];
  subTable(ctx, `${L.priceTable} (${model.currency})`, prices, model.methodology.prices);
  const origins = [...new Set(model.methodology.prices.flatMap((p) => [p.onDemandOrigin, ...(p.spotOrigin ? [p.spotOrigin] : [])]))];
  para(ctx, `${L.priceOrigin}: ${origins.map((o) => originLabel(L, o)).join("; ")}`, 8.5);
  if (model.methodology.spotByZone.length) {
    doc.moveDown(0.3);
    const zones: Column<SpotZoneLine>[] = [
      col.instanceType(85),
      left(L.zone, 80, (z) => z.zone),
      right(L.nodes, 35, (z) => String(z.nodes)),
      right(L.spotHourly, 70, (z) => z.hourly.toFixed()),
      right(L.perGpuSpot, 70, (z) => z.perGpu.toFixed()),
      right(L.priceChanges, 70, (z) => String(z.changes)),
      right(L.lowHigh, 95, (z) => `${z.lowest.toFixed()}–${z.highest.toFixed()}`),
    ];
    subTable(ctx, `${L.spotByZone} (${model.currency})`, zones, model.methodology.spotByZone);
  }
  const feed = model.methodology.priceFeed;
  if (feed?.source === "aws")
    para(
      ctx,
      `${L.priceSource}: ${L.awsPriceSourceText.replace("{region}", feed.region ?? "").replace("{skus}", feed.skus.join(", "))}`,
      8.5,
    );
  else if (model.methodology.priceSource) para(ctx, `${L.priceSource}: ${model.methodology.priceSource}`, 8.5);
}

/** Data sources with the Prometheus URL and both hashes, how rounding is done, and the dataset's warnings. */
function methodologySources(ctx: PdfLayout): void {
  const { doc, model, L } = ctx;
  doc.moveDown(0.5);
  subheading(ctx, L.dataSources);
  doc.moveDown(0.2);
  for (const s of L.dataSourceLines) para(ctx, `• ${s}`, 8.5);
  para(ctx, `• Prometheus: ${model.methodology.prometheusUrl}`, 8.5);
  para(ctx, `• ${L.manifestHash}: ${model.methodology.manifestSha256}`, 8.5);
  para(ctx, `• ${L.configHash}: ${model.methodology.datasetConfigHash}`, 8.5);
  if (model.methodology.configChanged) para(ctx, L.configChanged, 8.5, C.bad);
  doc.moveDown(0.5);
  subheading(ctx, L.rounding);
  para(ctx, L.roundingText, 8.5);
  if (model.methodology.warnings.length) {
    doc.moveDown(0.5);
    subheading(ctx, L.warnings);
    for (const w of model.methodology.warnings) para(ctx, `• ${w}`, 8);
  }
}

/** Footer on every page: what this is and where in it the reader is. */
function pageFooters({ doc, model, L, left, width, scopeName }: PdfLayout): void {
  const range = doc.bufferedPageRange();
  for (let i = range.start; i < range.start + range.count; i++) {
    doc.switchToPage(i);
    const m = doc.page.margins.bottom;
    doc.page.margins.bottom = 0;
    doc.font("R").fontSize(7.5).fillColor(C.muted);
    doc.text(`${L.title} · ${model.month} · ${scopeName}`, left, doc.page.height - 36, { width: width / 2, lineBreak: false });
    doc.text(`${L.page} ${i + 1} / ${range.count}`, left + width / 2, doc.page.height - 36, {
      width: width / 2,
      align: "right",
      lineBreak: false,
    });
    doc.page.margins.bottom = m;
  }
}

function niceStep(raw: number): number {
  const p = Math.pow(10, Math.floor(Math.log10(raw)));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= raw) return m * p;
  return 10 * p;
}

const dec = (n: number) => new D(n);
