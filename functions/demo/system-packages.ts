/**
 * The Debian packages outside npm that the demo and the tests run: Prometheus and promtool
 * (the local Prometheus), poppler (PDF text, pages and fonts) and headless LibreOffice Calc
 * (recomputes the workbooks' formulas). One check for `npm start` and `npm test`: as root on
 * Debian/Ubuntu it installs what is missing, otherwise it stops with one message naming the
 * command — so a missing tool is never reported as a failing test.
 */
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import path from "node:path";
import { BadInputError } from "../core/errors.js";

export interface DebianPackage {
  name: string;
  /** Absolute paths, or names looked up on PATH. */
  commands: string[];
}

export const PROMETHEUS = "/usr/bin/prometheus";
export const PROMTOOL = "/usr/bin/promtool";

export const PROMETHEUS_PACKAGE: DebianPackage = { name: "prometheus", commands: [PROMETHEUS, PROMTOOL] };
export const TEST_PACKAGES: DebianPackage[] = [
  PROMETHEUS_PACKAGE,
  { name: "poppler-utils", commands: ["pdftotext", "pdftoppm", "pdffonts"] },
  { name: "libreoffice-calc-nogui", commands: ["soffice"] },
];

export class MissingSystemPackagesError extends BadInputError {
  constructor(message: string) {
    super(message);
    this.name = "MissingSystemPackagesError";
    // The message says everything; stack frames would bury the command to run.
    this.stack = `${this.name}: ${message}`;
  }
}

function found(command: string): boolean {
  if (path.isAbsolute(command)) return existsSync(command);
  return (process.env.PATH ?? "").split(path.delimiter).some((dir) => dir && existsSync(path.join(dir, command)));
}

export function missingPackages(packages: DebianPackage[]): DebianPackage[] {
  return packages.filter((p) => !p.commands.every(found));
}

/** The one command that installs `names` on Debian/Ubuntu. */
export function aptCommand(names: string[]): string {
  return `apt-get update && apt-get install -y --no-install-recommends ${names.join(" ")}`;
}

/**
 * Makes sure `packages` are installed. With `install` (npm start, npm test) it runs apt-get
 * when it can — root on Debian/Ubuntu; otherwise, or without `install`, a missing package
 * throws MissingSystemPackagesError naming the command to run.
 */
export function ensureDebianPackages(packages: DebianPackage[], opts: { purpose: string; install: boolean }): void {
  let missing = missingPackages(packages);
  if (missing.length === 0) return;
  const names = missing.map((p) => p.name);
  const debian = existsSync("/etc/debian_version");
  if (opts.install && debian && process.getuid?.() === 0) {
    process.stderr.write(`Installing ${names.join(", ")} for ${opts.purpose} (${aptCommand(names)})…\n`);
    const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
    for (const args of [
      ["update", "-qq"],
      ["install", "-y", "-qq", "--no-install-recommends", ...names],
    ]) {
      const r = spawnSync("apt-get", args, { stdio: ["ignore", "ignore", "inherit"], env });
      if (r.status !== 0)
        throw new MissingSystemPackagesError(
          `apt-get ${args.join(" ")} failed (exit ${r.status ?? r.signal}); run it yourself, then again`,
        );
    }
    missing = missingPackages(packages);
    if (missing.length === 0) return;
  }
  const commands = missing.flatMap((p) => p.commands.filter((c) => !found(c)).map((c) => path.basename(c)));
  throw new MissingSystemPackagesError(
    `${commands.join(", ")} ${commands.length === 1 ? "is" : "are"} not installed (needed by ${opts.purpose}). ` +
      (debian
        ? `Install ${names.length === 1 ? "it" : "them"} with: sudo sh -c '${aptCommand(missing.map((p) => p.name))}'`
        : `They come from the Debian/Ubuntu packages ${missing.map((p) => p.name).join(", ")} (${aptCommand(missing.map((p) => p.name))}).`),
  );
}
