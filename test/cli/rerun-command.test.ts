import { mkdtemp, readFile, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from "vitest";
import { InvokeCommand, LambdaClient } from "@aws-sdk/client-lambda";
import { mockClient } from "aws-sdk-client-mock";
import { main } from "../../functions/cli/main.js";
import { rerunCommand } from "../../functions/cli/rerun-command.js";
import type { PrometheusClient } from "../../functions/adapters/prometheus-client.js";

// Stand-in Prometheus with an empty cluster: metering itself is covered by the integration suite.
const emptyPrometheus: PrometheusClient = { url: "http://prom", query: async () => [] };
const NOW = new Date("2026-11-20T00:00:00Z");

describe("gpu-billing rerun", () => {
  let out: string;
  let logs: string[];
  const lambdaMock = mockClient(LambdaClient); // no Lambda service runs here
  beforeAll(async () => {
    out = await mkdtemp(path.join(tmpdir(), "rerun-cli-"));
  });
  afterAll(async () => rm(out, { recursive: true, force: true }));
  beforeEach(() => {
    lambdaMock.reset();
    logs = [];
    vi.spyOn(console, "log").mockImplementation((...a: unknown[]) => void logs.push(a.join(" ")));
    vi.spyOn(console, "error").mockImplementation((...a: unknown[]) => void logs.push(a.join(" ")));
  });

  it.each([
    [["--month", "2026-10", "--out", "x"], /--reason/],
    [["--month", "../10", "--reason", "fix", "--out", "x"], /--month: must be YYYY-MM/],
    [["--month", "2026-10", "--tenant", "Suwon/..", "--reason", "fix", "--out", "x"], /--tenants.0/],
    [["--month", "2026-10", "--resend", "--reason", "fix", "--out", "x"], /--resend: resend needs deliver/],
    [["--month", "2026-10", "--reason", "fix"], /exactly one of --out DIR or --bucket B/],
    [["--month", "2026-10", "--reason", "fix", "--remote"], /--function-name/],
  ])("given %j, it exits 2 with the offending option named and touches nothing", async (args, msg) => {
    expect(await main(["rerun", ...args], { GPU_BILLING_OPERATOR: "t" }, NOW)).toBe(2);
    expect(logs.join("\n")).toMatch(msg);
    expect(lambdaMock.calls()).toHaveLength(0);
  });

  it("given a local re-run twice into --out, the second is reported unchanged and both records are kept beside the month", async () => {
    const env = { GPU_BILLING_OPERATOR: "lee@ops" };
    const args = ["--month", "2026-10", "--reason", "label fix", "--out", out];
    expect(await rerunCommand(args, env, NOW, { prometheus: emptyPrometheus })).toBe(0);
    expect(logs.join("\n")).toMatch(/re-run of 2026-10 by lee@ops: label fix/);
    logs = [];
    expect(await rerunCommand(args, env, new Date("2026-11-20T00:00:01Z"), { prometheus: emptyPrometheus })).toBe(0);
    expect(logs.join("\n")).toMatch(/unchanged: the re-run reproduced every file byte for byte/);
    const records = (await readdir(path.join(out, "reruns", "month=2026-10"))).sort();
    expect(records).toEqual(["2026-11-20T00-00-00-000Z.json", "2026-11-20T00-00-01-000Z.json"]);
    const first = JSON.parse(await readFile(path.join(out, "reruns", "month=2026-10", records[0]!), "utf8"));
    expect(first).toMatchObject({ requestedBy: "lee@ops", reason: "label fix", month: "2026-10" });
    expect(first.changed.length).toBeGreaterThan(0); // no previous dataset: every file is new
    expect(await readdir(path.join(out, "month=2026-10"))).toEqual(expect.arrayContaining(["manifest.json", "focus.csv", "parquet"]));
  });

  it("given --deliver locally, it says delivery is not configured here rather than sending", async () => {
    expect(
      await rerunCommand(["--month", "2026-10", "--reason", "x-send", "--deliver", "--out", out], {}, NOW, { prometheus: emptyPrometheus }),
    ).toBe(0);
    expect(logs.join("\n")).toMatch(/delivery: not-configured/);
  });

  it("given --remote, it invokes the deployed function synchronously with the validated payload and prints its record", async () => {
    lambdaMock.on(InvokeCommand).resolves({
      StatusCode: 200,
      Payload: Buffer.from(
        JSON.stringify({
          kind: "gpu-billing.rerun",
          month: "2026-09",
          requestedBy: "park@ops",
          reason: "dispute",
          requestedAt: NOW.toISOString(),
          dryRun: true,
          location: "s3://b/chargeback/month=2026-09/",
          manifestSha256: "a",
          changed: [],
          totalsAfter: { cost: "12.00" },
          delivery: { status: "not-requested" },
        }),
      ) as never,
    });
    const code = await main(
      [
        "rerun",
        "--remote",
        "--function-name",
        "GpuBilling-Rerun",
        "--month",
        "2026-09",
        "--tenant",
        "suwon",
        "--dry-run",
        "--reason",
        "dispute",
      ],
      { GPU_BILLING_OPERATOR: "park@ops", AWS_REGION: "ap-northeast-2" },
      NOW,
    );
    expect(code).toBe(0);
    const input = lambdaMock.commandCalls(InvokeCommand)[0]!.args[0].input;
    expect(input).toMatchObject({ FunctionName: "GpuBilling-Rerun", InvocationType: "RequestResponse" });
    expect(JSON.parse(Buffer.from(input.Payload as Uint8Array).toString())).toEqual({
      month: "2026-09",
      tenants: ["suwon"],
      deliver: false,
      resend: false,
      dryRun: true,
      refreshPrices: false,
      reason: "dispute",
      requestedBy: "park@ops",
    });
    expect(logs.join("\n")).toMatch(/dry run of re-run of 2026-09 by park@ops: dispute/);
  });

  it("given --refresh-prices, then the remote re-run is asked to fetch the month's prices again", async () => {
    lambdaMock.on(InvokeCommand).resolves({
      StatusCode: 200,
      Payload: Buffer.from(
        JSON.stringify({
          kind: "gpu-billing.rerun",
          month: "2026-09",
          requestedBy: "park@ops",
          reason: "new prices",
          dryRun: true,
          changed: [],
          totalsAfter: {},
          delivery: { status: "not-requested" },
        }),
      ) as never,
    });
    const code = await main(
      ["rerun", "--remote", "--function-name", "f", "--month", "2026-09", "--dry-run", "--refresh-prices", "--reason", "new prices"],
      { GPU_BILLING_OPERATOR: "park@ops", AWS_REGION: "ap-northeast-2" },
      NOW,
    );
    expect(code).toBe(0);
    const input = lambdaMock.commandCalls(InvokeCommand)[0]!.args[0].input;
    expect(JSON.parse(Buffer.from(input.Payload as Uint8Array).toString())).toMatchObject({ month: "2026-09", refreshPrices: true });
  });

  it("given the remote function fails, it exits 1 with the function's error message", async () => {
    lambdaMock.on(InvokeCommand).resolves({
      StatusCode: 200,
      FunctionError: "Unhandled",
      Payload: Buffer.from(
        JSON.stringify({ errorType: "PrometheusUnavailableError", errorMessage: "Prometheus unavailable after 4 retries" }),
      ) as never,
    });
    const code = await main(
      ["rerun", "--remote", "--function-name", "f", "--month", "2026-09", "--reason", "retry"],
      { AWS_REGION: "ap-northeast-2" },
      NOW,
    );
    expect(code).toBe(1);
    expect(logs.join("\n")).toMatch(/remote re-run failed \(Unhandled\): Prometheus unavailable after 4 retries/);
  });
});
