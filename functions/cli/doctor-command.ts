import { parseArgs } from "node:util";
import { configuredClusters } from "../core/config.js";
import { parseMonth } from "../core/month.js";
import { PrometheusUnavailableError, redactUrl, type PrometheusClient } from "../adapters/prometheus-client.js";
import { loadDoctorQueries, prometheusDoctorObserver } from "../adapters/doctor-observations.js";
import { prometheusForClusters } from "../wiring/prometheus-from-config.js";
import { canBill, type DoctorFinding } from "../doctor/doctor-checks.js";
import { diagnoseCluster, doctorWindow } from "../doctor/run-doctor.js";
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

  const rows: (DoctorFinding & { cluster?: string })[] = [];
  const unavailable: string[] = [];
  const checked: { cluster: string; prometheusUrl: string; findings: DoctorFinding[] }[] = [];
  const say = values.json ? () => {} : (line: string) => console.log(line);
  for (const cluster of clusters) {
    const client = prometheusFor(cluster);
    say(`gpu-billing doctor: ${several ? `cluster ${cluster.id}, ` : ""}${redactUrl(client.url)} over ${window.description}`);
    let findings: DoctorFinding[];
    try {
      findings = await diagnoseCluster(prometheusDoctorObserver(client, queries), cfg, cluster, window, {
        controllerNodeLabel: env.DCGM_NODE_LABEL,
      });
    } catch (e) {
      if (!(e instanceof PrometheusUnavailableError)) throw e;
      unavailable.push(cluster.id);
      findings = [
        {
          check: "prometheus",
          status: "fail",
          seen: e.message,
          fix: "check the URL, credentials and network path to Prometheus/AMP, then run again",
        },
      ];
    }
    rows.push(...findings.map((f) => (several ? { ...f, cluster: cluster.id } : f)));
    checked.push({ cluster: cluster.id, prometheusUrl: redactUrl(client.url), findings });
  }
  const failed = rows.filter((r) => r.status === "fail");
  const what = values.month ?? "a month";
  if (values.json)
    console.log(
      JSON.stringify(
        {
          window: {
            start: new Date(window.startMs).toISOString(),
            end: new Date(window.endMs).toISOString(),
            description: window.description,
          },
          billable: !failed.length,
          unavailable,
          clusters: checked,
        },
        null,
        2,
      ),
    );
  else console.log(`\n${formatDoctorTable(rows)}\n`);
  if (unavailable.length) {
    console.error(
      `Prometheus unavailable${several ? ` for ${unavailable.join(", ")}` : ""}: cannot tell whether ${what} can be billed; run again when it is back.`,
    );
    return EXIT.unavailable;
  }
  if (!canBill(rows)) {
    console.error(
      `${what} cannot be billed: ${failed.length} check${failed.length === 1 ? "" : "s"} failed: ${failed.map((f) => (several ? `${f.cluster}/${f.check}` : f.check)).join(", ")}`,
    );
    return EXIT.badInput;
  }
  say(`${what === "a month" ? "A month" : what} can be billed${rows.some((r) => r.status === "warn") ? " (see the warnings)" : ""}.`);
  return EXIT.ok;
}
