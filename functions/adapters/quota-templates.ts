import { readFileSync } from "node:fs";
import path from "node:path";
import { packageFile } from "../package-files.js";
import type { AlertTemplates } from "../quota/render-alert.js";
import type { Language } from "../core/language.js";

/** Where `quota-alert.<lang>.{txt,html}` live: beside the bundle in Lambda (TEMPLATES_DIR), else the repo's `templates/`. */
export function defaultTemplatesDir(): string {
  return packageFile("templates");
}

export function loadAlertTemplates(dir = defaultTemplatesDir()): Record<Language, AlertTemplates> {
  const read = (lang: Language, ext: string) => readFileSync(path.join(dir, `quota-alert.${lang}.${ext}`), "utf8");
  return { ko: { text: read("ko", "txt"), html: read("ko", "html") }, en: { text: read("en", "txt"), html: read("en", "html") } };
}
