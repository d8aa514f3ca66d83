// No Kubernetes cluster (and no Kueue) runs here: the API side is the repository's fake Kubernetes API
// (test/support/fake-kube-api.ts), which serves Kueue's kueue.x-k8s.io/v1beta1 LocalQueues and
// ClusterQueues in Kueue's object shape with merge-patch semantics, and records every request;
// the adapter reads and patches it through @kubernetes/client-node.
// S3 is s3rver behind the conditional-put proxy; SES is aws-ses-v2-local.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { s3QuotaStateStore } from "../../functions/adapters/quota-state-store.js";
import { sesAlertMailer } from "../../functions/adapters/ses-email.js";
import { loadAlertTemplates } from "../../functions/adapters/template-files.js";
import {
  BLOCK_QUOTA_NAME,
  HOLD_ANNOTATION,
  kubernetesKueueQueues,
  kubernetesQuotaEnforcer,
} from "../../functions/adapters/kubernetes-quota.js";
import { kubernetesApis } from "../../functions/adapters/kubernetes-client.js";
import { runQuotaCheck, QuotaCheckIncompleteError, type QuotaCheckDeps } from "../../functions/quota/run-quota-check.js";
import { describeEnforcementRecord } from "../../functions/cli/quota-command.js";
import { referenceConfigText } from "../core/fixtures.js";
import { s3JsonObjects, startS3, type LocalS3 } from "../support/s3.js";
import { startSesLocal } from "../support/ses-local.js";
import { startFakeKubeApi, type FakeClusterInput, type FakeKubeApi, type KueueObject } from "../support/fake-kube-api.js";
import { type Config, parseConfig } from "../../functions/config/config-schema.js";
import { meterWith, raisedSuwon } from "./quota-fixtures.js";

const BUCKET = "quota-kueue";
const CLASS = "gpu-billing.example.com/workload-class";
const config = (extra = "", text = referenceConfigText): Config =>
  parseConfig(
    `${text}\nquota: { enforce: true, language: en, opsRecipients: [ops@platform.example.com], enforcement: { mode: kueue }, ${extra} }\n`,
    "test",
  );

const lq = (
  ns: string,
  name: string,
  cq: string,
  pending: number,
  admitted: number,
  over: { stopPolicy?: string; labels?: Record<string, string> } = {},
): KueueObject => ({
  metadata: { name, namespace: ns, labels: over.labels ?? {}, uid: `uid-${ns}-${name}`, creationTimestamp: "2026-09-01T00:00:00Z" },
  spec: { clusterQueue: cq, ...(over.stopPolicy ? { stopPolicy: over.stopPolicy } : {}) },
  status: {
    pendingWorkloads: pending,
    reservingWorkloads: admitted,
    admittedWorkloads: admitted,
    conditions: [
      {
        type: "Active",
        status: "True",
        reason: "Ready",
        message: "Can submit new workloads to localQueue",
        lastTransitionTime: "2026-09-01T00:00:00Z",
      },
    ],
  },
});
const cq = (name: string, pending: number, admitted: number): KueueObject => ({
  metadata: { name, uid: `uid-${name}` },
  spec: {
    namespaceSelector: {},
    queueingStrategy: "BestEffortFIFO",
    resourceGroups: [
      { coveredResources: ["nvidia.com/gpu"], flavors: [{ name: "a100", resources: [{ name: "nvidia.com/gpu", nominalQuota: "16" }] }] },
    ],
  },
  status: { pendingWorkloads: pending, reservingWorkloads: admitted, admittedWorkloads: admitted },
});

const cluster = (kueue = true): FakeClusterInput => ({
  namespaces: [
    { name: "suwon-train" },
    { name: "suwon-serve", labels: { [CLASS]: "inference" } },
    { name: "shared-lab", labels: { tenant: "suwon" } },
    { name: "seongnam-train" },
    { name: "kube-system" },
  ],
  ...(kueue
    ? {
        kueue: {
          localQueues: [
            lq("suwon-train", "train", "suwon-cq", 3, 2),
            // Stopped by the operator before the quota was reached: not gpu-billing's to change or restore.
            lq("suwon-train", "batch", "shared-cq", 2, 0, { stopPolicy: "HoldAndDrain" }),
            lq("suwon-serve", "serve", "suwon-serve-cq", 1, 4),
            lq("shared-lab", "notebooks", "shared-cq", 1, 1),
            lq("seongnam-train", "train", "shared-cq", 4, 1),
          ],
          clusterQueues: [cq("suwon-cq", 3, 2), cq("shared-cq", 7, 2), cq("suwon-serve-cq", 1, 4)],
        },
      }
    : {}),
});

