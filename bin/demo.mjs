#!/usr/bin/env node
// `npm start`: the demo (functions/cli/demo.ts) from the JavaScript build, rebuilt first when a
// source is newer (see bin/build.mjs for why the build and not tsx).
import { ensureBuilt } from "./build.mjs";

await import(await ensureBuilt("functions/cli/demo.js"));
