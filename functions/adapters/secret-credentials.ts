import { GetSecretValueCommand, type SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import type { AwsCredentialIdentity, AwsCredentialIdentityProvider } from "@smithy/types";
import { z } from "zod";

/** What the stack's link-signer secret holds (infra: the IAM user's access key as JSON). */
const AccessKeySecret = z.object({
  accessKeyId: z.string().regex(/^[A-Z0-9]+$/, "must be an access key id (upper-case letters and digits)"),
  secretAccessKey: z.string().min(1),
});

/**
 * Long-lived IAM user credentials read from Secrets Manager, for signing presigned links that
 * must outlive the function's own (temporary) role session. Read on first use and again after
 * `maxAgeMs`, so rotating the key in the secret takes effect without a redeploy; the secret's
 * value is never put in an error message.
 */
export function credentialsFromSecret(
  client: SecretsManagerClient,
  secretId: string,
  opts: { maxAgeMs?: number; clock?: () => number } = {},
): AwsCredentialIdentityProvider {
  const maxAge = opts.maxAgeMs ?? 15 * 60_000;
  const clock = opts.clock ?? Date.now;
  let cached: { at: number; value: Promise<AwsCredentialIdentity> } | undefined;
  const read = async (): Promise<AwsCredentialIdentity> => {
    const r = await client.send(new GetSecretValueCommand({ SecretId: secretId }));
    if (r.SecretString === undefined) throw new Error(`secret ${secretId}: has no SecretString (expected JSON {accessKeyId, secretAccessKey})`);
    let json: unknown;
    try {
      json = JSON.parse(r.SecretString);
    } catch {
      throw new Error(`secret ${secretId}: is not JSON (expected {accessKeyId, secretAccessKey})`);
    }
    const parsed = AccessKeySecret.safeParse(json);
    if (!parsed.success)
      throw new Error(`secret ${secretId}: ${parsed.error.issues.map((i) => `${i.path.join(".") || "(value)"}: ${i.message}`).join("; ")}`);
    // No sessionToken and no expiration: these are what make a 7-day link possible.
    return { accessKeyId: parsed.data.accessKeyId, secretAccessKey: parsed.data.secretAccessKey };
  };
  return () => {
    if (!cached || clock() - cached.at >= maxAge) {
      const value = read();
      cached = { at: clock(), value };
      // A failed read is not cached: the next call tries again.
      value.catch(() => {
        if (cached?.value === value) cached = undefined;
      });
    }
    return cached.value;
  };
}
