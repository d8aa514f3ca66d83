import { fmtHours, fmtMoney, fmtPct, labels } from "./i18n.js";
import type { ReportModel } from "./report-model.js";
import type { Language } from "../core/language.js";

export type DeliveryKind = "tenant" | "finance" | "executive";
export const DELIVERY_KINDS: readonly DeliveryKind[] = ["tenant", "finance", "executive"];

/** The three template texts of one kind and language, as read from templates/<lang>/<kind>.*. */
export interface EmailTemplate {
  subject: string;
  html: string;
  text: string;
}

const escapeHtml = (s: string) =>
  s.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]!);

/**
 * Fills a template: `{{#name}}…{{/name}}` keeps its body only when the section is on,
 * `{{{name}}}` inserts raw, `{{name}}` inserts escaped for HTML (as is for text).
 * An unknown placeholder is an error, so a typo in a template never reaches a reader.
 */
export function fillTemplate(tpl: string, vars: Record<string, string>, sections: Record<string, boolean>, html: boolean): string {
  let out = tpl.replace(/\{\{#(\w+)\}\}([\s\S]*?)\{\{\/\1\}\}/g, (_, name: string, body: string) => {
    if (!(name in sections)) throw new Error(`template section {{#${name}}} is unknown`);
    return sections[name] ? body : "";
  });
  out = out.replace(/\{\{\{(\w+)\}\}\}|\{\{(\w+)\}\}/g, (_, raw: string | undefined, esc: string | undefined) => {
    const name = (raw ?? esc)!;
    if (!(name in vars)) throw new Error(`template placeholder {{${name}}} is unknown`);
    return raw || !html ? vars[name]! : escapeHtml(vars[name]!);
  });
  return out;
}

export interface EmailAttachmentRef {
  filename: string;
  bytes: number;
}
export interface EmailLink {
  filename: string;
  url: string;
}

export interface EmailBody {
  subject: string;
  html: string;
  text: string;
}

const size = (b: number) => (b >= 1024 * 1024 ? `${(b / 1024 / 1024).toFixed(1)} MB` : `${Math.max(1, Math.round(b / 1024))} KB`);

/** Subject and bodies of one report email, from the model it reports on (never another scope's). */
export function renderEmail(
  tpl: EmailTemplate,
  model: ReportModel,
  lang: Language,
  attachments: EmailAttachmentRef[],
  links: EmailLink[],
  linkExpiry: string,
): EmailBody {
  const L = labels(lang);
  const t = model.totals;
  const vars: Record<string, string> = {
    month: model.month,
    timeZone: model.timeZone,
    scopeName: model.scope.kind === "tenant" ? model.scope.tenantName : L.platform,
    totalCost: fmtMoney(t.cost, model.currency, model.currencyDecimals),
    billable: fmtHours(t.billableGpuHours),
    allocated: fmtHours(t.allocatedGpuHours),
    utilization: fmtPct(t.utilization),
    manifestSha256: model.methodology.manifestSha256,
    linkExpiry,
    attachments: attachments.map((a) => `- ${a.filename} (${size(a.bytes)})`).join("\n"),
    attachmentsHtml: attachments.map((a) => `<li>${escapeHtml(a.filename)} (${size(a.bytes)})</li>`).join(""),
    links: links.map((l) => `- ${l.filename}: ${l.url}`).join("\n"),
    linksHtml: links.map((l) => `<li><a href="${escapeHtml(l.url)}">${escapeHtml(l.filename)}</a></li>`).join(""),
  };
  const sections = { attachments: attachments.length > 0, links: links.length > 0 };
  return {
    subject: fillTemplate(tpl.subject, vars, sections, false).trim(),
    html: fillTemplate(tpl.html, vars, sections, true),
    text: fillTemplate(tpl.text, vars, sections, false),
  };
}
