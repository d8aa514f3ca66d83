import { mkdtemp, readFile, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DuckDBInstance, type DuckDBConnection } from "@duckdb/node-api";
import { configHash } from "../../functions/core/config.js";
import { renderDataset } from "../../functions/core/dataset.js";
import { D } from "../../functions/core/decimal.js";
import { billingMonth } from "../../functions/core/month.js";
import { localSink } from "../../functions/adapters/dataset-sink.js";
import { EXPORTERS, parseExportNames, withExports } from "../../functions/export/dataset-exports.js";
import { PARQUET_TABLES, parquetFiles, unscaledDecimal } from "../../functions/export/parquet-export.js";
import type { Chargeback } from "../../functions/core/chargeback.js";
import { referenceConfig } from "../core/fixtures.js";
import { fixtureChargeback } from "./month-fixture.js";
import { parseCsv } from "../../functions/report/dataset-files.js";

const cfg = referenceConfig();
const SQL_DIR = new URL("../../functions/export/sql/", import.meta.url).pathname;

function dataset(cb: Chargeback) {
  const bm = billingMonth(cb.month, cfg.timeZone);
  const rendered = renderDataset(cb, {
    month: cb.month,
    timeZone: cfg.timeZone,
    startIso: new Date(bm.startMs).toISOString(),
    endIso: new Date(bm.endMs).toISOString(),
    prometheusUrl: "http://prom",
    configHash: configHash(cfg),
  });
  return withExports(rendered, cb, cfg, [EXPORTERS.parquet, EXPORTERS.focus]);
}

/** The dataset's CSV as records (the report reader's RFC 4180 parser). */
function readCsv(text: string): Record<string, string>[] {
  const rows = parseCsv(text);
  const [head, ...body] = rows;
  return body.map((r) => Object.fromEntries(head!.map((h, i) => [h, r[i]!])));
}

