import { isMap, isSeq, parseDocument, type Document } from "yaml";

/** A step into the config: a key, a list index, or the list item with this `id` (tenants, clusters). */
export type ConfigPathStep = string | number | { id: string };
/** Removes the value at the path instead of setting it. */
export const REMOVE = Symbol("remove");

/**
 * The config text with values set (or removed) at YAML paths, its comments and layout kept:
 * tests state which setting they change, and an edit that misses (a renamed key, a tenant no
 * longer there) fails here instead of leaving the text silently unchanged as a string replace would.
 */
export function configWith(text: string, ...edits: [path: ConfigPathStep[], value: unknown][]): string {
  const doc = parseDocument(text);
  for (const [steps, value] of edits) {
    const path = resolve(doc, steps);
    if (value === REMOVE) {
      if (!doc.hasIn(path)) throw new Error(`config has nothing at ${JSON.stringify(steps)} to remove`);
      doc.deleteIn(path);
    } else {
      if (!doc.hasIn(path.slice(0, -1)) && path.length > 1) throw new Error(`config has no ${JSON.stringify(steps.slice(0, -1))}`);
      doc.setIn(path, value);
    }
  }
  return doc.toString({ flowCollectionPadding: false, lineWidth: 0 });
}

function resolve(doc: Document, steps: ConfigPathStep[]): (string | number)[] {
  const path: (string | number)[] = [];
  for (const step of steps) {
    if (typeof step !== "object") {
      path.push(step);
      continue;
    }
    const list = doc.getIn(path, true);
    if (!isSeq(list)) throw new Error(`config ${JSON.stringify(path)} is not a list`);
    const at = list.items.findIndex((item) => isMap(item) && item.get("id") === step.id);
    if (at < 0) throw new Error(`config ${JSON.stringify(path)} has no item with id ${step.id}`);
    path.push(at);
  }
  return path;
}
