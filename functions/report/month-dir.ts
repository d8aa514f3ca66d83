import { parseMonth } from "../core/month.js";

/** `month=YYYY-MM`, the dataset's directory name (same as the sinks'); only a valid month may become a path. */
export function monthDirName(month: string): string {
  parseMonth(month);
  return `month=${month}`;
}
