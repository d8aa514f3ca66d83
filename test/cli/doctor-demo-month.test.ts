import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { main } from "../../functions/cli/main.js";
import { prepareMonthData, startPrometheus, type RunningPrometheus } from "../../functions/demo/local-prometheus.js";
import { DEMO_MONTH_DATA } from "../global-setup.js";

/**
 * The doctor on a whole month in the exporters' real shapes (the demo month: kube-state-metrics
 * v2 through kube-prometheus-stack, one replica and its rollout, dcgm-exporter per device with
 * MIG and time-slicing) on a real Prometheus 2.42.
 */
describe("gpu-billing doctor over the demo month", () => {
  let prom: RunningPrometheus;
  beforeAll(async () => {
    prom = await startPrometheus({ dataDir: (await prepareMonthData({ ...DEMO_MONTH_DATA })).dataDir });
  });
  afterAll(async () => prom?.stop());

  it("given a complete month, when doctor runs over it, then it exits 0 and reports what it saw (the unallocated namespace warns, unbound pods are info)", async () => {
    const lines: string[] = [];
    const log = vi.spyOn(console, "log").mockImplementation((...a: unknown[]) => void lines.push(a.join(" ")));
    const err = vi.spyOn(console, "error").mockImplementation((...a: unknown[]) => void lines.push(a.join(" ")));
    try {
      expect(await main(["doctor", "--month", "2026-10", "--prometheus-url", prom.url, "--json"])).toBe(0);
    } finally {
      log.mockRestore();
      err.mockRestore();
    }
    const doc = JSON.parse(lines.find((l) => l.startsWith("{"))!) as {
      billable: boolean;
      clusters: { findings: { check: string; status: string; seen: string }[] }[];
    };
    const f = (check: string) => doc.clusters[0]!.findings.find((x) => x.check === check);
    expect(doc.billable).toBe(true);
    expect(doc.clusters[0]!.findings.filter((x) => x.status === "fail")).toEqual([]);
    expect(f("tenants:gpu-namespaces")).toMatchObject({ status: "warn", seen: expect.stringContaining("sandbox-misc") });
    expect(f("requests:unscheduled")?.status).toBe("info");
    expect(f("metric:DCGM_FI_PROF_GR_ENGINE_ACTIVE")?.status).toBe("ok");
    expect(f("dcgm:pod-attribution")?.status).toBe("ok");
  });
});
