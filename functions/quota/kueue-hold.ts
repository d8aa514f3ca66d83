/**
 * Kueue enforcement, the pure part: which queues are a subject's, which of them
 * are training (held) or inference (left alone), and per queue whether to hold,
 * lift or leave it — each with its reason. No I/O: the cluster comes in as a
 * snapshot read through the port below, and what is decided goes out through it.
 *
 * Object shapes are Kueue's `kueue.x-k8s.io/v1beta1` (kubernetes-sigs/kueue
 * apis/kueue/v1beta1/localqueue_types.go, clusterqueue_types.go):
 * `spec.stopPolicy` is `None` | `Hold` | `HoldAndDrain` (absent = None), a
 * LocalQueue's `spec.clusterQueue` names its ClusterQueue, and
 * `status.pendingWorkloads` / `status.admittedWorkloads` count the workloads
 * waiting in and admitted through a queue.
 */
import type { Tenant } from "../core/config.js";
import { globToRegExp, makeTenantResolver } from "../core/attribution.js";
import type { QuotaSubject } from "./evaluate-quota.js";
import type { KueueEnforcementSettings, QuotaSettings, WorkloadClass } from "./quota-config.js";
import { BadInputError } from "../core/errors.js";

export type StopPolicy = "None" | "Hold" | "HoldAndDrain";
/** What a queue's `spec.stopPolicy` was: a value, or null when the field was absent. */
export type StopPolicyField = StopPolicy | null;

export type QueueRef = { kind: "LocalQueue"; namespace: string; name: string } | { kind: "ClusterQueue"; name: string };

export interface ObservedQueue {
  ref: QueueRef;
  labels: Record<string, string>;
  stopPolicy: StopPolicyField;
  pendingWorkloads: number;
  admittedWorkloads: number;
  /** A LocalQueue's `spec.clusterQueue`. */
  clusterQueue?: string;
  /** `metadata.resourceVersion` when read: a patch based on this read fails if the queue changed since. */
  resourceVersion?: string;
}

/** What the port reads before anything is changed. */
export interface KueueSnapshot {
  namespaces: { name: string; labels: Record<string, string> }[];
  /** Every LocalQueue in the cluster. */
  localQueues: ObservedQueue[];
  /** The ClusterQueues asked for that exist. */
  clusterQueues: ObservedQueue[];
}

/** The cluster side of Kueue enforcement; functions/adapters/kubernetes-quota.ts implements it. */
export interface KueueQueuePort {
  /**
   * Reads namespaces, all LocalQueues and the named ClusterQueues. Throws
   * KueueNotInstalledError when the cluster does not serve kueue.x-k8s.io/v1beta1.
   */
  snapshot(clusterQueueNames: readonly string[]): Promise<KueueSnapshot>;
  /**
   * Merge-patches `spec.stopPolicy` (null removes the field) of the queue as it was read
   * (its resourceVersion), with `note` as the queue's hold annotation (null removes it);
   * returns the value the API server stored.
   */
  setStopPolicy(queue: ObservedQueue, stopPolicy: StopPolicyField, note: string | null): Promise<{ after: StopPolicyField }>;
}

export class KueueNotInstalledError extends BadInputError {
  constructor(detail: string) {
    super(
      `quota.enforcement.mode is "kueue", but the cluster does not serve the Kueue API kueue.x-k8s.io/v1beta1 (${detail}): ` +
        `install Kueue (README, "Kueue enforcement"), or set quota.enforcement.mode to resourcequota; no queue was changed`,
    );
    this.name = "KueueNotInstalledError";
  }
}

/** A queue that does not belong where the config puts it, or is missing: nothing is changed for the subject. */
export class KueueQueueSelectionError extends BadInputError {
  constructor(subjectKey: string, problems: string[]) {
    super(`kueue enforcement of ${subjectKey}: ${problems.join("; ")}; no queue was changed`);
    this.name = "KueueQueueSelectionError";
  }
}

export const queueId = (q: QueueRef): string =>
  q.kind === "LocalQueue" ? `localqueue/${q.namespace}/${q.name}` : `clusterqueue/${q.name}`;
export const queueLabel = (q: QueueRef): string =>
  q.kind === "LocalQueue" ? `LocalQueue ${q.namespace}/${q.name}` : `ClusterQueue ${q.name}`;

/** What a hold replaced, so that lifting restores exactly that. */
export interface HeldQueue {
  ref: QueueRef;
  /** `spec.stopPolicy` before the hold (null: the field was absent). */
  previousStopPolicy: StopPolicyField;
  /** What the hold set. */
  appliedStopPolicy: StopPolicy;
  heldAt: string;
}

export interface QueueTarget {
  queue: ObservedQueue;
  workloadClass: WorkloadClass;
  /** How the class was decided, for reasons and the report. */
  classVia: string;
}

/** The ClusterQueues a config names, so the port reads them (and only them). */
export function configuredClusterQueues(settings: QuotaSettings): string[] {
  return Object.values(settings.tenants).flatMap((t) => (t.kueue?.clusterQueue ? [t.kueue.clusterQueue] : []));
}

