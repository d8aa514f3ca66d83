import { describe, expect, it } from "vitest";
import { runControllerSimulation } from "../bench/controller-sim.js";

describe("controller simulation (real Alibaba pod trace and duty cycles, short windows)", () => {
  it("given 12 hours of the trace through the controller every 2 minutes, then it saves GPU node-hours against never reclaiming, interrupts no work and flaps at most once", () => {
    const rep = runControllerSimulation({ days: 0.5, startDay: 134, seed: 7 });
    expect(rep.jobs).toBeGreaterThan(0);
    expect(rep.controller.reclaims).toBeGreaterThan(0);
    expect(rep.baseline.gpuNodeHours - rep.controller.gpuNodeHours).toBeGreaterThan(0);
    expect(rep.controller.interruptedPods).toBe(0);
    expect(rep.controller.busyNodesChosen).toBe(0);
    // At most one flap: the default policy stopped reserving room for the largest recent pod (keepRoomForLargestPod),
    // which held 20–30 % of the ideal's savings back on the trace weeks for about one flap a week
    // (Karpenter WhenEmpty flaps 8–11 times a week on the same weeks; see the bench).
    expect(rep.controller.flapsSameGroup).toBeLessThanOrEqual(1);
    expect(rep.controller.flapsSamePool).toBeLessThanOrEqual(1);
    // Every pod the never-reclaiming cluster ran, the reclaiming one ran too.
    expect(rep.controller.podsNeverStarted).toBe(rep.baseline.podsNeverStarted);
  });

  it("given a 20-minute Prometheus outage on day 3, then the 10 runs during it halt and still nothing is interrupted", () => {
    const rep = runControllerSimulation({ minutes: 2 * 1440 + 360, startDay: 141, seed: 7 });
    expect(rep.controller.haltedRuns).toBe(10);
    expect(rep.controller.interruptedPods).toBe(0);
    expect(rep.controller.flapsSameGroup).toBe(0);
  });
});
