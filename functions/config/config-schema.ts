import { z } from "zod";
import { BaseConfigObject, parseConfigText, refineBaseConfig, splitPriceFeed } from "../core/config.js";
import { QuotaConfigSlice, refineQuotaConfig } from "../quota/quota-config.js";

/**
 * The billing config file's schema: core's base fields with each capability's slice. It lives
 * above the capabilities (only composition roots — handlers, CLI commands, infra — import it) so
 * core depends on no capability and no capability on another's config. Base rules run first,
 * then the slices', in the order the issues were always reported.
 */
export const ConfigSchema = z.preprocess(
  splitPriceFeed,
  BaseConfigObject.extend(QuotaConfigSlice).superRefine((cfg, ctx) => {
    refineBaseConfig(cfg, ctx);
    refineQuotaConfig(cfg, ctx);
  }),
);

export type Config = z.infer<typeof ConfigSchema>;

/** Parses JSON or YAML text into a validated config; `source` names the file in errors. */
export function parseConfig(text: string, source: string): Config {
  return parseConfigText(ConfigSchema, text, source);
}
