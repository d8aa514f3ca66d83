import { createHash } from "node:crypto";
import { z } from "zod";
import { D, type Dec } from "./decimal.js";
import { HOURS_DP, type CapacityRow } from "./chargeback.js";
import { BadInputError } from "./errors.js";

/**
 * What the idle-node controller did in a billing month, from its audit log,
 * per cluster × node group: nodes it reclaimed, scale-outs it made, and the GPU
 * node-hours reclaiming saved, valued at the node group's unit price. Pure: the
 * metering service reads the audit objects through its port and passes them in.
 */

/** One audit object (a run's JSON lines) as the audit log stores it. */
export interface AuditObject {
  key: string;
  body: string;
}

/**
 * The fields the month's summary depends on, as run-controller writes them
 * (AuditRecord in adapters/controller-audit-log.ts). Everything else in a line
 * (reason, inputs beyond the node's GPUs) is for people and is not read here.
 */
const AuditLineSchema = z.looseObject({
  runId: z.string().min(1),
  at: z.iso.datetime(),
  duty: z.enum(["reclaim", "scale-out", "guard"]),
  action: z.string().min(1),
  dryRun: z.boolean(),
  outcome: z.string(),
  /** What came of the decision, as values (lines written before outcomes had codes lack them). */
  outcomeStatus: z.enum(["done", "skipped", "failed"]).optional(),
  outcomeCode: z.string().min(1).optional(),
  nodeGroup: z.string().min(1).optional(),
  node: z.string().optional(),
  capacityType: z.string().optional(),
  desiredFrom: z.number().int().optional(),
  desiredTo: z.number().int().optional(),
  inputs: z.record(z.string(), z.unknown()),
});
type AuditLine = z.infer<typeof AuditLineSchema>;

/** A change the controller made to capacity (acted on, not dry-run, and confirmed by its outcome). */
export type ControllerEvent =
  | { kind: "reclaim"; atMs: number; nodeGroup: string; node: string; gpus: number; capacityType?: string }
  | { kind: "scale-out"; atMs: number; nodeGroup: string; nodes: number };

/** Audit lines the summary cannot read: the month is not metered on a guess of what the controller did. */
export class ControllerAuditError extends BadInputError {
  constructor(readonly problems: string[]) {
    super(
      `the controller's audit log cannot be read:\n  ${problems.slice(0, 20).join("\n  ")}${problems.length > 20 ? `\n  … and ${problems.length - 20} more` : ""}`,
    );
    this.name = "ControllerAuditError";
  }
}

/**
 * Did the action take effect? By the line's outcome code ("instance-already-gone",
 * an instance someone else terminated first, is not counted: the controller saved
 * nothing there). Lines written before outcomes had codes carry only the prose,
 * whose opening words run-controller has always written the same way.
 */
const RECLAIMED = { code: "instance-terminating", before: /^instance terminating/ };
const SCALED_OUT = { code: "desired-capacity-set", before: /^desired capacity set/ };
const tookEffect = (l: AuditLine, o: { code: string; before: RegExp }) =>
  l.outcomeCode !== undefined ? l.outcomeCode === o.code : o.before.test(l.outcome);

function eventOf(l: AuditLine, where: string, problems: string[]): ControllerEvent | undefined {
  if (l.dryRun) return undefined;
  const atMs = Date.parse(l.at);
  if (l.action === "terminate-instance" && tookEffect(l, RECLAIMED)) {
    const gpus = l.inputs.gpuCapacity;
    if (!l.nodeGroup || !l.node || typeof gpus !== "number" || !Number.isInteger(gpus) || gpus <= 0) {
      problems.push(`${where}: a reclaim without nodeGroup, node or inputs.gpuCapacity (a positive integer)`);
      return undefined;
    }
    return {
      kind: "reclaim",
      atMs,
      nodeGroup: l.nodeGroup,
      node: l.node,
      gpus,
      ...(l.capacityType ? { capacityType: l.capacityType } : {}),
    };
  }
  if (l.action === "set-desired-capacity" && tookEffect(l, SCALED_OUT)) {
    if (!l.nodeGroup || l.desiredFrom === undefined || l.desiredTo === undefined || l.desiredTo <= l.desiredFrom) {
      problems.push(`${where}: a scale-out without nodeGroup or with desiredTo (${l.desiredTo}) not above desiredFrom (${l.desiredFrom})`);
      return undefined;
    }
    return { kind: "scale-out", atMs, nodeGroup: l.nodeGroup, nodes: l.desiredTo - l.desiredFrom };
  }
  return undefined;
}

