import type { DoctorFinding } from "./doctor-checks.js";

/** Splits text into lines of at most `w` characters at spaces (a longer word keeps its own line). */
function wrap(text: string, w: number): string[] {
  if (!text) return [""];
  const lines: string[] = [];
  let line = "";
  for (const word of text.split(/\s+/)) {
    if (line && line.length + 1 + word.length > w) {
      lines.push(line);
      line = word;
    } else line = line ? `${line} ${word}` : word;
  }
  lines.push(line);
  return lines;
}

/**
 * One table of findings: check, status, what was seen, the fix (a `cluster` column first
 * when several clusters were checked). Long cells wrap inside their column.
 */
export function formatDoctorTable(
  rows: (DoctorFinding & { cluster?: string })[],
  opts: { seenWidth?: number; fixWidth?: number } = {},
): string {
  const withCluster = rows.some((r) => r.cluster !== undefined);
  const head = [...(withCluster ? ["cluster"] : []), "check", "status", "seen", "fix"];
  const seenW = opts.seenWidth ?? 60;
  const fixW = opts.fixWidth ?? 70;
  const cells = rows.map((r) => [
    ...(withCluster ? [[r.cluster ?? ""]] : []),
    [r.check],
    [r.status.toUpperCase()],
    wrap(r.seen, seenW),
    wrap(r.fix || "-", fixW),
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...cells.map((c) => Math.max(...c[i]!.map((l) => l.length)))));
  const fmt = (cols: string[]) =>
    cols
      .map((c, i) => (i === cols.length - 1 ? c : c.padEnd(widths[i]!)))
      .join("  ")
      .trimEnd();
  const out = [fmt(head), fmt(widths.map((w) => "-".repeat(w)))];
  for (const c of cells) {
    const height = Math.max(...c.map((col) => col.length));
    for (let i = 0; i < height; i++) out.push(fmt(c.map((col) => col[i] ?? "")));
  }
  return out.join("\n");
}
