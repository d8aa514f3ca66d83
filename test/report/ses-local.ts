import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import { SESv2Client } from "@aws-sdk/client-sesv2";
import sesLocal from "aws-ses-v2-local";

export interface StoredEmail {
  messageId: string;
  from: string;
  destination: { to: string[]; cc: string[]; bcc: string[] };
  subject: string;
  body: { html?: string; text?: string };
  attachments: { content: string; contentType: string; filename?: string; size: number }[];
  at: number;
}

/**
 * A real local SES v2 server (aws-ses-v2-local, from node_modules) on a free loopback port.
 * It parses each raw MIME message like a mail client would and keeps it, with its
 * attachments, for read-back at GET /store.
 */
export async function startSesLocal(): Promise<{ client: SESv2Client; url: string; emails(): Promise<StoredEmail[]>; clear(): Promise<void>; stop(): Promise<void> }> {
  type Start = (c: { host: string; port: number }) => Promise<Server>;
  const mod = sesLocal as unknown as Start & { default?: Start };
  const start: Start = (mod as { default?: Start }).default ?? mod;
  const server = await start({ host: "127.0.0.1", port: 0 });
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const client = new SESv2Client({ endpoint: url, region: "ap-northeast-2", credentials: { accessKeyId: "LOCAL", secretAccessKey: "LOCAL" } });
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
