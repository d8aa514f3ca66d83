import { createHash } from "node:crypto";
import type { BaseConfig } from "../core/config.js";
import type { DeliveryKind } from "./email-content.js";
import type { Language } from "../core/language.js";

/** One line of the delivery ledger: what was (or is being) sent to whom, from which data. */
export interface DeliveryRecord {
  month: string;
  kind: DeliveryKind;
  /** Tenant id for a tenant report, "all" for the platform reports. */
  scope: string;
  recipient: string;
  /** pending: written before SES is called, so a crash mid-send is never mistaken for "not sent". */
  status: "pending" | "sent" | "failed";
  messageId?: string;
  contentHash: string;
  attempts: number;
  at: string;
  error?: string;
  /** Files sent as presigned links instead of attachments. */
  links?: string[];
}

export interface DeliveryDecision {
  action: "send" | "skip";
  reason: string;
}

/** What a delivery says: the dataset (manifest hash), whose view, which language. Same inputs → same hash. */
export function deliveryContentHash(manifestSha256: string, kind: DeliveryKind, scope: string, lang: Language): string {
  return createHash("sha256").update([manifestSha256, kind, scope, lang].join("\u0000")).digest("hex");
}

/**
 * Whether to send one report to one recipient, given what the ledger says. Never sends twice
 * unless asked: a "pending" record (a run stopped between calling SES and recording the
 * answer) may already be in the inbox, so it is skipped and reported, not retried.
 */
export function decideDelivery(prev: DeliveryRecord | undefined, contentHash: string, resend: boolean): DeliveryDecision {
  if (resend)
    return {
      action: "send",
      reason: prev ? `resend requested (previously ${prev.status} at ${prev.at})` : "resend requested; not sent before",
    };
  if (!prev) return { action: "send", reason: "not sent before" };
  switch (prev.status) {
    case "sent":
      return prev.contentHash === contentHash
        ? { action: "skip", reason: `already sent at ${prev.at} as message ${prev.messageId}` }
        : {
            action: "skip",
            reason: `a different version (other dataset or language) was sent at ${prev.at} as message ${prev.messageId}; resend to send this one`,
          };
    case "failed":
      return { action: "send", reason: `previous attempt failed at ${prev.at}: ${prev.error ?? "unknown error"}` };
    case "pending":
      return {
        action: "skip",
        reason: `a run stopped while sending at ${prev.at}; it may have been delivered — check, then resend if it was not`,
      };
  }
}

export interface PlannedMessage {
  kind: DeliveryKind;
  /** Tenant id, or "all". */
  scope: string;
  recipients: string[];
}

/** Who gets what: each tenant its own report, finance the full set, executives the full PDF. */
export function planDeliveries(cfg: BaseConfig): { messages: PlannedMessage[]; tenantsWithoutRecipients: string[] } {
  const messages: PlannedMessage[] = cfg.tenants.map((t) => ({
    kind: "tenant" as const,
    scope: t.id,
    recipients: [...new Set(t.recipients)],
  }));
  messages.push({ kind: "finance", scope: "all", recipients: [...new Set(cfg.reports?.financeRecipients ?? [])] });
  messages.push({ kind: "executive", scope: "all", recipients: [...new Set(cfg.reports?.executiveRecipients ?? [])] });
  return { messages, tenantsWithoutRecipients: cfg.tenants.filter((t) => t.recipients.length === 0).map((t) => t.id) };
}

/** Exponential backoff with full jitter: attempt 1 → up to base, 2 → up to 2×base, … capped. */
export function backoffMs(attempt: number, baseMs: number, capMs: number, random: () => number): number {
  return Math.floor(random() * Math.min(capMs, baseMs * 2 ** (attempt - 1)));
}
