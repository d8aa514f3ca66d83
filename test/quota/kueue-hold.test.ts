import { describe, expect, it } from "vitest";
import { quotaSettings } from "../../functions/quota/evaluate-quota.js";
import { decideEnforcement, type EnforcementRecord } from "../../functions/quota/enforcement-decision.js";
import {
  decideQueueHolds,
  queueId,
  subjectQueues,
  type HeldQueue,
  type KueueSnapshot,
  type ObservedQueue,
  type StopPolicyField,
} from "../../functions/quota/kueue-hold.js";
import { referenceConfigText } from "../core/fixtures.js";
import { type Config, parseConfig } from "../../functions/config/config-schema.js";

const cfg = (quota = "enforcement: { mode: kueue }"): Config => parseConfig(`${referenceConfigText}\nquota: { ${quota} }\n`, "test");
const q = (ns: string, name: string, stopPolicy: StopPolicyField, over: Partial<ObservedQueue> = {}): ObservedQueue => ({
  ref: { kind: "LocalQueue", namespace: ns, name },
  labels: {},
  stopPolicy,
  pendingWorkloads: 1,
  admittedWorkloads: 1,
  clusterQueue: "cq",
  ...over,
});
const snap = (localQueues: ObservedQueue[], clusterQueues: ObservedQueue[] = []): KueueSnapshot => ({
  namespaces: [
    { name: "suwon-train", labels: {} },
    { name: "suwon-serve", labels: {} },
    { name: "seongnam-train", labels: {} },
  ],
  localQueues,
  clusterQueues,
});
const suwon = { kind: "tenant" as const, tenantId: "suwon", key: "tenant=suwon" };
const byId = (qs: ObservedQueue[]) => new Map(qs.map((x) => [queueId(x.ref), x]));
const held = (x: ObservedQueue, previous: StopPolicyField, applied: "Hold" | "HoldAndDrain" = "Hold"): Record<string, HeldQueue> => ({
  [queueId(x.ref)]: { ref: x.ref, previousStopPolicy: previous, appliedStopPolicy: applied, heldAt: "2026-10-20T00:00:00Z" },
});

