import { validatePolicy, type ControllerPolicy } from "../../functions/controller/policy.js";
import {
  emptyState,
  type GroupInfo,
  type NodeInfo,
  type PodInfo,
  type Snapshot,
  type ControllerState,
  type GpuWindow,
} from "../../functions/controller/snapshot.js";

export const NOW = Date.parse("2026-11-21T03:00:00Z"); // Saturday 12:00 in Seoul
/** NOW as the Date the controller takes. */
export const NOW_AT = new Date(NOW);
export const MIN = 60_000;

/** A g5.12xlarge node group of the g5 pool (4 GPUs a node) as a policy file names it; its ASG is `asg-<name>`. */
export const g5Group = (name: string, capacityType: "spot" | "on-demand", over: Record<string, unknown> = {}) => ({
  name,
  autoScalingGroupName: `asg-${name}`,
  pool: "g5",
  capacityType,
  instanceType: "g5.12xlarge",
  gpusPerNode: 4,
  ...over,
});

/** Two pools: g5 inference (Spot + On-Demand fallback) and p4d batch (On-Demand). Acting, not dry-run, unless a test says so. */
export function policy(over: Record<string, unknown> = {}, groupOver: Record<string, Record<string, unknown>> = {}): ControllerPolicy {
  const groups = [
    g5Group("g5-spot", "spot", { priority: 1, dryRun: false }),
    g5Group("g5-spot-b", "spot", { priority: 2, dryRun: false }),
    g5Group("g5-od", "on-demand", { dryRun: false }),
  ].map((g) => ({ ...g, ...(groupOver[g.name] ?? {}) }));
  return validatePolicy({ timeZone: "Asia/Seoul", defaultPool: "g5", nodeGroups: groups, ...over });
}

export function group(name: string, over: Partial<GroupInfo> = {}, instances: string[] = []): GroupInfo {
  return {
    name,
    autoScalingGroupName: `asg-${name}`,
    minSize: 0,
    maxSize: 10,
    desiredCapacity: instances.length,
    instances: instances.map((instanceId) => ({ instanceId, lifecycleState: "InService" })),
    tags: {},
    ...over,
  };
}

export function node(name: string, nodeGroup: string, over: Partial<NodeInfo> = {}): NodeInfo {
  return {
    name,
    instanceId: `i-${name}`,
    nodeGroup,
    capacityType: nodeGroup.includes("spot") ? "spot" : "on-demand",
    createdAtMs: NOW - 120 * MIN,
    ready: true,
    unschedulable: false,
    gpuCapacity: 4,
    gpuAllocatable: 4,
    labels: {},
    annotations: {},
    reclaimTainted: false,
    ...over,
  };
}

export function pod(name: string, over: Partial<PodInfo> = {}): PodInfo {
  return { namespace: "team-ai", name, phase: "Running", gpuRequest: 1, annotations: {}, createdAtMs: NOW - 30 * MIN, ...over };
}

/** Full, fresh, flat windows for every GPU of the given nodes. */
export function gpuWindows(nodes: NodeInfo[], util = 0, over: Partial<GpuWindow> = {}): GpuWindow[] {
  return nodes.flatMap((n) =>
    Array.from({ length: n.gpuCapacity }, (_, i) => ({
      node: n.name,
      gpu: String(i),
      samples: 15,
      maxUtil: util,
      meanUtil: util,
      lastSampleMs: NOW - 30_000,
      ...over,
    })),
  );
}

export function snapshot(parts: Partial<Snapshot> & { nodes: NodeInfo[] }, util = 0): Snapshot {
  const groupNames = [...new Set(parts.nodes.map((n) => n.nodeGroup!))];
  return {
    now: NOW_AT,
    groups:
      parts.groups ??
      ["g5-spot", "g5-spot-b", "g5-od"].map((g) =>
        group(
          g,
          {},
          parts.nodes.filter((n) => n.nodeGroup === g).map((n) => n.instanceId!),
        ),
      ),
    pods: [],
    errors: [],
    ...parts,
    metrics: parts.metrics ?? {
      gpus: gpuWindows(parts.nodes, util),
      groups: groupNames.map((g) => ({ nodeGroup: g, steps: 10, minUtil: util, meanUtil: util, lastSampleMs: NOW - 30_000 })),
    },
  };
}

export const state = (over: Partial<ControllerState> = {}): ControllerState => ({ ...emptyState(), ...over });
