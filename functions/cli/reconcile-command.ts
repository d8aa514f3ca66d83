import { parseArgs } from "node:util";
import type { S3Client } from "@aws-sdk/client-s3";
import { localDatasetSource, s3DatasetSource } from "../adapters/dataset-source.js";
import type { DatasetSource } from "../delivery/delivery-ports.js";
import { curParquetFile } from "../adapters/cur-parquet.js";
import { localReconciliationSink, s3ReconciliationSink } from "../adapters/reconciliation-sink.js";
import { reconcileMonth, type ReconciliationSink } from "../reconcile/reconcile-month.js";
import type { Reconciliation } from "../core/reconciliation.js";
import { DATASET_LOCATION_OPTIONS, DEFAULT_CONFIG, EXIT, loadConfig, monthArg, s3ClientFor, UsageError } from "./cli-args.js";

/** The per-group table and what only one side knows, as the CLI prints it. */
export function formatReconciliation(r: Reconciliation): string {
  const pct = (d: { toFixed(n: number): string } | undefined) => (d === undefined ? "—" : `${d.toFixed(2)}%`);
  const lines = [
    `${"node group".padEnd(28)} ${"capacity".padEnd(9)} ${"AWS cost".padStart(12)} ${"metered".padStart(12)} ${"difference".padStart(12)} ${"%".padStart(8)}`,
    ...r.groups.map(
      (g) =>
        `${`${g.cluster === "default" ? "" : `${g.cluster}/`}${g.nodeGroup}`.padEnd(28)} ${g.capacityType.padEnd(9)} ${g.awsCost.toFixed(2).padStart(12)} ${g.meteredCost.toFixed(2).padStart(12)} ${g.difference.toFixed(2).padStart(12)} ${pct(g.differencePct).padStart(8)}`,
    ),
    `${"total".padEnd(38)} ${r.totals.awsCost.toFixed(2).padStart(12)} ${r.totals.meteredCost.toFixed(2).padStart(12)} ${r.totals.difference.toFixed(2).padStart(12)} ${pct(r.totals.differencePct).padStart(8)}  ${r.currency}`,
  ];
  if (r.billedNotMetered.length)
    lines.push(
      "",
      `billed by AWS, never seen by Prometheus: ${r.billedNotMetered.map((b) => `${b.instanceId} (${b.instanceType} ${b.capacityType}, ${b.awsCost.toFixed(2)})`).join(", ")}`,
    );
  if (r.meteredNotBilled.length)
    lines.push("", `metered, not in the CUR: ${r.meteredNotBilled.map((n) => `${n.node} (${n.reason})`).join(", ")}`);
  for (const o of r.otherLineItems)
    lines.push(`left out of AWS cost: ${o.items} ${o.lineItemType} line item(s), ${o.unblendedCost.toFixed(2)}`);
  if (!r.invoiced) lines.push("", "AWS has not invoiced this billing period yet: the figures may still change.");
  return lines.join("\n");
}

export async function reconcileCommand(argv: string[], now: Date): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: { month: { type: "string" }, config: { type: "string" }, cur: { type: "string" }, ...DATASET_LOCATION_OPTIONS },
    strict: true,
  });
  const cfg = await loadConfig(values.config ?? DEFAULT_CONFIG);
  const month = monthArg(values.month, cfg, now, "previous");
  if (!values.cur) throw new UsageError("--cur FILE: the CUR 2.0 Parquet export to reconcile with (Athena is not wired yet)");
  if (!values.out === !values.bucket) throw new UsageError("give exactly one of --out DIR or --bucket B (where the dataset is)");
  let dataset: DatasetSource;
  let sink: ReconciliationSink;
  let s3: S3Client | undefined;
  if (values.bucket) {
    s3 = s3ClientFor(values["s3-endpoint"]);
    dataset = s3DatasetSource(s3, values.bucket, values.prefix ?? "");
    sink = s3ReconciliationSink(s3, values.bucket, values.prefix ?? "");
  } else {
    dataset = localDatasetSource(values.out!);
    sink = localReconciliationSink(values.out!);
  }
  try {
    const r = await reconcileMonth({ dataset, cur: curParquetFile(values.cur), sink }, cfg, month);
    console.log(`${month}: metered capacity against the AWS bill (${values.cur})\n`);
    console.log(formatReconciliation(r.reconciliation));
    console.log(`\n→ ${r.location} (dataset manifest sha256 ${r.manifestSha256})`);
    return EXIT.ok;
  } finally {
    s3?.destroy();
  }
}
