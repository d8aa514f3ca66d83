import { describe, expect, it } from "vitest";
import { readFileSync } from "node:fs";

describe("the Node.js the tests run on", () => {
  it("is at least the package's engines floor: npm scripts run on the node devDependency, not the machine's Node", () => {
    const pkg = JSON.parse(readFileSync("package.json", "utf8")) as { engines: { node: string }; devDependencies: Record<string, string> };
    const floor = /^>=(\d+)\.(\d+)$/.exec(pkg.engines.node);
    expect(floor, `engines.node ${pkg.engines.node}`).not.toBeNull();
    const [major, minor] = process.versions.node.split(".").map(Number) as [number, number];
    const [wantMajor, wantMinor] = [Number(floor![1]), Number(floor![2])];
    expect(major > wantMajor || (major === wantMajor && minor >= wantMinor), `running on Node ${process.version}`).toBe(true);
    // The pinned node package is of that major, so `npm test` meets the floor on any machine.
    expect(Number(pkg.devDependencies.node!.split(".")[0])).toBe(wantMajor);
  });
});
