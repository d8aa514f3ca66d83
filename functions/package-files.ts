import { existsSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

/**
 * The directory the package's run-time files (queries/, templates/, functions/config/,
 * functions/demo/trace/) are found from: the nearest directory above this module with a
 * package.json. The same answer from the TypeScript sources (tsx, vitest) and from the
 * build in dist/, which sits one level deeper — a path relative to the module would differ.
 * A Lambda bundle has no package.json above it (or only its own, beside index.mjs) and
 * keeps its files beside the bundle, so there it is the bundle's directory.
 */
function findPackageRoot(): string {
  const here = path.dirname(fileURLToPath(import.meta.url));
  for (let dir = here; ; dir = path.dirname(dir)) {
    if (existsSync(path.join(dir, "package.json"))) return dir;
    if (path.dirname(dir) === dir) return here;
  }
}

export const PACKAGE_ROOT = findPackageRoot();

/** A path inside the package, e.g. `packageFile("queries")`. */
export function packageFile(...segments: string[]): string {
  return path.join(PACKAGE_ROOT, ...segments);
}
