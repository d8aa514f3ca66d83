/**
 * The three kinds of failure every entry point tells apart, mapped once: to an exit code in
 * the CLI (cli/main.ts classifyError) and to the log line of a Lambda that rethrows
 * (`failureFields`, so the retry, the on-failure queue and whoever reads the log agree).
 *
 * - bad input: the caller can fix it (a month, a config, an event, data the bill cannot
 *   attribute); the same input fails the same way, so a retry is pointless.
 * - unavailable: a dependency is down, throttling or timing out; nothing was written, run again.
 * - internal: anything else — a bug or an unexpected answer; the stack is what matters.
 */
export type ErrorKind = "bad-input" | "unavailable" | "internal";

/** Input the caller can fix; retrying the same input fails the same way. */
export class BadInputError extends Error {
  readonly kind = "bad-input" as const;
}

/** A dependency is unavailable; nothing was written, and running again later is the fix. */
export class UnavailableError extends Error {
  readonly kind = "unavailable" as const;
}

/**
 * A failure that stands for others (some clusters of a month failed, some deliveries did):
 * its kind is its first cause's, so one unreachable cluster reads as "unavailable".
 */
export class CompositeFailure extends Error {}

/** AWS SDK v3 exceptions that mean "try later" ($retryable, throttling, 5xx) and Node's network errors. */
function isTransient(e: Error): boolean {
  const x = e as Error & { $retryable?: unknown; $metadata?: { httpStatusCode?: number }; code?: string };
  if (x.$retryable) return true;
  if ((x.$metadata?.httpStatusCode ?? 0) >= 500 || x.$metadata?.httpStatusCode === 429) return true;
  if (/^(ECONNREFUSED|ECONNRESET|ENOTFOUND|ETIMEDOUT|EAI_AGAIN|EPIPE)$/.test(x.code ?? "")) return true;
  return /^(Throttling|ThrottlingException|TooManyRequestsException|SlowDown|ServiceUnavailable|RequestTimeout|TimeoutError|NetworkingError)$/.test(
    x.name,
  );
}

export function errorKind(e: unknown): ErrorKind {
  if (e instanceof CompositeFailure) return e.cause === undefined ? "internal" : errorKind(e.cause);
  if (e instanceof BadInputError) return "bad-input";
  if (e instanceof UnavailableError) return "unavailable";
  if (e instanceof Error && isTransient(e)) return "unavailable";
  return "internal";
}

/** What a handler logs before it rethrows: the kind and the error itself (Powertools prints its name, message, stack and cause). */
export function failureFields(e: unknown): { kind: ErrorKind; error: Error } {
  return { kind: errorKind(e), error: e instanceof Error ? e : new Error(String(e)) };
}
