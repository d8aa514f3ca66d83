import { existsSync, readFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DASHBOARD_FILE, PROM_PANELS, promqlOf, renderDashboard } from "../../infra/grafana/build-dashboard.js";
import { generateMonth } from "../../functions/demo/month-generator.js";
import { backfillMonth, startPrometheus, type RunningPrometheus } from "../../functions/demo/local-prometheus.js";

const QUERIES = new URL("../../queries/", import.meta.url).pathname;
type Panel = { title: string; datasource: { type: string }; targets: { expr?: string }[] };

describe("Grafana dashboard built from queries/", () => {
  const dashboard = JSON.parse(readFileSync(DASHBOARD_FILE, "utf8")) as { panels: Panel[] };

  it("given the committed dashboard JSON, then it is exactly what the build script generates (never hand-edited)", () => {
    expect(readFileSync(DASHBOARD_FILE, "utf8")).toBe(renderDashboard());
  });

  it("given every Prometheus panel, then its expr is the text of a file in queries/", () => {
    const prom = dashboard.panels.filter((p) => p.datasource.type === "prometheus");
    expect(prom).toHaveLength(PROM_PANELS.length);
    for (const [i, p] of prom.entries()) {
      const file = path.join(QUERIES, `${PROM_PANELS[i]!.query}.promql`);
      expect(existsSync(file), file).toBe(true);
      expect(p.targets.map((t) => t.expr)).toEqual([promqlOf(PROM_PANELS[i]!.query)]);
    }
    expect(dashboard.panels.map((p) => p.title)).toEqual(
      expect.arrayContaining([
        "GPU utilization (mean)",
        "GPUs: Spot vs On-Demand",
        "Idle GPUs by node",
        "Quota used this month by tenant (%)",
      ]),
    );
  });

  describe("against a real Prometheus with two generated days", () => {
    let prom: RunningPrometheus;
    let work: string;
    // the scenario's middle: Spot and On-Demand nodes up, pods running
    let at: number;
    beforeAll(async () => {
      const gen = generateMonth({ month: "2026-10", scale: "demo", days: 2 });
      work = await mkdtemp(path.join(tmpdir(), "grafana-"));
      await backfillMonth(gen, path.join(work, "blocks"));
      prom = await startPrometheus({ dataDir: path.join(work, "blocks") });
      at = Date.parse("2026-10-01T12:00:00+09:00") / 1000;
    });
    afterAll(async () => {
      await prom?.stop();
      if (work) await rm(work, { recursive: true, force: true });
    });

    const query = async (q: string) => {
      const r = await fetch(`${prom.url}/api/v1/query?${new URLSearchParams({ query: q, time: String(at) })}`);
      const body = (await r.json()) as {
        status: string;
        error?: string;
        data: { result: { metric: Record<string, string>; value: [number, string] }[] };
      };
      expect(body.error).toBeUndefined();
      return body.data.result;
    };

    it("given each panel's query, then Prometheus accepts it and returns series with the panel's legend labels", async () => {
      for (const p of PROM_PANELS) {
        const result = await query(promqlOf(p.query));
        expect(result.length, p.query).toBeGreaterThan(0);
        const label = /\{\{(\w+)\}\}/.exec(p.legend)?.[1];
        if (label) for (const s of result) expect(s.metric[label], `${p.query} ${label}`).toBeTruthy();
        for (const s of result) expect(Number.isFinite(Number(s.value[1])), `${p.query} ${JSON.stringify(s.metric)}`).toBe(true);
      }
    });

    it("given the Spot vs On-Demand panel, then both capacity types appear and utilization is a fraction", async () => {
      const caps = new Set(
        (await query(promqlOf("dashboard-gpus-by-capacity-type"))).map((s) => s.metric.capacity_type!.toLowerCase().replace("_", "-")),
      );
      expect(caps).toEqual(new Set(["spot", "on-demand"]));
      const [u] = await query(promqlOf("dashboard-gpu-utilization"));
      expect(Number(u!.value[1])).toBeGreaterThan(0);
      expect(Number(u!.value[1])).toBeLessThanOrEqual(1);
    });
  });
});
