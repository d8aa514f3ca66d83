import { SignatureV4 } from "@smithy/signature-v4";
import { Sha256 } from "@aws-crypto/sha256-js";
import type { AwsCredentialIdentity, AwsCredentialIdentityProvider } from "@smithy/types";
import { DescribeClusterCommand, type EKSClient } from "@aws-sdk/client-eks";
import { UnavailableError } from "../core/errors.js";
import { systemClock, type Clock } from "../core/clock.js";

/**
 * How EKS authenticates an IAM identity, as kubernetes-sigs/aws-iam-authenticator
 * pkg/token/token.go makes and checks it (the server side of `aws eks get-token`):
 * - the token is `k8s-aws-v1.` + base64url without padding (`base64.RawURLEncoding`) of a
 *   presigned STS GetCallerIdentity URL (`https://sts.<region>.amazonaws.com/?...`, path `/`);
 * - the signature must cover the `x-k8s-aws-id: <cluster name>` header (`hasSignedClusterIDHeader`),
 *   which binds the token to one cluster;
 * - `X-Amz-Expires` is sent as 60 (`requestPresignParam`; the verifier accepts 0..900 and otherwise
 *   ignores it): STS honours the URL for 15 minutes after `X-Amz-Date` (`presignedURLExpiration`),
 *   and the authenticator's own client reuses a token until one minute before that;
 * - only the whitelisted query parameters may appear (`parameterWhitelist`), each once; their order
 *   does not matter, the verifier parses the query (`url.ParseQuery`).
 */
const TOKEN_PREFIX = "k8s-aws-v1.";
const CLUSTER_ID_HEADER = "x-k8s-aws-id";
export const EKS_TOKEN_URL_EXPIRES_SECONDS = 60;
/** Presigned STS URLs are honoured for 15 minutes after X-Amz-Date. */
const TOKEN_VALID_MS = 15 * 60_000;
/** A token is reused until this long before it stops being honoured (token.go refreshes one minute early). */
const TOKEN_REFRESH_MARGIN_MS = 60_000;

export interface EksTokenRequest {
  clusterName: string;
  region: string;
  credentials: AwsCredentialIdentity | AwsCredentialIdentityProvider;
}

/** A Kubernetes bearer token for EKS from the caller's IAM identity (the Lambda's role), signed at `signingDate`. */
export async function eksToken(req: EksTokenRequest & { signingDate: Date }): Promise<string> {
  const hostname = `sts.${req.region}.amazonaws.com`;
  const signer = new SignatureV4({ service: "sts", region: req.region, credentials: req.credentials, sha256: Sha256 });
  const signed = await signer.presign(
    {
      method: "GET",
      protocol: "https:",
      hostname,
      path: "/",
      query: { Action: "GetCallerIdentity", Version: "2011-06-15" },
      headers: { host: hostname, [CLUSTER_ID_HEADER]: req.clusterName },
    },
    { expiresIn: EKS_TOKEN_URL_EXPIRES_SECONDS, signingDate: req.signingDate },
  );
  // Percent-encoded (the credential's slashes, the session token's + / =); the verifier parses the query, so order is free.
  const query = Object.entries(signed.query ?? {})
    .map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(String(v))}`)
    .join("&");
  return `${TOKEN_PREFIX}${Buffer.from(`https://${hostname}/?${query}`, "utf8").toString("base64url")}`;
}

/**
 * Tokens for a client that makes many requests (the controller's Lambda container lives longer
 * than a token): each call returns a token signed at `clock()`, reused until a minute before STS
 * stops honouring it.
 */
export function eksTokenProvider(req: EksTokenRequest, clock: Clock = systemClock): () => Promise<string> {
  let cached: { token: string; signedAtMs: number } | undefined;
  return async () => {
    const now = clock();
    if (cached && now.getTime() - cached.signedAtMs < TOKEN_VALID_MS - TOKEN_REFRESH_MARGIN_MS) return cached.token;
    cached = { token: await eksToken({ ...req, signingDate: now }), signedAtMs: now.getTime() };
    return cached.token;
  };
}

/** Where an EKS cluster's API server is and the CA its certificate chains to (base64 PEM, as DescribeCluster returns it). */
export interface EksClusterAccess {
  endpoint: string;
  caData: string;
}

/** The API server endpoint and CA of an EKS cluster, from DescribeCluster. */
export async function describeClusterAccess(eks: EKSClient, clusterName: string): Promise<EksClusterAccess> {
  const r = await eks.send(new DescribeClusterCommand({ name: clusterName }));
  const endpoint = r.cluster?.endpoint;
  const caData = r.cluster?.certificateAuthority?.data;
  // A cluster still CREATING (or being deleted) has neither yet: retrying later can succeed.
  if (!endpoint || !caData)
    throw new UnavailableError(`EKS cluster ${clusterName} has no endpoint or CA yet (status ${r.cluster?.status})`);
  return { endpoint, caData };
}
