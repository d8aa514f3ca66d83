// Auto Scaling, EKS and CloudWatch have no local server here, so these tests use
// aws-sdk-client-mock and check the exact parameters of every call.
import { afterEach, describe, expect, it } from "vitest";
import { mockClient } from "aws-sdk-client-mock";
import {
  AutoScalingClient,
  DescribeAutoScalingGroupsCommand,
  DescribeScalingActivitiesCommand,
  ScalingActivityInProgressFault,
  SetDesiredCapacityCommand,
  TerminateInstanceInAutoScalingGroupCommand,
} from "@aws-sdk/client-auto-scaling";
import { DescribeNodegroupCommand, EKSClient } from "@aws-sdk/client-eks";
import { CloudWatchClient, PutMetricDataCommand } from "@aws-sdk/client-cloudwatch";
import {
  describeNodeGroups,
  nodegroupAutoScalingGroup,
  setDesiredCapacity,
  terminateInstance,
} from "../../functions/adapters/autoscaling-node-groups.js";
import { publishRunMetrics } from "../../functions/adapters/cloudwatch-metrics.js";

const asg = mockClient(AutoScalingClient);
const eks = mockClient(EKSClient);
const cw = mockClient(CloudWatchClient);
afterEach(() => {
  asg.reset();
  eks.reset();
  cw.reset();
});
const client = () => new AutoScalingClient({ region: "ap-northeast-2" });
const NOW = Date.parse("2026-11-23T03:00:00Z");

