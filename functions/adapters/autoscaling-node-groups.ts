import {
  AutoScalingClient,
  DescribeAutoScalingGroupsCommand,
  DescribeScalingActivitiesCommand,
  SetDesiredCapacityCommand,
  TerminateInstanceInAutoScalingGroupCommand,
} from "@aws-sdk/client-auto-scaling";
import { DescribeNodegroupCommand, type EKSClient } from "@aws-sdk/client-eks";
import type { GroupInfo } from "../controller/snapshot.js";

/** Messages of failed launches that mean "no capacity right now" (Spot or On-Demand), not a broken template. */
const CAPACITY_ERROR =
  /InsufficientInstanceCapacity|capacity-not-available|UnfulfillableCapacity|MaxSpotInstanceCountExceeded|SpotMaxPriceTooLow|There is no Spot capacity|insufficient capacity/i;

/**
 * Reads the Auto Scaling groups behind the managed node groups: sizes,
 * instances and tags, plus the newest failed launch that looks like a
 * capacity shortage (for Spot fallback). `groups` maps node group → ASG name.
 */
export async function describeNodeGroups(
  client: AutoScalingClient,
  groups: { name: string; autoScalingGroupName: string }[],
  activitiesSinceMs: number,
): Promise<GroupInfo[]> {
  const names = groups.map((g) => g.autoScalingGroupName);
  const found = new Map<string, NonNullable<Awaited<ReturnType<typeof describeAll>>>[number]>();
  for (const g of await describeAll(client, names)) if (g.AutoScalingGroupName) found.set(g.AutoScalingGroupName, g);
  const out: GroupInfo[] = [];
  for (const g of groups) {
    const asg = found.get(g.autoScalingGroupName);
    if (!asg) continue; // the plan reports "Auto Scaling group not found" for it
    const info: GroupInfo = {
      name: g.name,
      autoScalingGroupName: g.autoScalingGroupName,
      minSize: asg.MinSize ?? 0,
      maxSize: asg.MaxSize ?? 0,
      desiredCapacity: asg.DesiredCapacity ?? 0,
      instances: (asg.Instances ?? []).map((i) => ({ instanceId: i.InstanceId!, lifecycleState: String(i.LifecycleState) })),
      tags: Object.fromEntries((asg.Tags ?? []).map((t) => [t.Key!, t.Value ?? ""])),
    };
    const acts = await client.send(new DescribeScalingActivitiesCommand({ AutoScalingGroupName: g.autoScalingGroupName, MaxRecords: 20 }));
    const failed = (acts.Activities ?? []).find(
      (a) =>
        a.StatusCode === "Failed" &&
        a.StartTime &&
        a.StartTime.getTime() >= activitiesSinceMs &&
        CAPACITY_ERROR.test(`${a.StatusMessage ?? ""} ${a.Description ?? ""}`),
    );
    if (failed) {
      info.capacityErrorAtMs = failed.StartTime!.getTime();
      info.capacityError = (failed.StatusMessage ?? "").slice(0, 300);
    }
    out.push(info);
  }
  return out;
}

async function describeAll(client: AutoScalingClient, names: string[]) {
  const all = [];
  for (let i = 0; i < names.length; i += 50) {
    let token: string | undefined;
    do {
      const r = await client.send(
        new DescribeAutoScalingGroupsCommand({ AutoScalingGroupNames: names.slice(i, i + 50), NextToken: token }),
      );
      all.push(...(r.AutoScalingGroups ?? []));
      token = r.NextToken;
    } while (token);
  }
  return all;
}

export type TerminateOutcome = { outcome: "terminating"; activityId?: string } | { outcome: "already-gone"; detail: string };

/**
 * Removes this one instance and lowers the desired capacity with it, so the
 * group does not replace it and never picks a node itself. Idempotent: an
 * instance that is already terminating or gone is reported, not an error.
 */
export async function terminateInstance(client: AutoScalingClient, instanceId: string): Promise<TerminateOutcome> {
  try {
    const r = await client.send(
      new TerminateInstanceInAutoScalingGroupCommand({ InstanceId: instanceId, ShouldDecrementDesiredCapacity: true }),
    );
    return { outcome: "terminating", activityId: r.Activity?.ActivityId };
  } catch (e) {
    const err = e as Error;
    if (err.name === "ValidationError" && /not found|is not part of|terminat/i.test(err.message))
      return { outcome: "already-gone", detail: err.message };
    throw e;
  }
}

export type ScaleOutOutcome = { outcome: "set"; from: number; to: number } | { outcome: "skipped"; detail: string };

/**
 * Sets the absolute desired capacity the plan computed (`from` → `to`),
 * honouring the group's cooldown. Absolute, not "+n", so a retried call cannot
 * add twice; and if the group already moved off `from` (someone else acted
 * since the snapshot), it does nothing and says so.
 */
export async function setDesiredCapacity(client: AutoScalingClient, asgName: string, from: number, to: number): Promise<ScaleOutOutcome> {
  const now = await client.send(new DescribeAutoScalingGroupsCommand({ AutoScalingGroupNames: [asgName] }));
  const current = now.AutoScalingGroups?.[0]?.DesiredCapacity;
  if (current === undefined) return { outcome: "skipped", detail: `Auto Scaling group ${asgName} not found` };
  if (current >= to) return { outcome: "skipped", detail: `desired capacity already ${current} (≥ ${to})` };
  if (current !== from)
    return { outcome: "skipped", detail: `desired capacity changed since the snapshot (${from} → ${current}); re-plan next run` };
  try {
    await client.send(new SetDesiredCapacityCommand({ AutoScalingGroupName: asgName, DesiredCapacity: to, HonorCooldown: true }));
    return { outcome: "set", from, to };
  } catch (e) {
    if ((e as Error).name === "ScalingActivityInProgressFault")
      return { outcome: "skipped", detail: `cooldown or scaling activity in progress: ${(e as Error).message}` };
    throw e;
  }
}

/** The Auto Scaling group behind an EKS managed node group (to fill or check `autoScalingGroupName`). */
export async function nodegroupAutoScalingGroup(
  eks: EKSClient,
  clusterName: string,
  nodegroupName: string,
): Promise<{ autoScalingGroupName: string; capacityType?: string; instanceTypes: string[] }> {
  const r = await eks.send(new DescribeNodegroupCommand({ clusterName, nodegroupName }));
  const asg = r.nodegroup?.resources?.autoScalingGroups?.[0]?.name;
  if (!asg) throw new Error(`EKS node group ${clusterName}/${nodegroupName} has no Auto Scaling group (status ${r.nodegroup?.status})`);
  return {
    autoScalingGroupName: asg,
    capacityType: r.nodegroup?.capacityType === "SPOT" ? "spot" : r.nodegroup?.capacityType === "ON_DEMAND" ? "on-demand" : undefined,
    instanceTypes: r.nodegroup?.instanceTypes ?? [],
  };
}
