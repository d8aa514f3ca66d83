import { describe, expect, it } from "vitest";
import {
  canBill,
  runDoctorChecks,
  KSM_ALLOWLIST_FLAG,
  type DoctorObservations,
  type DoctorSettings,
} from "../../functions/doctor/doctor-checks.js";
import { referenceConfigText } from "../core/fixtures.js";
import { formatDoctorTable } from "../../functions/doctor/doctor-table.js";
import { parseConfig } from "../../functions/config/config-schema.js";
import { configWith } from "../support/config-edit.js";

const cfg = parseConfig(referenceConfigText, "reference");
const settings: DoctorSettings = { dcgmNamespaceLabel: "namespace", dcgmPodLabel: "pod", controllerNodeLabel: "Hostname" };

/** A cluster with every prerequisite in place: two GPU nodes (Karpenter Spot, EKS On-Demand), one tenant namespace. */
function complete(): DoctorObservations {
  return {
    families: {
      kube_pod_container_resource_requests: 4,
      kube_pod_status_phase: 20,
      kube_node_labels: 4,
      kube_node_status_capacity: 4,
      kube_namespace_labels: 4,
      DCGM_FI_DEV_GPU_UTIL: 6,
    },
    gpuNodeCapacity: [
      { node: "g5-a", resource: "nvidia_com_gpu", capacity: 4 },
      { node: "g4-b", resource: "nvidia_com_gpu", capacity: 4 },
    ],
    gpuNodeLabels: [
      { node: "g5-a", instanceType: "g5.12xlarge", karpenterCapacityType: "spot", karpenterNodepool: "gpu-spot" },
      { node: "g4-b", instanceType: "g4dn.12xlarge", eksCapacityType: "ON_DEMAND", eksNodegroup: "gpu-od" },
    ],
    gpuRequests: [
      { namespace: "suwon-train", node: "g5-a", resource: "nvidia_com_gpu", series: 2 },
      { namespace: "team-ai", node: "g4-b", resource: "nvidia_com_gpu", series: 2 },
    ],
    namespaces: [
      { namespace: "suwon-train", tenantLabel: "suwon", target: "kube-state-metrics 10.0.1.11:8080" },
      { namespace: "team-ai", target: "kube-state-metrics 10.0.1.11:8080" },
    ],
    dcgm: { all: 6, pod: 4, configured: 4, Hostname: 6, controller_node: 6 },
    gpuPods: { requested: 3, running: 3, attributed: 3 },
    sampleSpacingSeconds: { "kube-state-metrics": 30, "dcgm-exporter": 15 },
  };
}

const find = (obs: DoctorObservations, check: string, s = settings) => runDoctorChecks(obs, cfg, s).find((f) => f.check === check);

