import { describe, expect, it } from "vitest";
import { ConfigError, configHash, configuredClusters } from "../../functions/core/config.js";
import { referenceConfig, referenceConfigText } from "./fixtures.js";
import { parseConfig } from "../../functions/config/config-schema.js";
import { configWith, REMOVE } from "../support/config-edit.js";

/** The reference config with its top-level `prometheus` replaced by `clusters`. */
const withClusters = (clusters: unknown[]): string => configWith(referenceConfigText, [["prometheus"], REMOVE], [["clusters"], clusters]);

const TWO_CLUSTERS = [
  { id: "seoul-a", name: "Seoul A", prometheus: { url: "http://127.0.0.1:9090" } },
  { id: "busan", prometheus: { url: "http://127.0.0.1:9091", auth: { type: "bearer", tokenEnv: "BUSAN_TOKEN" } } },
];
/** The two clusters with busan's id replaced. */
const busanAs = (id: string) => TWO_CLUSTERS.map((c) => (c.id === "busan" ? { ...c, id } : c));

function issuesOf(text: string): string {
  try {
    parseConfig(text, "cfg.yaml");
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    return (e as ConfigError).issues.join("\n");
  }
  return expect.unreachable("config should be invalid");
}

describe("multi-cluster config", () => {
  it("given the reference config without clusters, then it is one implicit cluster 'default' on the top-level prometheus, and its hash is unchanged by the new optional fields", () => {
    const c = referenceConfig();
    expect(c.clusters).toBeUndefined();
    expect(configuredClusters(c)).toEqual([{ id: "default", name: "default", prometheus: c.prometheus }]);
    // configHash is of the parsed config: absent optional fields add nothing to it
    expect(JSON.stringify(c)).not.toContain("clusters");
    expect(configHash(c)).toBe(configHash(parseConfig(referenceConfigText, "again.yaml")));
  });

  it("given clusterId without clusters, then the implicit cluster takes that id", () => {
    const c = parseConfig(configWith(referenceConfigText, [["clusterId"], "prod-eks"]), "cfg.yaml");
    expect(configuredClusters(c).map((x) => x.id)).toEqual(["prod-eks"]);
  });

  it("given two clusters, then both are configured in id order with their own Prometheus and the name defaults to the id", () => {
    const c = parseConfig(withClusters(TWO_CLUSTERS), "cfg.yaml");
    const all = configuredClusters(c);
    expect(all.map((x) => [x.id, x.name, x.prometheus?.url])).toEqual([
      ["busan", "busan", "http://127.0.0.1:9091"],
      ["seoul-a", "Seoul A", "http://127.0.0.1:9090"],
    ]);
    expect(all[0]!.prometheus?.auth).toEqual({ type: "bearer", tokenEnv: "BUSAN_TOKEN" });
    expect(all[1]!.prometheus?.concurrency).toBe(4); // per-cluster defaults apply
  });

  it("given two clusters with the same id, then the error names clusters.1.id as a duplicate", () => {
    expect(issuesOf(withClusters(busanAs("seoul-a")))).toContain('clusters.1.id: duplicate cluster id "seoul-a"');
  });

  it.each([["Seoul"], ["../x"], ["a/b"], ["-lead"], ["a b"], ["x".repeat(64)]])(
    "given cluster id %j (not usable as an S3 key part), then the error names clusters.1.id",
    (bad) => {
      expect(issuesOf(withClusters(busanAs(bad)))).toMatch(/clusters\.1\.id: must be lower-case letters, digits and '-'/);
    },
  );

  it("given clusters together with a top-level prometheus, then the error says to give each cluster its own", () => {
    expect(issuesOf(configWith(referenceConfigText, [["clusters"], TWO_CLUSTERS]))).toMatch(
      /^prometheus: with `clusters`, give each cluster its own `prometheus`/m,
    );
  });

  it("given clusters together with clusterId, then the error names clusterId", () => {
    expect(issuesOf(configWith(withClusters(TWO_CLUSTERS), [["clusterId"], "x"]))).toMatch(
      /^clusterId: only for a single implicit cluster/m,
    );
  });

  it("given an empty clusters list, then the error names clusters", () => {
    expect(issuesOf(withClusters([]))).toMatch(/^clusters: /m);
  });
});
