/** The two Lambda invocations the product makes: ops' CLI → the deployed rerun function, the rerun → the monthly function. */
import { InvokeCommand, type LambdaClient } from "@aws-sdk/client-lambda";
import type { DeliverFn, RerunRecord, RerunRequest } from "../metering/rerun-month.js";

/** Invokes the deployed rerun function and waits for its record (a synchronous invoke; no Lambda retry). */
export async function invokeRemoteRerun(lambda: LambdaClient, functionName: string, req: RerunRequest): Promise<RerunRecord> {
  const r = await lambda.send(
    new InvokeCommand({ FunctionName: functionName, InvocationType: "RequestResponse", Payload: Buffer.from(JSON.stringify(req)) }),
  );
  const text = r.Payload ? Buffer.from(r.Payload).toString("utf8") : "";
  if (r.FunctionError) {
    let message = text;
    try {
      message = (JSON.parse(text) as { errorMessage?: string }).errorMessage ?? text;
    } catch {
      /* not JSON: show it as is */
    }
    throw new Error(`remote re-run failed (${r.FunctionError}): ${message}`);
  }
  return JSON.parse(text) as RerunRecord;
}

/**
 * Delivery through the deployed monthly (report + deliver) function, when the
 * stack wired one in (MONTHLY_FUNCTION_NAME). Asynchronous: the monthly
 * function has its own retries and dead-letter queue; its own idempotency
 * decides what `resend` means.
 */
export function lambdaDeliver(lambda: LambdaClient, functionName: string): DeliverFn {
  return async (req) => {
    const r = await lambda.send(
      new InvokeCommand({
        FunctionName: functionName,
        InvocationType: "Event",
        Payload: Buffer.from(JSON.stringify({ source: "gpu-billing.rerun", ...req })),
      }),
    );
    return { status: "requested", detail: { functionName, statusCode: r.StatusCode } };
  };
}
