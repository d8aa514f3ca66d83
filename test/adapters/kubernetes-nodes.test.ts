// No Kubernetes API server runs here: these tests read and patch through @kubernetes/client-node against
// the repository's fake Kubernetes API (test/support/fake-kube-api.ts), which records requests and
// applies JSON Patches the way the API server does.
import { afterEach, describe, expect, it } from "vitest";
import { cordonAndTaint, listNodes, listPods, releaseNode, CORDONED_BY_US } from "../../functions/adapters/kubernetes-nodes.js";
import { kubernetesApis } from "../../functions/adapters/kubernetes-client.js";
import { instanceIdFor, k8sNode, k8sPod, startFakeKubeApi } from "../support/fake-kube-api.js";

const api = (url: string) => kubernetesApis({ server: url, token: async () => "t0k" }).core;

let stop: (() => Promise<void>) | undefined;
afterEach(async () => stop?.());

describe("Kubernetes nodes adapter (fake Kubernetes API)", () => {
  it("given nodes and pods, when listed, then GPUs, node group, capacity type, instance id and pools are mapped; finished pods are filtered server-side", async () => {
    const k = await startFakeKubeApi({
      nodes: [k8sNode("n1", { capacityType: "ON_DEMAND", group: "g5-od" })],
      pods: [
        k8sPod("a", "n1", 2),
        k8sPod("ds", "n1", 1, { owner: "DaemonSet" }),
        k8sPod("wait", undefined, 4, { nodeSelector: { "eks.amazonaws.com/nodegroup": "g5-od" } }),
        k8sPod("done", "n1", 1, { phase: "Succeeded" }),
      ],
    });
    stop = k.stop;
    const [n] = await listNodes(api(k.url));
    expect(n).toMatchObject({
      name: "n1",
      instanceId: instanceIdFor("n1"),
      nodeGroup: "g5-od",
      capacityType: "on-demand",
      ready: true,
      gpuCapacity: 4,
      gpuAllocatable: 4,
      reclaimTainted: false,
      createdAtMs: Date.parse("2026-11-23T00:00:00Z"),
    });
    const pods = await listPods(api(k.url), (ng) => (ng === "g5-od" ? "g5" : undefined));
    expect(pods.map((p) => [p.name, p.nodeName, p.phase, p.gpuRequest, p.ownerKind, p.pool])).toEqual([
      ["a", "n1", "Running", 2, undefined, undefined],
      ["ds", "n1", "Running", 1, "DaemonSet", undefined],
      ["wait", undefined, "Pending", 4, undefined, "g5"],
    ]);
    expect(k.requests.map((r) => r.authorization)).toEqual(k.requests.map(() => "Bearer t0k"));
    const podReq = k.requests.find((r) => r.path === "/api/v1/pods")!;
    expect(podReq.query).toMatchObject({ fieldSelector: "status.phase!=Succeeded,status.phase!=Failed", limit: "500" });
  });

  it("given an idle node, when cordoned and tainted, then one JSON Patch guarded by resourceVersion adds the NoSchedule taint, cordons and marks it ours", async () => {
    const k = await startFakeKubeApi({ nodes: [k8sNode("n1", { taints: [{ key: "nvidia.com/gpu", effect: "NoSchedule" }] })], pods: [] });
    stop = k.stop;
    const n = await cordonAndTaint(api(k.url), "n1");
    expect(n).toMatchObject({ reclaimTainted: true, unschedulable: true });
    const patch = k.requests.find((r) => r.method === "PATCH")!;
    expect(patch.contentType).toBe("application/json-patch+json");
    expect(patch.body).toEqual([
      { op: "test", path: "/metadata/resourceVersion", value: "1" },
      {
        op: "add",
        path: "/spec/taints",
        value: [
          { key: "nvidia.com/gpu", effect: "NoSchedule" },
          { key: "gpu-billing.io/reclaiming", value: "true", effect: "NoSchedule" },
        ],
      },
      { op: "add", path: "/spec/unschedulable", value: true },
      { op: "add", path: "/metadata/annotations/gpu-billing.io~1cordoned-by-reclaim", value: "true" },
    ]);
    // Idempotent: a second call sees our taint and patches nothing.
    await cordonAndTaint(api(k.url), "n1");
    expect(k.requests.filter((r) => r.method === "PATCH")).toHaveLength(1);
    // Release restores the node exactly: our taint gone, uncordoned, annotation removed, the other taint kept.
    const r = await releaseNode(api(k.url), "n1");
    expect(r).toMatchObject({ reclaimTainted: false, unschedulable: false });
    expect(k.state.nodes.get("n1").spec.taints).toEqual([{ key: "nvidia.com/gpu", effect: "NoSchedule" }]);
    expect(k.state.nodes.get("n1").metadata.annotations[CORDONED_BY_US]).toBeUndefined();
  });

  it("given a node an operator had cordoned, when we taint and release it, then it stays cordoned", async () => {
    const k = await startFakeKubeApi({ nodes: [k8sNode("n1", { unschedulable: true })], pods: [] });
    stop = k.stop;
    await cordonAndTaint(api(k.url), "n1");
    await releaseNode(api(k.url), "n1");
    expect(k.state.nodes.get("n1").spec.unschedulable).toBe(true);
    expect(k.state.nodes.get("n1").spec.taints).toEqual([]);
  });

  it("given the node changes between read and patch, when cordoned, then the API server's 422 on the resourceVersion test surfaces and nothing is applied", async () => {
    const k = await startFakeKubeApi({ nodes: [k8sNode("n1")], pods: [] });
    stop = k.stop;
    k.beforeWrite(() => (k.state.nodes.get("n1").metadata.resourceVersion = "2")); // someone else wrote the node meanwhile
    await expect(cordonAndTaint(api(k.url), "n1")).rejects.toThrow(
      /PATCH node n1: HTTP 422: testing value \/metadata\/resourceVersion failed/,
    );
    expect(k.state.nodes.get("n1").spec.taints).toBeUndefined();
  });

  it("given the re-check lists pods on one node, then it asks the API server for that node only", async () => {
    const k = await startFakeKubeApi({ nodes: [k8sNode("n1")], pods: [k8sPod("a", "n1", 1), k8sPod("b", "n2", 1)] });
    stop = k.stop;
    expect((await listPods(api(k.url), () => undefined, "n1")).map((p) => p.name)).toEqual(["a"]);
    expect(k.requests.at(-1)!.query.fieldSelector).toBe("status.phase!=Succeeded,status.phase!=Failed,spec.nodeName=n1");
  });
});
