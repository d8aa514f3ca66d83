import type { BaseConfig, Tenant } from "./config.js";
import { UNALLOCATED } from "./config.js";
import { BadInputError } from "./errors.js";

export type CapacityType = "spot" | "on-demand";

/** What a billed row is split by: the attribution key every chargeback, daily and pod row carries. */
export interface RowSplit {
  cluster: string;
  tenantId: string;
  tenantName: string;
  namespace: string;
  gpuModel: string;
  instanceType: string;
  capacityType: CapacityType;
}

/** Both label conventions: Karpenter (`spot`/`on-demand`) and EKS managed node groups (`SPOT`/`ON_DEMAND`). */
const CAPACITY_LABELS: Record<string, CapacityType> = {
  spot: "spot",
  SPOT: "spot",
  "on-demand": "on-demand",
  ON_DEMAND: "on-demand",
};

export function normaliseCapacityType(label: string): CapacityType | undefined {
  return CAPACITY_LABELS[label];
}

export interface TenantAttribution {
  tenantId: string;
  tenantName: string;
  via: "label" | "glob" | "unallocated";
  warning?: string;
}

export function globToRegExp(glob: string): RegExp {
  const body = glob
    .replace(/[.+^${}()|[\]\\]/g, "\\$&")
    .replace(/\*/g, ".*")
    .replace(/\?/g, ".");
  return new RegExp(`^${body}$`);
}

/**
 * Maps namespaces to tenants: the namespace's `tenant` label first, then the
 * config's namespace globs (first tenant in config order wins), else
 * `unallocated`, which is billed as its own row rather than dropped.
 */
export function makeTenantResolver(tenants: readonly Tenant[]) {
  const byId = new Map(tenants.map((t) => [t.id, t]));
  const globs = tenants.flatMap((t) => t.namespaces.map((g) => ({ re: globToRegExp(g), tenant: t })));
  return (namespace: string, tenantLabel: string | undefined): TenantAttribution => {
    if (tenantLabel) {
      const t = byId.get(tenantLabel);
      if (t) return { tenantId: t.id, tenantName: t.name, via: "label" };
      return {
        tenantId: UNALLOCATED,
        tenantName: UNALLOCATED,
        via: "unallocated",
        warning: `namespace ${namespace} has tenant label "${tenantLabel}", which is no configured tenant; billed as ${UNALLOCATED}`,
      };
    }
    const hit = globs.find((g) => g.re.test(namespace));
    if (hit) return { tenantId: hit.tenant.id, tenantName: hit.tenant.name, via: "glob" };
    return { tenantId: UNALLOCATED, tenantName: UNALLOCATED, via: "unallocated" };
  };
}

const MIG_RE = /^nvidia_com_mig_(\d+)g_(\d+)gb$/;

/**
 * Whole-GPU equivalents of one requested unit of `resource` on a node:
 * a MIG `<g>g` slice is g/slicesPerGpu of its GPU; on a time-sliced node
 * (`nvidia.com/gpu.replicas` = N) one `nvidia.com/gpu` is 1/N of a GPU.
 * Returns the fraction as numerator/denominator so money math stays exact.
 */
export function gpuFractionPerUnit(
  resource: string,
  gpuModel: string,
  gpuReplicas: number,
  migSlicesPerGpu: BaseConfig["migSlicesPerGpu"],
): { num: number; den: number } {
  if (resource === "nvidia_com_gpu") return { num: 1, den: Math.max(1, gpuReplicas) };
  const mig = MIG_RE.exec(resource);
  if (mig) {
    const slices = migSlicesPerGpu[gpuModel];
    if (!slices)
      throw new BadInputError(`resource ${resource} is a MIG slice, but GPU model ${gpuModel} has no migSlicesPerGpu entry in the config`);
    return { num: Number(mig[1]), den: slices };
  }
  throw new Error(`resource ${resource} is not a GPU resource this meter understands`);
}
