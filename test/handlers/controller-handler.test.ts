// End to end through the Lambda handler: real local S3 (s3rver + precondition
// middleware) for lease and audit; aws-sdk-client-mock for Auto Scaling and
// CloudWatch (no local server exists for them); the repository's fake Kubernetes
// API (test/support/fake-kube-api.ts), since no API server runs here, read through
// @kubernetes/client-node; a stand-in Prometheus client answering the
// controller's queries from a table.
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { mockClient } from "aws-sdk-client-mock";
import {
  AutoScalingClient,
  DescribeAutoScalingGroupsCommand,
  DescribeScalingActivitiesCommand,
  TerminateInstanceInAutoScalingGroupCommand,
  SetDesiredCapacityCommand,
} from "@aws-sdk/client-auto-scaling";
import { CloudWatchClient, PutMetricDataCommand } from "@aws-sdk/client-cloudwatch";
import { GetObjectCommand, ListObjectsV2Command } from "@aws-sdk/client-s3";
import { Logger } from "@aws-lambda-powertools/logger";
import { makeControllerHandler, parseControllerEnv, type BuiltController } from "../../functions/handlers/controller-handler.js";
import { kubernetesApis } from "../../functions/adapters/kubernetes-client.js";
import type { PrometheusClient } from "../../functions/adapters/prometheus-client.js";
import { PrometheusUnavailableError } from "../../functions/adapters/prometheus-client.js";
import { startS3, type LocalS3 } from "../support/s3.js";
import { instanceIdFor, k8sNode, k8sPod, startFakeKubeApi } from "../support/fake-kube-api.js";

const asg = mockClient(AutoScalingClient);
const cw = mockClient(CloudWatchClient);
let s3: LocalS3;
beforeAll(async () => {
  s3 = await startS3("ctl", { preconditions: true });
});
afterAll(async () => s3?.stop());
afterEach(() => {
  asg.reset();
  cw.reset();
});

const NOW = new Date("2026-11-21T03:00:00Z"); // Saturday noon in Seoul
const POLICY = JSON.stringify({
  timeZone: "Asia/Seoul",
  nodeGroups: [
    {
      name: "g5-spot",
      autoScalingGroupName: "asg-g5-spot",
      capacityType: "spot",
      instanceType: "g5.12xlarge",
      gpusPerNode: 4,
      dryRun: false,
    },
  ],
});
const ENV = {
  CONTROLLER_BUCKET: "ctl",
  CONTROLLER_POLICY: POLICY,
  PROMETHEUS_URL: "http://prom:9090",
  EKS_CLUSTER_NAME: "prod",
  AWS_REGION: "ap-northeast-2",
};

