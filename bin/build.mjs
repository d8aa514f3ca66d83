#!/usr/bin/env node
// The package's JavaScript build: functions/**/*.ts → dist/functions/**/*.js, one module per
// file (no bundling) with source maps, by esbuild — the transpiler the CDK app bundles the
// Lambdas with, so the CLI, `npm start` and the Lambdas run one transpilation of one source.
// Type checking is not a build step: it is `npm run typecheck` (part of npm test), which needs
// the dev dependencies' types; esbuild is a runtime dependency so `prepare` also builds with
// `npm ci --omit=dev`.
//
// Why the commands run the build and not the TypeScript through tsx: tsx's loader hooks see
// every module Node resolves, ~900 with the AWS SDK and exceljs, and starting a command through
// them took ~4 s more than from the build on this machine. `ensureBuilt` rebuilds (~1 s) when a
// source is newer than the last build, so a checkout edited or pulled since `npm install` never
// runs stale JavaScript.
import { build } from "esbuild";
import { existsSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const SOURCES = path.join(ROOT, "functions");
const OUT = path.join(ROOT, "dist");
const STAMP = path.join(OUT, ".built");

function sources(dir = SOURCES) {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) return sources(p);
    return e.name.endsWith(".ts") && !e.name.endsWith(".d.ts") ? [p] : [];
  });
}

/** Transpiles every source into dist/ and stamps the build. */
export async function buildPackage() {
  const entryPoints = sources();
  rmSync(path.join(OUT, "functions"), { recursive: true, force: true });
  await build({
    entryPoints,
    outbase: ROOT,
    outdir: OUT,
    format: "esm",
    platform: "node",
    target: "node22",
    sourcemap: true,
    logLevel: "warning",
  });
  writeFileSync(STAMP, `${entryPoints.length} modules\n`);
}

/** Whether dist/ is missing or older than any source (a file added, edited or pulled since the last build). */
export function isStale() {
  if (!existsSync(STAMP)) return true;
  const built = statSync(STAMP).mtimeMs;
  const dirs = [SOURCES];
  for (const dir of dirs)
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) dirs.push(p);
      else if (e.name.endsWith(".ts") && statSync(p).mtimeMs > built) return true;
    }
  // A deleted source leaves its old module behind: count them.
  return Number.parseInt(readFileSyncSafe(STAMP), 10) !== sources().length;
}

function readFileSyncSafe(file) {
  try {
    return readFileSync(file, "utf8");
  } catch {
    return "";
  }
}

/** Builds when stale, then returns the URL of `dist/<relative>` (e.g. "functions/cli/main.js"). */
export async function ensureBuilt(relative) {
  if (isStale()) await buildPackage();
  return new URL(`file://${path.join(OUT, relative)}`).href;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) await buildPackage();
