import { Decimal } from "decimal.js";

/** An isolated Decimal constructor, so no other module's global setting can change our rounding. */
export const D = Decimal.clone({ precision: 40, rounding: Decimal.ROUND_HALF_UP });
export type Dec = InstanceType<typeof D>;
