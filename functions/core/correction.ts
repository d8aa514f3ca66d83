import type { BaseConfig } from "./config.js";
import { D, type Dec } from "./decimal.js";

/**
 * The utilization correction: the factor of the highest tier whose lower
 * bound the average utilization reaches (tiers may be listed in any order).
 */
export function correctionFactor(avgUtilization: Dec, tiers: BaseConfig["correction"]["tiers"]): Dec {
  const sorted = [...tiers].sort((a, b) => b.minUtilization - a.minUtilization);
  for (const t of sorted) if (avgUtilization.gte(t.minUtilization)) return new D(t.factor);
  // The config schema requires a tier at 0, so this is only reached with a negative utilization.
  throw new RangeError(`utilization ${avgUtilization.toString()} is below every correction tier`);
}