describe("quota enforcement with Kueue queues (stopPolicy Hold)", () => {
  let s3: LocalS3;
  let ses: Awaited<ReturnType<typeof startSesLocal>>;
  let kube: FakeKubeApi;
  let prefix = "";
  let n = 0;
  const deps = async (meter: QuotaCheckDeps["meter"]): Promise<QuotaCheckDeps> => {
    const apis = kubernetesApis({ server: kube.url, token: async () => "k8s-aws-v1.test" });
    return {
      meter,
      store: s3QuotaStateStore(s3.client, BUCKET, prefix),
      mailer: sesAlertMailer(ses.client, "gpu-billing@platform.example.com"),
      templates: loadAlertTemplates(),
      enforcer: kubernetesQuotaEnforcer(apis.core),
      kueue: kubernetesKueueQueues(apis),
      actor: "arn:aws:sts::123456789012:assumed-role/gpu-billing-quota/fn",
      runId: `run-${n}`,
    };
  };
  const patches = () => kube.requests.filter((r) => r.method !== "GET");
  const localQueue = (ns: string, name: string) =>
    kube.state.kueue!.localQueues.find((q) => q.metadata.namespace === ns && q.metadata.name === name)!;
  const stopPolicies = () =>
    Object.fromEntries(kube.state.kueue!.localQueues.map((q) => [`${q.metadata.namespace}/${q.metadata.name}`, q.spec.stopPolicy]));
  const objects = async (sub: string): Promise<any[]> => s3JsonObjects(s3.client, BUCKET, `${prefix}/${sub}`);
  const OCT_20 = new Date("2026-10-20T09:00:00+09:00");

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
    prefix = `k${++n}`;
    await kube?.stop();
    kube = await startFakeKubeApi(cluster());
    await ses.clear();
  });

  it("given kueue mode, when suwon reaches its quota, then its training LocalQueues get stopPolicy Hold by merge patch, the others are untouched, the email says jobs are queued, and each hold is audited", async () => {
    const r = await runQuotaCheck(await deps(meterWith({ suwon: 100 })), config(), OCT_20);
    const e = r.enforcement.find((x) => x.subjectKey === "tenant=suwon")!;
    expect([e.mode, e.action, e.outcome, e.queuedWorkloads]).toEqual(["kueue", "apply", "applied", 6]); // train 3 + batch 2 + notebooks 1; serving is not counted
    expect(e.queues!.map((q) => [q.id, q.action, q.outcome])).toEqual([
      ["localqueue/shared-lab/notebooks", "hold", "held"],
      ["localqueue/suwon-serve/serve", "none", "unchanged"],
      ["localqueue/suwon-train/batch", "none", "unchanged"],
      ["localqueue/suwon-train/train", "hold", "held"],
    ]);
    expect(e.queues!.find((q) => q.id === "localqueue/suwon-serve/serve")!.reason).toMatch(
      /inference \(namespace suwon-serve label gpu-billing.example.com\/workload-class=inference\): not held/,
    );
    expect(stopPolicies()).toEqual({
      "suwon-train/train": "Hold",
      "suwon-train/batch": "HoldAndDrain",
      "suwon-serve/serve": "None",
      "shared-lab/notebooks": "Hold",
      "seongnam-train/train": "None",
    });
    expect(localQueue("suwon-train", "train").metadata.annotations?.[HOLD_ANNOTATION]).toMatch(
      /tenant=suwon reached its monthly GPU-hour quota \(2026-10\)/,
    );
    // Admitted workloads are not touched: Hold, not HoldAndDrain; status is Kueue's, not ours.
    expect(localQueue("suwon-train", "train").status!.admittedWorkloads).toBe(2);
    expect(patches().map((w) => [w.method, w.path, w.contentType])).toEqual([
      ["PATCH", "/apis/kueue.x-k8s.io/v1beta1/namespaces/shared-lab/localqueues/notebooks", "application/merge-patch+json"],
      ["PATCH", "/apis/kueue.x-k8s.io/v1beta1/namespaces/suwon-train/localqueues/train", "application/merge-patch+json"],
    ]);
    expect(patches()[1]!.body).toMatchObject({ spec: { stopPolicy: "Hold" }, metadata: { resourceVersion: "1" } });
    expect(Object.keys(kube.state.quotas)).toEqual([]); // no ResourceQuota in kueue mode

    const [email] = await ses.emails();
    expect(email!.subject).toBe("[GPU usage] 수원시 2026-10: GPU usage reached the quota: new training jobs wait in the queue (100.0%)");
    expect(email!.body.text).toContain("New training jobs are not rejected: they wait in the queue (Kueue). Waiting now: 6 jobs.");
    expect(email!.body.text).toContain("The quota resets on 2026-11-01 00:00 (Asia/Seoul)");
    expect(email!.body.text).toContain("Jobs already running keep running. Inference (serving) queues are not held.");

    const audit = await objects("audit/");
    expect(audit.map((a) => [a.what, a.queue, a.before, a.after])).toEqual(
      expect.arrayContaining([
        ["hold", "localqueue/suwon-train/train", { stopPolicy: "None" }, { stopPolicy: "Hold" }],
        ["hold", "localqueue/shared-lab/notebooks", { stopPolicy: "None" }, { stopPolicy: "Hold" }],
      ]),
    );
    expect(audit).toHaveLength(2);
    expect(audit[0]).toMatchObject({
      who: "arn:aws:sts::123456789012:assumed-role/gpu-billing-quota/fn",
      when: "2026-10-20T00:00:00.000Z",
      mode: "kueue",
      subject: "tenant=suwon",
    });
    const [record] = await objects("enforcement/");
    expect(describeEnforcementRecord(record, "2026-10", "Asia/Seoul")).toBe("kueue held 2 queue(s), 6 queued (as of 2026-10-20 09:00)");

    // The next hourly run changes nothing in the cluster and sends nothing.
    kube.requests.length = 0;
    const again = await runQuotaCheck(await deps(meterWith({ suwon: 101 })), config(), new Date("2026-10-20T10:00:00+09:00"));
    expect(patches()).toEqual([]);
    expect(again.alerts).toEqual([]);
    expect(await ses.emails()).toHaveLength(1);

    // A LocalQueue created after the hold is held too, and only it.
    kube.state.kueue!.localQueues.push({
      ...lq("suwon-train", "late", "suwon-cq", 1, 0),
      spec: { clusterQueue: "suwon-cq", stopPolicy: "None" },
    });
    kube.state.kueue!.localQueues.at(-1)!.metadata.resourceVersion = "7";
    await runQuotaCheck(await deps(meterWith({ suwon: 102 })), config(), new Date("2026-10-20T11:00:00+09:00"));
    expect(patches().map((w) => w.path)).toEqual(["/apis/kueue.x-k8s.io/v1beta1/namespaces/suwon-train/localqueues/late"]);
  });

  it("given suwon's queues are held in October, when the first run of November comes in its first minute, then each queue gets back exactly its stopPolicy and the hold annotation is deleted (merge-patch null)", async () => {
    await runQuotaCheck(await deps(meterWith({ suwon: 100 })), config(), new Date("2026-10-31T20:00:00+09:00"));
    kube.requests.length = 0;
    const r = await runQuotaCheck(await deps(meterWith({})), config(), new Date("2026-11-01T00:00:20+09:00"));
    const e = r.enforcement.find((x) => x.subjectKey === "tenant=suwon")!;
    expect([e.action, e.outcome, e.reason]).toEqual([
      "lift",
      "lifted",
      "month rollover: the block of 2026-10 ends; 2026-11 starts with a fresh quota",
    ]);
    expect(stopPolicies()).toEqual({
      "suwon-train/train": "None",
      "suwon-train/batch": "HoldAndDrain",
      "suwon-serve/serve": "None",
      "shared-lab/notebooks": "None",
      "seongnam-train/train": "None",
    });
    expect(localQueue("suwon-train", "train").metadata.annotations?.[HOLD_ANNOTATION]).toBeUndefined();
    expect(patches().map((w) => w.body)).toEqual([
      expect.objectContaining({
        spec: { stopPolicy: "None" },
        metadata: expect.objectContaining({ annotations: { [HOLD_ANNOTATION]: null } }),
      }),
      expect.objectContaining({ spec: { stopPolicy: "None" } }),
    ]);
    const [record] = await objects("enforcement/");
    expect(record).toMatchObject({ status: "lifted", mode: "kueue", queues: {} });
  });

  it("given suwon's queues are held, when ops raise its quota above its usage, then the holds are lifted in the same run", async () => {
    await runQuotaCheck(await deps(meterWith({ suwon: 100 })), config(), OCT_20);
    const r = await runQuotaCheck(await deps(meterWith({ suwon: 101 })), config("", raisedSuwon), new Date("2026-10-20T11:00:00+09:00"));
    const e = r.enforcement.find((x) => x.subjectKey === "tenant=suwon")!;
    expect([e.action, e.outcome]).toEqual(["lift", "lifted"]);
    expect(e.reason).toMatch(/quota changed from 100 h to 200 h/);
    expect(stopPolicies()["suwon-train/train"]).toBe("None");
    expect(stopPolicies()["shared-lab/notebooks"]).toBe("None");
  });

  it("given someone else changes a held queue's stopPolicy, when the hold continues and is later lifted, then gpu-billing neither re-holds nor restores that queue", async () => {
    await runQuotaCheck(await deps(meterWith({ suwon: 100 })), config(), OCT_20);
    // An operator lets one training queue run again on purpose, by hand.
    localQueue("shared-lab", "notebooks").spec.stopPolicy = "None";
    kube.requests.length = 0;
    const keep = await runQuotaCheck(await deps(meterWith({ suwon: 101 })), config(), new Date("2026-10-20T10:00:00+09:00"));
    expect(patches()).toEqual([]);
    expect(
      keep.enforcement.find((x) => x.subjectKey === "tenant=suwon")!.queues!.find((q) => q.id === "localqueue/shared-lab/notebooks")!
        .reason,
    ).toMatch(/changed to None by someone else since the hold; left as they set it/);
    // Later they stop it themselves, hard.
    localQueue("shared-lab", "notebooks").spec.stopPolicy = "HoldAndDrain";
    await runQuotaCheck(await deps(meterWith({ suwon: 101 })), config("", raisedSuwon), new Date("2026-10-20T11:00:00+09:00"));
    expect(stopPolicies()["shared-lab/notebooks"]).toBe("HoldAndDrain");
    expect(stopPolicies()["suwon-train/train"]).toBe("None");
    expect(patches().map((w) => w.path)).toEqual(["/apis/kueue.x-k8s.io/v1beta1/namespaces/suwon-train/localqueues/train"]);
  });

  it("given stopPolicy HoldAndDrain is configured and an operator had set Hold on a queue, when held and lifted, then that queue goes back to Hold", async () => {
    localQueue("suwon-train", "train").spec.stopPolicy = "Hold";
    const c = config("", referenceConfigText).quota!;
    c.enforcement.kueue.stopPolicy = "HoldAndDrain";
    const cfg = { ...config(), quota: c };
    await runQuotaCheck(await deps(meterWith({ suwon: 100 })), cfg, OCT_20);
    expect(stopPolicies()["suwon-train/train"]).toBe("HoldAndDrain");
    expect(stopPolicies()["suwon-train/batch"]).toBe("HoldAndDrain"); // the operator's, left alone
    const [email] = await ses.emails();
    expect(email!.body.text).toContain("Running jobs are stopped and return to the queue.");
    await runQuotaCheck(await deps(meterWith({})), cfg, new Date("2026-11-01T00:00:20+09:00"));
    expect(stopPolicies()["suwon-train/train"]).toBe("Hold");
    expect(stopPolicies()["shared-lab/notebooks"]).toBe("None");
  });

  it("given another writer changes the second queue between the read and its patch, when suwon is held, then the first hold stands, the second fails, the record stays apply-pending with the error, and the next run holds only the rest", async () => {
    const d = await deps(meterWith({ suwon: 100 }));
    const real = d.kueue!;
    let patched = 0;
    d.kueue = {
      snapshot: (names) => real.snapshot(names),
      async setStopPolicy(queue, stopPolicy, note) {
        const r = await real.setStopPolicy(queue, stopPolicy, note);
        // After the first patch, someone else updates suwon-train/train: this run's read of it is stale (a 409 from the API server).
        if (++patched === 1) localQueue("suwon-train", "train").metadata.resourceVersion = "99";
        return r;
      },
    };
    const err = await runQuotaCheck(d, config(), OCT_20).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(QuotaCheckIncompleteError);
    const e = (err as QuotaCheckIncompleteError).report.enforcement.find((x) => x.subjectKey === "tenant=suwon")!;
    expect(e.outcome).toBe("pending");
    expect(e.queues!.map((q) => [q.id, q.outcome])).toEqual([
      ["localqueue/shared-lab/notebooks", "held"],
      ["localqueue/suwon-serve/serve", "unchanged"],
      ["localqueue/suwon-train/batch", "unchanged"],
      ["localqueue/suwon-train/train", "failed"],
    ]);
    expect(stopPolicies()).toMatchObject({ "shared-lab/notebooks": "Hold", "suwon-train/train": "None" });
    const [record] = await objects("enforcement/");
    expect(record).toMatchObject({ status: "apply-pending" });
    expect(record.lastError).toMatch(/409/);
    const audit = await objects("audit/");
    expect(audit.map((a) => [a.what, a.queue ?? a.target, a.outcome])).toEqual(
      expect.arrayContaining([
        ["hold", "localqueue/shared-lab/notebooks", expect.anything()],
        ["hold", "localqueue/suwon-train/train", "pending"],
      ]),
    );

    // The next hourly run, undisturbed, holds the queue that failed and leaves the held one alone.
    kube.requests.length = 0;
    const next = await runQuotaCheck(await deps(meterWith({ suwon: 101 })), config(), new Date("2026-10-20T10:00:00+09:00"));
    expect(next.enforcement.find((x) => x.subjectKey === "tenant=suwon")!.outcome).toBe("applied");
    expect(patches().map((w) => w.path)).toEqual(["/apis/kueue.x-k8s.io/v1beta1/namespaces/suwon-train/localqueues/train"]);
    expect(stopPolicies()).toMatchObject({ "shared-lab/notebooks": "Hold", "suwon-train/train": "Hold" });
    expect((await objects("enforcement/"))[0]).toMatchObject({ status: "enforced" });
  });

  it("given dry-run (enforce false), when suwon is over its quota, then it reports the queues it would hold and patches nothing", async () => {
    const r = await runQuotaCheck(await deps(meterWith({ suwon: 101 })), config(), OCT_20, { enforce: false });
    const e = r.enforcement.find((x) => x.subjectKey === "tenant=suwon")!;
    expect([e.action, e.dryRun, e.outcome]).toEqual(["apply", true, "dry-run"]);
    expect(e.queues!.filter((q) => q.action === "hold").map((q) => [q.id, q.outcome])).toEqual([
      ["localqueue/shared-lab/notebooks", "dry-run"],
      ["localqueue/suwon-train/train", "dry-run"],
    ]);
    expect(patches()).toEqual([]);
    expect(await objects("enforcement/")).toEqual([]);
    const [email] = await ses.emails();
    expect(email!.body.text).toContain("Queue holds are in dry-run: nothing is held, this is only reported.");
  });

  it("given inference marked by a queue-name glob, when suwon is held, then the serving queue stays untouched unless inference is a held class", async () => {
    kube.state.namespaces[1] = { name: "suwon-serve" }; // no class label: the glob decides
    const globbed = config("", referenceConfigText);
    const q = globbed.quota!;
    q.enforcement.kueue.inference.queues = ["serv*"];
    await runQuotaCheck(await deps(meterWith({ suwon: 100 })), globbed, OCT_20);
    expect(stopPolicies()["suwon-serve/serve"]).toBe("None");
    expect(stopPolicies()["suwon-train/train"]).toBe("Hold");
  });

  it("given Kueue is not installed (its API group answers 404), when suwon reaches its quota, then the run fails naming the kueue mode, nothing is patched, the alert still goes out and the hold stays pending", async () => {
    await kube.stop();
    kube = await startFakeKubeApi(cluster(false));
    const err = await runQuotaCheck(await deps(meterWith({ suwon: 100 })), config(), OCT_20).catch((e) => e);
    expect(err).toBeInstanceOf(QuotaCheckIncompleteError);
    expect((err as Error).message).toMatch(
      /quota\.enforcement\.mode is "kueue", but the cluster does not serve the Kueue API kueue\.x-k8s\.io\/v1beta1 \(GET \/apis\/kueue\.x-k8s\.io\/v1beta1\/localqueues answered 404\)/,
    );
    expect((err as Error).message).toMatch(/no queue was changed/);
    expect(patches()).toEqual([]);
    expect((await objects("enforcement/"))[0]).toMatchObject({ status: "apply-pending", mode: "kueue" });
    const [email] = await ses.emails();
    expect(email!.body.text).toContain("Waiting now: could not be read.");
  });

  it("given the config names a LocalQueue that does not exist beside one that does, when suwon reaches its quota, then nothing is patched and the error names the missing queue", async () => {
    const err = await runQuotaCheck(
      await deps(meterWith({ suwon: 100 })),
      config("tenants: { suwon: { kueue: { localQueues: [suwon-train/train, suwon-train/missing] } } }"),
      OCT_20,
    ).catch((e) => e);
    expect((err as Error).message).toMatch(
      /LocalQueue suwon-train\/missing \(quota\.tenants\.suwon\.kueue\.localQueues\) does not exist; no queue was changed/,
    );
    expect(patches()).toEqual([]);
  });

  it.each([
    [
      "a ClusterQueue shared with another tenant",
      "clusterQueue: shared-cq",
      /ClusterQueue shared-cq also serves .*LocalQueue seongnam-train\/train of another tenant, so it is not suwon's alone/,
    ],
    [
      "a LocalQueue in another tenant's namespace",
      "localQueues: [seongnam-train/train]",
      /LocalQueue seongnam-train\/train is in namespace seongnam-train, which belongs to seongnam, not suwon/,
    ],
  ])("given the config names %s for suwon, when suwon reaches its quota, then it refuses and patches nothing", async (_what, sel, msg) => {
    const err = await runQuotaCheck(
      await deps(meterWith({ suwon: 100 })),
      config(`tenants: { suwon: { kueue: { ${sel} } } }`),
      OCT_20,
    ).catch((e) => e);
    expect((err as Error).message).toMatch(msg);
    expect(patches()).toEqual([]);
    expect(stopPolicies()["seongnam-train/train"]).toBe("None");
  });

  it("given the ClusterQueue suwon owns alone, when suwon reaches its quota, then that ClusterQueue is held (its pending count in the email) and lifted back", async () => {
    const c = config("tenants: { suwon: { kueue: { clusterQueue: suwon-cq } } }");
    await runQuotaCheck(await deps(meterWith({ suwon: 100 })), c, OCT_20);
    expect(patches().map((w) => [w.method, w.path, w.contentType])).toEqual([
      ["PATCH", "/apis/kueue.x-k8s.io/v1beta1/clusterqueues/suwon-cq", "application/merge-patch+json"],
    ]);
    expect(kube.state.kueue!.clusterQueues.find((x) => x.metadata.name === "suwon-cq")!.spec.stopPolicy).toBe("Hold");
    expect(stopPolicies()["suwon-train/train"]).toBe("None");
    expect((await ses.emails())[0]!.body.text).toContain("Waiting now: 3 jobs.");
    await runQuotaCheck(
      await deps(meterWith({ suwon: 101 })),
      config("tenants: { suwon: { kueue: { clusterQueue: suwon-cq } } }", raisedSuwon),
      new Date("2026-10-20T11:00:00+09:00"),
    );
    expect(kube.state.kueue!.clusterQueues.find((x) => x.metadata.name === "suwon-cq")!.spec.stopPolicy).toBe("None");
  });

  it("given suwon was blocked with ResourceQuotas, when the mode changes to kueue, then the same run lifts the ResourceQuota block and holds the queues", async () => {
    const rq = parseConfig(`${referenceConfigText}\nquota: { enforce: true, opsRecipients: [ops@platform.example.com] }\n`, "test");
    await runQuotaCheck(await deps(meterWith({ suwon: 100 })), rq, OCT_20);
    expect(kube.state.quotas["suwon-train"]?.[BLOCK_QUOTA_NAME.tenant]).toBeDefined();
    const r = await runQuotaCheck(await deps(meterWith({ suwon: 101 })), config(), new Date("2026-10-20T10:00:00+09:00"));
    expect(r.enforcement.filter((e) => e.subjectKey === "tenant=suwon").map((e) => [e.mode, e.action, e.outcome])).toEqual([
      ["resourcequota", "lift", "lifted"],
      ["kueue", "apply", "applied"],
    ]);
    expect(kube.state.quotas["suwon-train"]).toEqual({});
    expect(stopPolicies()["suwon-train/train"]).toBe("Hold");
  });
});
