import { describe, expect, it } from "vitest";
import {
  ControllerHaltedError,
  gpuHoursSavedEstimate,
  runController,
  type ControllerDeps,
  type RunResult,
} from "../../functions/controller/run-controller.js";
import type { ControllerState, PodInfo, Snapshot } from "../../functions/controller/snapshot.js";
import { MIN, NOW, NOW_AT, gpuWindows, node, pod, policy, snapshot, state } from "./fixtures.js";

const recordOf = (r: RunResult, node: string) => r.decisions.find((x) => "node" in x && x.node === node);

/** In-memory dependencies that record every side effect in order. */
function deps(snap: Snapshot, opts: { podsAfterTaint?: PodInfo[]; leaseHeld?: boolean; terminateFails?: boolean } = {}) {
  const calls: string[] = [];
  let saved: ControllerState | undefined;
  const d: ControllerDeps = {
    acquireLease: async () => (opts.leaseHeld ? undefined : { state: state() }),
    checkpoint: async (l, s) => (calls.push("checkpoint"), { ...l, state: s }),
    releaseLease: async (_l, s) => {
      calls.push("release-lease");
      saved = s;
    },
    snapshot: async () => snap,
    cordonAndTaint: async (n) => (
      calls.push(`taint ${n}`),
      { ...snap.nodes.find((x) => x.name === n)!, reclaimTainted: true, unschedulable: true }
    ),
    releaseNode: async (n) => void calls.push(`untaint ${n}`),
    podsOnNode: async (n) => (calls.push(`pods ${n}`), opts.podsAfterTaint ?? []),
    terminateInstance: async (id) => {
      calls.push(`terminate ${id}`);
      if (opts.terminateFails) throw Object.assign(new Error("Rate exceeded"), { name: "Throttling" });
      return { outcome: "terminating" };
    },
    setDesiredCapacity: async (asg, from, to) => (calls.push(`set ${asg} ${from}->${to}`), { outcome: "set" }),
    audit: async (recs) => (calls.push(`audit ${recs.length}`), "audit/key"),
    publish: async () => void calls.push("publish"),
  };
  return { d, calls, saved: () => saved };
}

function idleCluster() {
  const idle = node("idle", "g5-spot");
  return snapshot({ nodes: [idle] });
}

describe("controller run (orchestration with recording dependencies)", () => {
  it("given an idle node in an acting group, then it taints, re-checks, terminates, audits, and remembers the reclaim", async () => {
    const { d, calls, saved } = deps(idleCluster());
    const r = await runController(d, policy(), NOW_AT);
    expect(calls).toEqual(["taint idle", "pods idle", "terminate i-idle", "checkpoint", "audit 2", "publish", "release-lease"]);
    expect(recordOf(r, "idle")?.outcome).toEqual({
      status: "done",
      code: "instance-terminating",
      text: "instance terminating (desired capacity decremented)",
    });
    expect(saved()!.reclaims["g5-spot"]).toEqual([{ atMs: NOW, instanceId: "i-idle", node: "idle" }]);
  });

  it("given a pod lands on the node between the snapshot and the taint, then the re-check aborts and the taint is removed — no termination", async () => {
    const { d, calls } = deps(idleCluster(), { podsAfterTaint: [pod("late", { nodeName: "idle" })] });
    const r = await runController(d, policy(), NOW_AT);
    expect(calls).toEqual(["taint idle", "pods idle", "untaint idle", "audit 2", "publish", "release-lease"]);
    expect(recordOf(r, "idle")?.outcome).toMatchObject({
      status: "skipped",
      code: "aborted-after-recheck",
      text: expect.stringMatching(/^aborted after the taint: pod team-ai\/late requests 1 GPU/),
    });
  });

  it("given a dry-run group, then nothing is touched and the audit says what it would have done", async () => {
    const { d, calls } = deps(idleCluster());
    const r = await runController(d, policy({}, { "g5-spot": { dryRun: true } }), NOW_AT);
    expect(calls).toEqual(["audit 2", "publish", "release-lease"]);
    expect(recordOf(r, "idle")).toMatchObject({
      action: "terminate-instance",
      outcome: { status: "skipped", code: "dry-run", text: "dry-run: not acted on" },
    });
  });

  it("given another run holds the lease, then this one records that and does nothing else", async () => {
    const { d, calls } = deps(idleCluster(), { leaseHeld: true });
    const r = await runController(d, policy(), NOW_AT);
    expect(r.ran).toBe(false);
    expect(calls).toEqual(["audit 1"]);
  });

  it("given Prometheus failed, then the run halts, records it, releases the lease and throws so alarms see it", async () => {
    const s = idleCluster();
    s.errors.push({ source: "prometheus", message: "unavailable after 5 attempts" });
    const { d, calls } = deps(s);
    await expect(runController(d, policy(), NOW_AT)).rejects.toThrow(ControllerHaltedError);
    expect(calls).toEqual(["audit 1", "publish", "release-lease"]);
  });

  it("given the termination fails, then the node is released, later actions are not attempted, and the run throws after recording", async () => {
    const s = snapshot({ nodes: [node("a", "g5-od"), node("b", "g5-od", { createdAtMs: NOW - 100 * MIN })] });
    s.metrics.gpus = gpuWindows(s.nodes, 0);
    const { d, calls } = deps(s, { terminateFails: true });
    await expect(runController(d, policy({}, { "g5-od": { disruptionBudget: 2 } }), NOW_AT)).rejects.toThrow(
      /controller run failed: terminate-instance a: Throttling/,
    );
    expect(calls).toEqual(["taint a", "pods a", "terminate i-a", "untaint a", "audit 3", "publish", "release-lease"]);
  });

  it("given a scale-out, then the absolute desired capacity is set and the scale-out is remembered", async () => {
    const s = snapshot(
      {
        nodes: [node("s1", "g5-spot")],
        pods: [pod("a", { nodeName: "s1", gpuRequest: 4 }), pod("w", { phase: "Pending", gpuRequest: 4, createdAtMs: NOW - 5 * MIN })],
      },
      80,
    );
    const { d, calls, saved } = deps(s);
    await runController(d, policy(), NOW_AT);
    expect(calls[0]).toBe("set asg-g5-spot 1->2");
    expect(saved()!.scaleOuts["g5-spot"]).toEqual({ atMs: NOW, fromDesired: 1, toDesired: 2 });
    expect(saved()!.additions["g5-spot"]).toEqual([{ atMs: NOW, nodes: 1 }]);
  });

  it("given 2 nodes reclaimed and 1 added back since, then the estimate counts 1 node × 4 GPUs × 2 min", () => {
    const st = state({
      reclaims: {
        "g5-spot": [
          { atMs: NOW - 60 * MIN, instanceId: "i-1", node: "a" },
          { atMs: NOW - 50 * MIN, instanceId: "i-2", node: "b" },
        ],
      },
      additions: { "g5-spot": [{ atMs: NOW - 10 * MIN, nodes: 1 }] },
    });
    expect(gpuHoursSavedEstimate(st, policy(), NOW_AT, 2)).toEqual({ "g5-spot": (1 * 4 * 2) / 60 });
  });
});
