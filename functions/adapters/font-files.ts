import { createRequire } from "node:module";
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import * as fontkit from "fontkit";
import { BadInputError } from "../core/errors.js";
import type { ReportFonts } from "../report/pdf-report.js";

const FONT_FILES = { regular: "Pretendard-Regular.ttf", bold: "Pretendard-Bold.ttf" } as const;

/** Where the pretendard package keeps its TTFs; a bundle passes its own directory (FONT_DIR) instead. */
function defaultFontDir(): string {
  const req = createRequire(import.meta.url);
  let dir: string;
  try {
    dir = path.join(path.dirname(req.resolve("pretendard/package.json")), "dist/public/static/alternative");
  } catch {
    dir = path.resolve(process.cwd(), "node_modules/pretendard/dist/public/static/alternative");
  }
  return dir;
}

export class FontNotFoundError extends BadInputError {
  constructor(file: string) {
    super(`report font not found: ${file} (set fontDir / FONT_DIR to a directory with ${FONT_FILES.regular} and ${FONT_FILES.bold})`);
    this.name = "FontNotFoundError";
  }
}

/**
 * Parsed fonts by file, shared by every document of the process: parsing Pretendard's
 * 2.7 MB tables dominated a tenant report's render time. The font is parsed here with fontkit,
 * exactly as pdfkit parses a path (`fontkit.create(fs.readFileSync(src))`, PDFFontFactory.open in
 * pdfkit 0.20), and handed to `registerFont`, which takes a parsed fontkit `Font` since pdfkit
 * 0.17 (CHANGELOG: "Accept already-parsed fontkit `Font` instances in `doc.font()` and
 * `registerFont`"); each document still embeds its own subset.
 */
const parsedFonts = new Map<string, fontkit.Font>();

function parsedFont(file: string): fontkit.Font {
  let font = parsedFonts.get(file);
  if (!font) {
    font = fontkit.create(readFileSync(file));
    parsedFonts.set(file, font);
  }
  return font;
}

/** The report's fonts from `dir` (default: the pretendard package), read and parsed when a document first needs them. */
export function fontFiles(dir: string = defaultFontDir()): ReportFonts {
  return () => {
    for (const f of Object.values(FONT_FILES)) if (!existsSync(path.join(dir, f))) throw new FontNotFoundError(path.join(dir, f));
    return { regular: parsedFont(path.join(dir, FONT_FILES.regular)), bold: parsedFont(path.join(dir, FONT_FILES.bold)) };
  };
}
