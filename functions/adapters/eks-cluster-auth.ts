import { SignatureV4 } from "@smithy/signature-v4";
import { Sha256 } from "@aws-crypto/sha256-js";
import type { AwsCredentialIdentityProvider } from "@smithy/types";
import { DescribeClusterCommand, type EKSClient } from "@aws-sdk/client-eks";

/** API server endpoint and CA of an EKS cluster. */
export async function describeClusterAccess(eks: EKSClient, clusterName: string): Promise<{ endpoint: string; caData: string }> {
  const r = await eks.send(new DescribeClusterCommand({ name: clusterName }));
  const endpoint = r.cluster?.endpoint;
  const caData = r.cluster?.certificateAuthority?.data;
  if (!endpoint || !caData) throw new Error(`EKS cluster ${clusterName} has no endpoint or CA (status ${r.cluster?.status})`);
  return { endpoint, caData };
}

/**
 * An EKS bearer token, as `aws eks get-token` makes it: a presigned STS
 * GetCallerIdentity URL bound to the cluster name (x-k8s-aws-id), base64url,
 * prefixed `k8s-aws-v1.`. Valid 15 minutes; cached for 10.
 */
export function eksTokenProvider(
  clusterName: string,
  region: string,
  credentials: AwsCredentialIdentityProvider,
  clock: () => number = Date.now,
): () => Promise<string> {
  const signer = new SignatureV4({ service: "sts", region, credentials, sha256: Sha256 });
  let cached: { token: string; atMs: number } | undefined;
  return async () => {
    if (cached && clock() - cached.atMs < 10 * 60_000) return cached.token;
    const hostname = `sts.${region}.amazonaws.com`;
    const signed = await signer.presign(
      {
        method: "GET",
        protocol: "https:",
        hostname,
        path: "/",
        query: { Action: "GetCallerIdentity", Version: "2011-06-15" },
        headers: { host: hostname, "x-k8s-aws-id": clusterName },
      },
      { expiresIn: 60, signingDate: new Date(clock()) },
    );
    const qs = Object.entries(signed.query ?? {})
      .map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(String(v))}`)
      .join("&");
    const token = `k8s-aws-v1.${Buffer.from(`https://${hostname}/?${qs}`).toString("base64url")}`;
    cached = { token, atMs: clock() };
    return token;
  };
}
