// No Kubernetes API server and no Karpenter run here: nodes and pods are served by the
// repository's fake Kubernetes API (test/support/fake-kube-api.ts), read through
// the real adapter, and planned by the real planner.
import { afterEach, describe, expect, it, vi } from "vitest";
import { mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { listNodes, listPods } from "../../functions/adapters/kubernetes-nodes.js";
import { kubernetesApis } from "../../functions/adapters/kubernetes-client.js";
import { planController } from "../../functions/controller/decide.js";
import { main } from "../../functions/cli/main.js";
import type { Snapshot } from "../../functions/controller/snapshot.js";
import { k8sNode, k8sPod, startFakeKubeApi } from "../support/fake-kube-api.js";
import { g5Group, group, gpuWindows, policy, state } from "./fixtures.js";

const NOW_MS = Date.parse("2026-11-23T06:00:00Z");

/** A Karpenter node: labelled with its NodePool and no EKS node-group label. */
function karpenterNode(name: string, nodePool: string, annotations: Record<string, string> = {}) {
  const n = k8sNode(name, { annotations });
  const labels: Record<string, string> = {
    "karpenter.sh/nodepool": nodePool,
    "karpenter.sh/capacity-type": "spot",
    "node.kubernetes.io/instance-type": "g5.12xlarge",
  };
  return { ...n, metadata: { ...n.metadata, labels } };
}

let stop: (() => Promise<void>) | undefined;
afterEach(async () => {
  await stop?.();
  vi.restoreAllMocks();
});

/** Reads the fake cluster through the adapter into a snapshot; every GPU idle with full fresh metrics. */
async function snapshotFrom(world: { nodes: any[]; pods: any[] }): Promise<Snapshot> {
  const k = await startFakeKubeApi(world);
  stop = k.stop;
  const api = kubernetesApis({ server: k.url, token: async () => "t0k" }).core;
  const nodes = await listNodes(api);
  const pods = await listPods(api, (ng) => (ng.startsWith("g5") ? "g5" : undefined));
  const managed = nodes.filter((n) => n.nodeGroup);
  const gpus = gpuWindows(nodes, 0).map((g) => ({ ...g, lastSampleMs: NOW_MS - 30_000 }));
  return {
    now: new Date(NOW_MS),
    groups: ["g5-spot", "g5-spot-b", "g5-od"].map((g) =>
      group(
        g,
        {},
        managed.filter((n) => n.nodeGroup === g).map((n) => n.instanceId!),
      ),
    ),
    nodes,
    pods,
    metrics: { gpus, groups: [] },
    errors: [],
  };
}

describe("living next to Karpenter (local fake Kubernetes API)", () => {
  it("given idle nodes of a Karpenter NodePool beside an idle managed node, when planned, then only the managed node is reclaimed and the NodePool gets one karpenter-nodepool decision", async () => {
    const snap = await snapshotFrom({
      nodes: [
        karpenterNode("kp-1", "gpu-inference"),
        karpenterNode("kp-2", "gpu-inference"),
        k8sNode("mng-1", { group: "g5-spot" }),
        k8sNode("mng-busy", { group: "g5-od", capacityType: "ON_DEMAND" }),
      ],
      pods: [k8sPod("job", "mng-busy", 1)],
    });
    const plan = planController(snap, policy(), state());
    const terminated = plan.decisions.flatMap((d) => (d.action === "terminate-instance" ? [d.node] : []));
    expect(terminated).toEqual(["mng-1"]);
    expect(plan.decisions.some((d) => "node" in d && (d.node === "kp-1" || d.node === "kp-2") && d.action !== "none")).toBe(false);
    const kp = plan.decisions.filter((d) => d.code === "karpenter-nodepool");
    expect(kp).toHaveLength(1);
    expect(kp[0]).toMatchObject({ action: "none", karpenterNodePool: "gpu-inference", inputs: { nodes: ["kp-1", "kp-2"], gpus: 8 } });
    expect(kp[0]!.reason).toMatch(/Karpenter NodePool gpu-inference: 2 node\(s\) \(8 GPUs\) left to Karpenter/);
  });

  it("given a GPU pod pending for a Karpenter NodePool (nodeSelector or required affinity), when planned, then we do not scale out for it and the NodePool line names it", async () => {
    const affinity = {
      nodeAffinity: {
        requiredDuringSchedulingIgnoredDuringExecution: {
          nodeSelectorTerms: [{ matchExpressions: [{ key: "karpenter.sh/nodepool", operator: "In", values: ["gpu-batch"] }] }],
        },
      },
    };
    const viaAffinity = k8sPod("wait-affinity", undefined, 4);
    (viaAffinity.spec as any).affinity = affinity;
    const snap = await snapshotFrom({
      nodes: [k8sNode("mng-busy", { group: "g5-od", capacityType: "ON_DEMAND" })],
      pods: [
        k8sPod("job", "mng-busy", 4),
        k8sPod("wait-selector", undefined, 4, { nodeSelector: { "karpenter.sh/nodepool": "gpu-batch" } }),
        viaAffinity,
      ],
    });
    snap.pods.forEach((p) => (p.createdAtMs = NOW_MS - 10 * 60_000)); // long past the pending grace
    expect(snap.pods.filter((p) => p.karpenterNodePool).map((p) => [p.name, p.karpenterNodePool])).toEqual([
      ["wait-selector", "gpu-batch"],
      ["wait-affinity", "gpu-batch"],
    ]);
    const plan = planController(snap, policy(), state());
    expect(plan.decisions.some((d) => d.action === "set-desired-capacity")).toBe(false);
    expect(plan.decisions.find((d) => d.code === "karpenter-nodepool")).toMatchObject({
      karpenterNodePool: "gpu-batch",
      inputs: { nodes: [], pendingPods: ["team-ai/wait-selector:4", "team-ai/wait-affinity:4"] },
    });
    // Nor is it demand that holds our reclaims back.
    expect(plan.nextState.lastDemandAtMs.g5).toBeUndefined();
  });

  it("given karpenter.sh/do-not-disrupt on a managed node or on a pod there, when planned, then neither is reclaimed and the decision's code says which", async () => {
    const snap = await snapshotFrom({
      nodes: [
        k8sNode("dnd-node", { group: "g5-spot", annotations: { "karpenter.sh/do-not-disrupt": "true" } }),
        k8sNode("dnd-pod", { group: "g5-spot-b" }),
        k8sNode("mng-busy", { group: "g5-od", capacityType: "ON_DEMAND" }),
      ],
      pods: [
        k8sPod("job", "mng-busy", 1),
        k8sPod("agent", "dnd-pod", 0, { owner: "DaemonSet", annotations: { "karpenter.sh/do-not-disrupt": "true" } }),
      ],
    });
    const plan = planController(snap, policy(), state());
    expect(plan.decisions.find((d) => "node" in d && d.node === "dnd-node")).toMatchObject({ action: "none", code: "do-not-disrupt-node" });
    expect(plan.decisions.find((d) => "node" in d && d.node === "dnd-pod")).toMatchObject({ action: "none", code: "do-not-disrupt-pod" });
  });

  it("given a recorded run with a Karpenter NodePool, when `gpu-billing controller plan` prints it, then one KARPENTER line names the NodePool and its nodes", async () => {
    const snap = await snapshotFrom({
      nodes: [
        karpenterNode("kp-1", "gpu-inference"),
        karpenterNode("kp-2", "gpu-inference"),
        karpenterNode("kp-3", "gpu-inference"),
        k8sNode("mng-1", { group: "g5-spot" }),
      ],
      pods: [],
    });
    const dir = await mkdtemp(path.join(tmpdir(), "ctl-kp-"));
    const file = path.join(dir, "run.json");
    await writeFile(
      file,
      JSON.stringify({
        snapshot: snap,
        policy: {
          defaultPool: "g5",
          nodeGroups: [g5Group("g5-spot", "spot")],
        },
      }),
    );
    const out: string[] = [];
    vi.spyOn(console, "log").mockImplementation((...a) => void out.push(a.join(" ")));
    expect(await main(["controller", "plan", "--state", file], {}, new Date(NOW_MS))).toBe(0);
    expect(out.join("\n")).toMatch(
      /NodePool gpu-inference\s+kp-1,kp-2,\+1\s+KARPENTER\s+Karpenter NodePool gpu-inference: 3 node\(s\) \(12 GPUs\) left to Karpenter/,
    );
  });
});
