import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from "vitest";
import { S3Client } from "@aws-sdk/client-s3";
import { main } from "../../functions/cli/main.js";
import { startScenarioPrometheus, type RunningPrometheus } from "../../functions/demo/local-prometheus.js";
import { UnbillableInputError } from "../../functions/core/chargeback.js";
import { UnattributableSeriesError } from "../../functions/adapters/prometheus-usage.js";
import { buildMeterDeps, makeMeterHandler } from "../../functions/handlers/meter-handler.js";
import { referenceConfigText } from "../core/fixtures.js";
import { localSink } from "../../functions/adapters/dataset-sink.js";
import { configWith } from "../support/config-edit.js";

/**
 * One real Prometheus 2.42 holds every scenario, each 3 hours of 1-minute samples two days
 * after the previous one, so "the last 24 hours" before a scenario's end sees it alone:
 * a complete small cluster, and the same cluster lacking one prerequisite at a time.
 */
const T0 = Date.parse("2026-09-01T00:00:00Z");
const SPACING_MIN = 2 * 24 * 60;
const RUN_MIN = 180;
const SCENARIOS = [
  "complete",
  "no-instance-type",
  "no-tenant",
  "dcgm-no-pod-labels",
  "dcgm-exported-pod",
  "unpriced",
  "unknown-capacity",
] as const;
type Scenario = (typeof SCENARIOS)[number];
/** `now` for a scenario: an hour after its data ends. */
const nowOf = (s: Scenario) => new Date(T0 + (SCENARIOS.indexOf(s) * SPACING_MIN + RUN_MIN + 60) * 60_000);

type Series = [name: string, labels: string, fromMin: number, toMin: number, value: (m: number) => number];

function scenarioSeries(s: Scenario): Series[] {
  const i = SCENARIOS.indexOf(s);
  const at = i * SPACING_MIN;
  const node = `g5-${i}`;
  const ns = s === "no-tenant" ? `research-${i}` : `suwon-train-${i}`;
  const pod = `train-${i}`;
  const instanceType = s === "unpriced" ? "p5.48xlarge" : "g5.12xlarge";
  const capacity = s === "unknown-capacity" ? "reserved" : "spot";
  const nodeLabels = [
    s === "no-instance-type" ? "" : `label_node_kubernetes_io_instance_type="${instanceType}",`,
    `label_karpenter_sh_capacity_type="${capacity}",label_karpenter_sh_nodepool="gpu-spot",node="${node}"`,
  ].join("");
  const ksm = ['instance="10.0.1.11:8080",job="kube-state-metrics"', 'instance="10.0.1.12:8080",job="kube-state-metrics"'];
  const dcgmPod =
    s === "dcgm-no-pod-labels"
      ? ""
      : s === "dcgm-exported-pod"
        ? `,exported_namespace="${ns}",exported_pod="${pod}",namespace="gpu-operator",pod="dcgm-exporter-${i}"`
        : `,namespace="${ns}",pod="${pod}"`;
  const out: Series[] = [];
  for (const k of ksm) {
    out.push(["kube_node_labels", `${k},${nodeLabels}`, at, at + RUN_MIN, () => 1]);
    out.push(["kube_node_status_capacity", `${k},node="${node}",resource="nvidia_com_gpu",unit="integer"`, at, at + RUN_MIN, () => 4]);
    out.push([
      "kube_namespace_labels",
      `${k},${ns.startsWith("suwon") ? 'label_tenant="suwon",' : ""}namespace="${ns}"`,
      at,
      at + RUN_MIN,
      () => 1,
    ]);
    out.push([
      "kube_pod_container_resource_requests",
      `${k},container="c0",namespace="${ns}",node="${node}",pod="${pod}",resource="nvidia_com_gpu",unit="integer"`,
      at + 10,
      at + RUN_MIN - 10,
      () => 2,
    ]);
    out.push([
      "kube_pod_status_phase",
      `${k},namespace="${ns}",phase="Running",pod="${pod}"`,
      at + 10,
      at + RUN_MIN - 10,
      (m) => (m >= at + 12 ? 1 : 0),
    ]);
  }
  for (const gpu of [0, 1])
    out.push([
      "DCGM_FI_DEV_GPU_UTIL",
      `Hostname="${node}",UUID="GPU-${i}-${gpu}",gpu="${gpu}",modelName="NVIDIA A10G"${dcgmPod}`,
      at + 12,
      at + RUN_MIN - 10,
      () => 60,
    ]);
  return out;
}