function classify(
  q: ObservedQueue,
  nsLabels: Record<string, string> | undefined,
  k: KueueEnforcementSettings,
): { workloadClass: WorkloadClass; classVia: string } {
  const isClass = (v: string | undefined): v is WorkloadClass => v === "training" || v === "inference";
  const own = q.labels[k.workloadClassLabel];
  if (isClass(own)) return { workloadClass: own, classVia: `label ${k.workloadClassLabel}=${own}` };
  if (q.ref.kind === "LocalQueue") {
    const ns = nsLabels?.[k.workloadClassLabel];
    if (isClass(ns)) return { workloadClass: ns, classVia: `namespace ${q.ref.namespace} label ${k.workloadClassLabel}=${ns}` };
  }
  const byName = k.inference.queues.find((g) => globToRegExp(g).test(q.ref.name));
  if (byName) return { workloadClass: "inference", classVia: `queue name matches inference glob ${byName}` };
  if (q.ref.kind === "LocalQueue") {
    const ns = q.ref.namespace;
    const byNs = k.inference.namespaces.find((g) => globToRegExp(g).test(ns));
    if (byNs) return { workloadClass: "inference", classVia: `namespace matches inference glob ${byNs}` };
  }
  return { workloadClass: k.defaultClass, classVia: "default class" };
}

/**
 * The queues of a subject, each with its workload class. A tenant's queues are
 * what the config names (LocalQueues and/or a ClusterQueue), else every
 * LocalQueue in its namespaces; a namespace limit's are the LocalQueues of that
 * namespace. Throws KueueQueueSelectionError — before anything is changed —
 * when a named queue is missing or belongs to another tenant: a hold is never
 * put on a queue that is not the subject's.
 */
export function subjectQueues(
  subject: Pick<QuotaSubject, "kind" | "tenantId" | "namespace" | "key">,
  settings: QuotaSettings,
  tenants: readonly Tenant[],
  snap: KueueSnapshot,
): QueueTarget[] {
  const k = settings.enforcement.kueue;
  const resolve = makeTenantResolver(tenants);
  const nsLabels = new Map(snap.namespaces.map((n) => [n.name, n.labels]));
  const tenantOf = (ns: string) => resolve(ns, nsLabels.get(ns)?.tenant).tenantId;
  const named = settings.tenants[subject.tenantId]?.kueue;
  const problems: string[] = [];
  let queues: ObservedQueue[];
  if (subject.kind === "namespace") {
    const ns = subject.namespace!;
    const explicit = (named?.localQueues ?? []).filter((n) => n.startsWith(`${ns}/`));
    queues = snap.localQueues.filter(
      (q) => q.ref.kind === "LocalQueue" && q.ref.namespace === ns && (!explicit.length || explicit.includes(`${ns}/${q.ref.name}`)),
    );
  } else if (named && (named.localQueues.length || named.clusterQueue)) {
    queues = [];
    for (const n of named.localQueues) {
      const [ns, name] = n.split("/") as [string, string];
      const q = snap.localQueues.find((x) => x.ref.kind === "LocalQueue" && x.ref.namespace === ns && x.ref.name === name);
      if (!q) problems.push(`LocalQueue ${n} (quota.tenants.${subject.tenantId}.kueue.localQueues) does not exist`);
      else if (tenantOf(ns) !== subject.tenantId)
        problems.push(`LocalQueue ${n} is in namespace ${ns}, which belongs to ${tenantOf(ns)}, not ${subject.tenantId}`);
      else queues.push(q);
    }
    if (named.clusterQueue) {
      const cq = snap.clusterQueues.find((x) => x.ref.name === named.clusterQueue);
      const served = snap.localQueues.filter((x) => x.clusterQueue === named.clusterQueue);
      const foreign = served.filter((x) => x.ref.kind === "LocalQueue" && tenantOf(x.ref.namespace) !== subject.tenantId);
      if (!cq) problems.push(`ClusterQueue ${named.clusterQueue} (quota.tenants.${subject.tenantId}.kueue.clusterQueue) does not exist`);
      else if (foreign.length)
        problems.push(
          `ClusterQueue ${named.clusterQueue} also serves ${foreign.map((x) => queueLabel(x.ref)).join(", ")} of another tenant, so it is not ${subject.tenantId}'s alone`,
        );
      else if (
        served.some(
          (x) =>
            !k.holdClasses.includes(classify(x, x.ref.kind === "LocalQueue" ? nsLabels.get(x.ref.namespace) : undefined, k).workloadClass),
        )
      )
        // Holding the ClusterQueue would stop its serving LocalQueues too: hold its other LocalQueues instead.
        queues.push(...served.filter((x) => !queues.some((y) => queueId(y.ref) === queueId(x.ref))));
      else queues.push(cq);
    }
  } else {
    queues = snap.localQueues.filter((q) => q.ref.kind === "LocalQueue" && tenantOf(q.ref.namespace) === subject.tenantId);
  }
  if (problems.length) throw new KueueQueueSelectionError(subject.key, problems);
  return queues
    .map((q) => ({ queue: q, ...classify(q, q.ref.kind === "LocalQueue" ? nsLabels.get(q.ref.namespace) : undefined, k) }))
    .sort((a, b) => queueId(a.queue.ref).localeCompare(queueId(b.queue.ref)));
}

