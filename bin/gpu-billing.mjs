#!/usr/bin/env node
// Runs the CLI from its JavaScript build in dist/ (bin/build.mjs; npm install and npm ci run it
// as `prepare`, and it runs again here when a source is newer), so the command needs no
// TypeScript loader and no dev dependency at run time.
import { ensureBuilt } from "./build.mjs";

const { main } = await import(await ensureBuilt("functions/cli/main.js"));
process.exit(await main(process.argv.slice(2)));
