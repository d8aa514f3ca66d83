import { describe, expect, it } from "vitest";
import { runControllerSimulation } from "../bench/controller-sim.js";

describe("controller simulation (real Alibaba pod trace and duty cycles, short windows)", () => {
  it("given 12 hours of the trace through the controller every 2 minutes, then it saves GPU node-hours against never reclaiming, interrupts no work and never flaps", () => {
    const rep = runControllerSimulation({ days: 0.5, startDay: 134, seed: 7 });
    expect(rep.jobs).toBeGreaterThan(0);
    expect(rep.controller.reclaims).toBeGreaterThan(0);
    expect(rep.baseline.gpuNodeHours - rep.controller.gpuNodeHours).toBeGreaterThan(0);
    expect(rep.controller.interruptedPods).toBe(0);
    expect(rep.controller.busyNodesChosen).toBe(0);
    expect(rep.controller.flapsSameGroup).toBe(0);
    expect(rep.controller.flapsSamePool).toBe(0);
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
