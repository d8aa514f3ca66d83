import { SignatureV4 } from "@smithy/signature-v4";
import { Sha256 } from "@aws-crypto/sha256-js";
import type { AwsCredentialIdentity, AwsCredentialIdentityProvider } from "@smithy/types";

/** EKS accepts a token for at most 15 minutes; the presigned URL itself is valid for 60 s, as `aws eks get-token` does. */
export const EKS_TOKEN_URL_EXPIRES_SECONDS = 60;

/**
 * A Kubernetes bearer token for EKS from the caller's IAM identity (the
 * Lambda's role): a presigned STS GetCallerIdentity URL whose signature covers
 * the `x-k8s-aws-id: <cluster>` header, base64url-encoded behind `k8s-aws-v1.`.
 * The EKS authenticator replays the URL against STS to learn who is calling.
 */
export async function eksToken(opts: {
  clusterName: string;
  region: string;
  credentials: AwsCredentialIdentity | AwsCredentialIdentityProvider;
  signingDate?: Date;
}): Promise<string> {
  const hostname = `sts.${opts.region}.amazonaws.com`;
  const signer = new SignatureV4({
    service: "sts",
    region: opts.region,
    credentials: opts.credentials,
    sha256: Sha256,
    uriEscapePath: true,
  });
  const signed = await signer.presign(
    {
      method: "GET",
      protocol: "https:",
      hostname,
      path: "/",
      query: { Action: "GetCallerIdentity", Version: "2011-06-15" },
      headers: { host: hostname, "x-k8s-aws-id": opts.clusterName },
    },
    { expiresIn: EKS_TOKEN_URL_EXPIRES_SECONDS, signingDate: opts.signingDate },
  );
  const query = Object.entries(signed.query ?? {})
    .map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(String(v))}`)
    .sort()
    .join("&");
  const url = `https://${hostname}/?${query}`;
  return `k8s-aws-v1.${Buffer.from(url, "utf8").toString("base64url")}`;
}
