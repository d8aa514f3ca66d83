import { describe, expect, it } from "vitest";
import {
  CA_DEFAULTS,
  caGpuUtilization,
  caScaleDown,
  caUnneeded,
  emptyPeerState,
  idealGpuNodeHours,
  karpenterAllowedDisruptions,
  karpenterCandidate,
  karpenterConsolidate,
  podsFit,
  provisionForPending,
  type KarpenterConfig,
  type PeerGroup,
  type PeerNode,
  type PeerView,
} from "../../functions/controller/peers.js";

const T = 100;
const node = (name: string, over: Partial<PeerNode> = {}): PeerNode => ({
  name,
  group: "g5-spot",
  pool: "g5",
  capacityType: "spot",
  gpus: 4,
  readyMin: 0,
  ready: true,
  gpusRegistered: true,
  tainted: false,
  lastPodEventMin: 50,
  annotations: {},
  pods: [],
  ...over,
});
const pods = (...gpus: number[]) => gpus.map((g, i) => ({ id: `p${i}-${g}`, gpus: g, annotations: {} }));
const grp = (name: string, over: Partial<PeerGroup> = {}): PeerGroup => ({
  name,
  pool: "g5",
  capacityType: "spot",
  priority: 1,
  gpusPerNode: 4,
  desired: 2,
  live: 2,
  min: 0,
  max: 10,
  capacityErrorNow: false,
  ...over,
});
const view = (nodes: PeerNode[], over: Partial<PeerView> = {}): PeerView => ({
  t: T,
  nodes,
  pending: [],
  groups: [grp("g5-spot", { desired: nodes.length, live: nodes.length })],
  ...over,
});
const EMPTY: KarpenterConfig = { consolidationPolicy: "WhenEmpty", consolidateAfterMinutes: 10, budgetNodes: "10%" };
const UNDER: KarpenterConfig = { ...EMPTY, consolidationPolicy: "WhenEmptyOrUnderutilized" };

describe("Karpenter: which nodes are disruption candidates", () => {
  const rows: { given: string; n: PeerNode; cfg?: KarpenterConfig; then: ReturnType<typeof karpenterCandidate> }[] = [
    { given: "an empty node quiet for 50 min", n: node("a"), then: { candidate: true } },
    {
      given: "a node whose GPUs are not registered yet (not Initialized)",
      n: node("a", { gpusRegistered: false }),
      then: { candidate: false, reason: "not-initialized" },
    },
    {
      given: "a node annotated karpenter.sh/do-not-disrupt",
      n: node("a", { annotations: { "karpenter.sh/do-not-disrupt": "true" } }),
      then: { candidate: false, reason: "do-not-disrupt-node" },
    },
    {
      given: "a pod annotated karpenter.sh/do-not-disrupt",
      n: node("a", { pods: [{ id: "x", gpus: 1, annotations: { "karpenter.sh/do-not-disrupt": "true" } }] }),
      cfg: UNDER,
      then: { candidate: false, reason: "do-not-disrupt-pod" },
    },
    {
      given: "a pod left 9 min ago (consolidateAfter 10m)",
      n: node("a", { lastPodEventMin: T - 9 }),
      then: { candidate: false, reason: "not-consolidatable-yet" },
    },
    {
      given: "no pod ever, Ready 10 min ago (counts from initialization)",
      n: node("a", { lastPodEventMin: undefined, readyMin: T - 10 }),
      then: { candidate: true },
    },
    { given: "a GPU pod on it under WhenEmpty", n: node("a", { pods: pods(1) }), then: { candidate: false, reason: "not-empty" } },
    { given: "a GPU pod on it under WhenEmptyOrUnderutilized", n: node("a", { pods: pods(1) }), cfg: UNDER, then: { candidate: true } },
    {
      given: "only a DaemonSet pod on it under WhenEmpty",
      n: node("a", { pods: [{ id: "dcgm", gpus: 0, daemonSet: true, annotations: {} }] }),
      then: { candidate: true },
    },
  ];
  for (const r of rows)
    it(`given ${r.given}, when judged, then ${JSON.stringify(r.then)}`, () => {
      expect(karpenterCandidate(r.n, T, r.cfg ?? EMPTY)).toEqual(r.then);
    });
});

