import { describe, expect, it } from "vitest";
import {
  planController,
  recheckAfterTaint,
  type Decision,
  type NoScaleOut,
  type SetDesiredCapacity,
} from "../../functions/controller/decide.js";
import type { ControllerPolicy } from "../../functions/controller/policy.js";
import type { Snapshot, ControllerState } from "../../functions/controller/snapshot.js";
import { MIN, NOW, NOW_AT, group, gpuWindows, node, pod, policy, snapshot, state } from "./fixtures.js";

const reclaimOf = (ds: Decision[], n: string) => ds.find((d) => d.duty === "reclaim" && "node" in d && d.node === n);
const groupReclaim = (ds: Decision[], g: string) => ds.find((d) => d.duty === "reclaim" && d.nodeGroup === g && !("node" in d));
const scaleOut = (ds: Decision[]) =>
  ds.find((d): d is SetDesiredCapacity | NoScaleOut => d.duty === "scale-out" && d.action !== "mark-spot-unavailable");

// Base case: g5 pool with one busy On-Demand node at 20% (a 2-GPU job, so 2 GPUs free there) and one idle Spot node "idle".
function base() {
  const busy = node("busy", "g5-od");
  const idle = node("idle", "g5-spot");
  const snap = snapshot({ nodes: [busy, idle], pods: [pod("job", { nodeName: "busy", gpuRequest: 2 })] });
  snap.metrics.gpus = [...gpuWindows([busy], 20), ...gpuWindows([idle], 0)];
  snap.groups.find((g) => g.name === "g5-od")!.minSize = 1;
  return snap;
}

