import { readFileSync } from "node:fs";
import path from "node:path";
import { packageFile } from "../package-files.js";

export const QUERY_NAMES = [
  "pod-gpu-requests",
  "pod-running-minutes",
  "pod-used-gpu-minutes",
  "ksm-instance-coverage",
  "allocated-gpu-minutes-per-tick",
  "used-gpu-minutes-per-tick",
  "node-minutes",
  "node-instance-ids",
  "node-label-minutes",
  "gpu-nodes",
  "namespace-tenants",
  "window-namespaces",
  "gpu-sample-scan",
  "node-run-spans",
] as const;
export type QueryName = (typeof QUERY_NAMES)[number];

/** Where the `.promql` files live: beside the bundle in Lambda (QUERIES_DIR), else the repo's `queries/`. */
export function defaultQueriesDir(): string {
  return packageFile("queries");
}

/**
 * A label matcher to append inside a selector's braces: `,namespace=~"a|b"`, or nothing.
 * Built only by namespaceMatcher, which checks every part, so renderQuery inserts it as is.
 */
export class LabelMatcher {
  private constructor(readonly text: string) {}
  /** No restriction: renders as nothing, leaving the selector as it was. */
  static readonly none = new LabelMatcher("");
  /** @internal */
  static of(text: string): LabelMatcher {
    return new LabelMatcher(text);
  }
}

const LABEL_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
/** A Kubernetes namespace name (RFC 1123 label): nothing in it is special inside a PromQL regex or string. */
const NAMESPACE = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

/** `,<label>=~"a|b"` for these namespaces (none given: no restriction). */
export function namespaceMatcher(label: string, namespaces: readonly string[] | undefined): LabelMatcher {
  if (namespaces === undefined) return LabelMatcher.none;
  if (!LABEL_NAME.test(label)) throw new Error(`"${label}" is not a label name`);
  if (namespaces.length === 0) throw new Error("a namespace matcher needs at least one namespace");
  for (const n of namespaces) if (!NAMESPACE.test(n)) throw new Error(`"${n}" is not a Kubernetes namespace name`);
  return LabelMatcher.of(`,${label}=~"${namespaces.join("|")}"`);
}

/**
 * Fills `{{name}}` placeholders of a query file. Values are checked against a
 * strict pattern first: a label name or a number is all a query needs, and
 * nothing else can change the query's meaning; a LabelMatcher was checked when
 * it was built.
 */
export function renderQuery(template: string, values: Record<string, string | number | LabelMatcher>, source = "query"): string {
  return template.replace(/\{\{(\w+)\}\}/g, (_, name: string) => {
    const v = values[name];
    if (v === undefined) throw new Error(`${source}: no value for placeholder {{${name}}}`);
    if (v instanceof LabelMatcher) return v.text;
    const s = String(v);
    if (!/^[A-Za-z_][A-Za-z0-9_]*$|^\d+(\.\d+)?$/.test(s))
      throw new Error(`${source}: value "${s}" for {{${name}}} is not a label name or number`);
    return s;
  });
}

/** Reads the named query files (`<name>.promql`) from `dir`; a missing one is an error naming the file. */
export function loadQueryFiles<N extends string>(names: readonly N[], dir = defaultQueriesDir()): Record<N, string> {
  const out = {} as Record<N, string>;
  for (const name of names) {
    const file = path.join(dir, `${name}.promql`);
    try {
      out[name] = readFileSync(file, "utf8");
    } catch (e) {
      throw new Error(`query file ${file} cannot be read: ${(e as Error).message}`, { cause: e });
    }
  }
  return out;
}

export const loadQueries = (dir = defaultQueriesDir()): Record<QueryName, string> => loadQueryFiles(QUERY_NAMES, dir);
