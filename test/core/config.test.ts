import { describe, expect, it } from "vitest";
import { ConfigError, configHash } from "../../functions/core/config.js";
import { referenceConfig, referenceConfigText } from "./fixtures.js";
import { parseConfig } from "../../functions/config/config-schema.js";
import { configWith, REMOVE, type ConfigPathStep } from "../support/config-edit.js";

describe("config validation", () => {
  it("given the reference customer's config, it parses with the seed correction policy and Seoul prices", () => {
    const c = referenceConfig();
    expect(c.timeZone).toBe("Asia/Seoul");
    expect(c.tenants.map((t) => [t.id, t.monthlyQuotaGpuHours])).toContainEqual(["yongin", 50]);
    expect(c.prices["p4d.24xlarge"]!.onDemandHourly).toBe("30.41028");
    expect(c.tenants.find((t) => t.id === "team-ai")!.monthlyQuotaGpuHours).toBeUndefined(); // unlimited, not 0
  });

  const yongin = { id: "yongin" };
  it.each<[string, ConfigPathStep[], unknown, string]>([
    ["timeZone", ["timeZone"], "Mars/Olympus", "timeZone: is not an IANA time zone"],
    ["a price", ["prices", "g4dn.12xlarge", "onDemandHourly"], "4.8.12", "prices.g4dn.12xlarge.onDemandHourly"],
    ["a quota", ["tenants", yongin, "monthlyQuotaGpuHours"], -5, "tenants.2.monthlyQuotaGpuHours"],
    ["a tenant id", ["tenants", yongin, "id"], "Yongin/../x", "tenants.2.id"],
    ["a tenant id", ["tenants", yongin, "id"], "suwon", 'tenants.2.id: duplicate tenant id "suwon"'],
    ["the tier from 0", ["correction", "tiers", 3], REMOVE, "correction.tiers: one tier must start at minUtilization 0"],
    ["currency", ["currency"], "dollars", "currency"],
  ])("given %s at %j set to %j, the error names %s", (_what, at, value, expected) => {
    try {
      parseConfig(configWith(referenceConfigText, [at, value]), "cfg.yaml");
      expect.unreachable("config should be invalid");
    } catch (e) {
      expect(e).toBeInstanceOf(ConfigError);
      expect((e as Error).message).toContain("cfg.yaml");
      expect((e as ConfigError).issues.join("\n")).toContain(expected);
    }
  });

  it("given JSON instead of YAML, it parses the same", () => {
    const c = referenceConfig();
    expect(configHash(parseConfig(JSON.stringify(c), "cfg.json"))).toBe(configHash(c));
  });

  it("given a config that is not YAML at all, the error names the file", () => {
    expect(() => parseConfig("tenants: [", "broken.yaml")).toThrow(/broken\.yaml: not valid JSON or YAML/);
  });

  it("given a FOCUS block with a misspelt field, the error names it; without a block the export defaults apply", () => {
    const err = (() => {
      try {
        parseConfig(`${referenceConfigText}\nfocus:\n  providerNmae: Gyeonggi AI\n`, "cfg.yaml");
      } catch (e) {
        return e as ConfigError;
      }
    })();
    expect(err).toBeInstanceOf(ConfigError);
    expect(err!.issues.join("\n")).toMatch(/focus.*providerNmae/);
    expect(parseConfig(referenceConfigText, "cfg.yaml").focus).toBeUndefined();
  });
});
