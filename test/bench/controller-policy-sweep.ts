/**
 * Where this controller's policy loses against the ideal, and what its values buy:
 * for each trace week and each policy variant, runs the controller simulation
 * (test/bench/controller-sim.ts) and prints share of the ideal's savings, p95 wait,
 * flapping, and with --why the GPU node-hours spent on empty nodes, by the reason
 * the plan kept each one, beside the free GPUs on busy nodes (fragmentation).
 *
 *   npx tsx test/bench/controller-policy-sweep.ts --weeks 142 --why \
 *     --variants '[{}, {"stabilizationMinutes":20,"reclaimQuietMinutes":20}]'
 *
 * A variant is a partial policy; `g5MinFreeGpus` sets the g5 groups' headroom and
 * `everyMinutes` the controller's schedule (the deployed default is 2).
 */
import { parseArgs } from "node:util";
import { loadTraceJobs, simOptions, simPolicy } from "./controller-sim.js";
import { simulateCluster, type SimResult } from "../../functions/controller/simulate.js";
import { planController } from "../../functions/controller/decide.js";
import { idealGpuNodeHours } from "../../functions/controller/peers.js";
import type { ControllerState, Snapshot } from "../../functions/controller/snapshot.js";

const { values } = parseArgs({
  options: {
    weeks: { type: "string", default: "142" },
    days: { type: "string", default: "7" },
    variants: { type: "string", default: "[{}]" },
    why: { type: "boolean", default: false },
  },
});

const pct = (xs: number[], q: number) =>
  xs.length ? [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(q * xs.length))]! : 0;
/** A decision's reason without its numbers and names, so runs group by cause. */
const causeOf = (reason: string) =>
  reason
    .replace(/GPU \d+ reached.*/, "a GPU was above the noise floor within the idle window")
    .replace(/\d+(\.\d+)?/g, "#")
    .replace(/\(.*?\)/g, "")
    .replace(/(g5|p4d)[-\w]*/g, "G")
    .replace(/[:;].*$/, "")
    .trim();

const days = Number(values.days);
const minutes = days * 1440;
const variants = JSON.parse(values.variants!) as Record<string, unknown>[];
const baselines = new Map<string, SimResult>();
for (const week of values.weeks!.split(",").map(Number))
  for (const variant of variants) {
    const { g5MinFreeGpus, everyMinutes, ...over } = variant as { g5MinFreeGpus?: number; everyMinutes?: number } & Record<string, unknown>;
    const policy = simPolicy(over);
    if (g5MinFreeGpus !== undefined) for (const g of policy.nodeGroups) if (g.pool === "g5") g.minFreeGpus = g5MinFreeGpus;
    const every = everyMinutes ?? 2;
    const jobs = loadTraceJobs(week, days);
    const base = { ...simOptions(policy, minutes, 7), controllerEveryMinutes: every };
    const emptyByCause = new Map<string, number>();
    let fragmentation = 0;
    const onRun = values.why
      ? (snap: Snapshot, state: ControllerState) => {
          const plan = planController(snap, policy, state);
          const used = new Map<string, number>();
          for (const p of snap.pods) if (p.nodeName) used.set(p.nodeName, (used.get(p.nodeName) ?? 0) + p.gpuRequest);
          for (const n of snap.nodes) {
            const u = used.get(n.name) ?? 0;
            if (u > 0) {
              fragmentation += (Math.max(0, n.gpuCapacity - u) * every) / 60;
              continue;
            }
            const d =
              plan.decisions.find((x) => x.duty === "reclaim" && "node" in x && x.node === n.name) ??
              plan.decisions.find((x) => x.duty === "reclaim" && !("node" in x) && x.nodeGroup === n.nodeGroup);
            const key = `${n.nodeGroup?.startsWith("p4d") ? "p4d" : "g5"}: ${d ? (d.action === "terminate-instance" ? "reclaimed in this run" : causeOf(d.reason)) : "no decision"}`;
            emptyByCause.set(key, (emptyByCause.get(key) ?? 0) + (n.gpuCapacity * every) / 60);
          }
        }
      : undefined;
    const c = simulateCluster(jobs, { ...base, reclaim: true, onRun });
    // The reference depends only on what drives scale-out, not on the reclaim values.
    const key = JSON.stringify([week, every, g5MinFreeGpus, over.pendingGraceSeconds, over.scaleOutWindowMinutes]);
    const b = baselines.get(key) ?? baselines.set(key, simulateCluster(jobs, { ...base, reclaim: false })).get(key)!;
    const ideal = idealGpuNodeHours(
      jobs,
      [
        { pool: "g5", gpusPerNode: 4, minNodes: 1 },
        { pool: "p4d", gpusPerNode: 8, minNodes: 0 },
      ],
      minutes,
    );
    const share = (100 * (b.gpuNodeHours - c.gpuNodeHours)) / (b.gpuNodeHours - ideal);
    console.log(
      `days ${week}–${week + days} ${JSON.stringify(variant)}: ${c.gpuNodeHours.toFixed(1)} GPU node-hours (never-reclaim ${b.gpuNodeHours.toFixed(1)}, ideal ${ideal.toFixed(1)}), ` +
        `${share.toFixed(1)}% of the ideal's savings; interrupted ${c.interruptedPods}; waited ${c.waits.length}, median/p95 ${pct(c.waits, 0.5)}/${pct(c.waits, 0.95)} min; ` +
        `flapping ${c.flapsSameGroup}/${c.flapsSamePool}; reclaims ${c.reclaims}; scale-outs ${c.scaleOuts} (${c.nodesAdded})`,
    );
    if (!values.why) continue;
    console.log(`  free GPUs on busy nodes (fragmentation): ${fragmentation.toFixed(0)} GPU-h; empty nodes, GPU-h by why they were kept:`);
    for (const [k, v] of [...emptyByCause].sort((x, y) => y[1] - x[1]).filter(([, v]) => v >= 1))
      console.log(`  ${v.toFixed(0).padStart(6)}  ${k}`);
  }
