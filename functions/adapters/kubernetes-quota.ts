import type { CoreV1Api, V1ResourceQuota } from "@kubernetes/client-node";
import { MERGE_PATCH, kubernetesCall, kubernetesStatusOf, type KubernetesApis } from "./kubernetes-client.js";
import type { Tenant } from "../core/config.js";
import { makeTenantResolver } from "../core/attribution.js";
import type { QuotaEnforcer } from "../quota/run-quota-check.js";
import {
  KueueNotInstalledError,
  type KueueQueuePort,
  type ObservedQueue,
  type QueueRef,
  type StopPolicy,
  type StopPolicyField,
} from "../quota/kueue-hold.js";

/**
 * Blocks new GPU pods with a ResourceQuota of its own name per namespace —
 * never by editing the operator's quotas (all quotas of a namespace apply, the
 * tightest wins) and never by deleting pods. `requests.nvidia.com/gpu` (and
 * each MIG resource in use) is set to what the namespace's Running pods request
 * now: running work continues, nothing new is admitted.
 */
export const BLOCK_QUOTA_NAME = { tenant: "gpu-billing-tenant-quota-block", namespace: "gpu-billing-namespace-quota-block" } as const;
const MANAGED_BY = "gpu-billing";
const BEFORE_ANNOTATION = "gpu-billing.example.com/before";

/** What a ResourceQuota looked like before the block, enough to put it back. */
interface QuotaSnapshot {
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  spec: V1ResourceQuota["spec"];
}

/** Sums GPU requests of Running pods, per extended resource (`nvidia.com/gpu`, `nvidia.com/mig-3g.40gb`, …). */
async function runningGpuRequests(api: CoreV1Api, namespace: string): Promise<Map<string, number>> {
  const out = new Map<string, number>([["nvidia.com/gpu", 0]]);
  let cont: string | undefined;
  do {
    const pods = await kubernetesCall(`GET pods of ${namespace}`, () =>
      api.listNamespacedPod({ namespace, fieldSelector: "status.phase=Running", _continue: cont }),
    );
    for (const p of pods.items)
      for (const c of p.spec?.containers ?? [])
        for (const [res, q] of Object.entries(c.resources?.requests ?? {}))
          if (res === "nvidia.com/gpu" || res.startsWith("nvidia.com/mig-")) out.set(res, (out.get(res) ?? 0) + Number(q));
    cont = pods.metadata?._continue || undefined;
  } while (cont);
  return out;
}

type BlockKind = Parameters<QuotaEnforcer["block"]>[1];

/** The namespaces a block applies to: the one named, or every namespace the tenant resolves to (by name or `tenant` label). */
async function subjectNamespaces(
  api: CoreV1Api,
  subject: Parameters<QuotaEnforcer["namespacesOf"]>[0],
  tenants: readonly Tenant[],
): Promise<string[]> {
  if (subject.kind === "namespace") return [subject.namespace!];
  const resolve = makeTenantResolver(tenants);
  const list = await kubernetesCall("GET namespaces", () => api.listNamespace());
  return list.items
    .map((n) => ({ name: n.metadata!.name!, label: n.metadata?.labels?.tenant }))
    .filter((n) => resolve(n.name, n.label).tenantId === subject.tenantId)
    .map((n) => n.name)
    .sort();
}

/**
 * Blocks new GPU pods in `namespace`: a ResourceQuota capping GPU requests at what runs now
 * (so running work is never stopped), remembering in an annotation what stood there before.
 */
