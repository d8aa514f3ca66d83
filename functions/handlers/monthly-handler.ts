import { z } from "zod";
import { Logger } from "@aws-lambda-powertools/logger";
import { S3Client } from "@aws-sdk/client-s3";
import { SESv2Client } from "@aws-sdk/client-sesv2";
import { SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import { ReportsSchema } from "../core/config.js";
import { previousMonth } from "../core/month.js";
import { KEY_PART_ID } from "../core/key-part.js";
import { LANGUAGES } from "../core/language.js";
import type { MeterDeps } from "../metering/meter-month.js";
import { s3DatasetSource } from "../adapters/dataset-source.js";
import { s3Ledger } from "../adapters/delivery-ledger.js";
import { s3LinkStore } from "../adapters/s3-link-store.js";
import { sesRawSender } from "../adapters/ses-email.js";
import { emailTemplateFiles } from "../adapters/template-files.js";
import { linkSigningClient } from "../wiring/link-signing-client.js";
import { credentialsFromSecret } from "../adapters/secrets-manager.js";
import { deliverMonth, type DeliverDeps, type DeliveryReport } from "../delivery/deliver-month.js";
import { BILLING_CONFIG_ENV, EventMonth, requiringBillingConfig, parseFunctionEnv, loadBillingConfig, parseEvent } from "./handler-env.js";
import { BadInputError, failureFields } from "../core/errors.js";
import type { Config } from "../config/config-schema.js";
import { meterMonthFromPrometheus, type PrometheusWired } from "../wiring/prometheus-metering.js";
import { METERING_ENV, meterDepsFromEnv } from "./metering-env.js";
import { systemClock, type Clock } from "../core/clock.js";
import { fontFiles } from "../adapters/font-files.js";

/** The monthly function's environment; every error names the variable. */
export const MonthlyEnvSchema = requiringBillingConfig(
  z.object({
    ...METERING_ENV,
    ...BILLING_CONFIG_ENV,
    /** Pretendard TTFs shipped beside the bundle (e.g. /var/task/fonts). */
    FONT_DIR: z.string().optional(),
    /** templates/ shipped beside the bundle. */
    TEMPLATES_DIR: z.string().optional(),
    /** Overrides reports.from in the config. */
    SES_FROM: z.string().email().optional(),
    REPORT_LANG: z.enum(LANGUAGES).optional(),
    /**
     * Secrets Manager secret with an IAM user's access key ({accessKeyId, secretAccessKey}) that
     * signs report download links: a link signed by the function's role dies with its session
     * (hours), not after reports.linkExpiryDays. Absent: the role signs, and the emails say so.
     */
    LINK_SIGNING_SECRET_ID: z.string().min(1).optional(),
  }),
);

/**
 * Scheduled on the 1st of the month in the billing time zone: no month means the previous one.
 * `resend` re-sends deliberately; `remeter` meters again even when the month's dataset is complete.
 */
export const MonthlyEventSchema = z
  .object({
    month: EventMonth.optional(),
    resend: z.boolean().default(false),
    remeter: z.boolean().default(false),
    /** From an ops re-run (`source: "gpu-billing.rerun"`): deliver only these tenants' emails (plus finance/executive if changed). */
    tenants: z.array(z.string().regex(KEY_PART_ID, "must be a tenant id")).min(1).optional(),
  })
  .passthrough();

export interface MonthlyBuilt {
  cfg: Config;
  meter: PrometheusWired<MeterDeps>;
  deliver: Omit<DeliverDeps, "now">;
  lang?: "ko" | "en";
}

/** Dependencies are built once per container, on first use, never at import time. */
export function buildMonthlyDeps(
  env: Record<string, string | undefined>,
  clients: { s3?: S3Client; ses?: SESv2Client; secrets?: SecretsManagerClient } = {},
): MonthlyBuilt {
  const e = parseFunctionEnv("monthly", MonthlyEnvSchema, env);
  let cfg = loadBillingConfig(e);
  if (e.SES_FROM) cfg = { ...cfg, reports: { ...(cfg.reports ?? ReportsSchema.parse({})), from: e.SES_FROM } };
  if (!cfg.reports?.from)
    throw new BadInputError(
      "monthly function environment invalid: SES_FROM: set it, or reports.from in the config (the SES sender address)",
    );
  const s3 = clients.s3 ?? new S3Client({});
  const ses = clients.ses ?? new SESv2Client({});
  const signer = e.LINK_SIGNING_SECRET_ID
    ? linkSigningClient(s3, credentialsFromSecret(clients.secrets ?? new SecretsManagerClient({}), e.LINK_SIGNING_SECRET_ID))
    : undefined;
  return {
    cfg,
    lang: e.REPORT_LANG,
    meter: meterDepsFromEnv(cfg, env, e, s3),
    deliver: {
      source: s3DatasetSource(s3, e.DATA_BUCKET, e.DATA_PREFIX),
      ledger: s3Ledger(s3, e.DATA_BUCKET, e.DATA_PREFIX),
      links: s3LinkStore(s3, e.DATA_BUCKET, e.DATA_PREFIX, { signer }),
      sender: sesRawSender(ses, cfg.reports.from),
      fonts: fontFiles(e.FONT_DIR),
      templates: emailTemplateFiles(e.TEMPLATES_DIR),
    },
  };
}

/** Some recipients could not be sent to; the error makes Lambda retry, and the retry sends only those. */
export class DeliveryIncompleteError extends Error {
  constructor(readonly report: DeliveryReport) {
    const failed = report.outcomes.filter((o) => o.status === "failed");
    super(
      `${failed.length} of ${report.outcomes.length} deliveries for ${report.month} failed: ${failed.map((f) => `${f.kind}/${f.scope} → ${f.recipient}: ${f.reason}`).join("; ")}`,
    );
    this.name = "DeliveryIncompleteError";
  }
}

const logger = new Logger({ serviceName: "gpu-billing-monthly" });

/** meter → report → deliver. The dataset is reused when already complete, so a retry does not meter again. */
export function makeMonthlyHandler(getBuilt: () => MonthlyBuilt, clock: Clock = systemClock, log: Logger = logger) {
  return async (event: unknown) => {
    const ev = parseEvent(MonthlyEventSchema, event);
    const built = getBuilt();
    const now = clock();
    const month = ev.month ?? previousMonth(now, built.cfg.timeZone);
    log.appendKeys({ month });
    try {
      const existing = ev.remeter ? undefined : await built.meter.sink.readManifest(month);
      if (existing) log.info("dataset already complete; not metering again", { location: built.meter.sink.location });
      else {
        const r = await meterMonthFromPrometheus(built.meter, built.cfg, month, now);
        log.info("month metered", { location: r.location, rows: r.chargeback.rows.length, cost: r.chargeback.totals.cost.toFixed() });
      }
      const report = await deliverMonth({ ...built.deliver, now: clock }, built.cfg, month, {
        resend: ev.resend,
        lang: built.lang,
        tenants: ev.tenants,
      });
      const count = (s: string) => report.outcomes.filter((o) => o.status === s).length;
      for (const t of report.tenantsWithoutRecipients) log.warn("tenant has no recipients; report not sent", { tenant: t });
      for (const k of report.kindsWithoutRecipients) log.warn("no recipients configured", { kind: k });
      for (const w of report.warnings) log.warn(w);
      log.info("reports delivered", { sent: count("sent"), skipped: count("skipped"), failed: count("failed"), outcomes: report.outcomes });
      if (count("failed")) throw new DeliveryIncompleteError(report);
      return {
        month,
        sent: count("sent"),
        skipped: count("skipped"),
        failed: 0,
        tenantsWithoutRecipients: report.tenantsWithoutRecipients,
      };
    } catch (err) {
      log.error("monthly run failed", failureFields(err));
      throw err; // Lambda retries; the ledger makes the retry send only what is missing
    } finally {
      log.removeKeys(["month"]);
    }
  };
}

let built: MonthlyBuilt | undefined;
export const handler = makeMonthlyHandler(() => (built ??= buildMonthlyDeps(process.env)));
