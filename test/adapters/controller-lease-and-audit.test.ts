// Lease and audit log against a real local S3 (s3rver) with a precondition
// middleware (s3rver alone ignores If-None-Match / If-Match).
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { GetObjectCommand, ListObjectsV2Command } from "@aws-sdk/client-s3";
import { ControllerLease, LeaseLostError } from "../../functions/adapters/controller-lease.js";
import {
  auditDay,
  auditObjectBody,
  auditRecordOf,
  writeAuditLog,
  type AuditRecord,
} from "../../functions/adapters/controller-audit-log.js";
import { parseAuditObjects } from "../../functions/core/controller-savings.js";
import type { ControllerRecord } from "../../functions/controller/run-controller.js";
import { emptyState } from "../../functions/controller/snapshot.js";
import { startS3, type LocalS3 } from "../support/s3.js";

let s3: LocalS3;
beforeAll(async () => {
  s3 = await startS3("ctl", { preconditions: true });
});
afterAll(async () => s3?.stop());
const T = Date.parse("2026-11-23T03:00:00Z");
/** The instant `ms` after T, as the Date the lease takes. */
const after = (ms = 0) => new Date(T + ms);

describe("controller lease (S3 conditional writes)", () => {
  it("given two overlapping invocations, when both try to take a fresh lease at once, then exactly one gets it", async () => {
    const lease = new ControllerLease(s3.client, "ctl", "race/lease.json");
    const got = await Promise.all([
      lease.acquire(after(), 240_000, "run-a"),
      lease.acquire(after(), 240_000, "run-b"),
      lease.acquire(after(), 240_000, "run-c"),
    ]);
    expect(got.filter(Boolean)).toHaveLength(1);
  });

  it("given a held lease, then a second run is refused until it is released, and sees the state the first saved", async () => {
    const lease = new ControllerLease(s3.client, "ctl", "seq/lease.json");
    const a = (await lease.acquire(after(), 240_000, "run-a"))!;
    expect(await lease.acquire(after(60_000), 240_000, "run-b")).toBeUndefined();
    const st = { ...emptyState(), scaleOuts: { g5: { atMs: T, fromDesired: 1, toDesired: 2 } } };
    await lease.release(a, st, after(90_000));
    const b = (await lease.acquire(after(120_000), 240_000, "run-b"))!;
    expect(b.state.scaleOuts).toEqual(st.scaleOuts);
  });

  it("given a run that outlived its lease and was taken over, when it saves, then LeaseLostError and the newer state stands", async () => {
    const lease = new ControllerLease(s3.client, "ctl", "takeover/lease.json");
    const slow = (await lease.acquire(after(), 60_000, "slow"))!;
    const fast = (await lease.acquire(after(61_000), 60_000, "fast"))!; // expired: taken over
    expect(fast).toBeDefined();
    await expect(lease.checkpoint(slow, emptyState(), after(62_000), 60_000)).rejects.toThrow(LeaseLostError);
    await expect(lease.release(slow, emptyState(), after(62_000))).rejects.toThrow(/taken over/);
    await lease.release(fast, { ...emptyState(), reclaims: { g: [{ atMs: 1, instanceId: "i-1", node: "n" }] } }, after(63_000));
    expect((await lease.peekState()).reclaims.g).toHaveLength(1);
  });
});

describe("audit log (JSON lines per billing day)", () => {
  it("given a run just after midnight in Seoul, then its lines land under that Seoul day, one JSON object per decision with its outcome in prose and as codes", async () => {
    const runAt = new Date("2026-11-22T15:02:00Z"); // 00:02 on the 23rd in Seoul
    expect(auditDay(runAt.getTime(), "Asia/Seoul")).toBe("2026-11-23");
    const records: ControllerRecord[] = [
      {
        duty: "reclaim",
        action: "terminate-instance",
        code: "reclaim",
        dryRun: true,
        reason: "idle",
        nodeGroup: "g5",
        pool: "g5",
        node: "n1",
        instanceId: "i-n1",
        capacityType: "spot",
        desiredFrom: 2,
        desiredTo: 1,
        inputs: { budget: { allowed: 1 } },
        outcome: { status: "skipped", code: "dry-run", text: "dry-run: not acted on" },
      },
      {
        duty: "scale-out",
        action: "none",
        code: "no-demand",
        dryRun: false,
        pool: "g5",
        reason: "no demand",
        inputs: {},
        outcome: { status: "skipped", code: "no-action", text: "no action" },
      },
    ];
    const recs = records.map((r) => auditRecordOf(r, "r1", runAt));
    const key = await writeAuditLog(s3.client, "ctl", "audit/", "Asia/Seoul", runAt, "r1", recs);
    expect(key).toBe("audit/day=2026-11-23/20261122T150200Z-r1.jsonl");
    const body = await (await s3.client.send(new GetObjectCommand({ Bucket: "ctl", Key: key }))).Body!.transformToString();
    const lines = body
      .trimEnd()
      .split("\n")
      .map((l) => JSON.parse(l));
    expect(lines).toEqual(recs);
    expect(lines[0]).toMatchObject({
      runId: "r1",
      at: "2026-11-22T15:02:00.000Z",
      node: "n1",
      outcome: "dry-run: not acted on",
      outcomeStatus: "skipped",
      outcomeCode: "dry-run",
    });
    // A retried invocation with the same run id does not overwrite the first record.
    await writeAuditLog(s3.client, "ctl", "audit", "Asia/Seoul", runAt, "r1", []);
    const again = await (await s3.client.send(new GetObjectCommand({ Bucket: "ctl", Key: key }))).Body!.transformToString();
    expect(again).toBe(body);
    const list = await s3.client.send(new ListObjectsV2Command({ Bucket: "ctl", Prefix: "audit/day=2026-11-23/" }));
    expect(list.KeyCount).toBe(1);
  });
});

