import { describe, expect, it } from "vitest";
import { UnavailableError } from "../../functions/core/errors.js";
import { diagnoseClusters, doctorVerdict, type ClusterCheck } from "../../functions/doctor/run-doctor.js";
import type { DoctorStatus, ObserveCluster } from "../../functions/doctor/doctor-checks.js";
import { configuredClusters } from "../../functions/core/config.js";
import { referenceConfig } from "../core/fixtures.js";

const check = (cluster: string, statuses: DoctorStatus[], unavailable = false): ClusterCheck => ({
  cluster,
  location: `http://${cluster}:9090`,
  unavailable,
  findings: statuses.map((status, i) => ({ check: `check-${i}`, status, seen: "", fix: "" })),
});

describe("doctorVerdict", () => {
  it("given every check passes or warns, then the month can be billed and the warnings are pointed at", () => {
    expect(doctorVerdict([check("a", ["ok", "warn"])], "2026-10")).toEqual({
      verdict: "billable",
      message: "2026-10 can be billed (see the warnings).",
    });
    expect(doctorVerdict([check("a", ["ok"])], "a month").message).toBe("A month can be billed.");
  });

  it("given two clusters with failed checks, then it cannot be billed and every failure is named with its cluster", () => {
    const v = doctorVerdict([check("a", ["fail", "ok"]), check("b", ["ok", "fail"])], "2026-10");
    expect(v).toEqual({ verdict: "not-billable", message: "2026-10 cannot be billed: 2 checks failed: a/check-0, b/check-1" });
  });

  it("given one cluster's Prometheus is unavailable, then the verdict is unavailable, not a failed bill", () => {
    const v = doctorVerdict([check("a", ["ok"]), check("b", ["fail"], true)], "2026-10");
    expect(v.verdict).toBe("unavailable");
    expect(v.message).toBe("Prometheus unavailable for b: cannot tell whether 2026-10 can be billed; run again when it is back.");
  });
});

describe("diagnoseClusters", () => {
  const window = { startMs: 0, endMs: 3600_000, description: "the last hour" };

  it("given one cluster's Prometheus is unreachable, when checked, then that cluster gets a prometheus finding and the next is still checked", async () => {
    const cfg = referenceConfig();
    const [first] = configuredClusters(cfg);
    const down: ObserveCluster = async () => {
      throw new UnavailableError("connect ECONNREFUSED");
    };
    const seen: string[] = [];
    const checks = await diagnoseClusters(
      [
        { cluster: { ...first!, id: "down" }, observe: down, location: "http://down" },
        { cluster: { ...first!, id: "also-down" }, observe: down, location: "http://also-down" },
      ],
      cfg,
      window,
      { onCluster: (t) => seen.push(t.cluster.id) },
    );
    expect(seen).toEqual(["down", "also-down"]);
    expect(checks.map((c) => [c.cluster, c.unavailable, c.findings[0]!.check, c.findings[0]!.seen])).toEqual([
      ["down", true, "prometheus", "connect ECONNREFUSED"],
      ["also-down", true, "prometheus", "connect ECONNREFUSED"],
    ]);
  });

  it("given an error that is not an outage, when checked, then it stops the run (a bug is not a finding)", async () => {
    const cfg = referenceConfig();
    const broken: ObserveCluster = async () => {
      throw new TypeError("x is undefined");
    };
    await expect(
      diagnoseClusters([{ cluster: configuredClusters(cfg)[0]!, observe: broken, location: "http://c" }], cfg, window, {}),
    ).rejects.toThrow(TypeError);
  });
});