async function blockNamespace(api: CoreV1Api, reason: string, namespace: string, kind: BlockKind): ReturnType<QuotaEnforcer["block"]> {
  const name = BLOCK_QUOTA_NAME[kind];
  let existing: V1ResourceQuota | undefined;
  try {
    existing = await kubernetesCall(`GET resourcequota ${namespace}/${name}`, () => api.readNamespacedResourceQuota({ name, namespace }));
  } catch (e) {
    if (kubernetesStatusOf(e) !== 404) throw e;
  }
  // Our own object left by an interrupted run carries the true "before" in an annotation.
  const before: QuotaSnapshot | null = existing
    ? existing.metadata?.labels?.["app.kubernetes.io/managed-by"] === MANAGED_BY
      ? (JSON.parse(existing.metadata.annotations?.[BEFORE_ANNOTATION] ?? "null") as QuotaSnapshot | null)
      : { labels: existing.metadata?.labels, annotations: existing.metadata?.annotations, spec: existing.spec }
    : null;
  const requests = await runningGpuRequests(api, namespace);
  const hard = Object.fromEntries([...requests].map(([res, n]) => [`requests.${res}`, String(n)]));
  const body: V1ResourceQuota = {
    apiVersion: "v1",
    kind: "ResourceQuota",
    metadata: {
      name,
      namespace,
      labels: { "app.kubernetes.io/managed-by": MANAGED_BY },
      annotations: { [BEFORE_ANNOTATION]: JSON.stringify(before), "gpu-billing.example.com/reason": reason },
      ...(existing?.metadata?.resourceVersion ? { resourceVersion: existing.metadata.resourceVersion } : {}),
    },
    spec: { hard },
  };
  if (existing)
    await kubernetesCall(`PUT resourcequota ${namespace}/${name}`, () => api.replaceNamespacedResourceQuota({ name, namespace, body }));
  else await kubernetesCall(`POST resourcequota ${namespace}/${name}`, () => api.createNamespacedResourceQuota({ namespace, body }));
  return { before, appliedGpus: requests.get("nvidia.com/gpu") ?? 0, after: body.spec };
}

/** Lifts the block: puts back the ResourceQuota that stood before it, or deletes ours when there was none. */
async function restoreNamespace(api: CoreV1Api, namespace: string, kind: BlockKind, before: unknown): ReturnType<QuotaEnforcer["restore"]> {
  const name = BLOCK_QUOTA_NAME[kind];
  const snap = before as QuotaSnapshot | null;
  if (!snap) {
    try {
      await kubernetesCall(`DELETE resourcequota ${namespace}/${name}`, () => api.deleteNamespacedResourceQuota({ name, namespace }));
    } catch (e) {
      if (kubernetesStatusOf(e) !== 404) throw e; // already gone: the lift is done
    }
    return { after: null };
  }
  const body: V1ResourceQuota = {
    apiVersion: "v1",
    kind: "ResourceQuota",
    metadata: { name, namespace, labels: snap.labels, annotations: snap.annotations },
    spec: snap.spec,
  };
  try {
    const cur = await kubernetesCall(`GET resourcequota ${namespace}/${name}`, () => api.readNamespacedResourceQuota({ name, namespace }));
    await kubernetesCall(`PUT resourcequota ${namespace}/${name}`, () =>
      api.replaceNamespacedResourceQuota({
        name,
        namespace,
        body: { ...body, metadata: { ...body.metadata, resourceVersion: cur.metadata?.resourceVersion } },
      }),
    );
  } catch (e) {
    if (kubernetesStatusOf(e) !== 404) throw e;
    await kubernetesCall(`POST resourcequota ${namespace}/${name}`, () => api.createNamespacedResourceQuota({ namespace, body }));
  }
  return { after: snap.spec };
}

export function kubernetesQuotaEnforcer(api: CoreV1Api, reason = "monthly GPU-hour quota reached"): QuotaEnforcer {
  return {
    namespacesOf: (subject, tenants) => subjectNamespaces(api, subject, tenants),
    block: (namespace, kind) => blockNamespace(api, reason, namespace, kind),
    restore: (namespace, kind, before) => restoreNamespace(api, namespace, kind, before),
  };
}

/**
 * Kueue's API as served by the cluster: group kueue.x-k8s.io, version v1beta1,
 * resources `localqueues` (namespaced) and `clusterqueues` (cluster-scoped) —
 * kubernetes-sigs/kueue apis/kueue/v1beta1/groupversion_info.go, localqueue_types.go, clusterqueue_types.go.
 */
export const KUEUE_GROUP = "kueue.x-k8s.io";
export const KUEUE_VERSION = "v1beta1";
/** Set on a queue while gpu-billing holds it, so `kubectl get localqueue -o yaml` says why. */
export const HOLD_ANNOTATION = "gpu-billing.example.com/quota-hold";

const STOP_POLICIES: readonly string[] = ["None", "Hold", "HoldAndDrain"];

interface KueueObject {
  metadata?: { name?: string; namespace?: string; labels?: Record<string, string>; resourceVersion?: string };
  spec?: { stopPolicy?: string; clusterQueue?: string };
  status?: { pendingWorkloads?: number; admittedWorkloads?: number };
}

