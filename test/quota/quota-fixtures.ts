import type { Config } from "../../functions/config/config-schema.js";
import { D } from "../../functions/core/decimal.js";
import { monthToDateWindow } from "../../functions/quota/month-to-date.js";
import type { QuotaUsageInput } from "../../functions/quota/evaluate-quota.js";
import { referenceConfigText } from "../core/fixtures.js";
import { configWith } from "../support/config-edit.js";

/** The reference config with suwon's quota raised from 100 to 200 GPU-hours (what lifts a block). */
export const raisedSuwon = configWith(referenceConfigText, [["tenants", { id: "suwon" }, "monthlyQuotaGpuHours"], 200]);

/** A month-to-date meter that reports these GPU-hours per tenant (allocated = billable), no namespaces. */
export const meterWith =
  (tenants: Record<string, number>) =>
  async (c: Config, month: string, now: Date): Promise<QuotaUsageInput> => ({
    month,
    timeZone: c.timeZone,
    window: monthToDateWindow(month, c.timeZone, now),
    tenants: new Map(Object.entries(tenants).map(([id, h]) => [id, { allocated: new D(h), billable: new D(h) }])),
    namespaces: new Map(),
  });