export interface ParsedAudit {
  /** Lines read (every decision of every run, acted on or not). */
  records: number;
  /** Acted-on capacity changes inside the window, in time order. */
  events: ControllerEvent[];
  /** sha256 over the objects (key and body, in key order): which audit log the summary stands on. */
  sha256: string;
}

/**
 * Parses a cluster's audit objects and keeps the acted-on reclaims and
 * scale-outs inside [startMs, endMs). The log is partitioned by the
 * controller's own time zone, so the caller may pass neighbouring days too:
 * the window, not the partition, decides. Every line that is not a valid
 * audit record is listed in one ControllerAuditError (bad input), never skipped.
 */
export function parseAuditObjects(objects: AuditObject[], window: { startMs: number; endMs: number }): ParsedAudit {
  const problems: string[] = [];
  const events: ControllerEvent[] = [];
  let records = 0;
  const sorted = [...objects].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  const hash = createHash("sha256");
  for (const o of sorted) {
    hash.update(`${o.key}\n${o.body.length}\n`).update(o.body);
    o.body.split("\n").forEach((text, i) => {
      if (text.trim() === "") return;
      const where = `${o.key} line ${i + 1}`;
      let raw: unknown;
      try {
        raw = JSON.parse(text);
      } catch (e) {
        problems.push(`${where}: not JSON (${(e as Error).message})`);
        return;
      }
      const parsed = AuditLineSchema.safeParse(raw);
      if (!parsed.success) {
        problems.push(`${where}: ${parsed.error.issues.map((x) => `${x.path.join(".") || "(line)"}: ${x.message}`).join("; ")}`);
        return;
      }
      records++;
      const ev = eventOf(parsed.data, where, problems);
      if (ev && ev.atMs >= window.startMs && ev.atMs < window.endMs) events.push(ev);
    });
  }
  if (problems.length) throw new ControllerAuditError(problems);
  // Stable: two lines at the same instant keep their order in the log.
  events.sort((a, b) => a.atMs - b.atMs);
  return { records, events, sha256: hash.digest("hex") };
}

/** One node group's month. */
export interface ControllerGroupSavings {
  nodeGroup: string;
  nodesReclaimed: number;
  scaleOuts: number;
  nodesAdded: number;
  /** Estimated GPU node-hours not paid for because of the reclaims (see estimateSavedGpuHours). */
  gpuNodeHoursSaved: Dec;
}

const HOUR_MS = 3_600_000;

/**
 * GPU node-hours saved, estimated against keeping each reclaimed node: a
 * reclaimed node saves its GPUs × the time from its reclaim until the month
 * ends, or until a later scale-out in the same node group adds capacity back
 * (had the node been kept, that scale-out would not have been needed, so its
 * saving stops there). A scale-out of n nodes ends the n oldest outstanding
 * reclaims; one managed node group has one instance type, so which ones does
 * not change the total. Scale-outs with no reclaim outstanding end nothing.
 *
 * Conservative on purpose: a reclaim in the previous month saves nothing here
 * (the month's audit log is the only input), and scale-outs the controller did
 * not make (another autoscaler, an operator) are not seen, so a node replaced
 * by them keeps counting — the note in the report says so.
 */
export function estimateSavedGpuHours(events: ControllerEvent[], window: { startMs: number; endMs: number }): ControllerGroupSavings[] {
  const groups = new Map<
    string,
    { reclaimed: number; scaleOuts: number; added: number; open: { atMs: number; gpus: number }[]; gpuMs: Dec }
  >();
  const groupOf = (name: string) => {
    let g = groups.get(name);
    if (!g) groups.set(name, (g = { reclaimed: 0, scaleOuts: 0, added: 0, open: [], gpuMs: new D(0) }));
    return g;
  };
  for (const e of events) {
    if (e.atMs < window.startMs || e.atMs >= window.endMs) continue;
    const g = groupOf(e.nodeGroup);
    if (e.kind === "reclaim") {
      g.reclaimed++;
      g.open.push({ atMs: e.atMs, gpus: e.gpus });
      continue;
    }
    g.scaleOuts++;
    g.added += e.nodes;
    for (const r of g.open.splice(0, e.nodes)) g.gpuMs = g.gpuMs.add(new D(r.gpus).mul(e.atMs - r.atMs));
  }
  return [...groups.entries()]
    .map(([nodeGroup, g]) => {
      let gpuMs = g.gpuMs;
      for (const r of g.open) gpuMs = gpuMs.add(new D(r.gpus).mul(window.endMs - r.atMs));
      return {
        nodeGroup,
        nodesReclaimed: g.reclaimed,
        scaleOuts: g.scaleOuts,
        nodesAdded: g.added,
        gpuNodeHoursSaved: gpuMs.div(HOUR_MS).toDecimalPlaces(HOURS_DP),
      };
    })
    .sort((a, b) => (a.nodeGroup < b.nodeGroup ? -1 : a.nodeGroup > b.nodeGroup ? 1 : 0));
}

