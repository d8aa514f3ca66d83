import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mkdtemp, readdir, readFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { GetObjectCommand, ListObjectsV2Command } from "@aws-sdk/client-s3";
import { localSink, monthDir, s3Sink } from "../../functions/adapters/dataset-sink.js";
import type { Dataset } from "../../functions/core/dataset.js";
import { startS3 } from "../support/s3.js";

const ds = (tag: string): Dataset => ({
  files: [
    { name: "chargeback.csv", body: Buffer.from(`a\n${tag}\n`), rows: 1 },
    { name: "capacity.csv", body: Buffer.from("c\n"), rows: 0 },
  ],
  manifest: { name: "manifest.json", body: Buffer.from(`{"tag":"${tag}"}`), rows: 0 },
});

describe("dataset sinks", () => {
  it("given a month path that is not YYYY-MM, it refuses to build a key (no path traversal)", () => {
    expect(() => monthDir("../../etc")).toThrow(/YYYY-MM/);
    expect(monthDir("2026-10")).toBe("month=2026-10");
  });

  it("given a local directory, a re-run replaces the month whole and leaves no temp directories", async () => {
    const root = await mkdtemp(path.join(tmpdir(), "sink-"));
    const sink = localSink(root);
    await sink.write("2026-10", ds("first"));
    await sink.write("2026-10", ds("second"));
    expect(await readdir(root)).toEqual(["month=2026-10"]);
    expect(await readFile(path.join(root, "month=2026-10", "chargeback.csv"), "utf8")).toBe("a\nsecond\n");
    expect(await sink.readManifest("2026-10")).toBe('{"tag":"second"}');
    expect(await sink.readManifest("2026-09")).toBeUndefined();
  });

  describe("against a local S3 server (s3rver)", () => {
    let s3: Awaited<ReturnType<typeof startS3>>;
    beforeAll(async () => {
      s3 = await startS3("billing");
    });
    afterAll(async () => s3?.stop());

    it("given a dataset, it lands under prefix/month=YYYY-MM/ with the manifest, same layout as on disk", async () => {
      const sink = s3Sink(s3.client, "billing", "/chargeback/");
      const loc = await sink.write("2026-10", ds("s3"));
      expect(loc).toBe("s3://billing/chargeback/month=2026-10/");
      const list = await s3.client.send(new ListObjectsV2Command({ Bucket: "billing", Prefix: "chargeback/" }));
      expect(list.Contents!.map((o) => o.Key).sort()).toEqual([
        "chargeback/month=2026-10/capacity.csv",
        "chargeback/month=2026-10/chargeback.csv",
        "chargeback/month=2026-10/manifest.json",
      ]);
      const got = await s3.client.send(new GetObjectCommand({ Bucket: "billing", Key: "chargeback/month=2026-10/chargeback.csv" }));
      expect(await got.Body!.transformToString()).toBe("a\ns3\n");
      expect(got.ContentType).toMatch(/text\/csv/);
      expect(await sink.readManifest("2026-10")).toBe('{"tag":"s3"}');
      expect(await sink.readManifest("2026-11")).toBeUndefined();
    });

    it("given a cluster stage, it lands under prefix/staging/month=YYYY-MM/cluster=<id>/, outside the month, reads back and is cleared", async () => {
      const staging = s3Sink(s3.client, "billing", "cb").staging!;
      const loc = await staging.write("2026-10", "seoul-a", { usage: Buffer.from("[1]"), manifest: Buffer.from("{}") });
      expect(loc).toBe("s3://billing/cb/staging/month=2026-10/cluster=seoul-a/");
      const keys = async () =>
        ((await s3.client.send(new ListObjectsV2Command({ Bucket: "billing", Prefix: "cb/" }))).Contents ?? []).map((o) => o.Key).sort();
      expect(await keys()).toEqual([
        "cb/staging/month=2026-10/cluster=seoul-a/manifest.json",
        "cb/staging/month=2026-10/cluster=seoul-a/usage.json",
      ]);
      const back = await staging.read("2026-10", "seoul-a");
      expect([back?.usage?.toString(), back?.manifest?.toString()]).toEqual(["[1]", "{}"]);
      expect(await staging.read("2026-10", "busan")).toBeUndefined();
      await staging.clear("2026-10", ["seoul-a", "busan"]);
      expect(await keys()).toEqual([]);
    });
  });

  it("given a cluster id that is not a safe path part, the staging refuses it (no path traversal)", async () => {
    const staging = localSink(await mkdtemp(path.join(tmpdir(), "stage-"))).staging!;
    await expect(staging.write("2026-10", "../x", { usage: Buffer.from(""), manifest: Buffer.from("") })).rejects.toThrow(
      /cannot be part of a path/,
    );
  });
});
