import { describe, expect, it } from "vitest";
import { computeChargeback } from "../../functions/core/chargeback.js";
import { CHARGEBACK_COLUMNS, neutraliseFormula, renderDataset, toCsv } from "../../functions/core/dataset.js";
import { D } from "../../functions/core/decimal.js";
import { node, referenceConfig, use } from "./fixtures.js";

const inputs = { month: "2026-10", timeZone: "Asia/Seoul", startIso: "a", endIso: "b", prometheusUrl: "http://p", configHash: "h" };

describe("chargeback dataset files", () => {
  const cb = computeChargeback(
    {
      nodes: [node({ node: "a" }), node({ node: "b", instanceType: "g5.12xlarge", capacityLabel: "spot" })],
      usage: [use({ namespace: "suwon-a", node: "a" }), use({ namespace: "=cmd|calc", node: "b", usedMinutes: 1 })],
      namespaces: [],
    },
    referenceConfig(),
    "2026-10",
  );

  it("given a single-cluster chargeback, chargeback.csv has exactly the 15 documented columns (the README's list, in its order) and one line per row", () => {
    const ds = renderDataset(cb, inputs);
    const csv = ds.files.find((f) => f.name === "chargeback.csv")!.body.toString("utf8");
    const lines = csv.trimEnd().split("\n");
    expect(lines[0]).toBe(
      "month,tenant_id,tenant_name,namespace,gpu_model,instance_type,capacity_type,allocated_gpu_hours,used_gpu_hours,avg_utilization,correction_factor,billable_gpu_hours,unit_price,cost,currency",
    );
    expect(lines).toHaveLength(1 + cb.rows.length);
    expect(lines[1]).toBe("2026-10,suwon,수원시,suwon-a,A100,p4d.24xlarge,on-demand,1,1,1,1,1,3.801285,3.80,USD");
  });

  it("given named clusters (config `clusters`), every row file carries the cluster as its second column", () => {
    const named = { ...inputs, clusters: [{ id: "seoul", prometheusUrl: "http://p", usageSha256: "x", perTickDays: [] }] };
    const lines = renderDataset({ ...cb, rows: cb.rows.map((r) => ({ ...r, cluster: "seoul" })) }, named)
      .files[0]!.body.toString("utf8")
      .trimEnd()
      .split("\n");
    expect(lines[0]).toBe(CHARGEBACK_COLUMNS.join(","));
    expect(lines[0]!.startsWith("month,cluster,tenant_id,")).toBe(true);
    expect(lines[1]).toBe("2026-10,seoul,suwon,수원시,suwon-a,A100,p4d.24xlarge,on-demand,1,1,1,1,1,3.801285,3.80,USD");
  });

  it("given a namespace that looks like a formula, the CSV neutralises it", () => {
    const csv = renderDataset(cb, inputs).files[0]!.body.toString("utf8");
    expect(csv).toContain(",'=cmd|calc,");
    expect(neutraliseFormula("-1+2")).toBe("'-1+2");
    expect(neutraliseFormula("@SUM(A1)")).toBe("'@SUM(A1)");
    expect(neutraliseFormula("team-ai")).toBe("team-ai");
    // a negative amount is a number, not a formula: it must stay numeric in the spreadsheet
    expect(neutraliseFormula("-4127.63")).toBe("-4127.63");
    expect(toCsv(["idle_cost"], [["-4127.63"]]).toString()).toBe("idle_cost\n-4127.63\n");
  });

  it("given text with commas and quotes, it is quoted per RFC 4180; numbers stay plain", () => {
    expect(toCsv(["a", "b"], [['x,"y"', new D("1e-7")]]).toString()).toBe('a,b\n"x,""y""",0.0000001\n');
  });

  it("given the same chargeback twice, the files and the manifest are byte-identical and the manifest hashes them", async () => {
    const a = renderDataset(cb, inputs);
    const b = renderDataset(cb, inputs);
    expect(
      Buffer.concat([...a.files.map((f) => f.body), a.manifest.body]).equals(
        Buffer.concat([...b.files.map((f) => f.body), b.manifest.body]),
      ),
    ).toBe(true);
    const m = JSON.parse(a.manifest.body.toString());
    const { createHash } = await import("node:crypto");
    for (const f of a.files) expect(m.files[f.name].sha256).toBe(createHash("sha256").update(f.body).digest("hex"));
    expect(m.totals.cost).toBe(cb.totals.cost.toFixed(2));
    expect(m.files["chargeback.csv"].rows).toBe(cb.rows.length);
  });
});
