import { mkdir, writeFile } from "node:fs/promises";
import path from "node:path";
import { auditObjectBody, auditObjectKey, type AuditRecord } from "../adapters/controller-audit-log.js";
import type { GeneratedMonth } from "./month-generator.js";

/**
 * The demo month's controller audit log, derived from the generator's node
 * lifecycle — the demo's own, not a controller run: every EKS managed-group
 * node (Karpenter nodes are Karpenter's) that leaves inside the month, other
 * than the Spot interruption, is recorded as a reclaim the controller acted on
 * at that minute, in the shape run-controller writes (one run object each).
 */
export function demoAuditRecords(gen: GeneratedMonth, monthEndMs: number): AuditRecord[] {
  return gen.nodes
    .filter((n) => n.labelStyle === "eks" && n.endMs < monthEndMs && n.name !== gen.facts.spotInterruption.node)
    .sort((a, b) => a.endMs - b.endMs || (a.name < b.name ? -1 : 1))
    .map((n) => ({
      runId: `demo-${n.name}`,
      at: new Date(n.endMs).toISOString(),
      duty: "reclaim",
      action: "terminate-instance",
      code: "reclaim",
      dryRun: false,
      nodeGroup: n.group,
      pool: n.group,
      node: n.name,
      instanceId: `i-demo-${n.name}`,
      capacityType: n.capacity,
      reason: "demo: the generator's node left the month here; recorded as the controller's reclaim",
      inputs: { node: n.name, gpuCapacity: n.gpus, gpuAllocatable: n.gpus },
      outcome: "instance terminating (desired capacity decremented)",
    }));
}

/** Writes the records in the audit log's layout under `dir` (what `meter --controller-audit DIR` reads). */
export async function writeDemoAuditLog(dir: string, timeZone: string, records: AuditRecord[]): Promise<void> {
  for (const r of records) {
    const file = path.join(dir, auditObjectKey("", timeZone, Date.parse(r.at), r.runId));
    await mkdir(path.dirname(file), { recursive: true });
    await writeFile(file, auditObjectBody([r]));
  }
}
