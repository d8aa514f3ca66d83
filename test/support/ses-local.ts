import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import { SESv2Client } from "@aws-sdk/client-sesv2";
import * as sesModule from "aws-ses-v2-local";

export interface StoredEmail {
  messageId: string;
  from: string;
  destination: { to: string[]; cc: string[]; bcc: string[] };
  subject: string;
  body: { html?: string; text?: string };
  /** Present for raw MIME messages, which the server parses like a mail client. */
  attachments: { content: string; contentType: string; filename?: string; size: number }[];
  at: number;
}

export interface LocalSes {
  client: SESv2Client;
  url: string;
  emails(): Promise<StoredEmail[]>;
  clear(): Promise<void>;
  stop(): Promise<void>;
}

type Start = (config: { host: string; port: number }) => Promise<Server>;
// A CommonJS module whose `exports.default` is the server factory; ESM interop may wrap it once more.
const mod = sesModule as unknown as { default: Start | { default: Start } };
const startServer: Start = typeof mod.default === "function" ? mod.default : mod.default.default;

/**
 * A real local SES v2 server (aws-ses-v2-local, from node_modules) on a free loopback port.
 * It keeps every message, with its attachments, for read-back at GET /store.
 */
export async function startSesLocal(): Promise<LocalSes> {
  const server = await startServer({ host: "127.0.0.1", port: 0 });
  if (!server.listening) await new Promise((r) => server.once("listening", r));
  // Node closes an idle keep-alive socket after 5 s, fetch reuses one for 4 s: on a loaded
  // machine the two race and a read-back fails with ECONNRESET. The client now always closes first.
  server.keepAliveTimeout = 60_000;
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const client = new SESv2Client({
    endpoint: url,
    region: "ap-northeast-2",
    credentials: { accessKeyId: "LOCAL", secretAccessKey: "LOCAL" },
  });
  return {
    client,
    url,
    async emails() {
      const r = await fetch(`${url}/store`);
      return ((await r.json()) as { emails: StoredEmail[] }).emails;
    },
    async clear() {
      await fetch(`${url}/clear-store`, { method: "POST" });
    },
    async stop() {
      client.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
