import { createHash } from "node:crypto";

export interface MimeAttachment {
  filename: string;
  contentType: string;
  content: Buffer;
}

export interface MimeMessage {
  from: string;
  to: string[];
  subject: string;
  text: string;
  html: string;
  attachments: MimeAttachment[];
  date: Date;
  /** Extra headers, e.g. X-GPU-Billing-* for tracing a message to its dataset. */
  headers?: Record<string, string>;
}

/** RFC 2047 encoded-word for headers with non-ASCII text (Korean subjects). */
export function encodeHeader(s: string): string {
  if (/^[\x20-\x7e]*$/.test(s)) return s;
  // Split on characters, not bytes, so no UTF-8 sequence is cut across encoded words.
  const words: string[] = [];
  let cur = "";
  for (const ch of s) {
    if (Buffer.byteLength(cur + ch) > 45) {
      words.push(cur);
      cur = "";
    }
    cur += ch;
  }
  if (cur) words.push(cur);
  return words.map((w) => `=?UTF-8?B?${Buffer.from(w, "utf8").toString("base64")}?=`).join("\r\n ");
}

const b64 = (b: Buffer) => b.toString("base64").replace(/.{76}(?=.)/g, "$&\r\n");

/** RFC 2231 filename parameter, plain when ASCII. */
function filenameParam(name: string): string {
  return /^[\x20-\x7e]*$/.test(name) && !/["\\]/.test(name) ? `filename="${name}"` : `filename*=UTF-8''${encodeURIComponent(name)}`;
}

/**
 * A raw MIME message: multipart/mixed of a multipart/alternative (text, HTML) and the
 * attachments, all base64. Boundaries derive from the content, so the same message
 * renders the same bytes.
 */
export function buildMimeMessage(m: MimeMessage): Buffer {
  const seed = createHash("sha256").update(m.subject).update(m.text).update(m.to.join(",")).digest("hex").slice(0, 24);
  const mixed = `=_mixed_${seed}`;
  const alt = `=_alt_${seed}`;
  const lines: string[] = [
    `From: ${m.from}`,
    `To: ${m.to.join(", ")}`,
    `Subject: ${encodeHeader(m.subject)}`,
    `Date: ${m.date.toUTCString().replace("GMT", "+0000")}`,
    "MIME-Version: 1.0",
    ...Object.entries(m.headers ?? {}).map(([k, v]) => `${k}: ${encodeHeader(v)}`),
    `Content-Type: multipart/mixed; boundary="${mixed}"`,
    "",
    `--${mixed}`,
    `Content-Type: multipart/alternative; boundary="${alt}"`,
    "",
    `--${alt}`,
    "Content-Type: text/plain; charset=UTF-8",
    "Content-Transfer-Encoding: base64",
    "",
    b64(Buffer.from(m.text, "utf8")),
    `--${alt}`,
    "Content-Type: text/html; charset=UTF-8",
    "Content-Transfer-Encoding: base64",
    "",
    b64(Buffer.from(m.html, "utf8")),
    `--${alt}--`,
  ];
  for (const a of m.attachments) {
    lines.push(
      `--${mixed}`,
      `Content-Type: ${a.contentType}; name="${a.filename}"`,
      `Content-Disposition: attachment; ${filenameParam(a.filename)}`,
      "Content-Transfer-Encoding: base64",
      "",
      b64(a.content),
    );
  }
  lines.push(`--${mixed}--`, "");
  return Buffer.from(lines.join("\r\n"), "utf8");
}
