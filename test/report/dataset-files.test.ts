import { describe, expect, it } from "vitest";
import { D, type Dec } from "../../functions/core/decimal.js";
import { renderDataset, type Dataset } from "../../functions/core/dataset.js";
import type { ControllerMonth } from "../../functions/core/controller-savings.js";
import { parseDataset } from "../../functions/report/dataset-files.js";
import { demoDataset, MONTH } from "./fixtures.js";

const isDec = (v: unknown): v is Dec => typeof v === "object" && v !== null && "toFixed" in v && "mul" in v;
/** A line with its decimals as strings, so a value compares by what it is, not by how decimal.js holds it. */
const plain = (line: object) => Object.fromEntries(Object.entries(line).map(([k, v]) => [k, isDec(v) ? v.toFixed() : v]));
const bytesOf = (d: Dataset) => ({ manifest: d.manifest.body, files: Object.fromEntries(d.files.map((f) => [f.name, f.body])) });

describe("parseDataset: every row file read back", () => {
  it("given the demo month as meter writes it, when it is parsed, then every line of every row file has the fields the chargeback wrote", async () => {
    const { chargeback: cb, dataset } = await demoDataset();
    const controller: ControllerMonth = {
      clusters: [{ cluster: "default", status: "acted", auditObjects: 1, auditRecords: 2 }],
      rows: [
        {
          cluster: "default",
          nodeGroup: "g5-spot",
          instanceType: "g5.12xlarge",
          capacityType: "spot",
          nodesReclaimed: 2,
          scaleOuts: 1,
          nodesAdded: 3,
          gpuNodeHoursSaved: new D("12.5"),
          unitPrice: "1.25",
          savedCost: new D("-15.63"),
        },
      ],
      totals: { nodesReclaimed: 2, scaleOuts: 1, nodesAdded: 3, gpuNodeHoursSaved: new D("12.5"), savedCost: new D("-15.63") },
    };
    const withController = renderDataset(
      cb,
      {
        month: MONTH,
        timeZone: "Asia/Seoul",
        startIso: "s",
        endIso: "e",
        prometheusUrl: "http://p",
        configHash: "h",
      },
      undefined,
      controller,
    );

    const parsed = parseDataset(MONTH, bytesOf(dataset));
    const withControllerParsed = parseDataset(MONTH, bytesOf(withController));

    const without = <T extends object>(rows: T[], ...fields: string[]) =>
      rows.map((r) => plain(Object.fromEntries(Object.entries(r).filter(([k]) => !fields.includes(k)))));
    expect(parsed.chargeback.map(plain)).toEqual(without(cb.rows, "month", "currency"));
    expect(parsed.daily.map(plain)).toEqual(without(cb.daily, "avgUtilization"));
    expect(parsed.capacity.map(plain)).toEqual(without(cb.capacity));
    expect(cb.pods?.length).toBeGreaterThan(0);
    expect(parsed.pods!.map(plain)).toEqual(without(cb.pods!));
    expect(cb.nodes?.length).toBeGreaterThan(0);
    expect(parsed.nodes!.map(plain)).toEqual(without(cb.nodes!));
    expect(parsed.controller).toBeUndefined();
    expect(withControllerParsed.controller!.map(plain)).toEqual(without(controller.rows));
  });
});
