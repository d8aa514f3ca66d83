import { describe, expect, it } from "vitest";
import { simpleParser } from "mailparser";
import {
  backoffMs,
  decideDelivery,
  deliveryContentHash,
  planDeliveries,
  type DeliveryRecord,
} from "../../functions/report/delivery-plan.js";
import { buildMimeMessage, encodeHeader } from "../../functions/delivery/mime.js";
import { fillTemplate } from "../../functions/report/email-content.js";
import { referenceConfig, referenceConfigTextWithoutReports } from "../core/fixtures.js";
import { parseConfig } from "../../functions/config/config-schema.js";

const rec = (over: Partial<DeliveryRecord>): DeliveryRecord => ({
  month: "2026-10",
  kind: "tenant",
  scope: "suwon",
  recipient: "a@b.co",
  status: "sent",
  messageId: "m-1",
  contentHash: "h1",
  attempts: 1,
  at: "2026-11-01T00:00:00Z",
  ...over,
});

describe("delivery decisions (pure)", () => {
  it.each([
    ["nothing recorded", undefined, false, "send", /not sent before/],
    ["sent with the same content", rec({}), false, "skip", /already sent .* m-1/],
    ["sent from another dataset", rec({ contentHash: "other" }), false, "skip", /different version.*resend/],
    ["a failed attempt", rec({ status: "failed", error: "Throttling" }), false, "send", /previous attempt failed.*Throttling/],
    ["a run that stopped mid-send", rec({ status: "pending" }), false, "skip", /may have been delivered/],
    ["sent, with resend asked", rec({}), true, "send", /resend requested/],
  ] as const)("given %s, the decision and its reason say so", (_, prev, resend, action, reason) => {
    const d = decideDelivery(prev, "h1", resend);
    expect(d.action).toBe(action);
    expect(d.reason).toMatch(reason);
  });

  it("given the same manifest, scope and language, the content hash is the same; any change makes it differ", () => {
    const h = deliveryContentHash("m", "tenant", "suwon", "ko");
    expect(deliveryContentHash("m", "tenant", "suwon", "ko")).toBe(h);
    expect(
      new Set([
        h,
        deliveryContentHash("m2", "tenant", "suwon", "ko"),
        deliveryContentHash("m", "tenant", "yongin", "ko"),
        deliveryContentHash("m", "tenant", "suwon", "en"),
      ]).size,
    ).toBe(4);
  });

  it("given the reference config, finance and the executives get their configured recipients", () => {
    const p = planDeliveries(referenceConfig());
    expect(p.messages.filter((m) => m.kind !== "tenant").map((m) => [m.kind, m.recipients])).toEqual([
      ["finance", ["finance@platform.example.com"]],
      ["executive", ["cio@platform.example.com"]],
    ]);
  });

  it("given the reference config without a reports section, every tenant is planned and finance/executive have nobody", () => {
    const p = planDeliveries(parseConfig(referenceConfigTextWithoutReports, "no-reports.yaml"));
    expect(p.messages.filter((m) => m.kind === "tenant").map((m) => m.scope)).toEqual([
      "suwon",
      "seongnam",
      "yongin",
      "team-ai",
      "team-data",
      "project-llm",
    ]);
    expect(p.messages.filter((m) => m.kind !== "tenant").every((m) => m.recipients.length === 0)).toBe(true);
    expect(p.tenantsWithoutRecipients).toEqual([]);
  });

  it("given growing attempts, backoff doubles up to the cap (full jitter scales it down)", () => {
    expect([1, 2, 3, 4, 10].map((a) => backoffMs(a, 100, 1000, () => 1))).toEqual([100, 200, 400, 800, 1000]);
    expect(backoffMs(3, 100, 1000, () => 0.5)).toBe(200);
  });
});

describe("MIME and templates", () => {
  it("given a Korean subject and attachments, a mail parser reads back the subject, both bodies and the files intact", async () => {
    const pdf = Buffer.from("%PDF-1.7 fake but binary \u0000\u00ff", "latin1");
    const raw = buildMimeMessage({
      from: "billing@example.com",
      to: ["a@example.com"],
      subject: "[GPU 청구] 2026-10 수원시 GPU 사용량 및 비용 보고서 — 아주 긴 제목이 여러 인코딩 단어로 나뉘어도",
      text: "본문 텍스트",
      html: "<p>본문 HTML</p>",
      attachments: [{ filename: "r.pdf", contentType: "application/pdf", content: pdf }],
      date: new Date("2026-11-01T00:00:00Z"),
    });
    expect(
      raw
        .toString("latin1")
        .split("\r\n")
        .every((l) => l.length <= 998),
    ).toBe(true);
    const m = await simpleParser(raw);
    expect(m.subject).toBe("[GPU 청구] 2026-10 수원시 GPU 사용량 및 비용 보고서 — 아주 긴 제목이 여러 인코딩 단어로 나뉘어도");
    expect(m.text!.trim()).toBe("본문 텍스트");
    expect(m.html).toContain("본문 HTML");
    expect(m.attachments[0]!.content.equals(pdf)).toBe(true);
    expect(encodeHeader("plain ascii")).toBe("plain ascii");
  });

  it("given a placeholder the template does not know, filling fails instead of mailing a blank", () => {
    expect(() => fillTemplate("Hi {{nmae}}", { name: "x" }, {}, false)).toThrow(/nmae/);
    expect(fillTemplate("{{a}} {{{a}}}{{#s}}!{{/s}}", { a: "<b>" }, { s: false }, true)).toBe("&lt;b&gt; <b>");
  });
});
