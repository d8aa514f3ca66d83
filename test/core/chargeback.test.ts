import { describe, expect, it } from "vitest";
import { computeChargeback, UnbillableInputError } from "../../functions/core/chargeback.js";
import { correctionFactor } from "../../functions/core/correction.js";
import { gpuFractionPerUnit, makeTenantResolver } from "../../functions/core/attribution.js";
import { D } from "../../functions/core/decimal.js";
import { node, referenceConfig, referenceConfigText, use } from "./fixtures.js";
import { parseConfig } from "../../functions/config/config-schema.js";
import { configWith } from "../support/config-edit.js";

const cfg = referenceConfig();

describe("correction tiers (seed policy)", () => {
  it.each([
    ["1", "1.0"],
    ["0.7", "1.0"],
    ["0.6999", "0.8"],
    ["0.4", "0.8"],
    ["0.3999", "0.6"],
    ["0.2", "0.6"],
    ["0.1999", "0.4"],
    ["0", "0.4"],
  ])("given average utilization %s, the factor is %s", (u, f) => {
    expect(correctionFactor(new D(u), cfg.correction.tiers).toString()).toBe(new D(f).toString());
  });
});

describe("GPU fraction per requested unit", () => {
  it.each([
    ["nvidia_com_gpu", "A100", 1, 1, 1],
    ["nvidia_com_gpu", "T4", 4, 1, 4],
    ["nvidia_com_mig_3g_40gb", "A100", 1, 3, 7],
    ["nvidia_com_mig_1g_5gb", "A100", 1, 1, 7],
    ["nvidia_com_mig_2g_12gb", "A30", 1, 2, 4],
    ["nvidia_com_mig_7g_80gb", "H100", 1, 7, 7],
  ])("given %s on %s with %i replicas, one unit is %i/%i GPU", (res, model, replicas, num, den) => {
    expect(gpuFractionPerUnit(res, model, replicas, cfg.migSlicesPerGpu)).toEqual({ num, den });
  });
  it("given a MIG slice on a GPU model with no slice count, it is an error, not a guess", () => {
    expect(() => gpuFractionPerUnit("nvidia_com_mig_1g_10gb", "T4", 1, cfg.migSlicesPerGpu)).toThrow(/migSlicesPerGpu/);
  });
});

describe("tenant attribution", () => {
  const resolve = makeTenantResolver(cfg.tenants);
  it.each([
    ["suwon-traffic", "suwon", "suwon", "label"],
    ["anything", "yongin", "yongin", "label"],
    ["seongnam-chatbot", undefined, "seongnam", "glob"],
    ["project-llm-serving", undefined, "project-llm", "glob"],
    ["team-ai", undefined, "team-ai", "glob"],
    ["sandbox-misc", undefined, "unallocated", "unallocated"],
    ["suwon-x", "nobody", "unallocated", "unallocated"],
  ])("given namespace %s with tenant label %s, it is billed to %s (by %s)", (ns, label, id, via) => {
    const t = resolve(ns, label);
    expect(t.tenantId).toBe(id);
    expect(t.via).toBe(via);
  });
});

