/**
 * `npx tsx test/bench/lambda-bundle-size.ts [entry...]`: bundles handlers with the
 * esbuild options the stack uses (infra/lib/gpu-billing-function.ts: ESM, node22, minified,
 * mainFields module/main, the SDK bundled, the createRequire banner, a source map without sources, run
 * with --enable-source-maps as the stack's NODE_OPTIONS sets) and prints each
 * bundle's size (and deflated, about what the deployment zip holds) and the median wall time of `import()`ing it in a fresh Node process —
 * the part of a Lambda cold start that the code, not the runtime, decides.
 */
import { build } from "esbuild";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { gzipSync } from "node:zlib";
import { tmpdir } from "node:os";
import path from "node:path";
import { pathToFileURL } from "node:url";

const BANNER =
  "import{createRequire as __cr}from'node:module';import{fileURLToPath as __fu}from'node:url';import{dirname as __dn}from'node:path';const require=__cr(import.meta.url);const __filename=__fu(import.meta.url);const __dirname=__dn(__filename);";
const entries = process.argv.slice(2).length
  ? process.argv.slice(2)
  : ["functions/handlers/controller-handler.ts", "functions/handlers/quota-handler.ts"];
const repeat = 7;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

const out = mkdtempSync(path.join(tmpdir(), "bundle-size-"));
try {
  for (const entry of entries) {
    const file = path.join(out, path.basename(entry, ".ts"), "index.mjs");
    await build({
      entryPoints: [entry],
      outfile: file,
      bundle: true,
      platform: "node",
      format: "esm",
      target: "node22",
      minify: true,
      mainFields: ["module", "main"],
      banner: { js: BANNER },
      sourcemap: true,
      sourcesContent: false,
      logLevel: "error",
    });
    const url = pathToFileURL(file).href;
    const script = `const t = performance.now(); await import(${JSON.stringify(url)}); console.log(performance.now() - t);`;
    const times = Array.from({ length: repeat }, () =>
      Number(
        execFileSync(process.execPath, ["--enable-source-maps", "--input-type=module", "-e", script], {
          encoding: "utf8",
          env: { PATH: process.env.PATH },
        }),
      ),
    );
    const deflatedKiB = gzipSync(readFileSync(file), { level: 9 }).length / 1024;
    console.log(
      `${entry}: ${(statSync(file).size / 1024).toFixed(0)} KiB (${deflatedKiB.toFixed(0)} KiB deflated), import ${median(times).toFixed(0)} ms (median of ${repeat})`,
    );
  }
} finally {
  rmSync(out, { recursive: true, force: true });
}