describe("audit log read back by the meter (core/controller-savings.ts)", () => {
  const runAt = new Date("2026-10-10T03:00:00Z");
  const window = { startMs: Date.parse("2026-09-30T15:00:00Z"), endMs: Date.parse("2026-10-31T15:00:00Z") };
  const reclaim: ControllerRecord = {
    duty: "reclaim",
    action: "terminate-instance",
    code: "reclaim",
    dryRun: false,
    reason: "idle",
    nodeGroup: "ng-a",
    pool: "ng-a",
    node: "n-1",
    instanceId: "i-1",
    capacityType: "on-demand",
    desiredFrom: 2,
    desiredTo: 1,
    inputs: { gpuCapacity: 4 },
    outcome: { status: "done", code: "instance-terminating", text: "instance terminating (desired capacity decremented)" },
  };
  const scaleOut: ControllerRecord = {
    duty: "scale-out",
    action: "set-desired-capacity",
    code: "scale-out",
    dryRun: false,
    reason: "pods fit nowhere",
    nodeGroup: "ng-a",
    pool: "ng-a",
    capacityType: "spot",
    desiredFrom: 1,
    desiredTo: 3,
    inputs: {},
    outcome: { status: "done", code: "desired-capacity-set", text: "desired capacity set 1 → 3" },
  };
  const gone: ControllerRecord = {
    ...reclaim,
    node: "n-2",
    instanceId: "i-2",
    outcome: { status: "done", code: "instance-already-gone", text: "already gone: no such instance" },
  };
  const objectOf = (lines: object[]) => ({
    key: "day=2026-10-10/20261010T030000Z-r1.jsonl",
    body: auditObjectBody(lines as AuditRecord[]),
  });

  it("given lines run-controller writes now (outcome codes beside the prose), then the meter counts the reclaim and the scale-out by their codes", () => {
    const parsed = parseAuditObjects([objectOf([reclaim, scaleOut, gone].map((r) => auditRecordOf(r, "r1", runAt)))], window);
    expect(parsed.records).toBe(3);
    expect(parsed.events).toEqual([
      { kind: "reclaim", atMs: runAt.getTime(), nodeGroup: "ng-a", node: "n-1", gpus: 4, capacityType: "on-demand" },
      { kind: "scale-out", atMs: runAt.getTime(), nodeGroup: "ng-a", nodes: 2 },
    ]);
  });

  it("given lines written before outcomes had codes (prose only, as in S3 and the demo), then the meter reads the same events from them", () => {
    const withCodes = [reclaim, scaleOut, gone].map((r) => auditRecordOf(r, "r1", runAt));
    const before = withCodes.map(({ outcomeCode: _c, outcomeStatus: _s, ...old }) => old);
    expect(before.every((l) => !("outcomeCode" in l) && typeof l.outcome === "string")).toBe(true);
    expect(parseAuditObjects([objectOf(before)], window).events).toEqual(parseAuditObjects([objectOf(withCodes)], window).events);
  });

  it("given a line whose code says the action did not take effect, then its prose is not consulted and nothing is counted", () => {
    const aborted = { ...auditRecordOf(reclaim, "r1", runAt), outcomeStatus: "skipped", outcomeCode: "aborted-after-recheck" };
    expect(parseAuditObjects([objectOf([aborted])], window).events).toEqual([]);
  });
});
