import { ReportsSchema, type BaseConfig, type ReportsConfig } from "../core/config.js";
import type { ParsedDataset } from "../report/dataset-files.js";
import { buildReportModel, type ReportModel, type ReportScope } from "../report/report-model.js";
import { renderReportPdf, type ReportFonts } from "../report/pdf-report.js";
import { renderReportWorkbook } from "../report/xlsx-report.js";
import { renderEmail, type DeliveryKind, type EmailLink, type EmailTemplate } from "../report/email-content.js";
import {
  backoffMs,
  decideDelivery,
  deliveryContentHash,
  planDeliveries,
  type DeliveryRecord,
  type PlannedMessage,
} from "../report/delivery-plan.js";
import { labels } from "../report/i18n.js";
import { buildMimeMessage, type MimeAttachment } from "./mime.js";
import type { DatasetSource, DeliveryLedger, EmailTemplates, LinkStore, PresignedLink, PreviewFiles, RawSender } from "./delivery-ports.js";
import { linksEnd, linksExpiryWarning } from "./link-expiry.js";
import { BadInputError, errorKind } from "../core/errors.js";
import type { Language } from "../core/language.js";
import type { Clock } from "../core/clock.js";

export interface ReportFile {
  filename: string;
  contentType: string;
  body: Buffer;
}

const PDF = "application/pdf";
const XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";
const CSV = "text/csv; charset=utf-8";

interface ScopeReports {
  model: ReportModel;
  pdf: ReportFile;
  workbook: ReportFile;
}

/**
 * The month's reports, rendered on first use and kept: a retry that only skips renders
 * nothing, and each scope is rendered once however many recipients it has.
 */
export function monthReports(ds: ParsedDataset, cfg: BaseConfig, lang: Language, fonts: ReportFonts) {
  const month = ds.manifest.month;
  const cache = new Map<string, Promise<ScopeReports>>();
  const scope = (id: string): Promise<ScopeReports> => {
    let p = cache.get(id);
    if (!p) {
      const sc: ReportScope = id === "all" ? { kind: "all" } : { kind: "tenant", tenantId: id };
      p = (async () => {
        const model = buildReportModel(ds, cfg, sc);
        return {
          model,
          pdf: {
            filename: `gpu-report-${month}-${id}-${lang}.pdf`,
            contentType: PDF,
            body: await renderReportPdf(model, { lang, fonts }),
          },
          workbook: {
            filename: `gpu-report-${month}-${id}-${lang}.xlsx`,
            contentType: XLSX,
            body: await renderReportWorkbook(model, { lang }),
          },
        };
      })();
      cache.set(id, p);
    }
    return p;
  };
  const chargebackCsv: ReportFile = { filename: `chargeback-${month}.csv`, contentType: CSV, body: ds.chargebackCsv };
  return {
    scope,
    /** The model and the files one kind of email carries. */
    async forMessage(kind: DeliveryKind, scopeId: string): Promise<{ model: ReportModel; files: ReportFile[] }> {
      const r = await scope(kind === "tenant" ? scopeId : "all");
      if (kind === "tenant") return { model: r.model, files: [r.pdf, r.workbook] };
      if (kind === "finance") return { model: r.model, files: [r.pdf, r.workbook, chargebackCsv] };
      return { model: r.model, files: [r.pdf] };
    },
  };
}

export interface DeliveryOutcome {
  kind: DeliveryKind;
  scope: string;
  recipient: string;
  status: "sent" | "skipped" | "failed" | "written";
  reason: string;
  messageId?: string;
  attempts?: number;
  links?: string[];
  /** When the links stop working (ISO); "unknown" when signed with temporary credentials. */
  linksExpireAt?: string;
  file?: string;
}

export interface DeliveryReport {
  month: string;
  outcomes: DeliveryOutcome[];
  /** Configured tenants with no recipients: nobody receives their report. */
  tenantsWithoutRecipients: string[];
  /** finance/executive when no recipients are configured for them. */
  kindsWithoutRecipients: DeliveryKind[];
  files: string[];
  /** Things a recipient will notice that the operator should fix (e.g. links dying before their stated expiry). */
  warnings: string[];
}