describe("Parquet export queried with the Athena example SQL (DuckDB, locally)", () => {
  let dir: string;
  let conn: DuckDBConnection;
  const months = [fixtureChargeback("2026-09", 9), fixtureChargeback("2026-10", 10)];

  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), "parquet-"));
    const sink = localSink(dir);
    for (const cb of months) await sink.write(cb.month, dataset(cb));
    conn = await (await DuckDBInstance.create(":memory:")).connect();
    // The Glue tables: month comes from the partition path, exactly as Athena's projection supplies it.
    for (const table of Object.keys(PARQUET_TABLES))
      await conn.run(
        `CREATE VIEW ${table} AS SELECT * FROM read_parquet('${dir}/month=*/parquet/${table}/*.parquet', hive_partitioning = true, hive_types = {'month': VARCHAR})`,
      );
  });
  afterAll(async () => {
    conn?.closeSync();
    await rm(dir, { recursive: true, force: true });
  });

  const query = async (file: string) => {
    const reader = await conn.runAndReadAll(await readFile(path.join(SQL_DIR, file), "utf8"));
    return reader.getRowObjectsJson() as Record<string, string | number | null>[];
  };

  it("given two metered months, when the dataset is written, then each month has one Parquet file per table listed in the manifest with its sha256", async () => {
    for (const cb of months) {
      const m = JSON.parse(await readFile(path.join(dir, `month=${cb.month}`, "manifest.json"), "utf8"));
      for (const t of Object.keys(PARQUET_TABLES)) {
        const body = await readFile(path.join(dir, `month=${cb.month}`, "parquet", t, "data.parquet"));
        expect(m.files[`parquet/${t}/data.parquet`]).toMatchObject({ bytes: body.length });
      }
      // FOCUS 1.3: one allocated charge per pod of each row
      expect(m.files["focus.csv"].rows).toBe(cb.pods!.length);
      expect(await readdir(path.join(dir, `month=${cb.month}`))).toEqual(
        expect.arrayContaining(["chargeback.csv", "focus.csv", "manifest.json", "parquet"]),
      );
    }
  });

  it("given the same chargeback twice, then the Parquet files are byte-identical (re-runs stay provable)", () => {
    const a = parquetFiles(months[0]!);
    const b = parquetFiles(fixtureChargeback("2026-09", 9));
    expect(b.map((f) => f.body.equals(a[a.findIndex((x) => x.name === f.name)]!.body))).toEqual(
      Object.keys(PARQUET_TABLES).map(() => true),
    );
  });

  it("given the pods table, then in SQL each chargeback row's pods add up to its allocated and used GPU-hours exactly", async () => {
    const pods = (await conn.runAndReadAll("SELECT count(*)::INTEGER AS n FROM pods")).getRowObjectsJson()[0]!.n;
    expect(pods).toBeGreaterThan(0);
    const mismatches = await conn.runAndReadAll(`
      SELECT c.month, c.namespace FROM chargeback c
      FULL JOIN (SELECT month, cluster, tenant_id, namespace, gpu_model, instance_type, capacity_type,
                        sum(allocated_gpu_hours) AS a, sum(used_gpu_hours) AS u FROM pods GROUP BY ALL) p
        USING (month, cluster, tenant_id, namespace, gpu_model, instance_type, capacity_type)
      WHERE p.a IS DISTINCT FROM c.allocated_gpu_hours OR p.u IS DISTINCT FROM c.used_gpu_hours`);
    expect(mismatches.getRowObjectsJson()).toEqual([]);
  });

  it("given cost-by-tenant-by-month.sql, then every tenant's month cost and GPU-hours equal the sums of chargeback.csv exactly", async () => {
    const rows = await query("cost-by-tenant-by-month.sql");
    const expected = new Map<string, { cost: InstanceType<typeof D>; billable: InstanceType<typeof D>; name: string }>();
    for (const cb of months) {
      const csv = readCsv(await readFile(path.join(dir, `month=${cb.month}`, "chargeback.csv"), "utf8"));
      for (const r of csv) {
        const k = `${r.month}/${r.tenant_id}`;
        const e = expected.get(k) ?? { cost: new D(0), billable: new D(0), name: r.tenant_name! };
        expected.set(k, { cost: e.cost.plus(r.cost!), billable: e.billable.plus(r.billable_gpu_hours!), name: e.name });
      }
    }
    expect(rows.length).toBe(expected.size);
    expect(new Set(rows.map((r) => r.tenant_id))).toEqual(
      new Set(["suwon", "seongnam", "yongin", "team-ai", "team-data", "project-llm", "unallocated"]),
    );
    for (const r of rows) {
      const e = expected.get(`${r.month}/${r.tenant_id}`)!;
      expect(new D(String(r.cost)).eq(e.cost), `${r.month} ${r.tenant_id} cost`).toBe(true);
      expect(new D(String(r.billable_gpu_hours)).eq(e.billable)).toBe(true);
      expect(r.tenant_name).toBe(e.name); // Korean names survive UTF-8 Parquet
    }
    // and the month totals tie to the manifest
    for (const cb of months) {
      const sum = rows.filter((r) => r.month === cb.month).reduce((s, r) => s.plus(String(r.cost)), new D(0));
      expect(sum.toFixed(2)).toBe(cb.totals.cost.toFixed(2));
    }
  });

  it("given spot-share.sql, then the Spot GPU-hours and share per tenant match the chargeback rows", async () => {
    const rows = await query("spot-share.sql");
    for (const cb of months)
      for (const t of new Set(cb.rows.map((r) => r.tenantId))) {
        const mine = cb.rows.filter((r) => r.tenantId === t);
        const spot = mine.filter((r) => r.capacityType === "spot").reduce((s, r) => s.plus(r.allocatedGpuHours), new D(0));
        const all = mine.reduce((s, r) => s.plus(r.allocatedGpuHours), new D(0));
        const got = rows.find((r) => r.month === cb.month && r.tenant_id === t)!;
        expect(new D(String(got.spot_gpu_hours)).eq(spot)).toBe(true);
        expect(Number(got.spot_share_of_gpu_hours)).toBe(all.isZero() ? null : spot.div(all).toDecimalPlaces(4).toNumber());
      }
    expect(rows.some((r) => Number(r.spot_share_of_gpu_hours) > 0 && Number(r.spot_share_of_gpu_hours) < 1)).toBe(true);
  });

  it("given idle-cost.sql, then idle GPU-hours and idle cost per node group equal capacity.csv and the manifest totals", async () => {
    const rows = await query("idle-cost.sql");
    for (const cb of months) {
      const csv = readCsv(await readFile(path.join(dir, `month=${cb.month}`, "capacity.csv"), "utf8"));
      const mine = rows.filter((r) => r.month === cb.month);
      expect(mine.length).toBe(csv.length);
      for (const c of csv) {
        const got = mine.find(
          (r) =>
            r.cluster === (c.cluster ?? "default") &&
            r.node_group === c.node_group &&
            r.instance_type === c.instance_type &&
            r.capacity_type === c.capacity_type,
        )!;
        expect(new D(String(got.idle_cost)).eq(c.idle_cost!)).toBe(true);
        expect(new D(String(got.idle_gpu_hours)).eq(c.idle_gpu_hours!)).toBe(true);
      }
      expect(mine.reduce((s, r) => s.plus(String(r.idle_cost)), new D(0)).toFixed(2)).toBe(cb.totals.idleCost.toFixed(2));
    }
  });

  it("given a value with more decimals than its column, then the writer refuses instead of rounding", () => {
    expect(unscaledDecimal(new D("1.234567"), 6, "x")).toBe(1234567n);
    expect(() => unscaledDecimal(new D("1.2345678"), 6, "allocated_gpu_hours")).toThrow(
      /allocated_gpu_hours: 1.2345678 has more than 6 decimals/,
    );
  });

  it("given the EXPORTS setting, then known names parse and an unknown one is named in the error", () => {
    expect(parseExportNames("parquet, focus")).toEqual(["parquet", "focus"]);
    expect(parseExportNames("")).toEqual([]);
    expect(() => parseExportNames("parquet,xlsx")).toThrow(/EXPORTS: unknown export\(s\) xlsx/);
  });
});
