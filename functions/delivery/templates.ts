import { readFile } from "node:fs/promises";
import path from "node:path";
import { packageFile } from "../package-files.js";
import type { DeliveryKind, EmailTemplate } from "../report/email-content.js";
import type { Language } from "../core/language.js";

/** templates/ at the package root; a bundle passes its own directory (TEMPLATES_DIR). */
export const DEFAULT_TEMPLATES_DIR = packageFile("templates");

export async function loadEmailTemplate(dir: string, lang: Language, kind: DeliveryKind): Promise<EmailTemplate> {
  const f = (ext: string) => readFile(path.join(dir, lang, `${kind}.${ext}`), "utf8");
  return { subject: await f("subject.txt"), html: await f("html"), text: await f("txt") };
}
