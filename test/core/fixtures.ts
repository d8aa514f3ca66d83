import { readFileSync } from "node:fs";
import type { NodeRecord, UsageRecord } from "../../functions/core/usage.js";
import { type Config, parseConfig } from "../../functions/config/config-schema.js";

export const referenceConfigText = readFileSync(new URL("../../functions/config/reference-customer.yaml", import.meta.url), "utf8");
/** The reference config minus its `reports` block (finance/executive recipients, sender): "nothing configured". */
export const referenceConfigTextWithoutReports = (() => {
  const at = referenceConfigText.indexOf("\nreports:\n");
  if (at < 0) throw new Error("reference-customer.yaml has no top-level reports block any more: update this fixture");
  return referenceConfigText.slice(0, at + 1);
})();
export const referenceConfig = (): Config => parseConfig(referenceConfigText, "reference-customer.yaml");

export const node = (over: Partial<NodeRecord> & { node: string }): NodeRecord => ({
  day: "2026-10-01",
  instanceType: "p4d.24xlarge",
  capacityLabel: "on-demand",
  gpuReplicas: 1,
  nodeMinutes: 1440,
  ...over,
});

export const use = (over: Partial<UsageRecord> & { namespace: string; node: string }): UsageRecord => ({
  day: "2026-10-01",
  resource: "nvidia_com_gpu",
  requestMinutes: 60,
  usedMinutes: 60,
  ...over,
});
