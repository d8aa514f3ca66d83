import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { computeChargeback, type Chargeback } from "../../functions/core/chargeback.js";
import { configHash } from "../../functions/core/config.js";
import { renderDataset, type Dataset } from "../../functions/core/dataset.js";
import { billingMonth } from "../../functions/core/month.js";
import { localSink } from "../../functions/adapters/dataset-sink.js";
import { exactAnswer, exactPodAnswer, generateMonth } from "../../functions/demo/month-generator.js";
import { referenceConfig } from "../core/fixtures.js";
import type { Config } from "../../functions/config/config-schema.js";

export const MONTH = "2026-10";

export interface DemoDataset {
  cfg: Config;
  chargeback: Chargeback;
  dataset: Dataset;
  /** A directory holding month=2026-10/ as `meter --out` writes it. */
  root: string;
}

let cached: { cfg: Config; chargeback: Chargeback; dataset: Dataset } | undefined;

/**
 * The demo month's dataset built from the generator's exact answer (no Prometheus needed):
 * the same files `meter` writes, for every tenant, Spot and On-Demand, MIG and time-slicing.
 */
export async function demoDataset(cfg: Config = referenceConfig()): Promise<DemoDataset> {
  if (!cached || cached.cfg !== cfg) {
    const gen = generateMonth({ month: MONTH, scale: "demo" });
    const usage = { ...exactAnswer(gen), pods: exactPodAnswer(gen) };
    const chargeback = computeChargeback(usage, cfg, MONTH);
    const bm = billingMonth(MONTH, cfg.timeZone);
    const dataset = renderDataset(chargeback, {
      month: MONTH,
      timeZone: cfg.timeZone,
      startIso: new Date(bm.startMs).toISOString(),
      endIso: new Date(bm.endMs).toISOString(),
      prometheusUrl: "http://127.0.0.1:9090",
      configHash: configHash(cfg),
    });
    cached = { cfg, chargeback, dataset };
  }
  const root = await mkdtemp(path.join(tmpdir(), "report-ds-"));
  await localSink(root).write(MONTH, cached.dataset);
  return { ...cached, root };
}
