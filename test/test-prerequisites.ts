/**
 * Runs first in `npm test`, before the typecheck: a missing Prometheus, poppler or
 * LibreOffice is installed (as root on Debian/Ubuntu) or named in one message at once,
 * instead of after 20 s of tsc. The suites' global setup checks again for `npx vitest`.
 */
import { ensureDebianPackages, TEST_PACKAGES } from "../functions/demo/system-packages.js";

try {
  ensureDebianPackages(TEST_PACKAGES, { purpose: "the tests", install: true });
} catch (e) {
  console.error(`error: ${(e as Error).message}`);
  process.exit(1);
}
