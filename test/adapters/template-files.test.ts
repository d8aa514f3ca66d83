import { describe, expect, it } from "vitest";
import { mkdir, mkdtemp, readdir, readFile, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { defaultTemplatesDir, emailTemplateFiles, loadAlertTemplates } from "../../functions/adapters/template-files.js";
import { DELIVERY_KINDS } from "../../functions/report/email-content.js";
import { LANGUAGES } from "../../functions/core/language.js";

/** A templates directory in the one layout, each file holding its own path so a read shows which file it came from. */
async function templatesDir(): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), "templates-"));
  for (const lang of LANGUAGES) {
    await mkdir(path.join(dir, lang));
    for (const name of [
      ...DELIVERY_KINDS.flatMap((k) => [`${k}.subject.txt`, `${k}.html`, `${k}.txt`]),
      "quota-alert.txt",
      "quota-alert.html",
    ])
      await writeFile(path.join(dir, lang, name), `${lang}/${name}\n`);
  }
  return dir;
}

describe("template-files", () => {
  it("given a templates directory, when a report email's templates are read, then each comes from <lang>/<kind>.<ext>", async () => {
    const dir = await templatesDir();
    const read = emailTemplateFiles(dir);
    expect(await read("en", "finance")).toEqual({
      subject: "en/finance.subject.txt\n",
      html: "en/finance.html\n",
      text: "en/finance.txt\n",
    });
    expect(await read("ko", "tenant")).toEqual({ subject: "ko/tenant.subject.txt\n", html: "ko/tenant.html\n", text: "ko/tenant.txt\n" });
  });

  it("given a templates directory, when the quota alert templates are loaded, then each language comes from <lang>/quota-alert.<ext>", async () => {
    const dir = await templatesDir();
    expect(loadAlertTemplates(dir)).toEqual({
      ko: { text: "ko/quota-alert.txt\n", html: "ko/quota-alert.html\n" },
      en: { text: "en/quota-alert.txt\n", html: "en/quota-alert.html\n" },
    });
  });

  it("given a missing template, when it is read, then the error names the file", async () => {
    const empty = await mkdtemp(path.join(tmpdir(), "templates-"));
    await expect(emailTemplateFiles(empty)("ko", "executive")).rejects.toThrow(path.join(empty, "ko", "executive.subject.txt"));
    expect(() => loadAlertTemplates(empty)).toThrow(path.join(empty, "ko", "quota-alert.txt"));
  });

  it("given the shipped templates/, when listed, then each language has every report kind and the quota alert, and nothing else", async () => {
    const dir = defaultTemplatesDir();
    expect((await readdir(dir)).sort()).toEqual([...LANGUAGES].sort());
    for (const lang of LANGUAGES) {
      const expected = [
        ...DELIVERY_KINDS.flatMap((k) => [`${k}.subject.txt`, `${k}.html`, `${k}.txt`]),
        "quota-alert.txt",
        "quota-alert.html",
      ];
      expect((await readdir(path.join(dir, lang))).sort()).toEqual(expected.sort());
      expect(loadAlertTemplates()[lang].text).toBe(await readFile(path.join(dir, lang, "quota-alert.txt"), "utf8"));
      expect(loadAlertTemplates()[lang].text).toMatch(/^Subject: /);
    }
  });
});
