import { describe, expect, it } from "vitest";
import { spawnSync } from "node:child_process";
import { mkdtemp, stat, utimes } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";

// bin/gpu-billing.mjs runs the build in dist/ (made by `prepare` on npm install / npm ci),
// where every run-time file is found from the package root, not from the module's own path.
describe("the installed gpu-billing command", () => {
  const run = (args: string[], cwd: string) =>
    spawnSync(process.execPath, [path.resolve("bin/gpu-billing.mjs"), ...args], { cwd, encoding: "utf8" });

  it("given --help, it prints the usage from the build", () => {
    const r = run(["--help"], tmpdir());
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/^usage:\n {2}gpu-billing meter --month YYYY-MM/);
  });

  it("given a month with no dataset, run from another directory, it loads the default config from the package root and exits 2", async () => {
    const out = await mkdtemp(path.join(tmpdir(), "built-cli-"));
    const r = run(["report", "--month", "2026-10", "--out", out], out);
    expect(r.stderr).toContain("no completed dataset");
    expect(r.status).toBe(2);
  });

  it("given a source edited after the build, the build counts as stale (the commands rebuild before they run)", async () => {
    // @ts-expect-error: a plain-JavaScript module without types
    const { isStale, ensureBuilt } = (await import("../../bin/build.mjs")) as {
      isStale(): boolean;
      ensureBuilt(f: string): Promise<string>;
    };
    await ensureBuilt("functions/cli/main.js");
    expect(isStale()).toBe(false);
    const source = path.resolve("functions/core/month.ts");
    const { atime, mtime } = await stat(source);
    try {
      await utimes(source, atime, new Date(Date.now() + 60_000));
      expect(isStale()).toBe(true);
    } finally {
      await utimes(source, atime, mtime);
    }
    expect(isStale()).toBe(false);
  });
});
