import { GetSecretValueCommand, type SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import type { AwsCredentialIdentity, AwsCredentialIdentityProvider } from "@smithy/types";
import { z } from "zod";
import { describeIssues } from "../core/config.js";

export interface SecretCacheOptions {
  /** How long a value read is used before the secret is read again (rotation without a redeploy). */
  maxAgeMs?: number;
  clock?: () => number;
}

/**
 * A secret's value read at run time, not at deploy time: the value never sits in a function's
 * environment or template, and rotating it in Secrets Manager takes effect within `maxAgeMs`.
 * A failed read is not cached (the next call tries again); `parse` errors name the secret,
 * never its value.
 */
export function cachedSecret<T>(
  client: SecretsManagerClient,
  secretId: string,
  parse: (value: string) => T,
  opts: SecretCacheOptions = {},
): () => Promise<T> {
  const maxAge = opts.maxAgeMs ?? 15 * 60_000;
  const clock = opts.clock ?? Date.now;
  let cached: { at: number; value: Promise<T> } | undefined;
  const read = async (): Promise<T> => {
    const r = await client.send(new GetSecretValueCommand({ SecretId: secretId }));
    if (r.SecretString === undefined) throw new Error(`secret ${secretId}: has no SecretString`);
    return parse(r.SecretString);
  };
  return () => {
    if (!cached || clock() - cached.at >= maxAge) {
      const value = read();
      cached = { at: clock(), value };
      value.catch(() => {
        if (cached?.value === value) cached = undefined;
      });
    }
    return cached.value;
  };
}

/** What the stack's link-signer secret holds (infra: the IAM user's access key as JSON). */
const AccessKeySecret = z.object({
  accessKeyId: z.string().regex(/^[A-Z0-9]+$/, "must be an access key id (upper-case letters and digits)"),
  secretAccessKey: z.string().min(1),
});

/**
 * Long-lived IAM user credentials from a secret `{accessKeyId, secretAccessKey}`, for signing
 * presigned links that must outlive the function's own (temporary) role session.
 */
export function credentialsFromSecret(
  client: SecretsManagerClient,
  secretId: string,
  opts: SecretCacheOptions = {},
): AwsCredentialIdentityProvider {
  return cachedSecret(
    client,
    secretId,
    (value): AwsCredentialIdentity => {
      let json: unknown;
      try {
        json = JSON.parse(value);
      } catch {
        throw new Error(`secret ${secretId}: is not JSON (expected {accessKeyId, secretAccessKey})`);
      }
      const parsed = AccessKeySecret.safeParse(json);
      if (!parsed.success) throw new Error(`secret ${secretId}: ${describeIssues(parsed.error.issues).join("; ")}`);
      // No sessionToken and no expiration: these are what make a 7-day link possible.
      return { accessKeyId: parsed.data.accessKeyId, secretAccessKey: parsed.data.secretAccessKey };
    },
    opts,
  );
}

/**
 * A bearer token kept as a secret's plain string (surrounding whitespace ignored). Read again
 * every 5 minutes by default, so a rotated token is picked up before the old one is revoked.
 */
export function bearerTokenFromSecret(
  client: SecretsManagerClient,
  secretId: string,
  opts: SecretCacheOptions = {},
): () => Promise<string> {
  return cachedSecret(
    client,
    secretId,
    (value) => {
      const token = value.trim();
      if (!token) throw new Error(`secret ${secretId}: is empty (expected the bearer token)`);
      if (/\s/.test(token)) throw new Error(`secret ${secretId}: contains whitespace (expected the bearer token alone, without "Bearer ")`);
      return token;
    },
    { maxAgeMs: 5 * 60_000, ...opts },
  );
}
