import { readFileSync } from "node:fs";
import path from "node:path";
import { packageFile } from "../package-files.js";

export const QUERY_NAMES = [
  "pod-gpu-requests",
  "pod-running-minutes",
  "pod-used-gpu-minutes",
  "allocated-gpu-minutes-per-tick",
  "used-gpu-minutes-per-tick",
  "node-minutes",
  "namespace-tenants",
  "gpu-sample-scan",
] as const;
export type QueryName = (typeof QUERY_NAMES)[number];

/** Where the `.promql` files live: beside the bundle in Lambda (QUERIES_DIR), else the repo's `queries/`. */
export function defaultQueriesDir(): string {
  return packageFile("queries");
}

/**
 * Fills `{{name}}` placeholders of a query file. Values are checked against a
 * strict pattern first: a label name or a number is all a query needs, and
 * nothing else can change the query's meaning.
 */
export function renderQuery(template: string, values: Record<string, string | number>, source = "query"): string {
  return template.replace(/\{\{(\w+)\}\}/g, (_, name: string) => {
    const v = values[name];
    if (v === undefined) throw new Error(`${source}: no value for placeholder {{${name}}}`);
    const s = String(v);
    if (!/^[A-Za-z_][A-Za-z0-9_]*$|^\d+(\.\d+)?$/.test(s)) throw new Error(`${source}: value "${s}" for {{${name}}} is not a label name or number`);
    return s;
  });
}

export function loadQueries(dir = defaultQueriesDir()): Record<QueryName, string> {
  const out = {} as Record<QueryName, string>;
  for (const name of QUERY_NAMES) {
    const file = path.join(dir, `${name}.promql`);
    try {
      out[name] = readFileSync(file, "utf8");
    } catch (e) {
      throw new Error(`query file ${file} cannot be read: ${(e as Error).message}`);
    }
  }
  return out;
}
