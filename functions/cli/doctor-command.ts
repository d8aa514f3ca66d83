import { parseArgs } from "node:util";
import { configuredClusters } from "../core/config.js";
import { parseMonth } from "../core/month.js";
import { redactUrl, type PrometheusClient } from "../adapters/prometheus-client.js";
import { loadDoctorQueries, prometheusDoctorObserver } from "../adapters/doctor-observations.js";
import { prometheusForClusters } from "../wiring/prometheus-from-config.js";
import { canBill } from "../doctor/doctor-checks.js";
import { diagnoseClusters, doctorVerdict, doctorWindow, type ClusterCheck, type DoctorWindow } from "../doctor/run-doctor.js";
import { formatDoctorTable } from "../doctor/doctor-table.js";
import { DEFAULT_CONFIG, EXIT, UsageError, loadConfig } from "./cli-args.js";

export interface DoctorCommandDeps {
  /** A Prometheus client for every cluster (tests); otherwise built from the config. */
  prometheus?: PrometheusClient;
  queriesDir?: string;
}

/**
 * `gpu-billing doctor`: checks what metering, quotas and the controller read, over the last
 * 24 hours or `--month`, and prints one table of findings with their fixes (`--json`: the findings as JSON).
 * Exit 0: a month can be billed; 2: it cannot (every failed check listed); 3: Prometheus unavailable.
 */
export async function doctorCommand(argv: string[], env: NodeJS.ProcessEnv, now: Date, deps: DoctorCommandDeps = {}): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      config: { type: "string" },
      "prometheus-url": { type: "string" },
      cluster: { type: "string" },
      month: { type: "string" },
      json: { type: "boolean" },
    },
    strict: true,
  });
  const cfg = await loadConfig(values.config ?? DEFAULT_CONFIG);
  if (values.month !== undefined) {
    try {
      parseMonth(values.month);
    } catch (e) {
      throw new UsageError(`--month: ${(e as Error).message}`);
    }
  }
  let clusters = configuredClusters(cfg);
  if (values.cluster !== undefined) {
    clusters = clusters.filter((c) => c.id === values.cluster);
    if (!clusters.length)
      throw new UsageError(
        `--cluster: no cluster "${values.cluster}" in the config (clusters: ${configuredClusters(cfg)
          .map((c) => c.id)
          .join(", ")})`,
      );
  }
  const window = doctorWindow(cfg, now, values.month);
  const prometheusFor = deps.prometheus
    ? () => deps.prometheus!
    : prometheusForClusters(cfg, env, { url: values["prometheus-url"] ?? env.PROMETHEUS_URL });
  const queries = loadDoctorQueries(deps.queriesDir);
  const several = clusters.length > 1;
  const say = values.json ? () => {} : (line: string) => console.log(line);

  const targets = clusters.map((cluster) => {
    const client = prometheusFor(cluster);
    return { cluster, observe: prometheusDoctorObserver(client, queries), location: redactUrl(client.url) };
  });
  const checks = await diagnoseClusters(targets, cfg, window, {
    controllerNodeLabel: env.DCGM_NODE_LABEL,
    onCluster: (t) => say(`gpu-billing doctor: ${several ? `cluster ${t.cluster.id}, ` : ""}${t.location} over ${window.description}`),
  });
  if (values.json) console.log(JSON.stringify(doctorJson(checks, window), null, 2));
  else console.log(`\n${formatDoctorTable(checks.flatMap((c) => c.findings.map((f) => (several ? { ...f, cluster: c.cluster } : f))))}\n`);
  const verdict = doctorVerdict(checks, values.month ?? "a month");
  if (verdict.verdict === "billable") {
    say(verdict.message);
    return EXIT.ok;
  }
  console.error(verdict.message);
  return verdict.verdict === "unavailable" ? EXIT.unavailable : EXIT.badInput;
}

/** `--json`: the window, the verdict and every cluster's findings. */
function doctorJson(checks: readonly ClusterCheck[], window: DoctorWindow) {
  return {
    window: { start: new Date(window.startMs).toISOString(), end: new Date(window.endMs).toISOString(), description: window.description },
    billable: checks.every((c) => canBill(c.findings)),
    unavailable: checks.filter((c) => c.unavailable).map((c) => c.cluster),
    clusters: checks.map((c) => ({ cluster: c.cluster, prometheusUrl: c.location, findings: c.findings })),
  };
}