export interface DeliverDeps {
  source: DatasetSource;
  /** Absent: write the reports and the emails as .eml files to `preview` instead of sending. */
  sender?: RawSender;
  ledger?: DeliveryLedger;
  links?: LinkStore;
  preview?: PreviewFiles;
  fonts: ReportFonts;
  templates: EmailTemplates;
  now: Clock;
  sleep?: (ms: number) => Promise<void>;
  random?: () => number;
}

export interface DeliverOptions {
  lang?: Language;
  resend?: boolean;
  /**
   * Only these tenants' emails (an ops re-run for some tenants); finance and executive
   * emails still go, and only if their content changed (the ledger decides, as always).
   */
  tenants?: string[];
  maxAttempts?: number;
  backoffBaseMs?: number;
}

export class DeliveryConfigError extends BadInputError {
  constructor(message: string) {
    super(message);
    this.name = "DeliveryConfigError";
  }
}

/**
 * Month → reports → emails. Reads the completed dataset (refusing a month without a
 * manifest before anything is rendered or sent), then for each
 * recipient decides from the ledger whether to send, sends with retries, and records the
 * result. One recipient's failure never stops the others; the report says who got what.
 */
export async function deliverMonth(deps: DeliverDeps, cfg: BaseConfig, month: string, opts: DeliverOptions = {}): Promise<DeliveryReport> {
  const rc = cfg.reports ?? ReportsSchema.parse({});
  const lang = opts.lang ?? rc.lang;
  const mode = deliveryMode(deps, rc);
  const ds = await deps.source.read(month);
  const plan = planMonth(cfg, opts);
  const run: MonthRun = {
    deps,
    opts,
    rc,
    lang,
    month,
    ds,
    reports: monthReports(ds, cfg, lang, deps.fonts),
    report: {
      month,
      outcomes: [],
      tenantsWithoutRecipients: plan.tenantsWithoutRecipients,
      kindsWithoutRecipients: plan.messages.filter((m) => m.kind !== "tenant" && m.recipients.length === 0).map((m) => m.kind),
      files: [],
      warnings: [],
    },
  };
  if (mode.action === "preview") await writeReportFiles(run, cfg, mode.files);
  for (const msg of plan.messages) {
    const compose = messageComposer(run, msg, await deps.templates(lang, msg.kind));
    if (mode.action === "preview") await writePreviewEmails(run, msg, compose, mode.files);
    else for (const recipient of msg.recipients) run.report.outcomes.push(await deliverToRecipient(run, mode, msg, recipient, compose));
  }
  return run.report;
}

/** What every step of one month's delivery reads, and the report they add to. */
interface MonthRun {
  deps: DeliverDeps;
  opts: DeliverOptions;
  rc: ReportsConfig;
  lang: Language;
  month: string;
  ds: ParsedDataset;
  reports: ReturnType<typeof monthReports>;
  report: DeliveryReport;
}

interface Send {
  action: "send";
  sender: RawSender;
  ledger: DeliveryLedger;
}

interface Preview {
  action: "preview";
  files: PreviewFiles;
}

/** Send (with a ledger, so nothing goes twice) or preview into a directory; refuses deps that can do neither. */
function deliveryMode(deps: DeliverDeps, rc: ReportsConfig): Send | Preview {
  const { sender, ledger, preview } = deps;
  if (sender) {
    if (!ledger) throw new DeliveryConfigError("sending needs a delivery ledger (so nothing is sent twice)");
    if (!rc.from) throw new DeliveryConfigError("reports.from: a sender address is needed to send email");
    return { action: "send", sender, ledger };
  }
  if (!preview) throw new DeliveryConfigError("without sending, an output directory for the reports and .eml files is needed");
  return { action: "preview", files: preview };
}

/** The month's messages, only the named tenants' (plus finance and executive) on a re-run for some tenants. */
function planMonth(cfg: BaseConfig, opts: DeliverOptions): ReturnType<typeof planDeliveries> {
  const planned = planDeliveries(cfg);
  const only = opts.tenants;
  const unknown = (only ?? []).filter((t) => !cfg.tenants.some((c) => c.id === t));
  if (unknown.length) throw new DeliveryConfigError(`tenants: unknown tenant id(s) ${unknown.join(", ")}`);
  if (!only) return planned;
  return {
    ...planned,
    messages: planned.messages.filter((m) => m.kind !== "tenant" || only.includes(m.scope)),
    tenantsWithoutRecipients: planned.tenantsWithoutRecipients.filter((t) => only.includes(t)),
  };
}

