import { createHash } from "node:crypto";
import type { Chargeback } from "../core/chargeback.js";
import type { BaseConfig } from "../core/config.js";
import type { Dataset, DatasetFile } from "../core/dataset.js";
import { parquetFiles } from "./parquet-export.js";
import { focusFiles } from "./focus-export.js";
import { BadInputError } from "../core/errors.js";

/** Extra renderings of a month's chargeback that travel inside its dataset. */
export type DatasetExporter = (cb: Chargeback, cfg: BaseConfig) => DatasetFile[];

export const EXPORTERS = {
  parquet: (cb: Chargeback) => parquetFiles(cb),
  focus: (cb: Chargeback, cfg: BaseConfig) => focusFiles(cb, cfg),
} satisfies Record<string, DatasetExporter>;

export type ExportName = keyof typeof EXPORTERS;
export const EXPORT_NAMES = Object.keys(EXPORTERS) as ExportName[];

/** Parses a comma-separated list such as `parquet,focus` (the EXPORTS variable); every unknown name is an error. */
export function parseExportNames(text: string | undefined, source = "EXPORTS"): ExportName[] {
  const names = (text ?? "")
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);
  const bad = names.filter((n) => !(n in EXPORTERS));
  if (bad.length) throw new BadInputError(`${source}: unknown export(s) ${bad.join(", ")} (known: ${EXPORT_NAMES.join(", ")})`);
  return [...new Set(names)] as ExportName[];
}

const sha256 = (b: Buffer) => createHash("sha256").update(b).digest("hex");

/**
 * Adds the exporters' files to a rendered dataset and lists each in the
 * manifest (rows, bytes, sha256). The manifest stays the last object written
 * and now vouches for the extra files too, so a month whose Parquet or FOCUS
 * file is missing or stale is detectable exactly like a missing CSV.
 */
export function withExports(dataset: Dataset, cb: Chargeback, cfg: BaseConfig, exporters: readonly DatasetExporter[]): Dataset {
  if (exporters.length === 0) return dataset;
  const extra = exporters.flatMap((e) => e(cb, cfg));
  const names = new Set(dataset.files.map((f) => f.name));
  for (const f of extra) {
    if (names.has(f.name) || f.name === dataset.manifest.name) throw new Error(`export file ${f.name} would overwrite a dataset file`);
    names.add(f.name);
  }
  const manifest = JSON.parse(dataset.manifest.body.toString("utf8")) as { files: Record<string, unknown> };
  for (const f of extra) manifest.files[f.name] = { rows: f.rows, bytes: f.body.length, sha256: sha256(f.body) };
  const body = Buffer.from(JSON.stringify(manifest, null, 2) + "\n", "utf8");
  return { files: [...dataset.files, ...extra], manifest: { ...dataset.manifest, body } };
}