describe("idle reclaim guards (one row per guard; node 'idle' otherwise qualifies)", () => {
  const rows: {
    name: string;
    given: (s: Snapshot) => void;
    pol?: ControllerPolicy;
    st?: ControllerState;
    action: string;
    reason: RegExp;
  }[] = [
    { name: "an idle node with full fresh metrics", given: () => {}, action: "terminate-instance", reason: /every GPU ≤ 5% for 15 min/ },
    { name: "a GPU pod on the node", given: (s) => s.pods.push(pod("p", { nodeName: "idle" })), action: "none", reason: /requests 1 GPU/ },
    {
      name: "only a DaemonSet pod requesting a GPU",
      given: (s) => s.pods.push(pod("dcgm", { nodeName: "idle", ownerKind: "DaemonSet" })),
      action: "terminate-instance",
      reason: /every GPU/,
    },
    {
      name: "a CPU-only Deployment pod on the node",
      given: (s) => s.pods.push(pod("web", { nodeName: "idle", gpuRequest: 0 })),
      action: "none",
      reason: /non-DaemonSet pod team-ai\/web/,
    },
    {
      name: "a finished GPU pod on the node",
      given: (s) => s.pods.push(pod("done", { nodeName: "idle", phase: "Succeeded" })),
      action: "terminate-instance",
      reason: /every GPU/,
    },
    {
      name: "one GPU above the noise floor once",
      given: (s) => (s.metrics.gpus.find((g) => g.node === "idle" && g.gpu === "2")!.maxUtil = 5.5),
      action: "none",
      reason: /GPU 2 reached 5.5%/,
    },
    {
      name: "GPU exactly at the noise floor",
      given: (s) => (s.metrics.gpus.find((g) => g.node === "idle")!.maxUtil = 5),
      action: "terminate-instance",
      reason: /every GPU/,
    },
    {
      name: "a GPU with no series (missing metrics)",
      given: (s) => (s.metrics.gpus = s.metrics.gpus.filter((g) => !(g.node === "idle" && g.gpu === "3"))),
      action: "none",
      reason: /3 of 4 GPUs reported \(fail closed\)/,
    },
    {
      name: "13 of 15 samples (87% < 90%)",
      given: (s) => (s.metrics.gpus.find((g) => g.node === "idle")!.samples = 13),
      action: "none",
      reason: /13\/15 samples .* \(fail closed\)/,
    },
    {
      name: "14 of 15 samples (93%)",
      given: (s) => (s.metrics.gpus.find((g) => g.node === "idle")!.samples = 14),
      action: "terminate-instance",
      reason: /every GPU/,
    },
    {
      name: "stale metrics (newest sample 5 min old)",
      given: (s) => (s.metrics.gpus.find((g) => g.node === "idle")!.lastSampleMs = NOW - 5 * MIN),
      action: "none",
      reason: /300 s old \(stale/,
    },
    { name: "a node 14 minutes old", given: (s) => (s.nodes[1]!.createdAtMs = NOW - 14 * MIN), action: "none", reason: /too young/ },
    {
      name: "GPUs not yet allocatable",
      given: (s) => (s.nodes[1]!.gpuAllocatable = 0),
      action: "none",
      reason: /not yet allocatable \(0 of 4\)/,
    },
    {
      name: "a NotReady node (booting, so no halt)",
      given: (s) => Object.assign(s.nodes[1]!, { ready: false, createdAtMs: NOW - 5 * MIN }),
      action: "none",
      reason: /NotReady/,
    },
    {
      name: "node annotation scale-down-disabled",
      given: (s) => (s.nodes[1]!.annotations["cluster-autoscaler.kubernetes.io/scale-down-disabled"] = "true"),
      action: "none",
      reason: /opts out \(cluster-autoscaler/,
    },
    {
      name: "our opt-out label",
      given: (s) => (s.nodes[1]!.labels["gpu-billing.io/reclaim-disabled"] = "true"),
      action: "none",
      reason: /opts out \(gpu-billing.io/,
    },
    {
      name: "a DaemonSet pod with karpenter.sh/do-not-disrupt",
      given: (s) =>
        s.pods.push(
          pod("ds", { nodeName: "idle", ownerKind: "DaemonSet", gpuRequest: 0, annotations: { "karpenter.sh/do-not-disrupt": "true" } }),
        ),
      action: "none",
      reason: /opts out of disruption/,
    },
    {
      name: "a pod with safe-to-evict=false",
      given: (s) =>
        s.pods.push(
          pod("ds", {
            nodeName: "idle",
            ownerKind: "DaemonSet",
            gpuRequest: 0,
            annotations: { "cluster-autoscaler.kubernetes.io/safe-to-evict": "false" },
          }),
        ),
      action: "none",
      reason: /opts out of disruption/,
    },
    {
      name: "an instance already Terminating",
      given: (s) => (s.groups.find((g) => g.name === "g5-spot")!.instances[0]!.lifecycleState = "Terminating"),
      action: "none",
      reason: /is Terminating/,
    },
    {
      name: "the group at its minimum",
      given: (s) => (s.groups.find((g) => g.name === "g5-spot")!.minSize = 1),
      action: "none",
      reason: /at its minimum \(1 nodes, min 1\)/,
    },
    {
      name: "budget 0",
      given: () => {},
      pol: policy({}, { "g5-spot": { disruptionBudget: 0 } }),
      action: "none",
      reason: /budget is spent: 0 in flight \+ 0 chosen \+ 1 > 0/,
    },
    {
      name: "a pool that would run hot without it (busy at 35% on the 4 GPUs left > 30%)",
      given: (s) => s.metrics.gpus.filter((g) => g.node === "busy").forEach((g) => (g.meanUtil = 35)),
      action: "none",
      reason: /would run at 35% without it \(> scale-in threshold 30%\)/,
    },
    {
      name: "a 4-GPU pod running on the busy node and keepRoomForLargestPod on (no other node could take another)",
      given: (s) => (s.pods[0]!.gpuRequest = 4),
      pol: policy({ keepRoomForLargestPod: true }),
      action: "none",
      reason: /a 4-GPU pod ran in the last 40 min and no other node has 4 free GPUs \(most: 0\)/,
    },
    {
      name: "the same with that guard off (the default)",
      given: (s) => (s.pods[0]!.gpuRequest = 4),
      action: "terminate-instance",
      reason: /every GPU/,
    },
    {
      name: "the pool requested 3 GPUs 30 min ago (peak 3 + 2 headroom > 4 left)",
      given: () => {},
      pol: policy({}, { "g5-od": { minFreeGpus: 2 } }),
      st: state({ demandHistory: { g5: [{ atMs: NOW - 30 * MIN, gpus: 3, largestPod: 1 }] } }),
      action: "none",
      reason: /requested up to 3 GPU\(s\) in the last 40 min; without it 4 < 3 \+ 2 free/,
    },
    {
      name: "that peak 50 min ago (outside the 40-min stabilization window)",
      given: () => {},
      pol: policy({}, { "g5-od": { minFreeGpus: 2 } }),
      st: state({ demandHistory: { g5: [{ atMs: NOW - 50 * MIN, gpus: 3, largestPod: 1 }] } }),
      action: "terminate-instance",
      reason: /every GPU/,
    },
    {
      name: "batch class tolerates 35% (scale-in at 40%)",
      given: (s) => s.metrics.gpus.filter((g) => g.node === "busy").forEach((g) => (g.meanUtil = 35)),
      pol: policy({}, { "g5-spot": { workloadClass: "batch" } }),
      action: "terminate-instance",
      reason: /pool at 35% after/,
    },
  ];
  for (const r of rows)
    it(`given ${r.name}, when planning, then the node's decision is ${r.action}`, () => {
      const s = base();
      r.given(s);
      const plan = planController(s, r.pol ?? policy(), r.st ?? state());
      const d = reclaimOf(plan.decisions, "idle");
      expect(d, JSON.stringify(plan.decisions, null, 1)).toBeDefined();
      expect(d!.action).toBe(r.action);
      expect(d!.reason).toMatch(r.reason);
      expect(d!.inputs).toHaveProperty("node", "idle");
    });

  const groupRows: { name: string; given?: (s: Snapshot) => void; pol?: ControllerPolicy; st?: ControllerState; reason: RegExp }[] = [
    {
      name: "a weekday working-hours freeze in Seoul (Mon 10:00 KST)",
      given: (s) => (s.now = new Date("2026-11-23T01:00:00Z")),
      pol: policy({}, { "g5-spot": { freezeWindows: ["* 9-17 * * mon-fri"] } }),
      reason: /freeze window "\* 9-17 \* \* mon-fri" \(Asia\/Seoul\) is active/,
    },
    { name: "a global freeze window", pol: policy({ freezeWindows: ["* 12 * * *"] }), reason: /freeze window "\* 12 \* \* \*"/ },
    {
      name: "a scale-out 9 minutes ago",
      st: state({ scaleOuts: { "g5-spot": { atMs: NOW - 9 * MIN, fromDesired: 0, toDesired: 1 } } }),
      reason: /scaled out 9 min ago \(< 15 min\)/,
    },
    {
      name: "a cluster-autoscaler tag on the group",
      given: (s) => (s.groups.find((g) => g.name === "g5-spot")!.tags["k8s.io/cluster-autoscaler/enabled"] = "true"),
      reason: /owned by another autoscaler/,
    },
    {
      name: "Karpenter labels on its nodes",
      given: (s) => (s.nodes[1]!.labels["karpenter.sh/nodepool"] = "default"),
      reason: /owned by another autoscaler \(node idle has label karpenter.sh\/nodepool/,
    },
    {
      name: "GPU pods pending in the pool 20 min ago (quiet period 30 min)",
      st: state({ lastDemandAtMs: { g5: NOW - 20 * MIN } }),
      reason: /pool g5 had GPU pods pending 20 min ago \(< 30 min quiet period\)/,
    },
    {
      name: "another group of the pool scaled out 20 min ago",
      st: state({ scaleOuts: { "g5-spot-b": { atMs: NOW - 20 * MIN, fromDesired: 0, toDesired: 1 } } }),
      reason: /pool g5 scaled out \(g5-spot-b\) 20 min ago/,
    },
    {
      name: "a GPU pod pending in the pool (young, so no scale-out yet)",
      given: (s) => s.pods.push(pod("wait", { phase: "Pending", createdAtMs: NOW - 10_000 })),
      reason: /1 GPU pod\(s\) pending in pool g5/,
    },
  ];
  for (const r of groupRows)
    it(`given ${r.name}, when planning, then the group reclaims nothing and says why`, () => {
      const s = base();
      r.given?.(s);
      const plan = planController(s, r.pol ?? policy(), r.st ?? state());
      expect(plan.decisions.some((d) => d.action === "terminate-instance")).toBe(false);
      expect(groupReclaim(plan.decisions, "g5-spot")?.reason).toMatch(r.reason);
    });

  it("given a freeze window on weekdays, when it is Saturday noon in Seoul, then the node is reclaimed", () => {
    const plan = planController(base(), policy({}, { "g5-spot": { freezeWindows: ["* 9-17 * * 1-5"] } }), state());
    expect(reclaimOf(plan.decisions, "idle")!.action).toBe("terminate-instance");
  });

  it("given an idle Spot and an idle On-Demand node and budget for one in the pool's hot margin, then On-Demand goes first", () => {
    const od = node("od", "g5-od", { createdAtMs: NOW - 60 * MIN });
    const sp = node("sp", "g5-spot", { createdAtMs: NOW - 300 * MIN });
    const keep = node("keep", "g5-od");
    const s = snapshot({ nodes: [keep, od, sp], pods: [pod("j", { nodeName: "keep", gpuRequest: 2 })] });
    s.metrics.gpus = [...gpuWindows([keep], 20), ...gpuWindows([od, sp], 0)];
    // keep at 20% on 4 GPUs: without one idle node 80/8 = 10%, without both 80/4 = 20% — both fit under 30%.
    const both = planController(s, policy(), state());
    expect(both.decisions.filter((d) => d.action === "terminate-instance").map((d) => d.node)).toEqual(["od", "sp"]);
    // Raise the pool so only one may go: the On-Demand one is chosen although the Spot node is older.
    s.metrics.gpus.filter((g) => g.node === "keep").forEach((g) => (g.meanUtil = 35));
    const one = planController(s, policy(), state());
    expect(one.decisions.filter((d) => d.action === "terminate-instance").map((d) => d.node)).toEqual(["od"]);
    expect(reclaimOf(one.decisions, "sp")!.reason).toMatch(/would run at 35%/);
  });

  it("given 5 idle nodes and a 40% budget, then 2 go (40% of 5 rounds up to 2) and the third says the budget is spent", () => {
    const nodes = ["a", "b", "c", "d", "e"].map((n) => node(n, "g5-spot"));
    const s = snapshot({ nodes });
    const plan = planController(s, policy({}, { "g5-spot": { disruptionBudget: "40%" } }), state());
    expect(plan.decisions.filter((d) => d.action === "terminate-instance").map((d) => d.node)).toEqual(["a", "b"]);
    expect(reclaimOf(plan.decisions, "c")!.inputs).toMatchObject({ budget: { allowed: 2, inFlight: 0, chosenThisRun: 2 } });
  });

  it("given a node already tainted by an earlier run, then it counts against the budget of the others", () => {
    const nodes = [node("a", "g5-spot", { reclaimTainted: true }), node("b", "g5-spot")];
    nodes[0]!.createdAtMs = NOW - 60 * MIN; // b (older) is weighed first and finds a's reclaim in flight; a, still idle, is re-chosen
    const plan = planController(snapshot({ nodes }), policy(), state());
    expect(reclaimOf(plan.decisions, "a")!.action).toBe("terminate-instance");
    expect(reclaimOf(plan.decisions, "b")!.reason).toMatch(/1 in flight \+ 0 chosen \+ 1 > 1/);
  });

  it("given a tainted node that is no longer idle, then the plan releases it", () => {
    const s = snapshot({ nodes: [node("a", "g5-spot", { reclaimTainted: true })], pods: [pod("x", { nodeName: "a" })] });
    const d = reclaimOf(planController(s, policy(), state()).decisions, "a")!;
    expect(d.action).toBe("release-node");
    expect(d.reason).toMatch(/remove the taint/);
  });

  it("given a dry-run group, then the decision is the same but marked dry-run", () => {
    const d = reclaimOf(planController(base(), policy({}, { "g5-spot": { dryRun: true } }), state()).decisions, "idle")!;
    expect(d).toMatchObject({ action: "terminate-instance", dryRun: true, instanceId: "i-idle", desiredFrom: 1, desiredTo: 0 });
  });

  it("given a dry-run default, when a group sets nothing, then it is dry-run", () => {
    expect(policy({}, { "g5-spot": { dryRun: undefined } }).nodeGroups[0]!.dryRun).toBe(true);
  });

  it("given a pod scheduled onto the node between taint and re-check, then the re-check aborts", () => {
    const s = base();
    const v = recheckAfterTaint(s.nodes[1]!, [pod("late", { nodeName: "idle" })], s, policy(), NOW_AT);
    expect(v.idle).toBe(false);
    expect(v.reason).toMatch(/late requests 1 GPU/);
  });
});

describe("global guards", () => {
  it("given the kill switch, then every action is recorded as not acted on", () => {
    const plan = planController(base(), policy({ killSwitch: true }), state());
    const d = reclaimOf(plan.decisions, "idle")!;
    expect(d).toMatchObject({ action: "terminate-instance", dryRun: true });
    expect(d.reason).toMatch(/^kill switch on, not acting/);
  });
  for (const source of ["prometheus", "kubernetes", "autoscaling"] as const)
    it(`given a ${source} error, then the run halts with no other decision`, () => {
      const s = base();
      s.errors.push({ source, message: "HTTP 503" });
      const plan = planController(s, policy(), state());
      expect(plan.halted).toBe(true);
      expect(plan.decisions).toEqual([expect.objectContaining({ action: "halt", reason: `halted: ${source}: HTTP 503` })]);
    });
  it("given 4 NotReady GPU nodes of 10 (> 3), then the run halts", () => {
    const nodes = Array.from({ length: 10 }, (_, i) => node(`n${i}`, "g5-spot", { ready: i >= 4 }));
    const plan = planController(snapshot({ nodes }), policy(), state());
    expect(plan.decisions[0]!.reason).toMatch(/4 of 10 managed GPU nodes NotReady/);
  });
  it("given 1 NotReady node of 3 (33% > 25%), then the run halts; a young NotReady node (booting) does not count", () => {
    const nodes = [node("a", "g5-spot", { ready: false }), node("b", "g5-spot"), node("c", "g5-spot")];
    expect(planController(snapshot({ nodes }), policy(), state()).halted).toBe(true);
    nodes[0]!.createdAtMs = NOW - 3 * MIN;
    expect(planController(snapshot({ nodes }), policy(), state()).halted).toBe(false);
  });
});

describe("scale out", () => {
  // The g5 pool: two Spot nodes fully allocated at `util`%.
  function hot(util: number, pending = 1) {
    const nodes = [node("s1", "g5-spot"), node("s2", "g5-spot")];
    const pods = [pod("a", { nodeName: "s1", gpuRequest: 4 }), pod("b", { nodeName: "s2", gpuRequest: 4 })];
    for (let i = 0; i < pending; i++) pods.push(pod(`wait${i}`, { phase: "Pending", gpuRequest: 4, createdAtMs: NOW - 5 * MIN }));
    return snapshot({ nodes, pods }, util);
  }
  const rows: {
    name: string;
    snap: () => Snapshot;
    pol?: ControllerPolicy;
    st?: ControllerState;
    action: string;
    group?: string;
    to?: number;
    reason: RegExp;
  }[] = [
    {
      name: "utilization sustained at 75% and a pod pending",
      snap: () => hot(75),
      action: "set-desired-capacity",
      group: "g5-spot",
      to: 3,
      reason: /stayed ≥ 70% .* 1 GPU pod\(s\) fit nowhere: add 1 spot node/,
    },
    { name: "utilization sustained but nothing pending or short", snap: () => hot(75, 0), action: "none", reason: /no demand/ },
    {
      name: "headroom short: 0 free < minFreeGpus 2, utilization 75%",
      snap: () => hot(75, 0),
      pol: policy({}, { "g5-spot": { minFreeGpus: 2 } }),
      action: "set-desired-capacity",
      group: "g5-spot",
      to: 3,
      reason: /free GPUs short \(0 free \+ 0 launching < 2\)/,
    },
    {
      name: "headroom short but utilization 50% < 70%",
      snap: () => hot(50, 0),
      pol: policy({}, { "g5-spot": { minFreeGpus: 2 } }),
      action: "none",
      reason: /did not stay ≥ 70%/,
    },
    {
      name: "batch threshold 85% with 80% sustained and headroom short",
      snap: () => hot(80, 0),
      pol: policy({}, { "g5-spot": { minFreeGpus: 2, workloadClass: "batch" } }),
      action: "none",
      reason: /did not stay ≥ 85%/,
    },
    {
      name: "interactive threshold 60% with 65% sustained and headroom short",
      snap: () => hot(65, 0),
      pol: policy({}, { "g5-spot": { minFreeGpus: 2, workloadClass: "interactive" } }),
      action: "set-desired-capacity",
      reason: /stayed ≥ 60%/,
    },
    {
      name: "a pod pending at 10% utilization (unschedulable work path)",
      snap: () => hot(10),
      action: "set-desired-capacity",
      to: 3,
      reason: /1 pending GPU pod\(s\) fit in no free or launching GPU/,
    },
    {
      name: "the unschedulable path disabled",
      snap: () => hot(10),
      pol: policy({ scaleOutForUnschedulablePods: false }),
      action: "none",
      reason: /did not stay/,
    },
    {
      name: "a pod pending only 30 s (< grace)",
      snap: () => {
        const s = hot(75);
        s.pods[2]!.createdAtMs = NOW - 30_000;
        return s;
      },
      action: "none",
      reason: /no demand: 0 pending/,
    },
    {
      name: "a node already launching (desired 3, 2 Ready)",
      snap: () => {
        const s = hot(75);
        s.groups[0]!.desiredCapacity = 3;
        return s;
      },
      action: "none",
      reason: /all fit in 0 free \+ 4 launching/,
    },
    {
      name: "5 pods pending, maxStep 2",
      snap: () => hot(75, 5),
      action: "set-desired-capacity",
      to: 4,
      reason: /add 2 spot node\(s\) to g5-spot \(needed 5, step ≤ 2/,
    },
    {
      name: "the first Spot group at its max",
      snap: () => {
        const s = hot(75);
        s.groups[0]!.maxSize = 2;
        return s;
      },
      action: "set-desired-capacity",
      group: "g5-spot-b",
      to: 1,
      reason: /skipped g5-spot: at its maximum \(2\/2\)/,
    },
    {
      name: "policy maxNodes below the ASG max",
      snap: () => hot(75, 3),
      pol: policy({}, { "g5-spot": { maxNodes: 3 } }),
      action: "set-desired-capacity",
      group: "g5-spot",
      to: 3,
      reason: /ceiling 3/,
    },
    {
      name: "both Spot groups marked unavailable",
      snap: () => hot(75),
      st: state({
        spotUnavailable: {
          "g5-spot": { sinceMs: NOW - MIN, untilMs: NOW + 20 * MIN, reason: "x" },
          "g5-spot-b": { sinceMs: NOW - MIN, untilMs: NOW + 20 * MIN, reason: "x" },
        },
      }),
      action: "set-desired-capacity",
      group: "g5-od",
      to: 1,
      reason: /add 1 on-demand node.*Spot unavailable until/,
    },
    {
      name: "a Spot mark that expired (retry Spot)",
      snap: () => hot(75),
      st: state({ spotUnavailable: { "g5-spot": { sinceMs: NOW - 40 * MIN, untilMs: NOW - MIN, reason: "x" } } }),
      action: "set-desired-capacity",
      group: "g5-spot",
      reason: /spot node/,
    },
    {
      name: "utilization metrics incomplete (6 of 10 steps) and headroom short",
      snap: () => {
        const s = hot(90, 0);
        s.metrics.groups[0]!.steps = 6;
        return s;
      },
      pol: policy({}, { "g5-spot": { minFreeGpus: 2 } }),
      action: "none",
      reason: /incomplete .* 6\/10 steps .*fail closed/,
    },
    {
      name: "every group at max",
      snap: () => {
        const s = hot(75);
        s.groups.forEach((g) => (g.maxSize = g.desiredCapacity));
        return s;
      },
      action: "none",
      reason: /no group can grow/,
    },
  ];
  for (const r of rows)
    it(`given ${r.name}, when planning, then scale-out is ${r.action}${r.group ? ` on ${r.group}` : ""}`, () => {
      const plan = planController(r.snap(), r.pol ?? policy(), r.st ?? state());
      const d = scaleOut(plan.decisions)!;
      expect(d.action, d.reason).toBe(r.action);
      expect(d.reason).toMatch(r.reason);
      if (r.group) expect(d.action === "set-desired-capacity" && d.nodeGroup).toBe(r.group);
      if (r.to !== undefined) expect(d.action === "set-desired-capacity" && d.desiredTo).toBe(r.to);
      expect(d.inputs).toHaveProperty("freeGpus");
    });

  it("given a Spot capacity error after our scale-out, then the group is marked unavailable and On-Demand... after Spot-b, takes the pods", () => {
    const s = hot(75);
    s.groups[0]!.capacityErrorAtMs = NOW - 2 * MIN;
    s.groups[0]!.capacityError = "InsufficientInstanceCapacity";
    const plan = planController(s, policy(), state());
    expect(plan.decisions[0]).toMatchObject({ action: "mark-spot-unavailable", nodeGroup: "g5-spot" });
    expect(plan.nextState.spotUnavailable["g5-spot"]!.untilMs).toBe(NOW + 30 * MIN);
    expect(scaleOut(plan.decisions)).toMatchObject({ action: "set-desired-capacity", nodeGroup: "g5-spot-b" });
  });

  it("given a Spot scale-out 7 minutes ago with no node joined, then it is marked and its launching node no longer counts", () => {
    const s = hot(75);
    s.groups[0]!.desiredCapacity = 3; // asked for a third node
    const st = state({ scaleOuts: { "g5-spot": { atMs: NOW - 7 * MIN, fromDesired: 2, toDesired: 3 } } });
    const plan = planController(s, policy({}, { "g5-spot-b": { maxNodes: 0 } }), st);
    expect(plan.decisions[0]!.reason).toMatch(/asked for 3 nodes 7 min ago, only 2 Ready/);
    expect(scaleOut(plan.decisions)).toMatchObject({ action: "set-desired-capacity", nodeGroup: "g5-od", desiredTo: 1 });
  });

  it("given a pool that scales out, then it reclaims nothing in the same run", () => {
    const s = hot(10);
    s.nodes.push(node("spare", "g5-od", { gpuCapacity: 1, gpuAllocatable: 1 }));
    s.groups[2] = group("g5-od", {}, ["i-spare"]);
    s.metrics.gpus.push(...gpuWindows([s.nodes[2]!], 0));
    const plan = planController(s, policy(), state());
    expect(scaleOut(plan.decisions)!.action).toBe("set-desired-capacity");
    expect(plan.decisions.some((d) => d.action === "terminate-instance")).toBe(false);
  });
});