/** Preview: every scope's PDF and workbook, whoever receives them. */
async function writeReportFiles(run: MonthRun, cfg: BaseConfig, preview: PreviewFiles): Promise<void> {
  const all: ReportFile[] = [];
  for (const id of ["all", ...cfg.tenants.map((t) => t.id)]) {
    const r = await run.reports.scope(id);
    all.push(r.pdf, r.workbook);
  }
  for (const f of all) run.report.files.push(await preview.write(f.filename, f.body));
}

interface ComposedMessage {
  raw: Buffer;
  links: (EmailLink & PresignedLink)[];
  linksExpireAt: string | undefined;
}

type Compose = (to: string[]) => Promise<ComposedMessage>;

/** Builds one planned message for given recipients; big attachments become presigned links (uploaded once per file). */
function messageComposer(run: MonthRun, msg: PlannedMessage, tpl: EmailTemplate): Compose {
  const { deps, rc, lang, month } = run;
  let linkCache: (EmailLink & PresignedLink)[] | undefined;
  return async (to) => {
    const { model, files } = await run.reports.forMessage(msg.kind, msg.scope);
    const total = files.reduce((a, f) => a + f.body.length, 0);
    const tooBig = Math.ceil(total / 3) * 4 > rc.attachmentLinkThresholdBytes; // base64 grows 4/3
    let attachments: MimeAttachment[] = files.map((f) => ({ filename: f.filename, contentType: f.contentType, content: f.body }));
    let links: (EmailLink & PresignedLink)[] = [];
    if (tooBig) {
      const store = deps.links;
      if (!store)
        throw new Error(
          `attachments are ${total} bytes, over reports.attachmentLinkThresholdBytes (${rc.attachmentLinkThresholdBytes}), and there is no S3 bucket to link them from`,
        );
      if (!linkCache) {
        linkCache = await Promise.all(
          files.map(async (f) => ({
            filename: f.filename,
            ...(await store(month, f.filename, f.body, f.contentType, rc.linkExpiryDays * 86400)),
          })),
        );
        const short = linksExpiryWarning(linkCache, deps.now(), rc.linkExpiryDays, `${msg.kind}/${msg.scope}`);
        if (short) run.report.warnings.push(short);
      }
      links = linkCache;
      attachments = [];
    }
    // The email states when the links really die, which is not always what was asked for.
    const end = linksEnd(links);
    const expiry =
      end === "unknown" ? labels(lang).linkExpiryUnknown : end ? end.toISOString().slice(0, 16).replace("T", " ") + " UTC" : "";
    const body = renderEmail(
      tpl,
      model,
      lang,
      attachments.map((a) => ({ filename: a.filename, bytes: a.content.length })),
      links,
      expiry,
    );
    const raw = buildMimeMessage({
      from: rc.from ?? "gpu-billing@localhost",
      to,
      subject: body.subject,
      text: body.text,
      html: body.html,
      attachments,
      date: deps.now(),
      headers: {
        "X-GPU-Billing-Month": month,
        "X-GPU-Billing-Report": `${msg.kind}/${msg.scope}`,
        "X-GPU-Billing-Manifest-SHA256": run.ds.manifestSha256,
      },
    });
    return { raw, links, linksExpireAt: end instanceof Date ? end.toISOString() : end };
  };
}

/** Preview: one .eml per recipient (or one addressed to nobody), so a reader can open exactly what would be sent. */
async function writePreviewEmails(run: MonthRun, msg: PlannedMessage, compose: Compose, preview: PreviewFiles): Promise<void> {
  const to = msg.recipients.length ? msg.recipients : [];
  for (const r of to.length ? to : ["(no recipients)"]) {
    const { raw } = await compose(to.length ? [r] : ["undisclosed-recipients:;"]);
    const file = await preview.write(`email-${msg.kind}-${msg.scope}-${r.replace(/[^a-zA-Z0-9@._-]/g, "_")}.eml`, raw);
    run.report.files.push(file);
    run.report.outcomes.push({
      kind: msg.kind,
      scope: msg.scope,
      recipient: r,
      status: "written",
      reason: "not sending: written as .eml",
      file,
    });
  }
}

