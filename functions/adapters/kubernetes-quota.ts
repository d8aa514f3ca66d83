// Types only at import time: the client (undici 8) needs Node >= 22.19 and is loaded on demand by eksCoreApi,
// so the CLI and the other commands keep working on Node 20.
import type { CoreV1Api, V1ResourceQuota } from "@kubernetes/client-node";
import type { Tenant } from "../core/config.js";
import { makeTenantResolver } from "../core/attribution.js";
import type { QuotaEnforcer } from "../quota/run-quota-check.js";

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

function statusCode(e: unknown): number | undefined {
  return (e as { code?: number }).code;
}

/** Sums GPU requests of Running pods, per extended resource (`nvidia.com/gpu`, `nvidia.com/mig-3g.40gb`, …). */
async function runningGpuRequests(api: CoreV1Api, namespace: string): Promise<Map<string, number>> {
  const out = new Map<string, number>([["nvidia.com/gpu", 0]]);
  let cont: string | undefined;
  do {
    const pods = await api.listNamespacedPod({ namespace, fieldSelector: "status.phase=Running", _continue: cont });
    for (const p of pods.items)
      for (const c of p.spec?.containers ?? [])
        for (const [res, q] of Object.entries(c.resources?.requests ?? {}))
          if (res === "nvidia.com/gpu" || res.startsWith("nvidia.com/mig-")) out.set(res, (out.get(res) ?? 0) + Number(q));
    cont = pods.metadata?._continue || undefined;
  } while (cont);
  return out;
}

export function kubernetesQuotaEnforcer(api: CoreV1Api, reason = "monthly GPU-hour quota reached"): QuotaEnforcer {
  return {
    async namespacesOf(subject, tenants: readonly Tenant[]) {
      if (subject.kind === "namespace") return [subject.namespace!];
      const resolve = makeTenantResolver(tenants);
      const list = await api.listNamespace();
      return list.items
        .map((n) => ({ name: n.metadata!.name!, label: n.metadata?.labels?.tenant }))
        .filter((n) => resolve(n.name, n.label).tenantId === subject.tenantId)
        .map((n) => n.name)
        .sort();
    },

    async block(namespace, kind) {
      const name = BLOCK_QUOTA_NAME[kind];
      let existing: V1ResourceQuota | undefined;
      try {
        existing = await api.readNamespacedResourceQuota({ name, namespace });
      } catch (e) {
        if (statusCode(e) !== 404) throw e;
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
      if (existing) await api.replaceNamespacedResourceQuota({ name, namespace, body });
      else await api.createNamespacedResourceQuota({ namespace, body });
      return { before, appliedGpus: requests.get("nvidia.com/gpu") ?? 0, after: body.spec };
    },

    async restore(namespace, kind, before) {
      const name = BLOCK_QUOTA_NAME[kind];
      const snap = before as QuotaSnapshot | null;
      if (!snap) {
        try {
          await api.deleteNamespacedResourceQuota({ name, namespace });
        } catch (e) {
          if (statusCode(e) !== 404) throw e; // already gone: the lift is done
        }
        return { after: null };
      }
      const body: V1ResourceQuota = { apiVersion: "v1", kind: "ResourceQuota", metadata: { name, namespace, labels: snap.labels, annotations: snap.annotations }, spec: snap.spec };
      try {
        const cur = await api.readNamespacedResourceQuota({ name, namespace });
        await api.replaceNamespacedResourceQuota({ name, namespace, body: { ...body, metadata: { ...body.metadata, resourceVersion: cur.metadata?.resourceVersion } } });
      } catch (e) {
        if (statusCode(e) !== 404) throw e;
        await api.createNamespacedResourceQuota({ namespace, body });
      }
      return { after: snap.spec };
    },
  };
}

/** A CoreV1Api for an EKS cluster authenticated with a bearer token (see eks-token.ts). */
export async function eksCoreApi(opts: { server: string; caData?: string; token: string }): Promise<CoreV1Api> {
  const [major, minor] = process.versions.node.split(".").map(Number) as [number, number];
  let k8s: typeof import("@kubernetes/client-node");
  try {
    k8s = await import("@kubernetes/client-node");
  } catch (e) {
    throw new Error(`cannot load @kubernetes/client-node on Node ${process.versions.node} (it needs Node >= 22.19${major < 22 || (major === 22 && minor < 19) ? "; run enforcement on Node 22, as the Lambda does" : ""}): ${(e as Error).message}`);
  }
  const kc = new k8s.KubeConfig();
  kc.loadFromOptions({
    // EKS endpoints are https and verified against the cluster CA; plain http (a local test API server) has no TLS to verify.
    clusters: [{ name: "eks", server: opts.server, caData: opts.caData, skipTLSVerify: opts.server.startsWith("http://") }],
    users: [{ name: "iam", token: opts.token }],
    contexts: [{ name: "eks", cluster: "eks", user: "iam" }],
    currentContext: "eks",
  });
  return kc.makeApiClient(k8s.CoreV1Api);
}