/** Workloads waiting in the held classes' queues: the sum of their `status.pendingWorkloads`. */
export function queuedWorkloads(targets: readonly QueueTarget[], settings: QuotaSettings): number {
  return targets
    .filter((t) => settings.enforcement.kueue.holdClasses.includes(t.workloadClass))
    .reduce((n, t) => n + t.queue.pendingWorkloads, 0);
}

export type QueueDecision =
  | { action: "hold"; queue: QueueRef; previousStopPolicy: StopPolicyField; stopPolicy: "Hold" | "HoldAndDrain"; reason: string }
  | { action: "lift"; queue: QueueRef; restoreStopPolicy: StopPolicyField; heldStopPolicy: StopPolicy; reason: string }
  | { action: "none"; queue?: QueueRef; reason: string };

const STRICTNESS: Record<StopPolicy, number> = { None: 0, Hold: 1, HoldAndDrain: 2 };
const shown = (p: StopPolicyField) => (p === null ? "absent (None)" : p);

/**
 * Per queue: hold, lift or leave it. `subjectAction` is the subject-level
 * decision (decideEnforcement): `apply` (at the block threshold, including an
 * already enforced subject being reconciled) holds every held-class queue not
 * yet held; `lift` restores each queue this subject held, exactly as it was.
 * A queue whose stopPolicy someone else changed since the hold is left as they
 * set it; a queue someone else already stopped is not taken over.
 */
export function decideQueueHolds(
  subjectAction: "apply" | "lift",
  targets: readonly QueueTarget[],
  held: Readonly<Record<string, HeldQueue>>,
  observed: ReadonlyMap<string, ObservedQueue>,
  settings: QuotaSettings,
): QueueDecision[] {
  const k = settings.enforcement.kueue;
  const out: QueueDecision[] = [];
  const lift = (h: HeldQueue, why: string): QueueDecision => {
    const now = observed.get(queueId(h.ref));
    if (!now) return { action: "none", queue: h.ref, reason: `${queueLabel(h.ref)} no longer exists: nothing to restore` };
    if (now.stopPolicy !== h.appliedStopPolicy)
      return {
        action: "none",
        queue: h.ref,
        reason: `${queueLabel(h.ref)}: stopPolicy was changed to ${shown(now.stopPolicy)} by someone else since the hold; left as they set it`,
      };
    return {
      action: "lift",
      queue: h.ref,
      restoreStopPolicy: h.previousStopPolicy,
      heldStopPolicy: h.appliedStopPolicy,
      reason: `${why}: stopPolicy back to ${shown(h.previousStopPolicy)}`,
    };
  };
  if (subjectAction === "lift") {
    for (const h of Object.values(held)) out.push(lift(h, "quota hold lifted"));
    return out;
  }
  const targetIds = new Set(targets.map((t) => queueId(t.queue.ref)));
  for (const t of targets) {
    const id = queueId(t.queue.ref);
    const name = queueLabel(t.queue.ref);
    const h = held[id];
    if (!k.holdClasses.includes(t.workloadClass)) {
      out.push(
        h
          ? lift(h, `${name} is ${t.workloadClass} now (${t.classVia})`)
          : { action: "none", queue: t.queue.ref, reason: `${name} is ${t.workloadClass} (${t.classVia}): not held` },
      );
      continue;
    }
    if (h) {
      out.push(
        t.queue.stopPolicy === h.appliedStopPolicy
          ? { action: "none", queue: t.queue.ref, reason: `${name} held since ${h.heldAt}` }
          : {
              action: "none",
              queue: t.queue.ref,
              reason: `${name}: stopPolicy was changed to ${shown(t.queue.stopPolicy)} by someone else since the hold; left as they set it`,
            },
      );
      continue;
    }
    const cur = t.queue.stopPolicy ?? "None";
    if (STRICTNESS[cur] >= STRICTNESS[k.stopPolicy]) {
      out.push({
        action: "none",
        queue: t.queue.ref,
        reason: `${name} is already stopped (stopPolicy ${cur}, not set by gpu-billing): left to whoever set it`,
      });
      continue;
    }
    out.push({
      action: "hold",
      queue: t.queue.ref,
      previousStopPolicy: t.queue.stopPolicy,
      stopPolicy: k.stopPolicy,
      reason: `${name} (${t.workloadClass}, ${t.classVia}): stopPolicy ${shown(t.queue.stopPolicy)} → ${k.stopPolicy}; ${k.stopPolicy === "Hold" ? "admitted workloads keep running, new ones wait" : "admitted workloads are evicted, new ones wait"}`,
    });
  }
  // A queue held earlier that is no longer the subject's (the config changed): give it back.
  for (const [id, h] of Object.entries(held))
    if (!targetIds.has(id)) out.push(lift(h, `${queueLabel(h.ref)} is no longer one of the subject's queues`));
  return out;
}