/** One recipient of one message: ask the ledger, claim the delivery, send with retries, record what came of it. */
async function deliverToRecipient(
  run: MonthRun,
  { sender, ledger }: Send,
  msg: PlannedMessage,
  recipient: string,
  compose: Compose,
): Promise<DeliveryOutcome> {
  const { deps, opts, month } = run;
  const base = { kind: msg.kind, scope: msg.scope, recipient };
  let prev: DeliveryRecord | undefined;
  try {
    prev = await ledger.get(month, msg.kind, msg.scope, recipient);
  } catch (e) {
    return { ...base, status: "failed", reason: `cannot read the delivery ledger, not sending: ${(e as Error).message}` };
  }
  const contentHash = deliveryContentHash(run.ds.manifestSha256, msg.kind, msg.scope, run.lang);
  // A re-run scoped to tenants forces only their emails; finance/executive go only if changed.
  const forced = !!opts.resend && (!opts.tenants || msg.kind === "tenant");
  const decision = decideDelivery(prev, contentHash, forced);
  if (decision.action === "skip") return { ...base, status: "skipped", reason: decision.reason, messageId: prev?.messageId };
  const rec = (status: DeliveryRecord["status"], extra: Partial<DeliveryRecord> = {}): DeliveryRecord => ({
    month,
    ...base,
    status,
    contentHash,
    attempts: 0,
    at: deps.now().toISOString(),
    ...extra,
  });
  const tries = { attempts: 0 };
  let links: string[] | undefined;
  try {
    const composed = await compose([recipient]);
    links = composed.links.length ? composed.links.map((l) => l.filename) : undefined;
    if (!(await ledger.claim(rec("pending", { links }), prev)))
      return { ...base, status: "skipped", reason: "another run claimed this delivery first" };
    const messageId = await sendWithRetries(run, () => sender([recipient], composed.raw), tries);
    const { attempts } = tries;
    // Sent: from here on nothing may mark it failed (a re-run would send it again).
    const recorded = await ledger.put(rec("sent", { messageId, attempts, links })).then(
      () => "",
      (e: Error) => `; recording it failed (${e.message}), the ledger still says pending, so a re-run will not resend it`,
    );
    return {
      ...base,
      status: "sent",
      reason: decision.reason + recorded,
      messageId,
      attempts,
      links,
      linksExpireAt: composed.linksExpireAt,
    };
  } catch (e) {
    const error = `${(e as Error).name}: ${(e as Error).message}`;
    const { attempts } = tries;
    // The provider answered with an error, so nothing went out: a re-run may try again.
    await ledger.put(rec("failed", { attempts, error, links })).catch(() => undefined);
    return { ...base, status: "failed", reason: error, attempts };
  }
}

/** Sends until it goes out, the provider refuses for good or the attempts run out; `tries` counts them, also when it throws. */
async function sendWithRetries(run: MonthRun, send: () => Promise<string>, tries: { attempts: number }): Promise<string> {
  const { deps, opts } = run;
  const sleep = deps.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  for (;;) {
    tries.attempts++;
    try {
      return await send();
    } catch (e) {
      // Only a provider that is down or throttling is worth another try; a rejected message fails the same way again.
      if (tries.attempts >= (opts.maxAttempts ?? 4) || errorKind(e) !== "unavailable") throw e;
      await sleep(backoffMs(tries.attempts, opts.backoffBaseMs ?? 500, 20_000, deps.random ?? Math.random));
    }
  }
}

/** One line per outcome, then the gaps: what an operator reads after a run. */
export function formatDeliveryReport(r: DeliveryReport): string {
  const lines = r.outcomes.map(
    (o) =>
      `${o.status.padEnd(7)} ${o.kind}/${o.scope} → ${o.recipient}${o.messageId ? ` (${o.messageId})` : ""}${o.status === "written" ? ` ${o.file}` : `: ${o.reason}`}`,
  );
  for (const t of r.tenantsWithoutRecipients) lines.push(`warning: tenant ${t} has no recipients; nobody was sent its report`);
  for (const k of r.kindsWithoutRecipients) lines.push(`warning: no ${k} recipients configured (reports.${k}Recipients)`);
  for (const w of r.warnings) lines.push(`warning: ${w}`);
  const count = (s: string) => r.outcomes.filter((o) => o.status === s).length;
  lines.push(
    `${r.month}: ${count("sent")} sent, ${count("skipped")} skipped, ${count("failed")} failed${count("written") ? `, ${count("written")} written` : ""}`,
  );
  return lines.join("\n");
}
