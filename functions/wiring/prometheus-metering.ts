import { prometheusUsageSources, type PrometheusUsageWiring } from "../adapters/prometheus-usage-source.js";
import type { UsageSources } from "../metering/metering-ports.js";
import { meterMonth, type MeterDeps } from "../metering/meter-month.js";
import { meterMonthToDate, type MonthToDateDeps } from "../metering/meter-month-to-date.js";
import { rerunMonth, type RerunDeps } from "../metering/rerun-month.js";

/*
 * Metering reads usage through its UsageSources port; every root (the handlers, the CLI, the
 * quota check) and the integration tests meter from Prometheus. These take the clients and the
 * PromQL files in place of the port, so a call site names what it queries, not how it is wired.
 */

/** A metering capability's deps with the Prometheus clients and queries in place of `usage`. */
export type PrometheusWired<T extends { usage: UsageSources }> = Omit<T, "usage"> & PrometheusUsageWiring;

/** `deps` with its clients and queries turned into metering's usage sources. */
export function withPrometheusUsage<T extends PrometheusUsageWiring>({
  prometheus,
  prometheusFor,
  queries,
  ...rest
}: T): Omit<T, keyof PrometheusUsageWiring> & { usage: UsageSources } {
  return { ...rest, usage: prometheusUsageSources({ prometheus, prometheusFor, queries }) };
}

type Rest<F> = F extends (deps: never, ...rest: infer R) => unknown ? R : never;

export function meterMonthFromPrometheus(
  deps: PrometheusWired<MeterDeps>,
  ...rest: Rest<typeof meterMonth>
): ReturnType<typeof meterMonth> {
  return meterMonth(withPrometheusUsage(deps), ...rest);
}

export function meterMonthToDateFromPrometheus(
  deps: PrometheusWired<MonthToDateDeps>,
  ...rest: Rest<typeof meterMonthToDate>
): ReturnType<typeof meterMonthToDate> {
  return meterMonthToDate(withPrometheusUsage(deps), ...rest);
}

export function rerunMonthFromPrometheus(
  deps: PrometheusWired<RerunDeps>,
  ...rest: Rest<typeof rerunMonth>
): ReturnType<typeof rerunMonth> {
  return rerunMonth(withPrometheusUsage(deps), ...rest);
}