describe("Auto Scaling adapter", () => {
  it("given a Spot group with a capacity failure, when described, then sizes, instances, tags and the capacity error are read", async () => {
    asg.on(DescribeAutoScalingGroupsCommand).resolves({
      AutoScalingGroups: [
        {
          AutoScalingGroupName: "asg-g5-spot",
          MinSize: 0,
          MaxSize: 6,
          DesiredCapacity: 3,
          DefaultCooldown: 300,
          AvailabilityZones: [],
          HealthCheckType: "EC2",
          CreatedTime: new Date(),
          Instances: [
            { InstanceId: "i-1", LifecycleState: "InService", AvailabilityZone: "a", HealthStatus: "Healthy", ProtectedFromScaleIn: false },
          ],
          Tags: [{ Key: "eks:nodegroup-name", Value: "g5-spot" }],
        },
      ],
    });
    asg.on(DescribeScalingActivitiesCommand).resolves({
      Activities: [
        {
          ActivityId: "a2",
          AutoScalingGroupName: "asg-g5-spot",
          Cause: "",
          StartTime: new Date(NOW - 60_000),
          StatusCode: "Failed",
          StatusMessage: "Could not launch Spot Instances. InsufficientInstanceCapacity - There is no Spot capacity available",
        },
        { ActivityId: "a1", AutoScalingGroupName: "asg-g5-spot", Cause: "", StartTime: new Date(NOW - 120_000), StatusCode: "Successful" },
      ],
    });
    const [g] = await describeNodeGroups(
      client(),
      [
        { name: "g5-spot", autoScalingGroupName: "asg-g5-spot" },
        { name: "gone", autoScalingGroupName: "asg-gone" },
      ],
      NOW - 30 * 60_000,
    );
    expect(g).toEqual({
      name: "g5-spot",
      autoScalingGroupName: "asg-g5-spot",
      minSize: 0,
      maxSize: 6,
      desiredCapacity: 3,
      instances: [{ instanceId: "i-1", lifecycleState: "InService" }],
      tags: { "eks:nodegroup-name": "g5-spot" },
      capacityErrorAtMs: NOW - 60_000,
      capacityError: "Could not launch Spot Instances. InsufficientInstanceCapacity - There is no Spot capacity available",
    });
    expect(asg.commandCalls(DescribeAutoScalingGroupsCommand)[0]!.args[0].input).toEqual({
      AutoScalingGroupNames: ["asg-g5-spot", "asg-gone"],
      NextToken: undefined,
    });
    expect(asg.commandCalls(DescribeScalingActivitiesCommand)[0]!.args[0].input).toEqual({
      AutoScalingGroupName: "asg-g5-spot",
      MaxRecords: 20,
    });
  });

  it("given an idle instance, when terminated, then exactly that instance goes with ShouldDecrementDesiredCapacity=true and nothing lowers desired capacity", async () => {
    asg.on(TerminateInstanceInAutoScalingGroupCommand).resolves({
      Activity: { ActivityId: "act-1", AutoScalingGroupName: "asg", Cause: "", StartTime: new Date(), StatusCode: "InProgress" },
    });
    expect(await terminateInstance(client(), "i-0abc")).toEqual({ outcome: "terminating", activityId: "act-1" });
    expect(asg.commandCalls(TerminateInstanceInAutoScalingGroupCommand).map((c) => c.args[0].input)).toEqual([
      { InstanceId: "i-0abc", ShouldDecrementDesiredCapacity: true },
    ]);
    expect(asg.commandCalls(SetDesiredCapacityCommand)).toHaveLength(0);
  });

  it("given the instance is already gone (a retried run), when terminated again, then it reports already-gone instead of failing", async () => {
    asg
      .on(TerminateInstanceInAutoScalingGroupCommand)
      .rejects(
        Object.assign(new Error("Instance Id not found - No managed instance found for instance ID: i-0abc"), { name: "ValidationError" }),
      );
    expect(await terminateInstance(client(), "i-0abc")).toMatchObject({ outcome: "already-gone" });
  });

  it("given another error, when terminating, then it is rethrown", async () => {
    asg.on(TerminateInstanceInAutoScalingGroupCommand).rejects(Object.assign(new Error("Rate exceeded"), { name: "Throttling" }));
    await expect(terminateInstance(client(), "i-0abc")).rejects.toThrow(/Rate exceeded/);
  });

  const group = (desired: number) => ({
    AutoScalingGroups: [
      {
        AutoScalingGroupName: "asg-g5-spot",
        MinSize: 0,
        MaxSize: 9,
        DesiredCapacity: desired,
        DefaultCooldown: 300,
        AvailabilityZones: [],
        HealthCheckType: "EC2",
        CreatedTime: new Date(),
      },
    ],
  });

  it("given desired 2 → 4, when scaling out, then SetDesiredCapacity carries the absolute 4 and HonorCooldown=true", async () => {
    asg.on(DescribeAutoScalingGroupsCommand).resolves(group(2));
    asg.on(SetDesiredCapacityCommand).resolves({});
    expect(await setDesiredCapacity(client(), "asg-g5-spot", 2, 4)).toEqual({ outcome: "set", from: 2, to: 4 });
    expect(asg.commandCalls(SetDesiredCapacityCommand).map((c) => c.args[0].input)).toEqual([
      { AutoScalingGroupName: "asg-g5-spot", DesiredCapacity: 4, HonorCooldown: true },
    ]);
  });

  it("given the same scale-out is retried after it succeeded, then the second call sees desired 4 and sends nothing (idempotent)", async () => {
    asg.on(DescribeAutoScalingGroupsCommand).resolvesOnce(group(2)).resolves(group(4));
    asg.on(SetDesiredCapacityCommand).resolves({});
    await setDesiredCapacity(client(), "asg-g5-spot", 2, 4);
    expect(await setDesiredCapacity(client(), "asg-g5-spot", 2, 4)).toEqual({
      outcome: "skipped",
      detail: "desired capacity already 4 (≥ 4)",
    });
    expect(asg.commandCalls(SetDesiredCapacityCommand)).toHaveLength(1);
  });

  it("given the group moved since the snapshot (3, not 2), then nothing is set and it says re-plan", async () => {
    asg.on(DescribeAutoScalingGroupsCommand).resolves(group(3));
    expect(await setDesiredCapacity(client(), "asg-g5-spot", 2, 4)).toMatchObject({
      outcome: "skipped",
      detail: expect.stringMatching(/changed since the snapshot \(2 → 3\)/),
    });
    expect(asg.commandCalls(SetDesiredCapacityCommand)).toHaveLength(0);
  });

  it("given a cooldown in progress, then the scale-out is skipped, not failed", async () => {
    asg.on(DescribeAutoScalingGroupsCommand).resolves(group(2));
    asg
      .on(SetDesiredCapacityCommand)
      .rejects(new ScalingActivityInProgressFault({ message: "Scaling activity in progress", $metadata: {} }));
    expect(await setDesiredCapacity(client(), "asg-g5-spot", 2, 3)).toMatchObject({
      outcome: "skipped",
      detail: expect.stringMatching(/cooldown/),
    });
  });
});

