import { afterEach, describe, expect, it, vi } from "vitest";
import { mkdtemp, writeFile, readFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { main } from "../../functions/cli/main.js";
import { parsePolicy } from "../../functions/controller/policy.js";
import { NOW, g5Group, gpuWindows, node, pod, snapshot } from "../controller/fixtures.js";

function capture() {
  const out: string[] = [];
  const err: string[] = [];
  vi.spyOn(console, "log").mockImplementation((...a) => void out.push(a.join(" ")));
  vi.spyOn(console, "error").mockImplementation((...a) => void err.push(a.join(" ")));
  return { out: () => out.join("\n"), err: () => err.join("\n") };
}
afterEach(() => vi.restoreAllMocks());

async function recorded() {
  const dir = await mkdtemp(path.join(tmpdir(), "ctl-cli-"));
  const idle = node("idle", "g5-spot");
  const busy = node("busy", "g5-od");
  const s = snapshot({ nodes: [idle, busy], pods: [pod("job", { nodeName: "busy", gpuRequest: 2 })] });
  s.metrics.gpus = [...gpuWindows([busy], 20), ...gpuWindows([idle], 0)];
  s.groups.find((g) => g.name === "g5-od")!.minSize = 1;
  const policy = {
    defaultPool: "g5",
    nodeGroups: [g5Group("g5-spot", "spot"), g5Group("g5-od", "on-demand", { dryRun: false })],
  };
  const file = path.join(dir, "run.json");
  await writeFile(file, JSON.stringify({ snapshot: s, policy }));
  return file;
}

describe("gpu-billing controller plan", () => {
  it("given the recorded run in the repo, written before snapshots carried a Date (nowMs), when planned offline, then it replays at that instant", async () => {
    const c = capture();
    const file = path.join(import.meta.dirname, "../controller/recorded-run.json");
    expect(JSON.parse(await readFile(file, "utf8")).snapshot).toHaveProperty("nowMs", 1794755640000);
    expect(await main(["controller", "plan", "--state", file, "--json"], {}, new Date(NOW))).toBe(0);
    expect(JSON.parse(c.out())).toMatchObject({ atMs: 1794755640000, halted: false });
  });

  it("given a recorded snapshot with neither now nor nowMs, then exit 2 naming what is missing", async () => {
    const c = capture();
    const dir = await mkdtemp(path.join(tmpdir(), "ctl-cli-"));
    const file = path.join(dir, "run.json");
    const { now: _now, ...noInstant } = snapshot({ nodes: [node("idle", "g5-spot")] });
    await writeFile(file, JSON.stringify({ snapshot: noInstant }));
    const policyFile = path.join(import.meta.dirname, "../../functions/controller/example-policy.yaml");
    expect(await main(["controller", "plan", "--state", file, "--policy", policyFile], {}, new Date(NOW))).toBe(2);
    expect(c.err()).toMatch(/no valid now \(ISO instant\) or nowMs/);
  });

  it("given a recorded run, when planned offline, then it prints each decision with its mode and reason and exits 0", async () => {
    const c = capture();
    expect(await main(["controller", "plan", "--state", await recorded()], {}, new Date(NOW))).toBe(0);
    const out = c.out();
    expect(out).toMatch(/^controller plan at 2026-11-21T03:00:00.000Z \(Asia\/Seoul\)/);
    expect(out).toMatch(/g5-spot\s+idle\s+RECLAIM\s+dry-run\s+no GPU pods and every GPU ≤ 5% for 15 min/);
    expect(out).toMatch(/g5-od\s+busy\s+-\s+pod team-ai\/job requests 2 GPU/);
  });

  it("given --node-group, then only that group's lines and its pool's scale-out line are printed", async () => {
    const c = capture();
    expect(await main(["controller", "plan", "--state", await recorded(), "--node-group", "g5-od", "--json"], {}, new Date(NOW))).toBe(0);
    const j = JSON.parse(c.out());
    expect(j.decisions.map((d: { duty: string; node?: string }) => [d.duty, d.node])).toEqual([
      ["scale-out", undefined],
      ["reclaim", "busy"],
    ]);
  });

  it("given an unknown node group or a missing file, then exit 2 with a message naming it", async () => {
    const c = capture();
    expect(await main(["controller", "plan", "--state", await recorded(), "--node-group", "nope"], {}, new Date(NOW))).toBe(2);
    expect(c.err()).toMatch(/--node-group: "nope" is not in the policy \(g5-spot, g5-od\)/);
    expect(await main(["controller", "plan", "--state", "/nonexistent.json"], {}, new Date(NOW))).toBe(2);
    expect(await main(["controller", "plan"], {}, new Date(NOW))).toBe(2);
    expect(c.err()).toMatch(/CONTROLLER_BUCKET[\s\S]*--state FILE/);
  });

  it("given the example policy, then it validates", async () => {
    const p = parsePolicy(await readFile(path.resolve("functions/controller/example-policy.yaml"), "utf8"), "example-policy.yaml");
    expect(p.nodeGroups.every((g) => g.dryRun)).toBe(true);
  });
});
