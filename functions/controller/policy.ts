import { z } from "zod";
import { parse as parseYaml } from "yaml";
import { describeIssues } from "../core/config.js";
import { parseCron } from "./cron.js";
import { BadInputError } from "../core/errors.js";

/**
 * Thresholds by workload class, percent of GPU utilization:
 * scale out when the pool stays at or above `scaleOutAt`; reclaim an idle
 * node only if the pool's utilization after removing it stays at or below
 * `scaleInAt` (so a reclaim can never itself push the pool toward a scale-out).
 */
export const WORKLOAD_CLASS_THRESHOLDS = {
  inference: { scaleOutAt: 70, scaleInAt: 30 },
  batch: { scaleOutAt: 85, scaleInAt: 40 },
  interactive: { scaleOutAt: 60, scaleInAt: 25 },
} as const;

const cronString = z.string().refine(
  (s) => {
    try {
      parseCron(s);
      return true;
    } catch {
      return false;
    }
  },
  { message: "is not a 5-field cron expression (minute hour day-of-month month day-of-week)" },
);

/** `N` nodes or `N%` of the group's nodes (rounded up, like a PodDisruptionBudget's maxUnavailable). */
const budget = z.union([z.number().int().min(0), z.string().regex(/^(100|[1-9]?\d)%$/, 'must be an integer N or a percentage like "20%"')]);

const percent = z.number().min(0).max(100);

export const NodeGroupPolicySchema = z
  .object({
    /** EKS managed node group name (node label `eks.amazonaws.com/nodegroup`). */
    name: z.string().min(1),
    autoScalingGroupName: z.string().min(1),
    /** Groups that serve the same pods; scale-out picks among them (Spot first). Defaults to the group name. */
    pool: z.string().min(1).optional(),
    capacityType: z.enum(["spot", "on-demand"]),
    /** Lower goes first among the pool's Spot groups (and among its On-Demand groups). */
    priority: z.number().int().min(0).default(100),
    instanceType: z.string().min(1),
    gpusPerNode: z.number().int().positive(),
    workloadClass: z.enum(["inference", "batch", "interactive"]).default("inference"),
    scaleOutAtPercent: percent.optional(),
    scaleInAtPercent: percent.optional(),
    /** Nodes added per run at most. */
    maxStep: z.number().int().positive().default(2),
    /** Our own ceiling, on top of the Auto Scaling group's MaxSize. */
    maxNodes: z.number().int().min(0).optional(),
    /** Free allocatable GPUs the pool keeps; fewer counts as "short". */
    minFreeGpus: z.number().int().min(0).default(0),
    disruptionBudget: budget.default(1),
    freezeWindows: z.array(cronString).default([]),
    /** Dry-run by default: decide, log and record, never act. */
    dryRun: z.boolean().default(true),
    /** Used only for the "GPU-hours saved" estimate in metrics and the audit log. */
    hourlyPrice: z
      .string()
      .regex(/^\d+(\.\d+)?$/)
      .optional(),
  })
  .refine((g) => (g.scaleInAtPercent ?? 0) < (g.scaleOutAtPercent ?? 100), {
    message: "scaleInAtPercent must be below scaleOutAtPercent",
    path: ["scaleInAtPercent"],
  });