function observed(o: KueueObject, ref: QueueRef): ObservedQueue {
  const sp = o.spec?.stopPolicy;
  if (sp !== undefined && !STOP_POLICIES.includes(sp))
    throw new Error(`${ref.kind} ${ref.kind === "LocalQueue" ? `${ref.namespace}/` : ""}${ref.name}: unknown spec.stopPolicy "${sp}"`);
  return {
    ref,
    labels: o.metadata?.labels ?? {},
    stopPolicy: (sp as StopPolicy | undefined) ?? null,
    pendingWorkloads: o.status?.pendingWorkloads ?? 0,
    admittedWorkloads: o.status?.admittedWorkloads ?? 0,
    ...(o.spec?.clusterQueue ? { clusterQueue: o.spec.clusterQueue } : {}),
    ...(o.metadata?.resourceVersion ? { resourceVersion: o.metadata.resourceVersion } : {}),
  };
}

/**
 * Holds and lifts Kueue queues by merge-patching `spec.stopPolicy`
 * (`application/merge-patch+json`; null deletes the field, RFC 7386) on
 * /apis/kueue.x-k8s.io/v1beta1/namespaces/{ns}/localqueues/{name} and
 * /apis/kueue.x-k8s.io/v1beta1/clusterqueues/{name}. Each patch carries the
 * resourceVersion the decision was made on, so a queue changed in between is a
 * conflict (retried next run), never overwritten.
 */
export function kubernetesKueueQueues(apis: KubernetesApis): KueueQueuePort {
  const { core, customObjects } = apis;
  const base = { group: KUEUE_GROUP, version: KUEUE_VERSION };
  return {
    async snapshot(clusterQueueNames) {
      const localQueues: ObservedQueue[] = [];
      let cont: string | undefined;
      do {
        let page: { items?: KueueObject[]; metadata?: { continue?: string } };
        try {
          page = await kubernetesCall(`GET ${KUEUE_GROUP}/${KUEUE_VERSION} localqueues`, () =>
            customObjects.listClusterCustomObject({ ...base, plural: "localqueues", _continue: cont }),
          );
        } catch (e) {
          // The collection itself is missing only when the API server does not serve the resource: Kueue's CRDs are not installed.
          if (kubernetesStatusOf(e) === 404)
            throw new KueueNotInstalledError(`GET /apis/${KUEUE_GROUP}/${KUEUE_VERSION}/localqueues answered 404`);
          throw e;
        }
        for (const o of page.items ?? [])
          localQueues.push(observed(o, { kind: "LocalQueue", namespace: o.metadata!.namespace!, name: o.metadata!.name! }));
        cont = page.metadata?.continue || undefined;
      } while (cont);
      const clusterQueues: ObservedQueue[] = [];
      for (const name of [...new Set(clusterQueueNames)].sort()) {
        try {
          clusterQueues.push(
            observed(
              await kubernetesCall(`GET clusterqueue ${name}`, () =>
                customObjects.getClusterCustomObject({ ...base, plural: "clusterqueues", name }),
              ),
              {
                kind: "ClusterQueue",
                name,
              },
            ),
          );
        } catch (e) {
          if (kubernetesStatusOf(e) !== 404) throw e; // missing: the selection names it as missing, before anything is changed
        }
      }
      const ns = await kubernetesCall("GET namespaces", () => core.listNamespace());
      const namespaces = ns.items.map((n) => ({ name: n.metadata!.name!, labels: n.metadata?.labels ?? {} }));
      return { namespaces, localQueues, clusterQueues };
    },

    async setStopPolicy(queue, stopPolicy: StopPolicyField, note) {
      const body = {
        metadata: {
          annotations: { [HOLD_ANNOTATION]: note },
          ...(queue.resourceVersion ? { resourceVersion: queue.resourceVersion } : {}),
        },
        spec: { stopPolicy },
      };
      const r = queue.ref;
      const out: KueueObject =
        r.kind === "LocalQueue"
          ? await kubernetesCall(`PATCH localqueue ${r.namespace}/${r.name}`, () =>
              customObjects.patchNamespacedCustomObject(
                { ...base, namespace: r.namespace, plural: "localqueues", name: r.name, body },
                MERGE_PATCH,
              ),
            )
          : await kubernetesCall(`PATCH clusterqueue ${r.name}`, () =>
              customObjects.patchClusterCustomObject({ ...base, plural: "clusterqueues", name: r.name, body }, MERGE_PATCH),
            );
      return { after: (out.spec?.stopPolicy as StopPolicy | undefined) ?? null };
    },
  };
}