/**
 * not-deployed: metering was given no audit log for the cluster; no-records: the
 * log has no run in the month; no-actions: runs, but nothing reclaimed or scaled
 * out (dry-run, kill switch, nothing idle); acted: see the rows.
 */
export type ControllerStatus = "not-deployed" | "no-records" | "no-actions" | "acted";

export interface ControllerClusterMonth {
  cluster: string;
  status: ControllerStatus;
  auditObjects: number;
  auditRecords: number;
  auditSha256?: string;
}

export interface ControllerSavingsRow extends ControllerGroupSavings {
  cluster: string;
  instanceType: string;
  capacityType: string;
  /** Per GPU-hour: the node group's capacity row's unit price, the one its idle cost uses. */
  unitPrice: string;
  savedCost: Dec;
}

export interface ControllerMonth {
  clusters: ControllerClusterMonth[];
  rows: ControllerSavingsRow[];
  totals: { nodesReclaimed: number; scaleOuts: number; nodesAdded: number; gpuNodeHoursSaved: Dec; savedCost: Dec };
}

/** What a cluster's audit source gave metering: no log configured, or the month's objects. */
export type ClusterAudit = { cluster: string; deployed: false } | { cluster: string; deployed: true; objects: AuditObject[] };

/**
 * The month's controller summary over every cluster. Each group's savings are
 * valued at its capacity row's unit price (the same price its idle cost uses);
 * a reclaimed group with no capacity row in the month cannot be priced and is
 * bad input (the controller and metering disagree on the group's name), as is
 * a group whose rows carry different prices.
 */
export function summariseControllerMonth(
  audits: ClusterAudit[],
  window: { startMs: number; endMs: number },
  capacity: CapacityRow[],
  currencyDecimals: number,
): ControllerMonth {
  const clusters: ControllerClusterMonth[] = [];
  const rows: ControllerSavingsRow[] = [];
  const problems: string[] = [];
  for (const a of [...audits].sort((x, y) => (x.cluster < y.cluster ? -1 : 1))) {
    if (!a.deployed) {
      clusters.push({ cluster: a.cluster, status: "not-deployed", auditObjects: 0, auditRecords: 0 });
      continue;
    }
    const parsed = parseAuditObjects(a.objects, window);
    const groups = estimateSavedGpuHours(parsed.events, window);
    const status: ControllerStatus = parsed.records === 0 ? "no-records" : groups.length === 0 ? "no-actions" : "acted";
    clusters.push({ cluster: a.cluster, status, auditObjects: a.objects.length, auditRecords: parsed.records, auditSha256: parsed.sha256 });
    for (const g of groups) {
      const caps = capacity.filter((c) => c.cluster === a.cluster && c.nodeGroup === g.nodeGroup);
      const prices = [...new Set(caps.map((c) => c.unitPrice.toFixed()))];
      if (prices.length !== 1 && !(prices.length === 0 && g.gpuNodeHoursSaved.isZero())) {
        problems.push(
          prices.length === 0
            ? `cluster ${a.cluster}: the controller acted on node group ${g.nodeGroup}, which has no capacity row this month (node label eks.amazonaws.com/nodegroup ≠ the policy's group name?)`
            : `cluster ${a.cluster}: node group ${g.nodeGroup} has capacity rows at different unit prices (${prices.join(", ")}): which one its savings are worth is ambiguous`,
        );
        continue;
      }
      // A group that only scaled out and never had a node in the month saved nothing: it needs no price.
      const c = caps[0];
      rows.push({
        cluster: a.cluster,
        ...g,
        instanceType: c?.instanceType ?? "",
        capacityType: c?.capacityType ?? "",
        unitPrice: prices[0] ?? "",
        savedCost: c ? g.gpuNodeHoursSaved.mul(prices[0]!).toDecimalPlaces(currencyDecimals) : new D(0),
      });
    }
  }
  if (problems.length) throw new ControllerAuditError(problems);
  const sum = (f: (r: ControllerSavingsRow) => Dec) => rows.reduce((x, r) => x.add(f(r)), new D(0));
  return {
    clusters,
    rows,
    totals: {
      nodesReclaimed: rows.reduce((x, r) => x + r.nodesReclaimed, 0),
      scaleOuts: rows.reduce((x, r) => x + r.scaleOuts, 0),
      nodesAdded: rows.reduce((x, r) => x + r.nodesAdded, 0),
      gpuNodeHoursSaved: sum((r) => r.gpuNodeHoursSaved),
      savedCost: sum((r) => r.savedCost),
    },
  };
}
