import { configuredClusters, type BaseConfig, type MeteredCluster } from "../core/config.js";
import { UnavailableError } from "../core/errors.js";
import { InvalidMonthError, billingMonth } from "../core/month.js";
import { canBill, runDoctorChecks, type DoctorFinding, type ObserveCluster } from "./doctor-checks.js";

/** dcgm-exporter's node label as the controller reads it by default (DCGM_NODE_LABEL). */
export const DEFAULT_CONTROLLER_NODE_LABEL = "Hostname";

export interface DoctorWindow {
  startMs: number;
  endMs: number;
  /** How the window is named in the output: "last 24 hours" or the month. */
  description: string;
}

const HOUR = 3600_000;

/**
 * The window checked: the last 24 hours before `now` (floored to the minute), or a
 * billing month in the billing time zone — a running month up to now, a future one refused.
 */
export function doctorWindow(cfg: Pick<BaseConfig, "timeZone">, now: Date, month?: string): DoctorWindow {
  const nowMs = Math.floor(now.getTime() / 60_000) * 60_000;
  if (month === undefined) return { startMs: nowMs - 24 * HOUR, endMs: nowMs, description: "the last 24 hours" };
  const bm = billingMonth(month, cfg.timeZone);
  if (bm.startMs >= nowMs) throw new InvalidMonthError(`month ${month} is in the future in ${cfg.timeZone}; nothing to check yet`);
  const endMs = Math.min(bm.endMs, nowMs);
  return { startMs: bm.startMs, endMs, description: endMs < bm.endMs ? `${month} so far (${cfg.timeZone})` : `${month} (${cfg.timeZone})` };
}

export interface DiagnoseOptions {
  /** DCGM_NODE_LABEL of the controller (default Hostname). */
  controllerNodeLabel?: string;
}

/** Observes one cluster's Prometheus over the window and checks it against the config. */
async function diagnoseCluster(
  observe: ObserveCluster,
  cfg: BaseConfig,
  cluster: MeteredCluster,
  window: DoctorWindow,
  o: DiagnoseOptions,
): Promise<DoctorFinding[]> {
  const labels = cluster.prometheus?.labels ?? { dcgmNamespace: "namespace", dcgmPod: "pod" };
  const settings = {
    dcgmNamespaceLabel: labels.dcgmNamespace,
    dcgmPodLabel: labels.dcgmPod,
    controllerNodeLabel: o.controllerNodeLabel ?? DEFAULT_CONTROLLER_NODE_LABEL,
  };
  const obs = await observe(window, settings);
  return runDoctorChecks(obs, cfg, settings);
}

/** One cluster to check: its config, how to observe its Prometheus, and where that is (a redacted URL). */
export interface DoctorTarget {
  cluster: MeteredCluster;
  observe: ObserveCluster;
  location: string;
}

/** One cluster's findings; `unavailable`: its Prometheus could not be read, so nothing else was checked. */
export interface ClusterCheck {
  cluster: string;
  location: string;
  findings: DoctorFinding[];
  unavailable: boolean;
}

/**
 * Checks each cluster in turn. An unreachable Prometheus is a finding of that cluster (the
 * others are still checked, so one run shows every cluster's state); any other error is a bug
 * or bad input and stops the run.
 */
export async function diagnoseClusters(
  targets: readonly DoctorTarget[],
  cfg: BaseConfig,
  window: DoctorWindow,
  o: DiagnoseOptions & { onCluster?: (target: DoctorTarget) => void },
): Promise<ClusterCheck[]> {
  const out: ClusterCheck[] = [];
  for (const target of targets) {
    const { cluster, observe, location } = target;
    o.onCluster?.(target);
    try {
      out.push({ cluster: cluster.id, location, findings: await diagnoseCluster(observe, cfg, cluster, window, o), unavailable: false });
    } catch (e) {
      if (!(e instanceof UnavailableError)) throw e;
      const fix = "check the URL, credentials and network path to Prometheus/AMP, then run again";
      out.push({
        cluster: cluster.id,
        location,
        findings: [{ check: "prometheus", status: "fail", seen: e.message, fix }],
        unavailable: true,
      });
    }
  }
  return out;
}

/** What the checks mean for billing `what` ("2026-10" or "a month"): the verdict and the line that says it. */
export type DoctorVerdict =
  { verdict: "billable"; message: string } | { verdict: "unavailable"; message: string } | { verdict: "not-billable"; message: string };

export function doctorVerdict(checks: readonly ClusterCheck[], what: string): DoctorVerdict {
  const several = checks.length > 1;
  const unavailable = checks.filter((c) => c.unavailable).map((c) => c.cluster);
  if (unavailable.length)
    return {
      verdict: "unavailable",
      message: `Prometheus unavailable${several ? ` for ${unavailable.join(", ")}` : ""}: cannot tell whether ${what} can be billed; run again when it is back.`,
    };
  const all = checks.flatMap((c) => c.findings.map((f) => ({ ...f, cluster: c.cluster })));
  if (!canBill(all)) {
    const failed = all.filter((f) => f.status === "fail");
    return {
      verdict: "not-billable",
      message: `${what} cannot be billed: ${failed.length} check${failed.length === 1 ? "" : "s"} failed: ${failed.map((f) => (several ? `${f.cluster}/${f.check}` : f.check)).join(", ")}`,
    };
  }
  const warned = all.some((f) => f.status === "warn");
  return { verdict: "billable", message: `${what === "a month" ? "A month" : what} can be billed${warned ? " (see the warnings)" : ""}.` };
}

/** The doctor's outcome for one cluster after a failed run: its findings, or why it could not run. */
export type ClusterDiagnosis = { cluster: string; findings: DoctorFinding[] } | { cluster: string; error: string };

/**
 * Best effort, for a failed metering run's log: the doctor's checks of every cluster over the
 * month, each bounded by `timeoutMs`. Never throws, so it can never hide the run's own error.
 */
export async function diagnoseAfterFailure(
  cfg: BaseConfig,
  month: string,
  now: Date,
  o: {
    /** Made inside the best-effort guard: preparing the observers (e.g. loading query files) may fail too. */
    observers: () => (c: MeteredCluster) => ObserveCluster;
    controllerNodeLabel?: string;
    timeoutMs?: number;
  },
): Promise<ClusterDiagnosis[]> {
  const out: ClusterDiagnosis[] = [];
  let observerFor: (c: MeteredCluster) => ObserveCluster;
  let window: DoctorWindow;
  try {
    observerFor = o.observers();
    window = doctorWindow(cfg, now, month);
  } catch (e) {
    return [{ cluster: "*", error: (e as Error).message }];
  }
  for (const cluster of configuredClusters(cfg)) {
    let timer: NodeJS.Timeout | undefined;
    try {
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`doctor checks took longer than ${o.timeoutMs ?? 120_000} ms`)), o.timeoutMs ?? 120_000);
      });
      const findings = await Promise.race([
        diagnoseCluster(observerFor(cluster), cfg, cluster, window, { controllerNodeLabel: o.controllerNodeLabel }),
        timeout,
      ]);
      out.push({ cluster: cluster.id, findings });
    } catch (e) {
      out.push({ cluster: cluster.id, error: `${(e as Error).name}: ${(e as Error).message}` });
    } finally {
      clearTimeout(timer);
    }
  }
  return out;
}
