// No Kubernetes cluster runs here: the API side is the repository's fake Kubernetes API, which serves the
// real object shapes and records every request (test/support/fake-kube-api.ts), read through
// @kubernetes/client-node. S3 is s3rver behind the conditional-put proxy; SES is aws-ses-v2-local.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { D } from "../../functions/core/decimal.js";
import { s3QuotaStateStore } from "../../functions/adapters/quota-state-store.js";
import { sesAlertMailer } from "../../functions/adapters/ses-email.js";
import { loadAlertTemplates } from "../../functions/adapters/template-files.js";
import { BLOCK_QUOTA_NAME, kubernetesQuotaEnforcer } from "../../functions/adapters/kubernetes-quota.js";
import { kubernetesApis } from "../../functions/adapters/kubernetes-client.js";
import { runQuotaCheck, QuotaCheckIncompleteError, type QuotaCheckDeps } from "../../functions/quota/run-quota-check.js";
import type { QuotaUsageInput } from "../../functions/quota/evaluate-quota.js";
import { referenceConfigText } from "../core/fixtures.js";
import { s3JsonObjects, startS3, type LocalS3 } from "../support/s3.js";
import { startSesLocal } from "../support/ses-local.js";
import { gpuRequestPod, startFakeKubeApi, type FakeClusterInput, type FakeKubeApi } from "../support/fake-kube-api.js";
import { type Config, parseConfig } from "../../functions/config/config-schema.js";
import { meterWith, raisedSuwon } from "./quota-fixtures.js";

const BUCKET = "quota-enforcement";
const config = (extra = "", text = referenceConfigText): Config =>
  parseConfig(`${text}\nquota: { enforce: true, opsRecipients: [ops@platform.example.com] ${extra} }\n`, "test");

const cluster = (): FakeClusterInput => ({
  namespaces: [
    { name: "suwon-train" },
    { name: "suwon-serve" },
    { name: "shared-lab", labels: { tenant: "suwon" } },
    { name: "seongnam-train" },
    { name: "kube-system" },
  ],
  pods: [
    gpuRequestPod("suwon-train", "train-1", "Running", 4),
    gpuRequestPod("suwon-train", "train-2", "Running", 2),
    gpuRequestPod("suwon-train", "train-3", "Pending", 8),
    gpuRequestPod("suwon-train", "old", "Succeeded", 1),
    gpuRequestPod("shared-lab", "nb", "Running", 1),
    gpuRequestPod("seongnam-train", "s", "Running", 4),
  ],
  // The operator already keeps a quota of the same name in suwon-serve (e.g. set by hand last year); lifting must put it back.
  quotas: {
    "suwon-serve": {
      [BLOCK_QUOTA_NAME.tenant]: {
        metadata: { name: BLOCK_QUOTA_NAME.tenant, namespace: "suwon-serve", labels: { owner: "ops" } },
        spec: { hard: { "requests.nvidia.com/gpu": "8" } },
      },
    },
  },
});

