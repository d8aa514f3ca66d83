import { describe, expect, it } from "vitest";
import { mkdtemp, readFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { exactAnswer, generateMonth, writeOpenMetricsDays } from "../../functions/demo/month-generator.js";
import { billingMonth } from "../../functions/core/month.js";
import { referenceConfig } from "../core/fixtures.js";

describe("the month generator", () => {
  const g = generateMonth({ month: "2026-10", scale: "demo" });

  it("given the same seed twice, it generates the same month; another seed differs", () => {
    expect(JSON.stringify(generateMonth({ month: "2026-10", scale: "demo" }))).toBe(JSON.stringify(g));
    expect(JSON.stringify(generateMonth({ month: "2026-10", scale: "demo", seed: 7 }).jobs)).not.toBe(JSON.stringify(g.jobs));
  });

  it("given the demo month, every real-world trap is in it", () => {
    const bm = billingMonth("2026-10", "Asia/Seoul");
    const f = g.facts;
    expect(f.spotInterruption.interruptedPods.length).toBeGreaterThan(0);
    for (const p of f.spotInterruption.interruptedPods)
      expect(g.jobs.some((j) => j.pod === `${p}-r` && j.node === f.spotInterruption.replacementNode)).toBe(true);
    expect(g.nodes.find((n) => n.name === f.migNode)!.mig).toBeDefined();
    expect(g.nodes.find((n) => n.name === f.timeSlicedNode)!.replicas).toBe(4);
    expect(g.jobs.some((j) => j.node === f.migNode) && g.jobs.some((j) => j.node === f.timeSlicedNode)).toBe(true);
    expect(f.stuckPendingPods).toHaveLength(1);
    expect(g.gaps.length).toBeGreaterThanOrEqual(3);
    // pods alive across both month edges
    expect(g.jobs.some((j) => j.runStartMs < bm.startMs && j.runEndMs > bm.startMs)).toBe(true);
    expect(g.jobs.some((j) => j.runStartMs < bm.endMs && j.runEndMs > bm.endMs)).toBe(true);
    expect(new Set(g.nodes.map((n) => n.labelStyle))).toEqual(new Set(["karpenter", "eks"]));
    expect(f.unlabelledNamespaces).toContain(f.unallocatedNamespace);
  });

  it("given the exact answer, it counts only month ticks and only Running pods", () => {
    const ex = exactAnswer(g);
    const bm = billingMonth("2026-10", "Asia/Seoul");
    expect(new Set(ex.usage.map((u) => u.day)).size).toBe(bm.days.length);
    const stuck = g.jobs.find((j) => j.pod === g.facts.stuckPendingPods[0])!;
    expect(stuck.endPhase).toBe("Pending");
    expect(stuck.runEndMs - stuck.runStartMs).toBe(0); // scheduled, requests exported for 90 min, never Running
    expect(stuck.deletedMs - stuck.createdMs).toBe(90 * 60_000);
    const total = ex.usage.reduce((a, u) => a + u.requestMinutes, 0);
    const overlap = (a0: number, a1: number, b0: number, b1: number) => Math.max(0, Math.min(a1, b1) - Math.max(a0, b0)) / 60_000;
    const running = g.jobs.reduce((a, j) => {
      const [s, e] = [Math.max(j.runStartMs, bm.startMs), Math.min(j.runEndMs, bm.endMs)];
      // minutes Running, less the Unknown episode and the minutes no kube-state-metrics replica reported
      const unknown = j.unknown ? overlap(s, e, j.unknown.startMs, j.unknown.endMs) : 0;
      return a + (overlap(s, e, s, e) - unknown - overlap(s, e, g.ksmOutage.startMs, g.ksmOutage.endMs)) * j.units;
    }, 0);
    expect(total).toBe(running);
    // node minutes never exceed the day's minutes
    for (const n of ex.nodes) expect(n.nodeMinutes).toBeLessThanOrEqual(1440);
    // the interrupted node exists up to the interruption minute and not after
    const doomed = ex.nodes.filter((n) => n.node === g.facts.spotInterruption.node).reduce((a, n) => a + n.nodeMinutes, 0);
    expect(doomed).toBe((g.facts.spotInterruption.atMs - bm.startMs) / 60_000);
  });

  it("given one day written as OpenMetrics, series carry both kube-state-metrics replicas (new instances after the rollout) and end with a staleness stand-in (NaN where queries filter, 0 where they only sum)", async () => {
    const small = generateMonth({ month: "2026-10", scale: "demo", days: 1 });
    const dir = await mkdtemp(path.join(tmpdir(), "om-"));
    const files = await writeOpenMetricsDays(small, dir);
    const before = await readFile(files[0]!, "utf8");
    const text = await readFile(files[1]!, "utf8");
    expect(text.trimEnd().endsWith("# EOF")).toBe(true);
    for (const i of ["10.0.1.11:8080", "10.0.1.12:8080", "10.0.1.31:8080", "10.0.1.32:8080"]) expect(before).toContain(`instance="${i}"`);
    expect(text).not.toContain('instance="10.0.1.11:8080"');
    expect(text).toContain('instance="10.0.1.31:8080"');
    expect(text).toMatch(/kube_pod_container_resource_requests\{[^}]*\} NaN \d+/);
    expect(text).not.toMatch(/kube_pod_status_phase\{[^}]*\} NaN/);
    expect(text).not.toMatch(/DCGM_FI_\w+\{[^}]*\} NaN/);
    expect(text).toMatch(/DCGM_FI_PROF_GR_ENGINE_ACTIVE\{[^}]*GPU_I_PROFILE="3g.40gb"/);
  });

  it("given the demo month, it emits what the real exporters emit (kube-state-metrics v2, dcgm-exporter v3/v4 through Kubernetes targets)", async () => {
    const f = g.facts;
    // pods that wait unbound for capacity: no node label until bound, from the trace's real waits
    expect(f.waitedPods.length).toBeGreaterThan(100);
    expect(f.neverBoundPods).toHaveLength(3);
    for (const p of f.neverBoundPods) expect(g.jobs.find((j) => j.pod === p)!.node).toBe("");
    expect(g.jobs.find((j) => j.pod === f.unknownPhasePod)!.unknown).toBeDefined();
    expect(g.ksmOutage.endMs - g.ksmOutage.startMs).toBeGreaterThan(5 * 60_000); // longer than the lookback
    expect(g.nodes.find((n) => n.name === f.relabelledNode)!.relabel).toBeDefined();
    expect(g.jobs.some((j) => j.initGpus > 0)).toBe(true);

    const day = generateMonth({ month: "2026-10", scale: "demo", days: 1 });
    const dir = await mkdtemp(path.join(tmpdir(), "om-"));
    const text = await readFile((await writeOpenMetricsDays(day, dir))[0]!, "utf8");
    const waited = day.jobs.find(
      (j) => j.node && j.boundMs > j.createdMs && j.createdMs > day.dataStartMs && j.deletedMs < day.dataStartMs + 86_400_000,
    )!;
    const req = text.split("\n").filter((l) => l.startsWith("kube_pod_container_resource_requests{") && l.includes(`pod="${waited.pod}"`));
    expect(req.some((l) => !l.includes("node="))).toBe(true);
    expect(req.some((l) => l.includes(`node="${waited.node}"`))).toBe(true);
    expect(req.every((l) => /uid="[0-9a-f-]{36}"/.test(l) && l.includes('job="kube-state-metrics"'))).toBe(true);
    expect(text).toMatch(/kube_pod_status_phase\{[^}]*phase="Unknown"/);
    expect(text).toMatch(/kube_pod_init_container_resource_requests\{[^}]*resource="nvidia_com_gpu"/);
    // MIG mixed strategy: no whole GPUs advertised on the MIG node
    expect(text).toMatch(/kube_node_status_capacity\{node="p4d-mig",resource="nvidia_com_gpu"[^}]*\} 0 /);
    // dcgm-exporter: its own labels on every GPU series, a GPU no pod holds carries the exporter's pod
    const dcgm = text.split("\n").filter((l) => l.startsWith("DCGM_FI_DEV_GPU_UTIL{"));
    for (const label of [
      "gpu",
      "UUID",
      "device",
      "modelName",
      "Hostname",
      "pci_bus_id",
      "DCGM_FI_DRIVER_VERSION",
      "container",
      "namespace",
      "pod",
    ])
      expect(
        dcgm.every((l) => l.includes(`${label}="`)),
        label,
      ).toBe(true);
    expect(dcgm.some((l) => l.includes('namespace="gpu-operator"'))).toBe(true);
    const exported = generateMonth({ month: "2026-10", scale: "demo", days: 1, dcgm: { labels: "exported", sharing: "virtual" } });
    const dir2 = await mkdtemp(path.join(tmpdir(), "om-"));
    const text2 = await readFile((await writeOpenMetricsDays(exported, dir2))[0]!, "utf8");
    const held = text2.split("\n").filter((l) => l.startsWith("DCGM_FI_DEV_GPU_UTIL{") && l.includes("exported_pod="));
    expect(held.length).toBeGreaterThan(0);
    expect(held.every((l) => l.includes('pod="nvidia-dcgm-exporter-'))).toBe(true);
    expect(text2).toMatch(/DCGM_FI_DEV_GPU_UTIL\{[^}]*Hostname="g4dn-ts"[^}]*vgpu="/);
  });
  it("given the reference config, the demo month prices every node, covers every tenant and hits all four correction tiers", () => {
    const cfg = referenceConfig();
    for (const n of g.nodes) expect(cfg.prices[n.instanceType], n.instanceType).toBeDefined();
    const capacities = new Set(g.nodes.map((n) => `${n.instanceType.split(".")[0]}/${n.capacity}`));
    for (const c of ["g4dn/spot", "g4dn/on-demand", "g5/spot", "g5/on-demand"]) expect(capacities).toContain(c);
    const used = new Set(g.jobs.map((j) => j.namespace));
    for (const t of cfg.tenants)
      expect(
        g.namespaces.some((n) => used.has(n.name) && (n.tenantLabel ?? n.name).startsWith(t.id)),
        t.id,
      ).toBe(true);
    // average utilization per namespace × GPU model (the reference granularity) from the exact answer
    const model = new Map(g.nodes.map((n) => [n.name, n.gpuModel]));
    const sums = new Map<string, [number, number]>();
    for (const u of exactAnswer(g).usage) {
      const k = `${u.namespace}|${model.get(u.node)}`;
      const a = sums.get(k) ?? sums.set(k, [0, 0]).get(k)!;
      a[0] += u.requestMinutes;
      a[1] += u.usedMinutes;
    }
    const tiers = cfg.correction.tiers.map((t) => t.minUtilization).sort((a, b) => b - a);
    const hit = new Set([...sums.values()].map(([r, u]) => tiers.find((m) => u / r >= m)));
    expect([...hit].sort()).toEqual([...tiers].sort());
  });
});
