import type { Language } from "../core/language.js";
import type { ParsedDataset } from "../report/dataset-files.js";
import type { DeliveryRecord } from "../report/delivery-plan.js";
import type { DeliveryKind, EmailTemplate } from "../report/email-content.js";

/*
 * What delivering a month needs from outside, defined here where it is used; functions/adapters
 * implements each (the dataset and the ledger on disk and in S3, links in S3, mail through SES,
 * templates from files) and the composition roots pass them in.
 */

/** Reads a completed month's dataset back, from the same layout `meter` writes (disk or S3). */
export interface DatasetSource {
  readonly location: string;
  read(month: string): Promise<ParsedDataset>;
}

/**
 * The delivery ledger, beside the dataset under `deliveries/month=YYYY-MM/` (outside the
 * month's own directory, which a re-meter replaces whole). One object per kind × scope ×
 * recipient, so recording one delivery never rewrites another's.
 */
export interface DeliveryLedger {
  readonly location: string;
  get(month: string, kind: string, scope: string, recipient: string): Promise<DeliveryRecord | undefined>;
  put(rec: DeliveryRecord): Promise<void>;
  /**
   * Writes the record only if the ledger still holds what this run read: nothing (no `over`),
   * or exactly the record `over` that `get` returned (a failed attempt being retried, a
   * deliberate resend). False when another run got there first, so two runs at once
   * (EventBridge delivers at least once; an ops re-run beside a retry) never both send.
   */
  claim(rec: DeliveryRecord, over?: DeliveryRecord): Promise<boolean>;
}

/** Sends one raw MIME message; returns the provider's message id. */
export type RawSender = (to: string[], raw: Buffer) => Promise<string>;

/** A presigned download link and when it really stops working. */
export interface PresignedLink {
  url: string;
  /** Undefined: signed with temporary credentials whose lifetime the SDK does not know (a Lambda role). */
  expiresAt?: Date;
}

/** Puts a report next to the dataset and hands out a presigned GET link for it. */
export type LinkStore = (
  month: string,
  filename: string,
  body: Buffer,
  contentType: string,
  expiresInSeconds: number,
) => Promise<PresignedLink>;

/** The subject and bodies of one kind of email in one language. */
export type EmailTemplates = (lang: Language, kind: DeliveryKind) => Promise<EmailTemplate>;

/** Where a preview (reports rendered, nothing sent) puts its files; returns where each went. */
export interface PreviewFiles {
  write(filename: string, body: Buffer): Promise<string>;
}
