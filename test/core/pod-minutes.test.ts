import { describe, expect, it } from "vitest";
import {
  fastPathExceptions,
  joinPodMinutes,
  joinPodUsage,
  podKey,
  replicaCoverageExceptions,
  runningPodsWithoutNode,
  type PodRequestSeries,
} from "../../functions/core/pod-minutes.js";

const req = (o: Partial<PodRequestSeries>): PodRequestSeries => ({
  namespace: "ns",
  pod: "p",
  container: "c",
  node: "n1",
  resource: "nvidia_com_gpu",
  max: 1,
  min: 1,
  ...o,
});

describe("the fast path's assumption check", () => {
  it.each([
    ["one container, one node, constant request", [req({})], []],
    ["two containers of one pod on the same node", [req({ container: "a", max: 2, min: 2 }), req({ container: "b" })], []],
    ["two pods on different nodes", [req({ pod: "a" }), req({ pod: "b", node: "n2" })], []],
    [
      "a pod seen on two nodes (StatefulSet rescheduled)",
      [req({ node: "n2" }), req({})],
      ["ns/p requests GPUs on n1/nvidia_com_gpu and on n2/nvidia_com_gpu"],
    ],
    [
      "a pod seen with two resources",
      [req({}), req({ resource: "nvidia_com_mig_1g_5gb" })],
      ["ns/p requests GPUs on n1/nvidia_com_gpu and on n1/nvidia_com_mig_1g_5gb"],
    ],
    ["a request that changed value", [req({ max: 4, min: 2 })], ["ns/p container c changed its request from 2 to 4 nvidia_com_gpu"]],
  ])("given %s, then the exceptions are as expected", (_, series, expected) => {
    expect(fastPathExceptions(series)).toEqual(expected);
  });
});

describe("joining requests with per-pod minutes", () => {
  it("given containers, Running and utilization minutes, when joined, then units multiply minutes and sum per namespace, node and resource", () => {
    const series = [
      req({ pod: "train", container: "a", max: 2, min: 2 }),
      req({ pod: "train", container: "b", max: 1, min: 1 }),
      req({ pod: "infer", max: 1, min: 1 }),
      req({ pod: "mig", node: "n2", resource: "nvidia_com_mig_3g_40gb", max: 1, min: 1 }),
    ];
    const running = new Map([
      [podKey("ns", "train"), 60],
      [podKey("ns", "infer"), 30],
      [podKey("ns", "mig"), 10],
    ]);
    const used = new Map([
      [podKey("ns", "train"), 45],
      [podKey("ns", "mig"), 2.5],
    ]);
    const rows = joinPodMinutes("2026-10-05", series, running, used);
    expect(rows).toEqual([
      { day: "2026-10-05", namespace: "ns", node: "n1", resource: "nvidia_com_gpu", requestMinutes: 3 * 60 + 30, usedMinutes: 3 * 45 },
      { day: "2026-10-05", namespace: "ns", node: "n2", resource: "nvidia_com_mig_3g_40gb", requestMinutes: 10, usedMinutes: 2.5 },
    ]);
  });

  it("given a pod with a request but no Running minutes (Pending all day), then it contributes no row", () => {
    expect(joinPodMinutes("2026-10-05", [req({ pod: "pending" })], new Map(), new Map([[podKey("ns", "pending"), 5]]))).toEqual([]);
  });
});

describe("pods waiting for a node (request series without a node label)", () => {
  const unbound = (o: Partial<PodRequestSeries> = {}) => req({ node: "", ...o });

  it.each([
    ["a pod that waited unbound, then was bound", [unbound(), req({})], []],
    ["a pod that never got a node", [unbound()], []],
    [
      "a pod that waited, was bound, then moved node",
      [unbound(), req({}), req({ node: "n2" })],
      ["ns/p requests GPUs on n1/nvidia_com_gpu and on n2/nvidia_com_gpu"],
    ],
  ])("given %s, then the fast path's exceptions are as expected", (_, series, expected) => {
    expect(fastPathExceptions(series)).toEqual(expected);
  });

  it("given a pod's unbound and bound series and its Running minutes, when joined, then only the bound series bills", () => {
    const rows = joinPodMinutes(
      "2026-10-05",
      [unbound({ max: 2, min: 2 }), req({ max: 2, min: 2 })],
      new Map([[podKey("ns", "p"), 30]]),
      new Map([[podKey("ns", "p"), 15]]),
    );
    expect(rows).toEqual([
      { day: "2026-10-05", namespace: "ns", node: "n1", resource: "nvidia_com_gpu", requestMinutes: 60, usedMinutes: 30 },
    ]);
    expect(joinPodUsage("2026-10-05", [unbound(), req({})], new Map([[podKey("ns", "p"), 30]]), new Map())).toHaveLength(1);
  });

  it("given a Running pod whose only request series has no node, then it is reported (never dropped); a Pending one is not", () => {
    const series = [unbound({ pod: "orphan" }), unbound({ pod: "waiting" }), unbound({ pod: "bound" }), req({ pod: "bound" })];
    const running = new Map([
      [podKey("ns", "orphan"), 5],
      [podKey("ns", "bound"), 60],
    ]);
    expect(runningPodsWithoutNode(series, running)).toEqual(["ns/orphan"]);
  });
});

describe("the kube-state-metrics replica check", () => {
  it.each([
    [
      "two replicas that both saw the whole day",
      [
        { instance: "a", ticks: 1440 },
        { instance: "b", ticks: 1440 },
      ],
      1440,
      false,
    ],
    [
      "one replica restarted with the same address (a gap in one series)",
      [
        { instance: "a", ticks: 1440 },
        { instance: "b", ticks: 1400 },
      ],
      1440,
      false,
    ],
    [
      "both replicas replaced by new pods (new instances)",
      [
        { instance: "a", ticks: 700 },
        { instance: "b", ticks: 700 },
        { instance: "c", ticks: 733 },
        { instance: "d", ticks: 733 },
      ],
      1433,
      true,
    ],
    [
      "the two replicas missed different minutes",
      [
        { instance: "a", ticks: 1430 },
        { instance: "b", ticks: 1432 },
      ],
      1440,
      true,
    ],
    ["no kube-system or default namespace series at all (nothing to check)", [], 0, false],
  ])("given %s, then whether the day goes per tick is as expected", (_, replicas, any, perTick) => {
    expect(replicaCoverageExceptions(replicas, any).length > 0).toBe(perTick);
  });
});
