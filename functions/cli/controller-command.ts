import { parseArgs } from "node:util";
import { readFile } from "node:fs/promises";
import { planController, type Decision } from "../controller/decide.js";
import { parsePolicy, PolicyError, type ControllerPolicy } from "../controller/policy.js";
import { normalizeState, snapshotFromJson, type ControllerState, type Snapshot } from "../controller/snapshot.js";
import { BadInputError } from "../core/errors.js";
import { ControllerLease } from "../adapters/controller-lease.js";
import { gatherSnapshot } from "../adapters/controller-snapshot.js";

export const CONTROLLER_USAGE = `usage:
  gpu-billing controller plan [--node-group NAME] [--state FILE] [--policy FILE] [--json]

Prints what the GPU node-group controller would do now, and why. Nothing is changed.
  --state FILE   a recorded run: JSON { "snapshot": {...}, "state"?: {...}, "policy"?: {...} }
                 (offline; e.g. from \`npx tsx test/bench/controller-sim.ts --dump-snapshot FILE\`)
  --policy FILE  controller policy (YAML/JSON); default: the recorded one, else $CONTROLLER_POLICY_FILE
  without --state it reads the cluster live with the controller's environment
  (CONTROLLER_BUCKET, PROMETHEUS_URL, EKS_CLUSTER_NAME, AWS_REGION, ...) and the state in S3.

exit codes: 0 printed, 2 bad input, 3 a source is unavailable (the controller would halt), 1 other failure`;

interface Recorded {
  snapshot: Parameters<typeof snapshotFromJson>[0];
  state?: ControllerState;
  policy?: unknown;
}

const MARK: Record<Decision["action"], string> = {
  "terminate-instance": "RECLAIM",
  "set-desired-capacity": "SCALE OUT",
  "release-node": "RELEASE",
  "mark-spot-unavailable": "SPOT OFF",
  halt: "HALT",
  none: "-",
};

/** The table's first three columns: what the decision is about, its node(s), its action. */
function subjectOf(d: Decision): [string, string, string] {
  if (d.code === "karpenter-nodepool") {
    const ns = (d.inputs.nodes as string[] | undefined) ?? [];
    const nodes = ns.length <= 2 ? ns.join(",") : `${ns.slice(0, 2).join(",")},+${ns.length - 2}`;
    return [`NodePool ${d.karpenterNodePool}`, nodes, "KARPENTER"];
  }
  if (d.action === "halt" || d.code === "lease-held") return ["(all)", "", MARK[d.action]];
  if (d.duty === "scale-out" && d.action === "none") return [d.pool, "", MARK[d.action]];
  return [d.nodeGroup, "node" in d ? d.node : "", MARK[d.action]];
}

/** The node group a decision is about, if it is about one. */
const nodeGroupOf = (d: Decision): string | undefined => ("nodeGroup" in d ? d.nodeGroup : undefined);
/** The pool a decision is about, if it is about one. */
const poolOfDecision = (d: Decision): string | undefined => ("pool" in d ? d.pool : undefined);

export function formatPlan(decisions: Decision[], policy: ControllerPolicy, at: Date): string {
  const lines = [`controller plan at ${at.toISOString()} (${policy.timeZone})${policy.killSwitch ? " — KILL SWITCH ON" : ""}`, ""];
  const rows = decisions.map((d) => [
    ...subjectOf(d),
    d.action === "none" || d.action === "halt" || d.action === "mark-spot-unavailable" ? "" : d.dryRun ? "dry-run" : "would act",
    d.reason,
  ]);
  const head = ["node group", "node", "action", "mode", "why"];
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const fmt = (r: string[]) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(w[i] ?? 0))).join("  ");
  lines.push(fmt(head), fmt(w.map((n) => "-".repeat(Math.min(n, 40)))), ...rows.map(fmt));
  return lines.join("\n");
}

export async function controllerCommand(argv: string[], env: NodeJS.ProcessEnv, now: Date): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub !== "plan") {
    console.error(sub ? `error: unknown controller command "${sub}"\n${CONTROLLER_USAGE}` : CONTROLLER_USAGE);
    return 2;
  }
  let values: { "node-group"?: string; state?: string; policy?: string; json?: boolean };
  try {
    values = parseArgs({
      args: rest,
      options: { "node-group": { type: "string" }, state: { type: "string" }, policy: { type: "string" }, json: { type: "boolean" } },
      strict: true,
    }).values;
  } catch (e) {
    console.error(`error: ${(e as Error).message}\n${CONTROLLER_USAGE}`);
    return 2;
  }
  try {
    let snapshot: Snapshot;
    let state: ControllerState;
    let policy: ControllerPolicy;
    const policyFile = values.policy ?? env.CONTROLLER_POLICY_FILE;
    const readPolicy = async (f: string) => parsePolicy(await readFile(f, "utf8"), f);
    if (values.state) {
      const rec = JSON.parse(await readFile(values.state, "utf8")) as Recorded;
      if (!rec.snapshot?.nodes) throw new PolicyError(`${values.state}: not a recorded run (no snapshot.nodes)`, []);
      snapshot = snapshotFromJson(rec.snapshot);
      state = normalizeState(rec.state);
      if (policyFile) policy = await readPolicy(policyFile);
      else if (rec.policy) policy = parsePolicy(JSON.stringify(rec.policy), `${values.state}#policy`);
      else throw new PolicyError("no policy: give --policy FILE or record one in the state file", []);
    } else {
      const { buildController } = await import("../handlers/controller-handler.js");
      const b = await buildController(policyFile ? { ...env, CONTROLLER_POLICY_FILE: policyFile } : env);
      policy = b.policy;
      snapshot = await gatherSnapshot(b.clients, policy, now, {
        nodeLabel: b.env.DCGM_NODE_LABEL,
        gpuLabel: b.env.DCGM_GPU_LABEL,
        queriesDir: b.env.QUERIES_DIR,
      });
      state = await new ControllerLease(b.clients.s3, b.env.CONTROLLER_BUCKET, `${b.env.CONTROLLER_PREFIX}/lease.json`).peekState();
    }
    if (values["node-group"] && !policy.nodeGroups.some((g) => g.name === values["node-group"])) {
      console.error(
        `error: --node-group: "${values["node-group"]}" is not in the policy (${policy.nodeGroups.map((g) => g.name).join(", ")})`,
      );
      return 2;
    }
    const plan = planController(snapshot, policy, state);
    const group = values["node-group"];
    const groupPool = policy.nodeGroups.find((g) => g.name === group)?.pool;
    const shown = group
      ? plan.decisions.filter(
          (d) => d.action === "halt" || nodeGroupOf(d) === group || (nodeGroupOf(d) === undefined && poolOfDecision(d) === groupPool),
        )
      : plan.decisions;
    console.log(
      values.json
        ? JSON.stringify({ atMs: plan.at.getTime(), halted: plan.halted, decisions: shown }, null, 2)
        : formatPlan(shown, policy, plan.at),
    );
    return plan.halted && snapshot.errors.length ? 3 : 0;
  } catch (e) {
    const err = e as Error;
    if (/environment invalid/.test(err.message)) {
      console.error(`error: ${err.message}\n(or run offline with --state FILE)`);
      return 2;
    }
    if (e instanceof BadInputError || err instanceof SyntaxError || (err as { code?: string }).code === "ENOENT") {
      console.error(`error: ${err.message}`);
      return 2;
    }
    console.error(`error: ${err.stack ?? err.message}`);
    return 1;
  }
}