describe("Karpenter: disruption budget (nodes: 10%, rounded up)", () => {
  const rows: [budget: KarpenterConfig["budgetNodes"], nodes: number, disrupting: number, allowed: number][] = [
    ["10%", 5, 0, 1],
    ["10%", 10, 0, 1],
    ["10%", 11, 0, 2],
    ["10%", 11, 1, 1],
    ["10%", 0, 0, 0],
    [0, 10, 0, 0],
    [3, 10, 4, 0],
  ];
  for (const [b, n, d, want] of rows)
    it(`given budget ${b} of ${n} nodes with ${d} disrupting, when computed, then ${want} may go`, () => {
      expect(karpenterAllowedDisruptions(b, n, d)).toBe(want);
    });
});

describe("Karpenter: a consolidation pass", () => {
  it("given two empty nodes and a 10% budget of 3 nodes, when WhenEmpty runs, then one empty node goes and the busy one stays", () => {
    const v = view([node("busy", { pods: pods(2) }), node("e1"), node("e2")]);
    expect(karpenterConsolidate(v, EMPTY)).toEqual([{ kind: "remove", node: "e1", reason: "empty" }]);
  });
  it("given two half-used nodes whose pods fit on one, when WhenEmptyOrUnderutilized runs, then it moves the pods off the cheaper-to-disrupt one (an interruption)", () => {
    const v = view([node("a", { pods: pods(1, 1) }), node("b", { pods: pods(1) })]);
    expect(karpenterConsolidate(v, UNDER)).toEqual([{ kind: "remove", node: "b", reason: "underutilized-pods-fit-elsewhere" }]);
  });
  it("given the same under WhenEmpty, then nothing happens", () => {
    const v = view([node("a", { pods: pods(2) }), node("b", { pods: pods(1) })]);
    expect(karpenterConsolidate(v, EMPTY)).toEqual([]);
  });
  it("given pods that would fit only by taking the room a pending pod needs, when WhenEmptyOrUnderutilized runs, then nothing moves", () => {
    const v = view([node("a", { pods: pods(2) }), node("b", { pods: pods(1) })], {
      pending: [{ id: "w", gpus: 2, pool: "g5", arriveMin: T }],
    });
    expect(karpenterConsolidate(v, UNDER)).toEqual([]);
  });
  it("given a group at its minimum, then its empty node stays", () => {
    const v = view([node("e1")], { groups: [grp("g5-spot", { desired: 1, live: 1, min: 1 })] });
    expect(karpenterConsolidate(v, EMPTY)).toEqual([]);
  });
});

describe("Cluster Autoscaler: GPU utilization and unneeded nodes", () => {
  it("given a GPU node, when its utilization is computed, then only GPU requests of non-DaemonSet pods count; unregistered GPUs count as 0", () => {
    expect(caGpuUtilization(node("a", { pods: [...pods(1), { id: "ds", gpus: 1, daemonSet: true, annotations: {} }] }))).toBe(0.25);
    expect(caGpuUtilization(node("a", { gpusRegistered: false, pods: pods(4) }))).toBe(0);
  });
  const rows: { given: string; n: PeerNode; others: number[]; then: string | true }[] = [
    { given: "1 of 4 GPUs requested and room elsewhere", n: node("a", { pods: pods(1) }), others: [3], then: true },
    { given: "2 of 4 GPUs requested (0.5 is not < 0.5)", n: node("a", { pods: pods(2) }), others: [4], then: "above-threshold" },
    { given: "1 of 4 GPUs and no room elsewhere", n: node("a", { pods: pods(1) }), others: [0], then: "pods-do-not-fit-elsewhere" },
    { given: "an empty node and no other node", n: node("a"), others: [], then: true },
    {
      given: "a pod with safe-to-evict=false",
      n: node("a", { pods: [{ id: "x", gpus: 1, annotations: { "cluster-autoscaler.kubernetes.io/safe-to-evict": "false" } }] }),
      others: [4],
      then: "pod-not-safe-to-evict",
    },
    {
      given: "scale-down-disabled on the node",
      n: node("a", { annotations: { "cluster-autoscaler.kubernetes.io/scale-down-disabled": "true" } }),
      others: [4],
      then: "scale-down-disabled",
    },
    { given: "a booting node", n: node("a", { ready: false, gpusRegistered: false }), others: [4], then: "not-ready" },
  ];
  for (const r of rows)
    it(`given ${r.given}, when judged, then ${r.then === true ? "unneeded" : r.then}`, () => {
      const v = caUnneeded(r.n, r.others, CA_DEFAULTS);
      expect(v.unneeded ? true : v.reason).toBe(r.then);
    });
});

