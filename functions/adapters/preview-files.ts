import { mkdir, writeFile } from "node:fs/promises";
import path from "node:path";
import type { PreviewFiles } from "../delivery/delivery-ports.js";

/** A preview's files in one directory (made on the first write); each write answers with the file's path. */
export function localPreviewFiles(dir: string): PreviewFiles {
  let made: Promise<unknown> | undefined;
  return {
    async write(filename, body) {
      await (made ??= mkdir(dir, { recursive: true }));
      const file = path.join(dir, filename);
      await writeFile(file, body);
      return file;
    },
  };
}
