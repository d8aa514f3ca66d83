import { describe, expect, it } from "vitest";
import { Logger } from "@aws-lambda-powertools/logger";
import { PrometheusUnavailableError } from "../../functions/adapters/prometheus-client.js";
import { buildQuotaHandlerDeps, makeQuotaHandler } from "../../functions/handlers/quota-handler.js";
import { referenceConfigText } from "../core/fixtures.js";
import { configWith } from "../support/config-edit.js";

// Prometheus on the discard port (connection refused), no retries, so the failure is immediate.
const config = configWith(referenceConfigText, [["prometheus", "retries"], 0], [["prometheus", "url"], "http://127.0.0.1:9"]);
const env = { DATA_BUCKET: "data", BILLING_CONFIG: config, AWS_REGION: "ap-northeast-2" };
const silent = new Logger({ serviceName: "test", logLevel: "SILENT" });

describe("quota handler", () => {
  it.each([
    [{ BILLING_CONFIG: config }, /DATA_BUCKET/],
    [{ DATA_BUCKET: "data" }, /BILLING_CONFIG: set BILLING_CONFIG/],
    [{ ...env, QUOTA_ENFORCE: "yes" }, /QUOTA_ENFORCE/],
    [{ ...env, QUOTA_ENFORCE: "true" }, /EKS_CLUSTER_NAME: required when enforcement is on/],
  ])("given environment %j, when the function starts, then the error names the variable", (e, msg) => {
    expect(() => buildQuotaHandlerDeps(e)).toThrow(msg);
  });

  it("given an event with a bad month, when invoked, then it fails naming the field", async () => {
    const h = makeQuotaHandler(
      () => buildQuotaHandlerDeps(env),
      () => new Date(),
      silent,
    );
    await expect(h({ month: "2026-13" })).rejects.toThrow(/month: must be YYYY-MM/);
  });

  it("given Prometheus is unavailable, when the hourly run starts, then it rethrows PrometheusUnavailableError (no alert, no change)", async () => {
    const built = buildQuotaHandlerDeps(env);
    let stateTouched = false;
    const store = built.wiring.deps.store;
    built.wiring.deps.store = { ...store, list: async () => ((stateTouched = true), new Map()) };
    const h = makeQuotaHandler(
      () => built,
      () => new Date("2026-10-20T00:00:00Z"),
      silent,
    );
    await expect(h({})).rejects.toBeInstanceOf(PrometheusUnavailableError);
    expect(stateTouched).toBe(false);
  });
});
