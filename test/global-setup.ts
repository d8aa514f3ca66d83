import path from "node:path";
import { prepareMonthData } from "../functions/demo/local-prometheus.js";
import { DEMO_MONTH } from "../functions/demo/month-generator.js";
import { ensureDebianPackages, TEST_PACKAGES } from "../functions/demo/system-packages.js";

/** Where generated, backfilled months are cached between runs (also used by `npm start` and the benchmark). */
export const MONTH_CACHE_DIR = path.resolve(".tmp/month-cache");

/**
 * The generated months the Prometheus suites read: the whole demo October (`npm start`'s, one
 * kube-state-metrics replica) and its first three days scraped from a high-availability pair.
 */
export const DEMO_MONTH_DATA = { ...DEMO_MONTH, cacheDir: MONTH_CACHE_DIR } as const;
export const DEMO_3_DAYS_DATA = { ...DEMO_MONTH_DATA, days: 3, ksmReplicas: 2 } as const;

/**
 * Generates and backfills the months once, before any test file starts: on a fresh clone this
 * is minutes of CPU, and done inside a suite's beforeAll it competed with every other suite
 * running in parallel (and with the hook timeout). Cached afterwards (.tmp/month-cache).
 */
export default async function setup(): Promise<void> {
  // Before any suite: a missing Prometheus, poppler or LibreOffice is installed (root on
  // Debian/Ubuntu) or stops the run with one message, instead of failing tests one by one.
  ensureDebianPackages(TEST_PACKAGES, { purpose: "the tests", install: true });
  const t0 = Date.now();
  for (const spec of [DEMO_MONTH_DATA, DEMO_3_DAYS_DATA]) await prepareMonthData({ ...spec });
  const s = ((Date.now() - t0) / 1000).toFixed(1);
  process.stderr.write(`generated months ready in ${MONTH_CACHE_DIR} (${s} s)\n`);
}
