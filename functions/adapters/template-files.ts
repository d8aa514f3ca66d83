import { readFileSync } from "node:fs";
import path from "node:path";
import { packageFile } from "../package-files.js";
import type { EmailTemplates } from "../delivery/delivery-ports.js";
import type { AlertTemplates } from "../quota/render-alert.js";
import type { Language } from "../core/language.js";

/** templates/ beside the bundle in Lambda (TEMPLATES_DIR), else the repo's `templates/`. */
export function defaultTemplatesDir(): string {
  return packageFile("templates");
}

/** Every template, report email or quota alert, sits at `<dir>/<lang>/<name>.<ext>`. */
function readTemplate(dir: string, lang: Language, name: string, ext: string): string {
  return readFileSync(path.join(dir, lang, `${name}.${ext}`), "utf8");
}

/** The report emails: `<lang>/<kind>.{subject.txt,html,txt}`, read when a message of that kind is built. */
export function emailTemplateFiles(dir = defaultTemplatesDir()): EmailTemplates {
  return async (lang, kind) => ({
    subject: readTemplate(dir, lang, kind, "subject.txt"),
    html: readTemplate(dir, lang, kind, "html"),
    text: readTemplate(dir, lang, kind, "txt"),
  });
}

/** The quota alerts: `<lang>/quota-alert.{txt,html}`, both languages read up front. */
export function loadAlertTemplates(dir = defaultTemplatesDir()): Record<Language, AlertTemplates> {
  const read = (lang: Language) => ({
    text: readTemplate(dir, lang, "quota-alert", "txt"),
    html: readTemplate(dir, lang, "quota-alert", "html"),
  });
  return { ko: read("ko"), en: read("en") };
}