describe("gpu-billing doctor against a real Prometheus", () => {
  let prom: RunningPrometheus;
  let dir: string;
  let exportedConfig: string;
  let logs: string[];
  const run = (args: string[], s: Scenario, env: NodeJS.ProcessEnv = {}) =>
    main(["doctor", "--prometheus-url", prom.url, ...args], env, nowOf(s));

  beforeAll(async () => {
    const all = SCENARIOS.flatMap(scenarioSeries);
    // OpenMetrics keeps a family together: every scenario's series of one family, one after another.
    const families = [...new Set(all.map((x) => x[0]))];
    prom = await startScenarioPrometheus(T0, (series) => {
      for (const f of families) for (const x of all.filter((y) => y[0] === f)) series(...x);
    });
    dir = await mkdtemp(path.join(tmpdir(), "doctor-"));
    exportedConfig = path.join(dir, "exported.yaml");
    await writeFile(
      exportedConfig,
      configWith(referenceConfigText, [["prometheus", "labels"], { dcgmNamespace: "exported_namespace", dcgmPod: "exported_pod" }]),
    );
  });
  afterAll(async () => {
    await prom?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });
  beforeEach(() => {
    logs = [];
    vi.spyOn(console, "log").mockImplementation((...a: unknown[]) => void logs.push(a.join(" ")));
    vi.spyOn(console, "error").mockImplementation((...a: unknown[]) => void logs.push(a.join(" ")));
  });
  const output = () => logs.join("\n");
  /** The table row of a check (its first line). */
  const row = (check: string) =>
    output()
      .split("\n")
      .find((l) => l.startsWith(`${check} `)) ?? "";

  it("given a complete small cluster, when doctor runs over the last 24 hours, then it exits 0 and reports the duplicated kube-state-metrics as info", async () => {
    expect(await run([], "complete")).toBe(0);
    expect(output()).toMatch(/over the last 24 hours/);
    expect(row("ksm:replicas")).toMatch(/INFO\s+2 kube-state-metrics targets/);
    expect(row("dcgm:pod-attribution")).toMatch(/OK\s+Running GPU pods with utilization under/);
    expect(row("scrape-interval:kube-state-metrics")).toMatch(/OK\s+samples every 60 s/);
    expect(row("prices:instance-types")).toMatch(/OK/);
    expect(output()).not.toMatch(/\bFAIL\b/);
    expect(output()).toMatch(/A month can be billed/);
  });

  /** The findings of a `--json` run (stdout is the JSON document; the verdict goes to stderr). */
  const json = async (args: string[], s: Scenario) => {
    const code = await run(["--json", ...args], s);
    const doc = JSON.parse(logs.find((l) => l.startsWith("{"))!) as {
      billable: boolean;
      clusters: { findings: { check: string; status: string; seen: string; fix: string }[] }[];
    };
    return { code, doc, finding: (check: string) => doc.clusters[0]!.findings.find((f) => f.check === check) };
  };

  it.each([
    [
      "no-instance-type",
      "node-label:instance-type",
      /no GPU nodes carry label_node_kubernetes_io_instance_type/,
      /--metric-labels-allowlist=nodes=\[node\.kubernetes\.io\/instance-type,.*\],namespaces=\[tenant\].*kube-state-metrics\.metricLabelsAllowlist/,
    ],
    [
      "dcgm-no-pod-labels",
      "dcgm:pod-attribution",
      /utilization under namespace\/pod: 0 of 1/,
      /DCGM_EXPORTER_KUBERNETES=true .*pod-resources/,
    ],
    [
      "dcgm-exported-pod",
      "dcgm:pod-labels",
      /exported_namespace\/exported_pod \(honor_labels: false\) and the config reads namespace\/pod/,
      /dcgmPod: exported_pod .*serviceMonitor\.honorLabels: true/,
    ],
    [
      "unpriced",
      "prices:instance-types",
      /no price in the config: p5\.48xlarge \(nodes g5-5\)/,
      /p5\.48xlarge: \{ gpus, gpuModel, onDemandHourly, spotHourly \}/,
    ],
    ["unknown-capacity", "prices:capacity-types", /"reserved" \(nodes g5-6\)/, /spot \/ on-demand/],
  ] as const)("given a cluster with %s, when doctor runs, then it exits 2 naming %s and its fix", async (scenario, check, seen, fix) => {
    const { code, doc, finding } = await json([], scenario);
    expect(code).toBe(2);
    expect(doc.billable).toBe(false);
    expect(finding(check)).toMatchObject({ status: "fail", seen: expect.stringMatching(seen), fix: expect.stringMatching(fix) });
    expect(output()).toMatch(new RegExp(`cannot be billed: .*${check.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}`));
  });

  it("given a GPU namespace with no tenant, when doctor runs, then it warns with the fix and exits 0 (the namespace bills as unallocated, a reported row)", async () => {
    const { code, finding } = await json([], "no-tenant");
    expect(code).toBe(0);
    expect(finding("tenants:gpu-namespaces")).toMatchObject({
      status: "warn",
      seen: expect.stringMatching(/no tenant .*: research-2.*unallocated/),
      fix: expect.stringMatching(/tenant=<tenant id>/),
    });
  });

  it("given dcgm's exported_pod labels and a config that reads them, when doctor runs, then it exits 0", async () => {
    expect(await run(["--config", exportedConfig], "dcgm-exported-pod")).toBe(0);
    expect(row("dcgm:pod-labels")).toMatch(/OK/);
  });

  it("given --month over every scenario, when doctor runs, then it exits 2 with every reason", async () => {
    expect(await run(["--month", "2026-09"], "unknown-capacity")).toBe(2);
    const failed = /cannot be billed: \d+ checks failed: (.*)/.exec(output())?.[1] ?? "";
    for (const c of ["node-label:instance-type", "dcgm:pod-labels", "prices:instance-types", "prices:capacity-types"])
      expect(failed).toContain(c);
    expect(failed).not.toContain("tenants:gpu-namespaces");
    expect(output()).toMatch(/over 2026-09 so far \(Asia\/Seoul\)/);
  });

  it("given a future month or an unknown cluster, then it exits 2 before querying", async () => {
    expect(await run(["--month", "2027-01"], "complete")).toBe(2);
    expect(output()).toMatch(/in the future/);
    expect(await run(["--cluster", "busan"], "complete")).toBe(2);
    expect(output()).toMatch(/--cluster: no cluster "busan" in the config \(clusters: default\)/);
  });

  it("given Prometheus is unreachable, when doctor runs, then it exits 3 after the client's retries", async () => {
    const cfgFile = path.join(dir, "no-retries.yaml");
    await writeFile(cfgFile, configWith(referenceConfigText, [["prometheus", "retries"], 1]));
    expect(await main(["doctor", "--config", cfgFile, "--prometheus-url", "http://127.0.0.1:9"], {}, nowOf("complete"))).toBe(3);
    expect(row("prometheus")).toMatch(/FAIL\s+Prometheus at http:\/\/127\.0\.0\.1:9 unavailable after 2/);
    expect(output()).toMatch(/Prometheus unavailable: cannot tell whether a month can be billed/);
  });

  it("given a month the meter cannot bill, when the scheduled meter handler fails, then it logs the doctor's findings and rethrows the meter's own error", async () => {
    const logged: { msg: string; check?: string; status?: string; fix?: string; failed?: string[] }[] = [];
    const record = (msg: string, extra: Record<string, unknown>) => void logged.push({ msg, ...extra });
    const built = buildMeterDeps(
      { DATA_BUCKET: "data", BILLING_CONFIG: referenceConfigText, PROMETHEUS_URL: prom.url },
      new S3Client({ region: "ap-northeast-2" }),
    );
    // A local sink: the run fails before anything would be written.
    const handler = makeMeterHandler(
      () => ({ ...built, deps: { ...built.deps, sink: localSink(path.join(dir, "out")) } }),
      () => new Date("2026-10-02T00:00:00Z"),
      { info: record, warn: record, error: record },
    );
    const err = await handler({ month: "2026-09" }).catch((e) => e);
    // Which of the meter's bad-input errors comes first depends on the query order; both point to the doctor.
    expect([UnbillableInputError.name, UnattributableSeriesError.name]).toContain(err.name);
    expect(err.message).toMatch(/gpu-billing doctor --month YYYY-MM/);
    expect(logged.findIndex((l) => l.msg === "metering failed")).toBeLessThan(logged.findIndex((l) => l.msg === "doctor finding"));
    expect(logged.filter((l) => l.msg === "doctor finding" && l.status === "fail").map((l) => l.check)).toEqual(
      expect.arrayContaining(["node-label:instance-type", "prices:instance-types", "prices:capacity-types"]),
    );
    expect(logged.find((l) => l.msg === "doctor checks done")?.failed).toContain("prices:instance-types");
  });
});