describe("computeChargeback", () => {
  it("given one p4d on-demand node fully used by one namespace for a day, bills 8 GPUs × 24 h at the on-demand unit price", () => {
    const cb = computeChargeback(
      {
        nodes: [node({ node: "n1" })],
        usage: [use({ namespace: "suwon-a", node: "n1", requestMinutes: 8 * 1440, usedMinutes: 8 * 1440 * 0.75 })],
        namespaces: [],
      },
      cfg,
      "2026-10",
    );
    expect(cb.rows).toHaveLength(1);
    const r = cb.rows[0]!;
    expect(r.tenantId).toBe("suwon");
    expect(r.allocatedGpuHours.toString()).toBe("192");
    expect(r.avgUtilization.toString()).toBe("0.75");
    expect(r.correctionFactor.toString()).toBe("1");
    expect(r.unitPrice.toString()).toBe("3.801285"); // 30.41028 / 8
    expect(r.cost.toString()).toBe("729.85"); // 192 × 3.801285 = 729.84672
    expect(cb.capacity[0]!.idleGpuHours.toString()).toBe("0");
  });

  it("given partial minutes of MIG and time-sliced GPUs, fractions are exact and cost is rounded once per row", () => {
    const cb = computeChargeback(
      {
        nodes: [
          node({ node: "mig", instanceType: "p4d.24xlarge", capacityLabel: "ON_DEMAND" }),
          node({ node: "ts", instanceType: "g4dn.xlarge", capacityLabel: "SPOT", gpuReplicas: 4 }),
        ],
        usage: [
          use({ namespace: "team-ai", node: "mig", resource: "nvidia_com_mig_3g_40gb", requestMinutes: 7, usedMinutes: 3.5 }),
          use({ namespace: "team-data", node: "ts", requestMinutes: 90, usedMinutes: 9 }),
        ],
        namespaces: [],
      },
      cfg,
      "2026-10",
    );
    const mig = cb.rows.find((r) => r.namespace === "team-ai")!;
    // 7 slice-minutes × 3/7 GPU = 3 GPU-minutes = 0.05 GPU-h
    expect(mig.allocatedGpuHours.toString()).toBe("0.05");
    expect(mig.avgUtilization.toString()).toBe("0.5");
    expect(mig.correctionFactor.toString()).toBe("0.8");
    expect(mig.billableGpuHours.toString()).toBe("0.04");
    expect(mig.cost.toString()).toBe("0.15"); // 0.04 × 3.801285 = 0.1520514
    const ts = cb.rows.find((r) => r.namespace === "team-data")!;
    // 90 GPU-minutes on a 4-replica node = 22.5 GPU-minutes = 0.375 GPU-h; util 0.1 → factor 0.4
    expect(ts.allocatedGpuHours.toString()).toBe("0.375");
    expect(ts.capacityType).toBe("spot");
    expect(ts.billableGpuHours.toString()).toBe("0.15");
    expect(ts.unitPrice.toString()).toBe("0.1941");
    expect(ts.cost.toString()).toBe("0.03"); // 0.029115 rounds half-up to 0.03
  });

  it("given two namespaces on the same GPU model, correction is decided per namespace on its whole month", () => {
    const cb = computeChargeback(
      {
        nodes: [node({ node: "a", instanceType: "g5.12xlarge" }), node({ node: "b", instanceType: "g5.12xlarge", capacityLabel: "spot" })],
        usage: [
          // busy on-demand, idle spot: the namespace's month-average decides both rows' factor
          use({ namespace: "yongin-cctv", node: "a", requestMinutes: 600, usedMinutes: 540 }),
          use({ namespace: "yongin-cctv", node: "b", requestMinutes: 600, usedMinutes: 0, day: "2026-10-02" }),
          use({ namespace: "seongnam-bot", node: "a", requestMinutes: 60, usedMinutes: 6 }),
        ],
        namespaces: [],
      },
      cfg,
      "2026-10",
    );
    const yongin = cb.rows.filter((r) => r.namespace === "yongin-cctv");
    expect(yongin).toHaveLength(2);
    for (const r of yongin) {
      expect(r.avgUtilization.toString()).toBe("0.45");
      expect(r.correctionFactor.toString()).toBe("0.8");
    }
    expect(cb.rows.find((r) => r.namespace === "seongnam-bot")!.correctionFactor.toString()).toBe("0.4");
    expect(cb.daily.filter((d) => d.namespace === "yongin-cctv").map((d) => d.day)).toEqual(["2026-10-01", "2026-10-02"]);
  });

  it("given tenant granularity in config, correction is decided per tenant", () => {
    const c = parseConfig(configWith(referenceConfigText, [["correction", "granularity"], "tenant"]), "x");
    const cb = computeChargeback(
      {
        nodes: [node({ node: "a" })],
        usage: [
          use({ namespace: "suwon-a", node: "a", requestMinutes: 60, usedMinutes: 60 }),
          use({ namespace: "suwon-b", node: "a", requestMinutes: 60, usedMinutes: 0 }),
        ],
        namespaces: [],
      },
      c,
      "2026-10",
    );
    expect(cb.rows.map((r) => r.correctionFactor.toString())).toEqual(["0.8", "0.8"]);
  });

  it("given idle capacity, it is reported per node group with its cost, never smeared onto tenants", () => {
    const cb = computeChargeback(
      {
        nodes: [node({ node: "a", instanceType: "g4dn.12xlarge", nodeMinutes: 600 })],
        usage: [use({ namespace: "suwon-a", node: "a", requestMinutes: 600, usedMinutes: 600 })],
        namespaces: [],
      },
      cfg,
      "2026-10",
    );
    const c = cb.capacity[0]!;
    expect(c.nodeGpuHours.toString()).toBe("40");
    expect(c.allocatedGpuHours.toString()).toBe("10");
    expect(c.idleGpuHours.toString()).toBe("30");
    expect(c.idleRatio.toString()).toBe("0.75");
    expect(c.idleCost.toString()).toBe("36.09"); // 30 × 1.203
    expect(cb.totals.cost.toString()).toBe("12.03");
  });

  it("given an unlabelled namespace matching no glob, it is billed as unallocated, not dropped", () => {
    const cb = computeChargeback(
      { nodes: [node({ node: "a" })], usage: [use({ namespace: "sandbox", node: "a" })], namespaces: [] },
      cfg,
      "2026-10",
    );
    expect(cb.rows.map((r) => r.tenantId)).toEqual(["unallocated"]);
  });

  it("given a namespace's tenant label, it wins over the globs; an unknown label warns and bills unallocated", () => {
    const cb = computeChargeback(
      {
        nodes: [node({ node: "a" })],
        usage: [use({ namespace: "suwon-x", node: "a" }), use({ namespace: "misc", node: "a" })],
        namespaces: [
          { namespace: "suwon-x", tenantLabel: "yongin" },
          { namespace: "misc", tenantLabel: "acme" },
        ],
      },
      cfg,
      "2026-10",
    );
    expect(cb.rows.map((r) => [r.namespace, r.tenantId])).toEqual([
      ["misc", "unallocated"],
      ["suwon-x", "yongin"],
    ]);
    expect(cb.warnings.join()).toMatch(/acme/);
  });

  it("given instance types with no price and an unknown capacity label, it lists every problem and bills nothing", () => {
    const run = () =>
      computeChargeback(
        {
          nodes: [
            node({ node: "a", instanceType: "p5.48xlarge" }),
            node({ node: "b", instanceType: "g6.xlarge" }),
            node({ node: "c", capacityLabel: "reserved" }),
          ],
          usage: [use({ namespace: "x", node: "a" })],
          namespaces: [],
        },
        cfg,
        "2026-10",
      );
    expect(run).toThrow(UnbillableInputError);
    try {
      run();
    } catch (e) {
      const msg = (e as Error).message;
      expect(msg).toMatch(/g6\.xlarge, p5\.48xlarge/);
      expect(msg).toMatch(/node c has capacity-type label "reserved"/);
    }
  });

  it("given GPU requests on a node with no kube_node_labels, it refuses to bill rather than drop them", () => {
    expect(() =>
      computeChargeback({ nodes: [node({ node: "a" })], usage: [use({ namespace: "x", node: "ghost" })], namespaces: [] }, cfg, "2026-10"),
    ).toThrow(/ghost/);
  });

  it("given the same usage in a different order, the result is identical", () => {
    const usage = [
      use({ namespace: "suwon-a", node: "a", usedMinutes: 0.1 }),
      use({ namespace: "suwon-a", node: "a", day: "2026-10-02", usedMinutes: 0.2 }),
      use({ namespace: "team-ai", node: "a", usedMinutes: 0.3 }),
    ];
    const a = computeChargeback({ nodes: [node({ node: "a" })], usage, namespaces: [] }, cfg, "2026-10");
    const b = computeChargeback({ nodes: [node({ node: "a" })], usage: [...usage].reverse(), namespaces: [] }, cfg, "2026-10");
    expect(JSON.stringify(b)).toBe(JSON.stringify(a));
  });

  it("given used minutes that differ only by float summation noise, the published figures are identical", () => {
    const run = (used: number) =>
      computeChargeback(
        {
          nodes: [node({ node: "a" })],
          usage: [use({ namespace: "suwon-a", node: "a", requestMinutes: 40, usedMinutes: used })],
          namespaces: [],
        },
        cfg,
        "2026-10",
      );
    // 11.93 / 40 = 0.29825: exactly on a rounding half-step of the 4-decimal utilization
    const a = run(11.93);
    const b = run(11.93 + 1e-12);
    expect(b.rows[0]!.avgUtilization.toString()).toBe(a.rows[0]!.avgUtilization.toString());
    expect(b.daily[0]!.avgUtilization.toString()).toBe("0.2983");
  });

  it("given a MIG namespace at exactly 70% utilization, repeating decimals do not drop it to the lower tier", () => {
    const cb = computeChargeback(
      {
        nodes: [node({ node: "m" })],
        usage: [use({ namespace: "team-ai", node: "m", resource: "nvidia_com_mig_3g_40gb", requestMinutes: 70, usedMinutes: 49 })],
        namespaces: [],
      },
      cfg,
      "2026-10",
    );
    expect(cb.rows[0]!.avgUtilization.toString()).toBe("0.7");
    expect(cb.rows[0]!.correctionFactor.toString()).toBe("1");
  });
});