describe("doctor checks (pure)", () => {
  it("given a complete cluster, then every check is ok or info and a month can be billed", () => {
    const findings = runDoctorChecks(complete(), cfg, settings);
    expect(findings.filter((f) => f.status !== "ok" && f.status !== "info")).toEqual([]);
    expect(canBill(findings)).toBe(true);
    expect(findings.map((f) => f.check)).toEqual(
      expect.arrayContaining([
        "metric:kube_node_labels",
        "node-label:instance-type",
        "prices:instance-types",
        "tenants:gpu-namespaces",
        "dcgm:pod-labels",
        "dcgm:pod-attribution",
        "scrape-interval:kube-state-metrics",
      ]),
    );
  });

  type Case = [string, (o: DoctorObservations) => void, string, "fail" | "warn" | "info", RegExp, RegExp?, Partial<DoctorSettings>?];
  const cases: Case[] = [
    [
      "kube_pod_status_phase is absent",
      (o) => delete o.families.kube_pod_status_phase,
      "metric:kube_pod_status_phase",
      "fail",
      /absent/,
      /kubeStateMetrics\.enabled/,
    ],
    [
      "no GPU node exports its instance type",
      (o) => o.gpuNodeLabels.forEach((l) => delete l.instanceType),
      "node-label:instance-type",
      "fail",
      /no GPU nodes carry label_node_kubernetes_io_instance_type/,
      /kube-state-metrics\.metricLabelsAllowlist/,
    ],
    [
      "one GPU node lacks its instance type",
      (o) => delete o.gpuNodeLabels[1]!.instanceType,
      "node-label:instance-type",
      "fail",
      /1 of 2 GPU nodes .*missing: g4-b/,
      /label the nodes with node\.kubernetes\.io\/instance-type/,
    ],
    [
      "no capacity-type label",
      (o) => o.gpuNodeLabels.forEach((l) => (delete l.karpenterCapacityType, delete l.eksCapacityType)),
      "node-label:capacity-type",
      "fail",
      /Spot and On-Demand/,
      /karpenter\.sh\/capacity-type,eks\.amazonaws\.com\/capacityType/,
    ],
    [
      "an unknown capacity-type value",
      (o) => (o.gpuNodeLabels[0]!.karpenterCapacityType = "reserved"),
      "prices:capacity-types",
      "fail",
      /"reserved" \(nodes g5-a\)/,
      /spot \/ on-demand/,
    ],
    [
      "two unpriced instance types",
      (o) => {
        o.gpuNodeLabels[0]!.instanceType = "p5.48xlarge";
        o.gpuNodeLabels[1]!.instanceType = "g6.xlarge";
      },
      "prices:instance-types",
      "fail",
      /g6\.xlarge \(nodes g4-b\), p5\.48xlarge \(nodes g5-a\)/,
      /g6\.xlarge: \{ gpus, gpuModel, onDemandHourly, spotHourly \}; p5\.48xlarge/,
    ],
    [
      "no node-group label",
      (o) => o.gpuNodeLabels.forEach((l) => (delete l.eksNodegroup, delete l.karpenterNodepool)),
      "node-label:node-group",
      "warn",
      /capacity\.csv/,
      /eks\.amazonaws\.com\/nodegroup/,
    ],
    [
      "a time-sliced node without its replicas label",
      (o) => (o.gpuNodeCapacity[0]!.capacity = 16),
      "node-label:gpu-replicas",
      "fail",
      /g5-a \(16 nvidia\.com\/gpu on g5\.12xlarge, 4 GPUs\)/,
      /nvidia\.com\/gpu\.replicas/,
    ],
    [
      "a GPU namespace with no tenant label and no glob",
      (o) => (o.gpuRequests[0]!.namespace = "research"),
      "tenants:gpu-namespaces",
      "warn",
      /no tenant .*: research/,
      /tenant=<id>/,
    ],
    [
      "a tenant label naming no tenant",
      (o) => (o.namespaces[0]!.tenantLabel = "busan"),
      "tenants:gpu-namespaces",
      "warn",
      /suwon-train \(tenant="busan"\)/,
      /add the tenant/,
    ],
    [
      "kube-state-metrics scraped with honor_labels false",
      (o) => (o.gpuRequests[0]!.exportedNamespace = "suwon-train"),
      "ksm:honor-labels",
      "fail",
      /exported_namespace/,
      /honorLabels: true/,
    ],
    [
      "two kube-state-metrics replicas",
      (o) => o.namespaces.push({ namespace: "team-ai", target: "kube-state-metrics 10.0.1.12:8080" }),
      "ksm:replicas",
      "info",
      /2 kube-state-metrics targets/,
      /merged/,
    ],
    [
      "GPU requests on a node with no kube_node_labels",
      (o) => o.gpuRequests.push({ namespace: "team-ai", node: "ghost", resource: "nvidia_com_gpu", series: 1 }),
      "node-labels:gpu-nodes",
      "fail",
      /ghost/,
    ],
    [
      "requests of pods not bound to a node",
      (o) => o.gpuRequests.push({ namespace: "team-ai", resource: "nvidia_com_gpu", series: 3 }),
      "requests:unscheduled",
      "info",
      /3 GPU request series without a node/,
    ],
    [
      "dcgm-exporter not scraped",
      (o) => ((o.families.DCGM_FI_DEV_GPU_UTIL = 0), (o.dcgm = {})),
      "metric:DCGM_FI_DEV_GPU_UTIL",
      "fail",
      /used GPU-hours would be 0/,
      /dcgm-exporter/,
    ],
    [
      "dcgm without pod labels (Kubernetes mode off)",
      (o) => ((o.dcgm = { all: 6, Hostname: 6, controller_node: 6 }), (o.gpuPods.attributed = 0)),
      "dcgm:pod-attribution",
      "fail",
      /utilization under namespace\/pod: 0 of 3/,
      /DCGM_EXPORTER_KUBERNETES=true.*pod-resources/,
    ],
    [
      "dcgm's pod labels arrive as exported_pod and the config reads pod",
      (o) => ((o.dcgm = { all: 6, pod: 6, exported_pod: 4, configured: 6, Hostname: 6, controller_node: 6 }), (o.gpuPods.attributed = 0)),
      "dcgm:pod-labels",
      "fail",
      /exported_namespace\/exported_pod .* config reads namespace\/pod/,
      /dcgmPod: exported_pod.*serviceMonitor\.honorLabels: true/,
    ],
    [
      "the config reads exported_pod and dcgm's labels arrive as pod",
      (o) => ((o.dcgm = { all: 6, pod: 4, Hostname: 6, controller_node: 6 }), (o.gpuPods.attributed = 0)),
      "dcgm:pod-labels",
      "fail",
      /arrives as namespace\/pod and the config reads exported_namespace\/exported_pod/,
      /dcgmPod: pod/,
      { dcgmNamespaceLabel: "exported_namespace", dcgmPodLabel: "exported_pod" },
    ],
    [
      "dcgm names the node hostname (newer dcgm-exporter)",
      (o) => (o.dcgm = { all: 6, pod: 4, configured: 4, hostname: 6 }),
      "dcgm:node-label",
      "warn",
      /hostname, the controller reads Hostname/,
      /DCGM_NODE_LABEL=hostname/,
    ],
    [
      "MIG nodes without DCGM_FI_PROF_GR_ENGINE_ACTIVE",
      (o) => {
        o.gpuNodeCapacity.push({ node: "p4d-mig", resource: "nvidia_com_mig_1g_5gb", capacity: 56 });
        o.gpuNodeLabels.push({
          node: "p4d-mig",
          instanceType: "p4d.24xlarge",
          karpenterCapacityType: "on-demand",
          karpenterNodepool: "mig",
        });
      },
      "metric:DCGM_FI_PROF_GR_ENGINE_ACTIVE",
      "fail",
      /p4d-mig/,
      /DCGM_FI_PROF_GR_ENGINE_ACTIVE/,
    ],
    [
      "a 2-minute scrape interval",
      (o) => (o.sampleSpacingSeconds["kube-state-metrics"] = 120),
      "scrape-interval:kube-state-metrics",
      "warn",
      /every 120 s/,
      /scrapeInterval/,
    ],
    [
      "a 5-minute scrape interval",
      (o) => (o.sampleSpacingSeconds["dcgm-exporter"] = 300),
      "scrape-interval:dcgm-exporter",
      "fail",
      /5-minute lookback/,
      /serviceMonitor\.interval/,
    ],
  ];

  it.each(cases)("given %s, then the check is named with its fix", (_what, mutate, check, status, seen, fix, s) => {
    const obs = complete();
    mutate(obs);
    const f = find(obs, check, { ...settings, ...s });
    expect(f, check).toBeDefined();
    expect(f!.status).toBe(status);
    expect(f!.seen).toMatch(seen);
    if (fix) expect(f!.fix).toMatch(fix);
    expect(canBill(runDoctorChecks(obs, cfg, { ...settings, ...s }))).toBe(status !== "fail");
  });

  it("given the allowlist fix, then it names every node label the queries read and the tenant label", () => {
    expect(KSM_ALLOWLIST_FLAG).toBe(
      "--metric-labels-allowlist=nodes=[node.kubernetes.io/instance-type,karpenter.sh/capacity-type,eks.amazonaws.com/capacityType,eks.amazonaws.com/nodegroup,karpenter.sh/nodepool,nvidia.com/gpu.replicas,topology.kubernetes.io/zone],namespaces=[tenant]",
    );
  });

  describe("node-label:zone (prices.source aws)", () => {
    const awsCfg = parseConfig(
      configWith(referenceConfigText, [["prices", "source"], "aws"], [["prices", "region"], "ap-northeast-2"]),
      "aws",
    );
    it("given prices.source aws and a Spot node without its zone, then it is a warning naming the node and the allowlist fix", () => {
      const f = runDoctorChecks(complete(), awsCfg, settings).find((x) => x.check === "node-label:zone");
      expect(f?.status).toBe("warn");
      expect(f?.seen).toMatch(/1 of 1 Spot GPU nodes carry no label_topology_kubernetes_io_zone \(g5-a\)/);
      expect(f?.fix).toMatch(/topology\.kubernetes\.io\/zone/);
    });
    it("given prices.source aws and every Spot node with its zone, then it is ok", () => {
      const obs = complete();
      obs.gpuNodeLabels[0]!.zone = "ap-northeast-2a";
      expect(runDoctorChecks(obs, awsCfg, settings).find((x) => x.check === "node-label:zone")?.status).toBe("ok");
    });
    it("given prices.source config, then the zone is not checked (the config's prices do not depend on it)", () => {
      expect(find(complete(), "node-label:zone")).toBeUndefined();
    });
  });

  it("given a time-sliced node labelled with its replicas, then it is ok", () => {
    const obs = complete();
    obs.gpuNodeCapacity[0]!.capacity = 16;
    obs.gpuNodeLabels[0]!.gpuReplicas = "4";
    expect(find(obs, "node-label:gpu-replicas")).toMatchObject({
      status: "ok",
      seen: "1 time-sliced node, each labelled with its replicas",
    });
  });

  it("given findings, then the table has one row per check with wrapped cells", () => {
    const obs = complete();
    obs.gpuRequests[0]!.namespace = "research";
    const table = formatDoctorTable(runDoctorChecks(obs, cfg, settings));
    const lines = table.split("\n");
    expect(lines[0]).toMatch(/^check\s+status\s+seen\s+fix$/);
    expect(table).toMatch(/tenants:gpu-namespaces\s+WARN/);
    expect(Math.max(...lines.map((l) => l.length))).toBeLessThan(200);
  });
});
