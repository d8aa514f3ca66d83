import { describe, expect, it } from "vitest";
import { aptCommand, ensureDebianPackages, MissingSystemPackagesError, missingPackages } from "../../functions/demo/system-packages.js";

describe("the Debian packages check (npm start, npm test)", () => {
  const present = { name: "nodejs", commands: [process.execPath] };
  const absent = { name: "gpu-billing-no-such-package", commands: ["gpu-billing-no-such-command"] };

  it("given every command present, it does nothing", () => {
    expect(missingPackages([present])).toEqual([]);
    expect(() => ensureDebianPackages([present], { purpose: "the tests", install: false })).not.toThrow();
  });

  it("given a missing command and no install, it throws one message naming the command and the apt-get line", () => {
    expect(missingPackages([present, absent])).toEqual([absent]);
    let error: unknown;
    try {
      ensureDebianPackages([present, absent], { purpose: "the tests", install: false });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(MissingSystemPackagesError);
    const message = (error as Error).message;
    expect(message).toMatch(/^gpu-billing-no-such-command is not installed \(needed by the tests\)\. /);
    expect(message).toContain(aptCommand(["gpu-billing-no-such-package"]));
    expect(message).not.toContain("nodejs");
  });
});
