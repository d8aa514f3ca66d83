import { describe, expect, it } from "vitest";
import { BadInputError, CompositeFailure, errorKind, UnavailableError } from "../../functions/core/errors.js";

const awsError = (name: string, status?: number, extra: object = {}) =>
  Object.assign(new Error(name), { name, ...(status === undefined ? {} : { $metadata: { httpStatusCode: status } }), ...extra });

describe("errorKind", () => {
  it.each([
    ["SES throttling (TooManyRequestsException, 429)", awsError("TooManyRequestsException", 429)],
    ["an AWS internal failure (500)", awsError("InternalFailure", 500)],
    ["a service unavailable (503)", awsError("ServiceUnavailable", 503)],
    ["an error the SDK marks retryable", awsError("SomethingTransient", 400, { $retryable: {} })],
    ["throttling without a status", awsError("ThrottlingException")],
    ["the SDK's request timeout", awsError("TimeoutError")],
    ["a dropped connection (ECONNRESET)", Object.assign(new Error("socket hang up"), { code: "ECONNRESET" })],
    ["a refused connection (ECONNREFUSED)", Object.assign(new Error("connect ECONNREFUSED 127.0.0.1:1"), { code: "ECONNREFUSED" })],
    ["an UnavailableError", new UnavailableError("lease held")],
  ])("given %s, when classified, then it is unavailable (the delivery retries it)", (_what, e) => {
    expect(errorKind(e)).toBe("unavailable");
  });

  it.each([
    ["SES rejecting the message (MessageRejected, 400)", awsError("MessageRejected", 400)],
    ["an unverified sender (MailFromDomainNotVerifiedException, 400)", awsError("MailFromDomainNotVerifiedException", 400)],
    ["a suspended account", awsError("AccountSuspendedException", 400)],
    ["a plain Error", new Error("boom")],
    ["a thrown string", "boom"],
  ])("given %s, when classified, then it is internal (the same message fails the same way again)", (_what, e) => {
    expect(errorKind(e)).toBe("internal");
  });

  it("given input the caller can fix, or a composite failure, when classified, then the kind is the input's or the first cause's", () => {
    expect(errorKind(new BadInputError("month"))).toBe("bad-input");
    expect(errorKind(new CompositeFailure("2 of 3 clusters failed", { cause: awsError("TooManyRequestsException", 429) }))).toBe(
      "unavailable",
    );
    expect(errorKind(new CompositeFailure("no cause"))).toBe("internal");
  });
});
