import { describe, expect, it } from "vitest";
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, relative, resolve, sep } from "node:path";
import ts from "typescript";

/**
 * The layering rules of ARCHITECTURE.md, checked over the source text. Import specifiers are read
 * with a regex rather than the TypeScript compiler: `import ... from "x"`, `export ... from "x"`,
 * side-effect `import "x"` and dynamic `import("x")`. `import type` counts like any other import:
 * a type-only edge still means one folder has to know the other, so it takes part in cycles.
 */
const ROOT = resolve(import.meta.dirname, "..");
const PRODUCT_ROOTS = ["functions", "infra"];

function tsFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return tsFiles(path);
    return entry.name.endsWith(".ts") ? [path] : [];
  });
}

const IMPORT_SPECIFIER =
  /(?:^|[\s;])(?:import|export)\s+(?:type\s+)?(?:[^"'`;]*?\s+from\s+)?["']([^"']+)["']|\bimport\s*\(\s*["']([^"']+)["']\s*\)/g;

/** Relative import specifiers of a source file, resolved to paths relative to the repository root. */
function localImports(file: string, source: string): string[] {
  const found: string[] = [];
  for (const match of source.matchAll(IMPORT_SPECIFIER)) {
    const specifier = match[1] ?? match[2];
    if (!specifier?.startsWith(".")) continue;
    const target = resolve(dirname(file), specifier).replace(/\.js$/, ".ts");
    found.push(relative(ROOT, target).split(sep).join("/"));
  }
  return found;
}

interface Edge {
  from: string;
  to: string;
}

function productEdges(): Edge[] {
  return PRODUCT_ROOTS.flatMap((root) => tsFiles(join(ROOT, root))).flatMap((file) => {
    const from = relative(ROOT, file).split(sep).join("/");
    return localImports(file, readFileSync(file, "utf8")).map((to) => ({ from, to }));
  });
}

/** `functions/<folder>/...` → `<folder>`; files directly under functions/ and other roots → undefined. */
function functionsFolder(path: string): string | undefined {
  const parts = path.split("/");
  return parts[0] === "functions" && parts.length > 2 ? parts[1] : undefined;
}

/** Strongly connected components (Tarjan) of more than one node: each is a cycle between folders. */
function folderCycles(edges: Edge[]): string[][] {
  const graph = new Map<string, Set<string>>();
  for (const { from, to } of edges) {
    const a = functionsFolder(from);
    const b = functionsFolder(to);
    if (!a || !b || a === b) continue;
    if (!graph.has(a)) graph.set(a, new Set());
    if (!graph.has(b)) graph.set(b, new Set());
    graph.get(a)!.add(b);
  }
  let index = 0;
  const indices = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const components: string[][] = [];
  const visit = (node: string): void => {
    indices.set(node, index);
    low.set(node, index);
    index += 1;
    stack.push(node);
    onStack.add(node);
    for (const next of graph.get(node) ?? []) {
      if (!indices.has(next)) {
        visit(next);
        low.set(node, Math.min(low.get(node)!, low.get(next)!));
      } else if (onStack.has(next)) {
        low.set(node, Math.min(low.get(node)!, indices.get(next)!));
      }
    }
    if (low.get(node) === indices.get(node)) {
      const component: string[] = [];
      let member: string | undefined;
      do {
        member = stack.pop()!;
        onStack.delete(member);
        component.push(member);
      } while (member !== node);
      if (component.length > 1) components.push(component.sort());
    }
  };
  for (const node of [...graph.keys()].sort()) if (!indices.has(node)) visit(node);
  return components;
}

/** File-level cycles inside functions/core, where a type-only cycle still tangles two primitives. */
function fileCyclesWithin(folder: string, edges: Edge[]): string[][] {
  const inside = edges.filter((e) => e.from.startsWith(`${folder}/`) && e.to.startsWith(`${folder}/`));
  const pairs = new Set(inside.map((e) => `${e.from}->${e.to}`));
  return inside.filter((e) => e.from < e.to && pairs.has(`${e.to}->${e.from}`)).map((e) => [e.from, e.to]);
}

/**
 * What still breaks the rules, as a shrinking work list: each test asserts that the violations are
 * exactly these, so a new one fails the suite and a fixed one must be struck from the list.
 * The house is done when every list is empty.
 */
const STILL_LEAVING_CORE: string[] = [];
const STILL_CYCLIC_IN_CORE: string[][] = [];
const STILL_CYCLIC_FOLDERS: string[][] = [];
const STILL_INTO_TESTS: string[] = [];
/** Files where a function still takes the time as epoch milliseconds (`nowMs`) instead of `now: Date`. */
const STILL_TAKING_NOW_MS: string[] = [];
/** Files that still assert non-null (`x!`) a field of a controller decision, which its union member carries. */
const STILL_ASSERTING_DECISION_FIELDS: string[] = [];

/** The folders that define ports and decisions, and the ones above them that they must never import. */
const CAPABILITIES_AND_CORE = ["core", "metering", "quota", "report", "delivery", "export", "controller", "doctor", "reconcile"];
const ABOVE_CAPABILITIES = ["adapters", "wiring", "config", "handlers", "cli"];

/** A parameter (or object-literal field) named nowMs: after "(" or "," and before ":" or "?:". */
const NOW_MS_PARAMETER = /[(,]\s*nowMs\??\s*:/;
/** `d.node!`, `d.desiredTo!`…: the fields the controller's decisions used to carry as optionals. */
const DECISION_FIELD_ASSERTION = /\.(?:nodeGroup|node|instanceId|desiredFrom|desiredTo|karpenterNodePool)!/;

const productSources = () =>
  PRODUCT_ROOTS.flatMap((root) => tsFiles(join(ROOT, root))).map((file) => ({
    path: relative(ROOT, file).split(sep).join("/"),
    text: readFileSync(file, "utf8"),
  }));

describe("architecture", () => {
  const edges = productEdges();

  it("given the import parser, when it reads every kind of import, then it resolves each relative one", () => {
    const source = [
      'import { a } from "./a.js";',
      'import type { B } from "../core/b.js";',
      'export { c } from "./c.js";',
      'export * from "./d.js";',
      'import "./e.js";',
      'const f = await import("./f.js");',
      'import { z } from "zod";',
      'import {\n  g,\n  h,\n} from "./gh.js";',
    ].join("\n");
    expect(localImports(join(ROOT, "functions/quota/x.ts"), source)).toEqual([
      "functions/quota/a.ts",
      "functions/core/b.ts",
      "functions/quota/c.ts",
      "functions/quota/d.ts",
      "functions/quota/e.ts",
      "functions/quota/f.ts",
      "functions/quota/gh.ts",
    ]);
  });

  it("given the product sources, when they are read, then imports were found at all", () => {
    expect(edges.length).toBeGreaterThan(100);
  });

  it("given functions/core, when its imports are listed, then none leaves functions/core", () => {
    const outward = edges.filter((e) => e.from.startsWith("functions/core/") && !e.to.startsWith("functions/core/"));
    expect(outward.map((e) => `${e.from} -> ${e.to}`)).toEqual(STILL_LEAVING_CORE);
  });

  it("given the files of functions/core, when their imports are followed, then no two import each other (type-only included)", () => {
    expect(fileCyclesWithin("functions/core", edges)).toEqual(STILL_CYCLIC_IN_CORE);
  });

  it("given the top-level folders of functions/, when their imports are followed (type-only included), then they form no cycle", () => {
    expect(folderCycles(edges)).toEqual(STILL_CYCLIC_FOLDERS);
  });

  it("given the product sources, when their parameters are read, then none takes the time as nowMs (one convention: now: Date below a clock)", () => {
    const files = productSources().filter((f) => NOW_MS_PARAMETER.test(f.text));
    expect(files.map((f) => f.path)).toEqual(STILL_TAKING_NOW_MS);
  });

  it("given the product sources, when they read a controller decision, then none asserts a field its union member already carries", () => {
    const readsDecisions = (f: { path: string; text: string }) =>
      f.path.startsWith("functions/controller/") || /controller\/(?:decide|run-controller)\.js["']/.test(f.text);
    const files = productSources().filter((f) => readsDecisions(f) && DECISION_FIELD_ASSERTION.test(f.text));
    expect(productSources().filter(readsDecisions).length).toBeGreaterThan(5);
    expect(files.map((f) => f.path)).toEqual(STILL_ASSERTING_DECISION_FIELDS);
  });

  it("given the rules above, when fed a nowMs parameter and a decision assertion, then each one catches it", () => {
    expect(NOW_MS_PARAMETER.test("function f(snap: Snapshot,\n  nowMs: number) {}")).toBe(true);
    expect(NOW_MS_PARAMETER.test("const nowMs = now.getTime();")).toBe(false);
    expect(DECISION_FIELD_ASSERTION.test("deps.releaseNode(d.node!)")).toBe(true);
    expect(DECISION_FIELD_ASSERTION.test("deps.releaseNode(d.node)")).toBe(false);
  });

  it("given the capabilities and core, when their imports are listed, then none reaches an adapter, wiring, the composed config or a composition root", () => {
    const below = (path: string) => CAPABILITIES_AND_CORE.includes(functionsFolder(path) ?? "");
    const upward = edges.filter((e) => below(e.from) && ABOVE_CAPABILITIES.includes(functionsFolder(e.to) ?? ""));
    expect(upward.map((e) => `${e.from} -> ${e.to}`)).toEqual([]);
  });

  it("given the capabilities and core, when their sources are read, then none loads the AWS SDK (outside systems come in through ports)", () => {
    const sdk = /\bfrom\s+["']@(?:aws-sdk|smithy)\/|import\(\s*["']@(?:aws-sdk|smithy)\//;
    expect(sdk.test('import { S3Client } from "@aws-sdk/client-s3";')).toBe(true);
    const files = productSources().filter((f) => CAPABILITIES_AND_CORE.includes(functionsFolder(f.path) ?? "") && sdk.test(f.text));
    expect(files.map((f) => f.path)).toEqual([]);
  });

  it("given the product sources under functions/ and infra/, when their imports are listed, then none reaches test/", () => {
    const intoTests = edges.filter((e) => e.to === "test" || e.to.startsWith("test/"));
    expect(intoTests.map((e) => `${e.from} -> ${e.to}`)).toEqual(STILL_INTO_TESTS);
  });
});

/** Product files whose source matches `pattern`, relative to the repository root. */
function productFilesMatching(pattern: RegExp): string[] {
  return PRODUCT_ROOTS.flatMap((root) => tsFiles(join(ROOT, root)))
    .filter((file) => pattern.test(readFileSync(file, "utf8")))
    .map((file) => relative(ROOT, file).split(sep).join("/"))
    .sort();
}

describe("one adapter per outside system", () => {
  it("given the product sources, when they load @kubernetes/client-node at run time, then only the one Kubernetes client module does", () => {
    // `import type` is free: the adapters name the API's object types; only building clients is kept in one place.
    const valueImport =
      /^import\s+(?!type\s)[^;]*?\bfrom\s+["']@kubernetes\/client-node["']|import\(\s*["']@kubernetes\/client-node["']\s*\)/m;
    expect(productFilesMatching(valueImport)).toEqual(["functions/adapters/kubernetes-client.ts"]);
  });

  it("given the product sources, when they describe an EKS cluster or sign an EKS token, then only the one EKS auth module does", () => {
    expect(productFilesMatching(/DescribeClusterCommand|x-k8s-aws-id/)).toEqual(["functions/adapters/eks-auth.ts"]);
  });
});

describe("one AWS SDK", () => {
  it("given the lock file, when the AWS SDK's packages are listed, then each is installed once (every client on one shared core)", () => {
    // Each @aws-sdk/client-* is released only when it changes, so the clients' own versions differ
    // (client-cloudwatch's newest is older than client-s3's); what must be one is the code they
    // share — @aws-sdk/core, the middleware, @smithy/* — or two clients would sign, retry and
    // parse errors differently.
    const lock = JSON.parse(readFileSync(join(ROOT, "package-lock.json"), "utf8")) as { packages: Record<string, { version?: string }> };
    const versions = new Map<string, Set<string>>();
    for (const [where, p] of Object.entries(lock.packages)) {
      const name = /node_modules\/((?:@aws-sdk|@smithy|@aws-crypto)\/[^/]+)$/.exec(where)?.[1];
      if (name && p.version) versions.set(name, (versions.get(name) ?? new Set()).add(p.version));
    }
    expect(versions.get("@aws-sdk/core")?.size).toBe(1);
    expect([...versions].filter(([, v]) => v.size > 1).map(([n, v]) => `${n}: ${[...v].join(", ")}`)).toEqual([]);
  });
});

/**
 * Functions (declarations, methods, constructors, arrows, function expressions) longer than
 * `limit` lines, as `file:line name (N lines)`. Parsed with the TypeScript compiler: a nested
 * function counts on its own and inside its parent, so a parent is long only by its own size
 * plus what it nests.
 */
function longFunctions(files: string[], limit: number): string[] {
  const out: string[] = [];
  for (const file of files) {
    const sf = ts.createSourceFile(file, readFileSync(file, "utf8"), ts.ScriptTarget.Latest, true);
    const visit = (node: ts.Node, owner: string): void => {
      const isFunction =
        ts.isFunctionDeclaration(node) ||
        ts.isMethodDeclaration(node) ||
        ts.isConstructorDeclaration(node) ||
        ts.isArrowFunction(node) ||
        ts.isFunctionExpression(node);
      if (isFunction) {
        const first = sf.getLineAndCharacterOfPosition(node.getStart(sf)).line;
        const lines = sf.getLineAndCharacterOfPosition(node.getEnd()).line - first + 1;
        const name = ts.isConstructorDeclaration(node) ? `${owner}.constructor` : (node.name?.getText(sf) ?? owner);
        if (lines > limit) out.push(`${relative(ROOT, file).split(sep).join("/")}:${first + 1} ${name} (${lines} lines)`);
      }
      const next = ts.isVariableDeclaration(node) || ts.isClassDeclaration(node) ? (node.name?.getText(sf) ?? owner) : owner;
      ts.forEachChild(node, (child) => visit(child, next));
    };
    visit(sf, "");
  }
  return out;
}

describe("functions in named steps", () => {
  const LIMIT = 80;

  it(`given the product sources, when their functions are measured, then none is longer than ${LIMIT} lines (a long one is split into named steps)`, () => {
    const files = [...PRODUCT_ROOTS, "bin"].flatMap((root) => tsFiles(join(ROOT, root))).filter((f) => !f.endsWith(".d.ts"));
    expect(longFunctions(files, LIMIT)).toEqual([]);
  });

  it("given a function one line over the limit, when measured, then it is named with its file and line", () => {
    const body = Array.from({ length: LIMIT - 1 }, (_, i) => `  const x${i} = ${i};`).join("\n");
    const file = join(tmpdir(), `long-function-${process.pid}.ts`);
    writeFileSync(file, `export function tooLong() {\n${body}\n}\n`);
    expect(longFunctions([file], LIMIT)).toEqual([`${relative(ROOT, file).split(sep).join("/")}:1 tooLong (${LIMIT + 1} lines)`]);
    expect(longFunctions([file], LIMIT + 1)).toEqual([]);
  });
});
