import { describe, expect, it } from "vitest";
import { LabelMatcher, loadQueries, namespaceMatcher, renderQuery } from "../../functions/adapters/query-files.js";

const noComments = (q: string) =>
  q
    .split("\n")
    .filter((l) => !l.startsWith("#"))
    .join(" ")
    .replace(/\s+/g, " ")
    .trim();

describe("namespace matchers in query files", () => {
  it("given namespaces, when rendered into a selector, then a regex matcher of exactly them; given none, then the selector is unchanged", () => {
    const t = 'up{job="x"{{m}}}';
    expect(renderQuery(t, { m: namespaceMatcher("namespace", ["team-a", "team-b"]) })).toBe('up{job="x",namespace=~"team-a|team-b"}');
    expect(renderQuery(t, { m: namespaceMatcher("exported_namespace", ["a"]) })).toBe('up{job="x",exported_namespace=~"a"}');
    expect(renderQuery(t, { m: namespaceMatcher("namespace", undefined) })).toBe('up{job="x"}');
    expect(renderQuery(t, { m: LabelMatcher.none })).toBe('up{job="x"}');
  });

  it("given something that is not a Kubernetes namespace name, or no namespace at all, then it is refused before it reaches a query", () => {
    expect(() => namespaceMatcher("namespace", ['a"} or vector(1) #'])).toThrow(/not a Kubernetes namespace name/);
    expect(() => namespaceMatcher("namespace", ["a.*"])).toThrow(/not a Kubernetes namespace name/);
    expect(() => namespaceMatcher("namespace", [])).toThrow(/at least one namespace/);
    expect(() => namespaceMatcher("name space", ["a"])).toThrow(/not a label name/);
    expect(() => renderQuery("{{m}}", { m: ',namespace=~"a"' })).toThrow(/not a label name or number/);
  });

  it("given the unsplit metering queries rendered with no restriction, then they are byte for byte the queries without the placeholder", () => {
    const q = loadQueries();
    for (const name of [
      "pod-gpu-requests",
      "pod-running-minutes",
      "pod-used-gpu-minutes",
      "allocated-gpu-minutes-per-tick",
      "used-gpu-minutes-per-tick",
    ] as const) {
      const values = {
        windowSeconds: 86400,
        dcgmNamespaceLabel: "namespace",
        dcgmPodLabel: "pod",
        namespaceMatcher: LabelMatcher.none,
        dcgmNamespaceMatcher: LabelMatcher.none,
      };
      const rendered = renderQuery(q[name], values, name);
      expect(noComments(rendered), name).not.toMatch(/namespace=~|\{\{/);
      expect(noComments(rendered), name).toBe(
        noComments(q[name].replace(/\{\{(dcgmN|n)amespaceMatcher\}\}/g, ""))
          .replace(/\{\{windowSeconds\}\}/g, "86400")
          .replace(/\{\{dcgmNamespaceLabel\}\}/g, "namespace")
          .replace(/\{\{dcgmPodLabel\}\}/g, "pod"),
      );
    }
  });

  it("given node-minutes split into its two halves, then node-label-minutes `and on (node)` gpu-nodes is node-minutes", () => {
    const q = loadQueries();
    expect(`${noComments(q["node-label-minutes"])} and on (node) ${noComments(q["gpu-nodes"])}`).toBe(noComments(q["node-minutes"]));
  });
});