/** Answers the controller's PromQL by shape: every GPU of the listed nodes idle at 0% with 15 fresh samples. */
function prometheus(nodes: string[], fail = false): PrometheusClient {
  return {
    url: "http://prom:9090",
    async query(text, t) {
      const q = text.replace(/^#.*\n/gm, "").trim();
      if (fail) throw new PrometheusUnavailableError("Prometheus at http://prom:9090 unavailable after 3 attempts: HTTP 503");
      const gpus = nodes.flatMap((n) => [0, 1, 2, 3].map((g) => ({ Hostname: n, gpu: String(g) })));
      if (q.includes("label_eks_amazonaws_com_nodegroup"))
        return [{ metric: { label_eks_amazonaws_com_nodegroup: "g5-spot" }, value: q.startsWith("count") ? 10 : 0 }];
      if (q.startsWith("timestamp")) return gpus.map((metric) => ({ metric, value: t - 30 }));
      if (q.startsWith("count_over_time")) return gpus.map((metric) => ({ metric, value: 15 }));
      return gpus.map((metric) => ({ metric, value: 0 }));
    },
  };
}

function asgWith(instances: string[]) {
  asg.on(DescribeAutoScalingGroupsCommand).resolves({
    AutoScalingGroups: [
      {
        AutoScalingGroupName: "asg-g5-spot",
        MinSize: 1,
        MaxSize: 5,
        DesiredCapacity: instances.length,
        DefaultCooldown: 300,
        AvailabilityZones: [],
        HealthCheckType: "EC2",
        CreatedTime: new Date(),
        Instances: instances.map((InstanceId) => ({
          InstanceId,
          LifecycleState: "InService",
          AvailabilityZone: "a",
          HealthStatus: "Healthy",
          ProtectedFromScaleIn: false,
        })),
      },
    ],
  });
  asg.on(DescribeScalingActivitiesCommand).resolves({ Activities: [] });
  asg.on(TerminateInstanceInAutoScalingGroupCommand).resolves({});
  cw.on(PutMetricDataCommand).resolves({});
}

describe("controller Lambda handler", () => {
  it("given missing variables, then the error names each of them", () => {
    expect(() => parseControllerEnv({})).toThrow(/CONTROLLER_BUCKET.*PROMETHEUS_URL.*EKS_CLUSTER_NAME.*AWS_REGION/s);
    expect(() => parseControllerEnv({ ...ENV, CONTROLLER_POLICY: "nodeGroups: []" })).toThrow(/nodeGroups/);
  });

  /** The controller as the handler builds it, against the local S3, mocked AWS clients (no server runs here), the fake API server and a stand-in Prometheus. */
  const builtController = (prefix: string, kubeUrl: string, prom: BuiltController["clients"]["prometheus"]): BuiltController => {
    const { env, policy } = parseControllerEnv({ ...ENV, CONTROLLER_PREFIX: prefix });
    return {
      env,
      policy,
      clients: {
        s3: s3.client,
        autoScaling: new AutoScalingClient({ region: "ap-northeast-2" }),
        cloudWatch: new CloudWatchClient({ region: "ap-northeast-2" }),
        kube: kubernetesApis({ server: kubeUrl, token: async () => "tok" }).core,
        prometheus: prom,
      },
    };
  };

  it("given an idle node and a busy node in an acting group, then exactly the idle instance is tainted and terminated, and the run is audited and measured", async () => {
    const kube = await startFakeKubeApi({
      nodes: [k8sNode("idle", { created: "2026-11-21T00:00:00Z" }), k8sNode("busy", { created: "2026-11-21T00:00:00Z" })],
      pods: [k8sPod("job", "busy", 2)],
    });
    asgWith([instanceIdFor("idle"), instanceIdFor("busy")]);
    const built = builtController("run1", kube.url, prometheus(["idle", "busy"]));
    // busy's GPUs report 0% in this table, but its GPU pod keeps it (and its 2 free GPUs leave room for a pod that size).
    const out = await makeControllerHandler(
      async () => built,
      () => NOW,
      new Logger({ logLevel: "SILENT" }),
    )({ source: "aws.events" });
    expect(out).toMatchObject({ ran: true, halted: false, acted: 1 });
    expect(asg.commandCalls(TerminateInstanceInAutoScalingGroupCommand).map((c) => c.args[0].input)).toEqual([
      { InstanceId: instanceIdFor("idle"), ShouldDecrementDesiredCapacity: true },
    ]);
    expect(asg.commandCalls(SetDesiredCapacityCommand)).toHaveLength(0);
    expect(kube.requests.filter((r) => r.method === "PATCH").map((r) => r.path)).toEqual(["/api/v1/nodes/idle"]);
    // The re-check after the taint asked for that node's pods.
    expect(kube.requests.some((r) => r.query.fieldSelector?.endsWith("spec.nodeName=idle"))).toBe(true);
    const list = await s3.client.send(new ListObjectsV2Command({ Bucket: "ctl", Prefix: "run1/audit/day=2026-11-21/" }));
    const lines = (
      await (await s3.client.send(new GetObjectCommand({ Bucket: "ctl", Key: list.Contents![0]!.Key! }))).Body!.transformToString()
    )
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l));
    expect(lines.find((l) => l.node === "idle")).toMatchObject({
      action: "terminate-instance",
      outcome: "instance terminating (desired capacity decremented)",
      inputs: { budget: { allowed: 1 } },
    });
    expect(lines.find((l) => l.node === "busy")).toMatchObject({ action: "none", reason: expect.stringMatching(/requests 2 GPU/) });
    const lease = JSON.parse(
      await (await s3.client.send(new GetObjectCommand({ Bucket: "ctl", Key: "run1/lease.json" }))).Body!.transformToString(),
    );
    expect(lease.state.reclaims["g5-spot"]).toEqual([{ atMs: NOW.getTime(), instanceId: instanceIdFor("idle"), node: "idle" }]);
    expect(lease.expiresAtMs).toBe(NOW.getTime());
    const metrics = cw.commandCalls(PutMetricDataCommand)[0]!.args[0].input.MetricData!;
    expect(metrics.find((m) => m.MetricName === "NodesReclaimed")).toMatchObject({
      Value: 1,
      Dimensions: [
        { Name: "NodeGroup", Value: "g5-spot" },
        { Name: "Mode", Value: "acting" },
      ],
    });
    await kube.stop();
  });

  it("given Prometheus is down, then nothing is touched, the halt is audited, and the handler rethrows", async () => {
    const kube = await startFakeKubeApi({ nodes: [k8sNode("idle", { created: "2026-11-21T00:00:00Z" })], pods: [] });
    asgWith([instanceIdFor("idle")]);
    const built = builtController("run2", kube.url, prometheus([], true));
    await expect(
      makeControllerHandler(
        async () => built,
        () => NOW,
        new Logger({ logLevel: "SILENT" }),
      )({}),
    ).rejects.toThrow(/halted: prometheus: PrometheusUnavailableError/);
    expect(asg.commandCalls(TerminateInstanceInAutoScalingGroupCommand)).toHaveLength(0);
    expect(kube.requests.filter((r) => r.method === "PATCH")).toHaveLength(0);
    const list = await s3.client.send(new ListObjectsV2Command({ Bucket: "ctl", Prefix: "run2/audit/" }));
    expect(list.KeyCount).toBe(1);
    await kube.stop();
  });
});