describe("EKS adapter", () => {
  it("given a managed node group, when resolved, then its Auto Scaling group and capacity type come back", async () => {
    eks.on(DescribeNodegroupCommand).resolves({
      nodegroup: {
        capacityType: "SPOT",
        instanceTypes: ["g5.12xlarge"],
        resources: { autoScalingGroups: [{ name: "eks-g5-spot-abc" }] },
      },
    });
    expect(await nodegroupAutoScalingGroup(new EKSClient({ region: "ap-northeast-2" }), "prod", "g5-spot")).toEqual({
      autoScalingGroupName: "eks-g5-spot-abc",
      capacityType: "spot",
      instanceTypes: ["g5.12xlarge"],
    });
    expect(eks.commandCalls(DescribeNodegroupCommand)[0]!.args[0].input).toEqual({ clusterName: "prod", nodegroupName: "g5-spot" });
  });
});

describe("CloudWatch metrics", () => {
  it("given a run, then NodesReclaimed, NodesAdded and GpuHoursSavedEstimate go out per node group and mode", async () => {
    cw.on(PutMetricDataCommand).resolves({});
    await publishRunMetrics(
      new CloudWatchClient({ region: "ap-northeast-2" }),
      new Date(NOW),
      [{ nodeGroup: "g5-od", dryRun: false, nodesReclaimed: 1, nodesAdded: 0, gpuHoursSaved: 0.133333333 }],
      false,
    );
    const input = cw.commandCalls(PutMetricDataCommand)[0]!.args[0].input;
    expect(input.Namespace).toBe("GpuBilling/Controller");
    const dims = [
      { Name: "NodeGroup", Value: "g5-od" },
      { Name: "Mode", Value: "acting" },
    ];
    expect(input.MetricData).toEqual([
      { MetricName: "Halted", Value: 0, Unit: "Count", Timestamp: new Date(NOW) },
      { MetricName: "NodesReclaimed", Value: 1, Unit: "Count", Timestamp: new Date(NOW), Dimensions: dims },
      { MetricName: "NodesAdded", Value: 0, Unit: "Count", Timestamp: new Date(NOW), Dimensions: dims },
      { MetricName: "GpuHoursSavedEstimate", Value: 0.133333, Unit: "None", Timestamp: new Date(NOW), Dimensions: dims },
    ]);
  });

  it("given a namespace from the environment (CONTROLLER_METRICS_NAMESPACE), then the metrics go there, where the stack's alarms look", async () => {
    cw.on(PutMetricDataCommand).resolves({});
    await publishRunMetrics(new CloudWatchClient({ region: "ap-northeast-2" }), new Date(NOW), [], true, "Acme/Gpu");
    const input = cw.commandCalls(PutMetricDataCommand)[0]!.args[0].input;
    expect(input).toEqual({
      Namespace: "Acme/Gpu",
      MetricData: [{ MetricName: "Halted", Value: 1, Unit: "Count", Timestamp: new Date(NOW) }],
    });
  });
});
