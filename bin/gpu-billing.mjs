#!/usr/bin/env node
// Runs the CLI's build in dist/ (`npm run build`; npm install and npm ci run it as `prepare`),
// so the command needs no TypeScript loader and no dev dependency at run time.
import { existsSync } from "node:fs";

const entry = new URL("../dist/functions/cli/main.js", import.meta.url);
if (!existsSync(entry)) {
  console.error("gpu-billing is not built: run `npm run build` in the package directory (npm install and npm ci build it).");
  process.exit(1);
}
const { main } = await import(entry.href);
process.exit(await main(process.argv.slice(2)));
