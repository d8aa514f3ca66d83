import { mkdtemp, readFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { localPreviewFiles } from "../../functions/adapters/preview-files.js";

describe("localPreviewFiles", () => {
  it("given a directory that does not exist yet, when two files are written at once, then it is made and each write answers with its file", async () => {
    const dir = path.join(await mkdtemp(path.join(tmpdir(), "preview-")), "reports", "month=2026-10");
    const preview = localPreviewFiles(dir);
    const [a, b] = await Promise.all([preview.write("a.pdf", Buffer.from("%PDF")), preview.write("b.eml", Buffer.from("From: x"))]);
    expect([a, b]).toEqual([path.join(dir, "a.pdf"), path.join(dir, "b.eml")]);
    expect(await readFile(a!, "utf8")).toBe("%PDF");
    expect(await readFile(b!, "utf8")).toBe("From: x");
  });
});