export const ControllerPolicySchema = z
  .object({
    timeZone: z.string().default("Asia/Seoul"),
    /** Global kill switch: decide and record, act on nothing. */
    killSwitch: z.boolean().default(false),
    /** A GPU at or below this utilization (percent) counts as idle. */
    noiseFloorPercent: percent.default(5),
    idleMinutes: z.number().int().min(5).max(120).default(15),
    scaleOutWindowMinutes: z.number().int().min(2).max(60).default(10),
    /** Scrape interval of dcgm-exporter; coverage is samples ÷ (window ÷ interval). */
    sampleIntervalSeconds: z.number().int().positive().default(60),
    minSampleCoverage: z.number().min(0.5).max(1).default(0.9),
    /** A GPU whose newest sample is older than this is stale: not idle, and no scale-out on its numbers. */
    staleAfterSeconds: z.number().int().positive().default(180),
    minNodeAgeMinutes: z.number().int().min(0).default(15),
    /** No reclaim in a group scaled out this recently (≥ the 15-minute flapping window by default). */
    recentScaleOutMinutes: z.number().int().min(0).default(15),
    /**
     * No reclaim in a pool for this long after it last had a GPU pod pending or
     * scaled out: demand comes in bursts, and a node reclaimed just before the
     * next burst is added back minutes later (flapping).
     */
    reclaimQuietMinutes: z.number().int().min(0).default(30),
    /**
     * Scale-in stabilization (as the HPA does it): a reclaim must leave the pool
     * at least the peak GPUs its pods requested over this window, plus minFreeGpus.
     */
    stabilizationMinutes: z.number().int().min(0).default(40),
    /**
     * GPUs are not fungible across nodes: keep one node with room for the largest pod seen in the
     * stabilization window. Off by default: on the trace weeks it kept 20–30 % of the ideal's savings
     * back for at most one fewer flap a week (README, "Controller against Karpenter and Cluster Autoscaler").
     */
    keepRoomForLargestPod: z.boolean().default(false),
    /** Pending GPU pods younger than this are left to the scheduler. */
    pendingGraceSeconds: z.number().int().min(0).default(60),
    /**
     * Also scale out for GPU pods that fit nowhere (free or launching), even when
     * the pool's utilization is below its threshold: real duty cycles are low
     * (the Alibaba trace averages 7%), and work must not wait forever on them.
     */
    scaleOutForUnschedulablePods: z.boolean().default(true),
    spotJoinTimeoutMinutes: z.number().int().min(1).default(6),
    spotRetryAfterMinutes: z.number().int().min(1).default(30),
    /** Halt when more GPU nodes than this are NotReady (count or fraction of managed nodes). */
    maxNotReadyNodes: z.number().int().min(0).default(3),
    maxNotReadyFraction: z.number().min(0).max(1).default(0.25),
    /** Block reclaim while any non-DaemonSet pod (GPU or not) runs on the node: terminating would kill it. */
    nonGpuPodsBlockReclaim: z.boolean().default(true),
    /** Freeze windows for every group (in addition to each group's own). */
    freezeWindows: z.array(cronString).default([]),
    /** Pool that GPU pods without a node-group selector belong to. */
    defaultPool: z.string().optional(),
    nodeGroups: z.array(NodeGroupPolicySchema).min(1),
  })
  .refine((p) => new Set(p.nodeGroups.map((g) => g.name)).size === p.nodeGroups.length, {
    message: "node group names must be unique",
    path: ["nodeGroups"],
  })
  .refine(
    (p) => {
      try {
        new Intl.DateTimeFormat("en-US", { timeZone: p.timeZone });
        return true;
      } catch {
        return false;
      }
    },
    { message: "is not an IANA time zone", path: ["timeZone"] },
  );

export type ControllerPolicy = z.infer<typeof ControllerPolicySchema>;
export type NodeGroupPolicy = z.infer<typeof NodeGroupPolicySchema>;

export class PolicyError extends BadInputError {
  constructor(
    message: string,
    readonly issues: string[],
  ) {
    super(message);
    this.name = "PolicyError";
  }
}

export function parsePolicy(text: string, source: string): ControllerPolicy {
  let raw: unknown;
  try {
    raw = parseYaml(text);
  } catch (e) {
    throw new PolicyError(`${source}: not valid JSON or YAML: ${(e as Error).message}`, []);
  }
  return validatePolicy(raw, source);
}

export function validatePolicy(raw: unknown, source = "policy"): ControllerPolicy {
  const r = ControllerPolicySchema.safeParse(raw);
  if (!r.success) {
    const issues = describeIssues(r.error.issues);
    throw new PolicyError(`${source}: invalid controller policy:\n  ${issues.join("\n  ")}`, issues);
  }
  return r.data;
}

export const poolOf = (g: NodeGroupPolicy) => g.pool ?? g.name;

export function thresholdsOf(g: NodeGroupPolicy): { scaleOutAt: number; scaleInAt: number } {
  const d = WORKLOAD_CLASS_THRESHOLDS[g.workloadClass];
  return { scaleOutAt: g.scaleOutAtPercent ?? d.scaleOutAt, scaleInAt: g.scaleInAtPercent ?? d.scaleInAt };
}

/** Nodes a group may have disrupted at once; a percentage rounds up (never 0 unless it is 0). */
export function budgetNodes(b: number | string, groupNodes: number): number {
  if (typeof b === "number") return b;
  const pct = Number(b.slice(0, -1));
  return Math.ceil((groupNodes * pct) / 100);
}