describe("Kueue queue decisions (pure)", () => {
  const settings = quotaSettings(cfg());
  const targetsOf = (qs: ObservedQueue[], c = cfg()) => subjectQueues(suwon, quotaSettings(c), c.tenants, snap(qs));

  it.each([
    ["absent stopPolicy", null, "hold", null],
    ["stopPolicy None set explicitly", "None", "hold", "None"],
    ["stopPolicy Hold set by someone else", "Hold", "none", undefined],
    ["stopPolicy HoldAndDrain set by someone else", "HoldAndDrain", "none", undefined],
  ] as const)(
    "given a training queue with %s and nothing held, when the subject is at block, then the action is %s",
    (_what, sp, action, previous) => {
      const x = q("suwon-train", "train", sp);
      const d = decideQueueHolds("apply", targetsOf([x]), {}, byId([x]), settings)[0]!;
      expect(d.action).toBe(action);
      if (d.action === "hold") expect([d.previousStopPolicy, d.stopPolicy]).toEqual([previous, "Hold"]);
      else expect(d.reason).toMatch(/already stopped .* not set by gpu-billing/);
    },
  );

  it("given HoldAndDrain is configured and someone set Hold, when at block, then gpu-billing escalates and remembers Hold to restore", () => {
    const c = cfg("enforcement: { mode: kueue, kueue: { stopPolicy: HoldAndDrain } }");
    const x = q("suwon-train", "train", "Hold");
    expect(decideQueueHolds("apply", targetsOf([x], c), {}, byId([x]), quotaSettings(c))).toEqual([
      expect.objectContaining({
        action: "hold",
        previousStopPolicy: "Hold",
        stopPolicy: "HoldAndDrain",
        reason: expect.stringMatching(/admitted workloads are evicted/),
      }),
    ]);
  });

  it.each([
    ["still as held", "Hold", { action: "lift", restoreStopPolicy: null }],
    ["changed by someone else", "None", { action: "none", reason: expect.stringMatching(/changed to None by someone else/) }],
  ] as const)("given a held queue %s, when the hold is lifted, then %j", (_what, now, expected) => {
    const x = q("suwon-train", "train", now);
    expect(decideQueueHolds("lift", [], held(x, null), byId([x]), settings)).toEqual([expect.objectContaining(expected)]);
  });

  it("given a held queue that was deleted, when lifted, then there is nothing to restore", () => {
    const x = q("suwon-train", "train", "Hold");
    expect(decideQueueHolds("lift", [], held(x, "None"), new Map(), settings)).toEqual([
      expect.objectContaining({ action: "none", reason: expect.stringMatching(/no longer exists/) }),
    ]);
  });

  it("given a queue labelled inference, or in a namespace matching an inference glob, when at block, then it is not held; with inference a held class it is", () => {
    const labelled = q("suwon-train", "serve", null, { labels: { "gpu-billing.example.com/workload-class": "inference" } });
    const globbed = q("suwon-serve", "api", null);
    const c = cfg("enforcement: { mode: kueue, kueue: { inference: { namespaces: ['*-serve'] } } }");
    const ds = decideQueueHolds("apply", targetsOf([labelled, globbed], c), {}, byId([labelled, globbed]), quotaSettings(c));
    expect(ds.map((d) => d.action)).toEqual(["none", "none"]);
    expect(ds.map((d) => d.reason)).toEqual([
      expect.stringMatching(/inference \(namespace matches inference glob \*-serve\)/),
      expect.stringMatching(/inference \(label/),
    ]);
    const all = cfg("enforcement: { mode: kueue, kueue: { holdClasses: [training, inference] } }");
    expect(decideQueueHolds("apply", targetsOf([labelled], all), {}, byId([labelled]), quotaSettings(all)).map((d) => d.action)).toEqual([
      "hold",
    ]);
  });

  it("given a held queue the config no longer names, when the subject is still at block, then that queue is given back", () => {
    const a = q("suwon-train", "a", null);
    const b = q("suwon-train", "b", "Hold");
    const c = cfg("enforcement: { mode: kueue }, tenants: { suwon: { kueue: { localQueues: [suwon-train/a] } } }");
    const ds = decideQueueHolds(
      "apply",
      subjectQueues(suwon, quotaSettings(c), c.tenants, snap([a, b])),
      held(b, "None"),
      byId([a, b]),
      quotaSettings(c),
    );
    expect(ds.map((d) => [d.action, d.queue && queueId(d.queue)])).toEqual([
      ["hold", "localqueue/suwon-train/a"],
      ["lift", "localqueue/suwon-train/b"],
    ]);
  });

  it("given a ClusterQueue that also serves an inference LocalQueue of the tenant, when selected, then its training LocalQueues are held instead of it", () => {
    const c = cfg("enforcement: { mode: kueue }, tenants: { suwon: { kueue: { clusterQueue: suwon-cq } } }");
    const train = q("suwon-train", "train", null, { clusterQueue: "suwon-cq" });
    const serve = q("suwon-train", "serve", null, {
      clusterQueue: "suwon-cq",
      labels: { "gpu-billing.example.com/workload-class": "inference" },
    });
    const cqObj: ObservedQueue = {
      ref: { kind: "ClusterQueue", name: "suwon-cq" },
      labels: {},
      stopPolicy: "None",
      pendingWorkloads: 2,
      admittedWorkloads: 0,
    };
    const t = subjectQueues(suwon, quotaSettings(c), c.tenants, snap([train, serve], [cqObj]));
    expect(t.map((x) => [queueId(x.queue.ref), x.workloadClass])).toEqual([
      ["localqueue/suwon-train/serve", "inference"],
      ["localqueue/suwon-train/train", "training"],
    ]);
  });
});

describe("Kueue config", () => {
  it.each([
    [
      "two tenants naming one ClusterQueue",
      "tenants: { suwon: { kueue: { clusterQueue: cq } }, seongnam: { kueue: { clusterQueue: cq } } }",
      /quota\.tenants\.seongnam\.kueue.*ClusterQueue cq is already the queue of tenant suwon/,
    ],
    [
      "a LocalQueue without its namespace",
      "tenants: { suwon: { kueue: { localQueues: [train] } } }",
      /must be namespace\/name of a LocalQueue/,
    ],
    ["an unknown mode", "enforcement: { mode: queue }", /quota\.enforcement\.mode/],
    ["an unknown stopPolicy", "enforcement: { kueue: { stopPolicy: Drain } }", /quota\.enforcement\.kueue\.stopPolicy/],
  ])("given %s, when the config is parsed, then the error names the field", (_what, quota, msg) => {
    expect(() => cfg(quota)).toThrow(msg);
  });

  it("given no enforcement block, when parsed, then the mode is resourcequota (as before the mode existed) and only training is held", () => {
    const e = quotaSettings(cfg("enforce: true")).enforcement;
    expect([e.mode, e.kueue.stopPolicy, e.kueue.holdClasses, e.kueue.defaultClass]).toEqual([
      "resourcequota",
      "Hold",
      ["training"],
      "training",
    ]);
  });
});

describe("enforcement decisions across modes", () => {
  const rec = (over: Partial<EnforcementRecord>): EnforcementRecord => ({
    subjectKey: "tenant=suwon",
    tenantId: "suwon",
    month: "2026-10",
    quotaGpuHours: "100",
    status: "enforced",
    namespaces: {},
    reason: "",
    updatedAt: "2026-10-19T00:00:00Z",
    ...over,
  });
  it.each([
    ["a resourcequota block (record without mode), mode kueue", rec({}), "kueue", "lift", /mode changed from resourcequota to kueue/],
    ["a kueue hold, mode off", rec({ mode: "kueue" }), "off", "lift", /mode is off: the kueue block is lifted/],
    ["nothing recorded, mode off", undefined, "off", "none", /alerts only/],
    ["a kueue hold, mode kueue", rec({ mode: "kueue" }), "kueue", "none", /already blocked/],
  ] as const)("given %s, when at block, then %s", (_what, record, mode, action, reason) => {
    const status = {
      level: "block",
      quotaGpuHours: { toFixed: () => "100" },
      usedGpuHours: { toFixed: () => "105" },
      thresholds: { block: 1 },
    } as never;
    const d = decideEnforcement("tenant=suwon", status, record, "2026-10", true, mode);
    expect(d.action).toBe(action);
    expect(d.reason).toMatch(reason);
  });
});