describe("quota enforcement with Kubernetes ResourceQuotas", () => {
  let s3: LocalS3;
  let ses: Awaited<ReturnType<typeof startSesLocal>>;
  let kube: FakeKubeApi;
  let prefix = "";
  let n = 0;
  const deps = async (meter: QuotaCheckDeps["meter"], kubeUrl = kube.url): Promise<QuotaCheckDeps> => ({
    meter,
    store: s3QuotaStateStore(s3.client, BUCKET, prefix),
    mailer: sesAlertMailer(ses.client, "gpu-billing@platform.example.com"),
    templates: loadAlertTemplates(),
    enforcer: kubernetesQuotaEnforcer(kubernetesApis({ server: kubeUrl, token: async () => "k8s-aws-v1.test" }).core),
    actor: "arn:aws:sts::123456789012:assumed-role/gpu-billing-quota/fn",
    runId: `run-${n}`,
  });
  const writes = () => kube.requests.filter((r) => r.method !== "GET");
  const objects = async (sub: string): Promise<any[]> => s3JsonObjects(s3.client, BUCKET, `${prefix}/${sub}`);

  beforeAll(async () => {
    s3 = await startS3(BUCKET, { preconditions: true });
    ses = await startSesLocal();
  });
  afterAll(async () => {
    await kube?.stop();
    await ses?.stop();
    await s3?.stop();
  });
  beforeEach(async () => {
    prefix = `q${++n}`;
    await kube?.stop();
    kube = await startFakeKubeApi(cluster());
    await ses.clear();
  });

  it("given dry-run (enforce false), when suwon is over its quota, then it reports the namespaces it would block and changes nothing", async () => {
    const r = await runQuotaCheck(await deps(meterWith({ suwon: 101 })), config(), new Date("2026-10-20T09:00:00+09:00"), {
      enforce: false,
    });
    expect(r.enforcement.filter((e) => e.action !== "none").map((e) => [e.subjectKey, e.action, e.outcome, e.namespaces])).toEqual([
      ["tenant=suwon", "apply", "dry-run", ["shared-lab", "suwon-serve", "suwon-train"]],
    ]);
    expect(writes()).toEqual([]);
    expect(await objects("enforcement/")).toEqual([]);
    expect(await ses.emails()).toHaveLength(1); // the block alert still goes out
  });

  it("given enforcement on, when suwon reaches its quota, then each of its namespaces (by glob and by label) gets requests.nvidia.com/gpu = GPUs of running pods, authenticated, and the change is audited", async () => {
    const r = await runQuotaCheck(await deps(meterWith({ suwon: 100 })), config(), new Date("2026-10-20T09:00:00+09:00"));
    expect(r.enforcement.find((e) => e.subjectKey === "tenant=suwon")!.outcome).toBe("applied");
    const hard = (ns: string) =>
      (kube.state.quotas[ns]?.[BLOCK_QUOTA_NAME.tenant]?.spec as { hard: Record<string, string> } | undefined)?.hard;
    expect(hard("suwon-train")).toEqual({ "requests.nvidia.com/gpu": "6" }); // 4 + 2 running; the pending pod's 8 are not admitted capacity
    expect(hard("shared-lab")).toEqual({ "requests.nvidia.com/gpu": "1" });
    expect(hard("suwon-serve")).toEqual({ "requests.nvidia.com/gpu": "0" });
    expect(kube.state.quotas["seongnam-train"]).toBeUndefined();
    expect(
      writes()
        .map((w) => `${w.method} ${w.path}`)
        .sort(),
    ).toEqual([
      `POST /api/v1/namespaces/shared-lab/resourcequotas`,
      `POST /api/v1/namespaces/suwon-train/resourcequotas`,
      `PUT /api/v1/namespaces/suwon-serve/resourcequotas/${BLOCK_QUOTA_NAME.tenant}`,
    ]);
    expect(new Set(kube.requests.map((q) => q.authorization))).toEqual(new Set(["Bearer k8s-aws-v1.test"]));
    expect(writes().some((w) => w.method === "DELETE" && w.path.includes("/pods"))).toBe(false);
    const audit = await objects("audit/");
    expect(audit).toHaveLength(3);
    const serve = audit.find((a) => a.namespace === "suwon-serve");
    expect(serve).toMatchObject({
      who: "arn:aws:sts::123456789012:assumed-role/gpu-billing-quota/fn",
      what: "block",
      when: "2026-10-20T00:00:00.000Z",
      subject: "tenant=suwon",
    });
    expect(serve.before.spec).toEqual({ hard: { "requests.nvidia.com/gpu": "8" } });
    expect(serve.after).toEqual({ hard: { "requests.nvidia.com/gpu": "0" } });

    // The next hourly run changes nothing.
    kube.requests.length = 0;
    await runQuotaCheck(await deps(meterWith({ suwon: 103 })), config(), new Date("2026-10-20T10:00:00+09:00"));
    expect(writes()).toEqual([]);

    // A namespace created after the block is blocked too, and only it.
    kube.state.namespaces.push({ name: "suwon-new" });
    const later = await runQuotaCheck(await deps(meterWith({ suwon: 104 })), config(), new Date("2026-10-20T11:00:00+09:00"));
    expect(later.enforcement.find((e) => e.subjectKey === "tenant=suwon")!.reason).toMatch(/namespace suwon-new appeared after the block/);
    expect(writes().map((w) => `${w.method} ${w.path}`)).toEqual(["POST /api/v1/namespaces/suwon-new/resourcequotas"]);
  });

  it("given suwon is blocked, when its quota is raised above its usage, then the block is lifted and the previous quotas are restored", async () => {
    await runQuotaCheck(await deps(meterWith({ suwon: 100 })), config(), new Date("2026-10-20T09:00:00+09:00"));
    const r = await runQuotaCheck(await deps(meterWith({ suwon: 101 })), config("", raisedSuwon), new Date("2026-10-20T11:00:00+09:00"));
    const e = r.enforcement.find((x) => x.subjectKey === "tenant=suwon")!;
    expect([e.action, e.outcome]).toEqual(["lift", "lifted"]);
    expect(e.reason).toMatch(/quota changed from 100 h to 200 h/);
    expect(kube.state.quotas["suwon-train"]).toEqual({});
    expect(kube.state.quotas["shared-lab"]).toEqual({});
    expect(kube.state.quotas["suwon-serve"]![BLOCK_QUOTA_NAME.tenant]).toMatchObject({
      metadata: { labels: { owner: "ops" } },
      spec: { hard: { "requests.nvidia.com/gpu": "8" } },
    });
    const [record] = await objects("enforcement/");
    expect(record).toMatchObject({ subjectKey: "tenant=suwon", status: "lifted", namespaces: {} });
  });

  it("given suwon is blocked in October, when the first run of November comes in its first minute, then the block is lifted (month rollover)", async () => {
    await runQuotaCheck(await deps(meterWith({ suwon: 100 })), config(), new Date("2026-10-31T20:00:00+09:00"));
    // The first run of the new month, in its first minute (nothing metered yet).
    const r = await runQuotaCheck(await deps(meterWith({})), config(), new Date("2026-11-01T00:00:20+09:00"));
    const e = r.enforcement.find((x) => x.subjectKey === "tenant=suwon")!;
    expect([e.action, e.outcome, e.reason]).toEqual([
      "lift",
      "lifted",
      "month rollover: the block of 2026-10 ends; 2026-11 starts with a fresh quota",
    ]);
    expect(Object.keys(kube.state.quotas["suwon-train"]!)).toEqual([]);
  });

  it("given the Kubernetes API is unreachable, when suwon reaches its quota, then the alert is sent, enforcement is recorded pending, and the next run applies it", async () => {
    const down = "http://127.0.0.1:9"; // discard port: connection refused
    const err = await runQuotaCheck(await deps(meterWith({ suwon: 100 }), down), config(), new Date("2026-10-20T09:00:00+09:00")).catch(
      (e) => e,
    );
    expect(err).toBeInstanceOf(QuotaCheckIncompleteError);
    const report = (err as QuotaCheckIncompleteError).report;
    expect(report.alerts.map((a) => [a.kind, a.outcome])).toEqual([
      ["block", "sent"],
      ["warn", "suppressed"],
      ["forecast", "suppressed"],
    ]);
    expect(report.enforcement.find((x) => x.subjectKey === "tenant=suwon")!.outcome).toBe("pending");
    expect((await objects("enforcement/"))[0]).toMatchObject({ status: "apply-pending" });
    expect(await ses.emails()).toHaveLength(1);

    const retry = await runQuotaCheck(await deps(meterWith({ suwon: 100.5 })), config(), new Date("2026-10-20T10:00:00+09:00"));
    expect(retry.alerts).toEqual([]);
    expect(retry.enforcement.find((x) => x.subjectKey === "tenant=suwon")!.outcome).toBe("applied");
    expect((kube.state.quotas["suwon-train"]![BLOCK_QUOTA_NAME.tenant]!.spec as { hard: object }).hard).toEqual({
      "requests.nvidia.com/gpu": "6",
    });
    expect(await ses.emails()).toHaveLength(1);
  });

  it("given a namespace limit, when only that namespace passes it, then only that namespace is blocked, under its own quota object", async () => {
    const c = config(", tenants: { suwon: { namespaceLimits: { suwon-train: 20 } } }");
    const meter = async (cf: Config, month: string, now: Date): Promise<QuotaUsageInput> => ({
      ...(await meterWith({ suwon: 30 })(cf, month, now)),
      namespaces: new Map([["suwon-train", { allocated: new D(25), billable: new D(25), tenantId: "suwon" }]]),
    });
    await runQuotaCheck(await deps(meter), c, new Date("2026-10-20T09:00:00+09:00"));
    expect(Object.keys(kube.state.quotas["suwon-train"]!)).toEqual([BLOCK_QUOTA_NAME.namespace]);
    expect(kube.state.quotas["shared-lab"]).toBeUndefined();
  });
});