describe("Cluster Autoscaler: a scale-down loop", () => {
  const v = (t: number) => view([node("busy", { pods: pods(3) }), node("light", { pods: pods(1) }), node("empty")], { t });
  it("given a node first seen unneeded 9 min ago, when the loop runs, then it is not removed yet", () => {
    const r = caScaleDown(v(T), { ...emptyPeerState(), unneededSince: { empty: T - 9, light: T - 9 } }, CA_DEFAULTS);
    expect(r.actions).toEqual([]);
    expect(r.state.unneededSince).toEqual({ empty: T - 9, light: T - 9 });
  });
  it("given nodes unneeded for 10 min, when the loop runs, then the empty one goes and one non-empty node is drained", () => {
    const r = caScaleDown(v(T), { ...emptyPeerState(), unneededSince: { empty: T - 10, light: T - 10 } }, CA_DEFAULTS);
    expect(r.actions).toEqual([
      { kind: "remove", node: "empty", reason: "empty" },
      { kind: "remove", node: "light", reason: "unneeded-below-threshold" },
    ]);
  });
  it("given a scale-up 9 min ago (scale-down-delay-after-add 10m), then nothing is removed but the timers keep running", () => {
    const r = caScaleDown(v(T), { ...emptyPeerState(), lastScaleUpMin: T - 9, unneededSince: { empty: T - 30 } }, CA_DEFAULTS);
    expect(r.actions).toEqual([]);
    expect(r.state.unneededSince.empty).toBe(T - 30);
  });
});

describe("peers' provisioning for pods that fit nowhere", () => {
  const groups = [
    grp("spot-a", { desired: 1, live: 1 }),
    grp("spot-b", { priority: 2, desired: 0, live: 0 }),
    grp("od", { capacityType: "on-demand", desired: 0, live: 0 }),
  ];
  const pending = [{ id: "w", gpus: 4, pool: "g5", arriveMin: T }];
  it("given a 4-GPU pod and a full node, when provisioning, then Spot in priority order gets one node", () => {
    const r = provisionForPending(view([node("a", { group: "spot-a", pods: pods(4) })], { groups, pending }), emptyPeerState(), 3);
    expect(r.actions).toEqual([{ kind: "add", group: "spot-a", nodes: 1, reason: "1 pending pod(s) fit nowhere" }]);
  });
  it("given the Spot group's launch failed for capacity, then it is given up and backed off, and the next Spot group takes it", () => {
    const g = [grp("spot-a", { desired: 2, live: 1, capacityErrorNow: true }), ...groups.slice(1)];
    const r = provisionForPending(view([node("a", { group: "spot-a", pods: pods(4) })], { groups: g, pending }), emptyPeerState(), 3);
    expect(r.actions.map((a) => [a.kind, "group" in a ? a.group : ""])).toEqual([
      ["cancel-launch", "spot-a"],
      ["add", "spot-b"],
    ]);
    expect(r.state.unavailableUntil).toEqual({ "spot-a": T + 3 });
  });
  it("given both Spot groups backed off, then On-Demand takes it (the fallback)", () => {
    const r = provisionForPending(
      view([node("a", { group: "spot-a", pods: pods(4) })], { groups, pending }),
      { ...emptyPeerState(), unavailableUntil: { "spot-a": T + 1, "spot-b": T + 2 } },
      3,
    );
    expect(r.actions).toEqual([{ kind: "add", group: "od", nodes: 1, reason: "1 pending pod(s) fit nowhere" }]);
  });
  it("given a node already launching, then the pending pod counts on it and nothing is added", () => {
    const r = provisionForPending(
      view([node("a", { group: "spot-a", pods: pods(4) }), node("b", { group: "spot-a", ready: false, gpusRegistered: false })], {
        groups,
        pending,
      }),
      emptyPeerState(),
      3,
    );
    expect(r.actions).toEqual([]);
  });
});

describe("packing and the ideal", () => {
  it("given pods and free GPUs, when packed first-fit decreasing, then a fit is found only if one exists that way", () => {
    expect(podsFit([{ gpus: 2 }, { gpus: 2 }], [3, 1])).toBe(false);
    expect(podsFit([{ gpus: 2 }, { gpus: 1 }], [3])).toBe(true);
  });
  it("given 5 GPUs wanted for 60 min then 1 GPU for 60 min, when the ideal is computed, then it holds 2 then 1 four-GPU nodes (the minimum 1)", () => {
    const jobs = [
      { arriveMin: 0, durationMin: 60, gpus: 4, pool: "g5" },
      { arriveMin: 0, durationMin: 120, gpus: 1, pool: "g5" },
    ];
    expect(idealGpuNodeHours(jobs, [{ pool: "g5", gpusPerNode: 4, minNodes: 1 }], 180)).toBeCloseTo(2 * 4 + 1 * 4 + 1 * 4);
  });
});
