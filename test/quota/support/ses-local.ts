/** aws-ses-v2-local (a real local SES v2 API) on a free loopback port, with its /store read back. */
import type { Server } from "node:http";
import { SESv2Client } from "@aws-sdk/client-sesv2";
import * as sesModule from "aws-ses-v2-local";

type StartSes = (config: { host: string; port: number }) => Promise<Server>;
// A CommonJS module whose `exports.default` is the server factory; ESM interop may wrap it once more.
const mod = sesModule as unknown as { default: StartSes | { default: StartSes } };
const sesServer: StartSes = typeof mod.default === "function" ? mod.default : mod.default.default;

export interface LocalEmail {
  messageId: string;
  from: string;
  destination: { to: string[]; cc: string[]; bcc: string[] };
  subject: string;
  body: { html?: string; text?: string };
}

export async function startLocalSes(): Promise<{ client: SESv2Client; emails(): Promise<LocalEmail[]>; clear(): Promise<void>; stop(): Promise<void> }> {
  const server: Server = await sesServer({ host: "127.0.0.1", port: 0 });
  if (!server.listening) await new Promise((r) => server.once("listening", r));
  const url = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  const client = new SESv2Client({ endpoint: url, region: "ap-northeast-2", credentials: { accessKeyId: "local", secretAccessKey: "local" } });
  return {
    client,
    async emails() {
      const r = await fetch(`${url}/store`);
      return ((await r.json()) as { emails: LocalEmail[] }).emails;
    },
    async clear() {
      await fetch(`${url}/clear-store`, { method: "POST" });
    },
    async stop() {
      client.destroy();
      await new Promise((r) => server.close(r));
    },
  };
}
