import { parseArgs } from "node:util";
import path from "node:path";
import { SESv2Client } from "@aws-sdk/client-sesv2";
import { SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import { errorKind } from "../core/errors.js";
import { localDatasetSource, s3DatasetSource } from "../adapters/dataset-source.js";
import { localLedger, s3Ledger } from "../adapters/delivery-ledger.js";
import { s3LinkStore } from "../adapters/s3-link-store.js";
import { sesRawSender } from "../adapters/ses-email.js";
import { emailTemplateFiles } from "../adapters/template-files.js";
import { localPreviewFiles } from "../adapters/preview-files.js";
import { linkSigningClient } from "../wiring/link-signing-client.js";
import type { RawSender } from "../delivery/delivery-ports.js";
import { credentialsFromSecret } from "../adapters/secrets-manager.js";
import { deliverMonth, formatDeliveryReport, type DeliveryReport } from "../delivery/deliver-month.js";
import { DATASET_LOCATION_OPTIONS, DEFAULT_CONFIG, EXIT, loadConfig, monthArg, s3ClientFor, UsageError } from "./cli-args.js";
import { LANGUAGES, type Language } from "../core/language.js";
import { fontFiles } from "../adapters/font-files.js";

export const REPORT_USAGE = `  gpu-billing report --month YYYY-MM [--config FILE] (--out DIR | --bucket B [--prefix P] [--s3-endpoint URL])
                    [--send [--resend] [--ses-endpoint URL] [--from ADDRESS]] [--lang ko|en] [--reports-dir DIR] [--font-dir DIR]`;

/**
 * `gpu-billing report`: reads the month's completed dataset (never Prometheus), renders
 * the PDFs and workbooks, and either writes them with the emails as .eml files
 * (default) or sends them through SES (--send), recording each delivery beside the dataset.
 */
const REPORT_OPTIONS = {
  month: { type: "string" },
  config: { type: "string" },
  ...DATASET_LOCATION_OPTIONS,
  send: { type: "boolean", default: false },
  resend: { type: "boolean", default: false },
  lang: { type: "string" },
  "reports-dir": { type: "string" },
  "ses-endpoint": { type: "string" },
  from: { type: "string" },
  "font-dir": { type: "string" },
} as const;

type ReportArgs = ReturnType<typeof parseArgs<{ args: string[]; options: typeof REPORT_OPTIONS; strict: true }>>["values"];

function parseReportArgs(argv: string[]): ReportArgs {
  const { values } = parseArgs({ args: argv, options: REPORT_OPTIONS, strict: true });
  if (values.lang !== undefined && !LANGUAGES.includes(values.lang as Language))
    throw new UsageError(`--lang: must be one of ${LANGUAGES.join(", ")}`);
  if (!values.out === !values.bucket) throw new UsageError("give exactly one of --out DIR or --bucket B (where the dataset is)");
  if (values.resend && !values.send) throw new UsageError("--resend only makes sense with --send");
  return values;
}

/** Where the dataset is read and each delivery recorded: the bucket (with download links) or the directory. */
function datasetAdapters(values: ReportArgs, env: NodeJS.ProcessEnv, now: Date) {
  if (!values.bucket) return { source: localDatasetSource(values.out!), ledger: localLedger(values.out!) };
  const s3 = s3ClientFor(values["s3-endpoint"]);
  // Same as the deployed function: an IAM user's key from Secrets Manager signs links that last.
  const signer = env.LINK_SIGNING_SECRET_ID
    ? linkSigningClient(s3, credentialsFromSecret(new SecretsManagerClient({}), env.LINK_SIGNING_SECRET_ID))
    : undefined;
  return {
    s3,
    source: s3DatasetSource(s3, values.bucket, values.prefix ?? ""),
    ledger: s3Ledger(s3, values.bucket, values.prefix ?? ""),
    links: s3LinkStore(s3, values.bucket, values.prefix ?? "", { signer, now: () => now }),
  };
}

/**
 * `gpu-billing report`: reads the month's completed dataset (never Prometheus), renders
 * the PDFs and workbooks, and either writes them with the emails as .eml files
 * (default) or sends them through SES (--send), recording each delivery beside the dataset.
 */
export async function reportCommand(argv: string[], env: NodeJS.ProcessEnv, now: Date): Promise<number> {
  const values = parseReportArgs(argv);
  const cfg = await loadConfig(values.config ?? DEFAULT_CONFIG);
  const month = monthArg(values.month, cfg, now, "previous");
  const { s3, source, ledger, links } = datasetAdapters(values, env, now);
  const reportsDir = values["reports-dir"] ?? path.join(values.out ?? "out", "reports", `month=${month}`);
  const reportsCfg = values.from
    ? { ...cfg, reports: { ...(cfg.reports ?? {}), from: values.from } as NonNullable<typeof cfg.reports> }
    : cfg;
  let sender: RawSender | undefined;
  let ses: SESv2Client | undefined;
  if (values.send) {
    const from = reportsCfg.reports?.from;
    if (!from) throw new UsageError("--send needs a sender: set reports.from in the config or pass --from");
    ses = new SESv2Client(values["ses-endpoint"] ? { endpoint: values["ses-endpoint"] } : {});
    sender = sesRawSender(ses, from);
  }
  try {
    const r = await deliverMonth(
      {
        source,
        sender,
        ledger,
        links,
        preview: values.send ? undefined : localPreviewFiles(reportsDir),
        fonts: fontFiles(values["font-dir"] ?? env.FONT_DIR),
        templates: emailTemplateFiles(),
        now: () => now,
      },
      values.send ? reportsCfg : cfg,
      month,
      { lang: values.lang as Language | undefined, resend: values.resend },
    );
    return reportExit(r, values.send ? undefined : reportsDir);
  } catch (e) {
    // A month not metered, a damaged file, a missing font or recipient: nothing was sent.
    if (errorKind(e) === "bad-input") {
      console.error(`error: ${(e as Error).message}\nnothing was sent.`);
      return EXIT.badInput;
    }
    throw e;
  } finally {
    ses?.destroy();
    s3?.destroy();
  }
}

/** Prints what was delivered (or written to `writtenTo`); a failed delivery exits "unavailable", so a re-run sends only those. */
function reportExit(r: DeliveryReport, writtenTo: string | undefined): number {
  console.log(formatDeliveryReport(r));
  if (writtenTo) console.log(`\nreports and emails written to ${path.resolve(writtenTo)}/ (nothing sent; pass --send to email them)`);
  const failed = r.outcomes.filter((o) => o.status === "failed").length;
  if (!failed) return EXIT.ok;
  console.error(`error: ${failed} deliveries failed; run again to send only those (the others are recorded as sent)`);
  return EXIT.unavailable;
}
