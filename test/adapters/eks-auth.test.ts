// No STS or EKS here: the token is checked for the shape aws-iam-authenticator's verifier
// (pkg/token/token.go) accepts and that the cluster header is part of the signature;
// DescribeCluster is answered by aws-sdk-client-mock with the API's response shape.
import { afterEach, describe, expect, it } from "vitest";
import { mockClient } from "aws-sdk-client-mock";
import { DescribeClusterCommand, EKSClient } from "@aws-sdk/client-eks";
import { describeClusterAccess, eksToken, eksTokenProvider } from "../../functions/adapters/eks-auth.js";
import { errorKind } from "../../functions/core/errors.js";

/** The presigned URL inside a token. */
const urlOf = (token: string) => new URL(Buffer.from(token.slice("k8s-aws-v1.".length), "base64url").toString("utf8"));

describe("EKS token", () => {
  const credentials = { accessKeyId: "AKIDEXAMPLE", secretAccessKey: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", sessionToken: "session" };

  it("given IAM credentials, when a token is made for a cluster, then it is k8s-aws-v1. + base64url of a 60 s presigned STS GetCallerIdentity URL signing x-k8s-aws-id", async () => {
    const token = await eksToken({
      clusterName: "gpu-platform",
      region: "ap-northeast-2",
      credentials,
      signingDate: new Date("2026-10-20T00:00:00Z"),
    });
    expect(token.startsWith("k8s-aws-v1.")).toBe(true);
    expect(token).not.toMatch(/[=+/]/); // base64url without padding, as the EKS authenticator expects
    const url = urlOf(token);
    expect(url.pathname).toBe("/");
    // Only the parameters the verifier whitelists, each once.
    expect([...url.searchParams.keys()].sort()).toEqual([
      "Action",
      "Version",
      "X-Amz-Algorithm",
      "X-Amz-Credential",
      "X-Amz-Date",
      "X-Amz-Expires",
      "X-Amz-Security-Token",
      "X-Amz-Signature",
      "X-Amz-SignedHeaders",
    ]);
    expect(url.origin).toBe("https://sts.ap-northeast-2.amazonaws.com");
    const q = url.searchParams;
    expect([q.get("Action"), q.get("Version"), q.get("X-Amz-Algorithm"), q.get("X-Amz-Expires"), q.get("X-Amz-SignedHeaders")]).toEqual([
      "GetCallerIdentity",
      "2011-06-15",
      "AWS4-HMAC-SHA256",
      "60",
      "host;x-k8s-aws-id",
    ]);
    expect(q.get("X-Amz-Credential")).toBe("AKIDEXAMPLE/20261020/ap-northeast-2/sts/aws4_request");
    expect(q.get("X-Amz-Date")).toBe("20261020T000000Z");
    expect(q.get("X-Amz-Security-Token")).toBe("session");
    expect(q.get("X-Amz-Signature")).toMatch(/^[0-9a-f]{64}$/);
  });

  it("given the same instant, when two tokens are made for different clusters, then the signatures differ (the cluster header is signed)", async () => {
    const at = new Date("2026-10-20T00:00:00Z");
    const sig = async (clusterName: string) =>
      urlOf(await eksToken({ clusterName, region: "ap-northeast-2", credentials, signingDate: at })).searchParams.get("X-Amz-Signature");
    expect(await sig("a")).not.toBe(await sig("b"));
    expect(await sig("a")).toBe(await sig("a"));
  });

  it("given a token provider, when asked again within 14 minutes, then it reuses the token, and after that it signs a new one", async () => {
    let now = new Date("2026-10-20T00:00:00Z");
    const token = eksTokenProvider({ clusterName: "gpu-platform", region: "ap-northeast-2", credentials }, () => now);
    const first = await token();
    now = new Date("2026-10-20T00:13:59Z");
    expect(await token()).toBe(first);
    now = new Date("2026-10-20T00:14:00Z");
    const second = await token();
    expect(second).not.toBe(first);
    expect(urlOf(second).searchParams.get("X-Amz-Date")).toBe("20261020T001400Z");
  });
});

describe("EKS cluster access", () => {
  const eks = mockClient(EKSClient);
  afterEach(() => eks.reset());

  it("given an active cluster, when described, then its endpoint and CA come back", async () => {
    eks.on(DescribeClusterCommand, { name: "gpu" }).resolves({
      cluster: {
        name: "gpu",
        status: "ACTIVE",
        endpoint: "https://ABC.gr7.ap-northeast-2.eks.amazonaws.com",
        certificateAuthority: { data: "LS0tLS1CRUdJTg==" },
      },
    });
    expect(await describeClusterAccess(new EKSClient({ region: "ap-northeast-2" }), "gpu")).toEqual({
      endpoint: "https://ABC.gr7.ap-northeast-2.eks.amazonaws.com",
      caData: "LS0tLS1CRUdJTg==",
    });
  });

  it("given a cluster still being created, when described, then it is unavailable (try again later), naming the status", async () => {
    eks.on(DescribeClusterCommand).resolves({ cluster: { name: "gpu", status: "CREATING" } });
    const err = await describeClusterAccess(new EKSClient({ region: "ap-northeast-2" }), "gpu").catch((e: unknown) => e);
    expect(errorKind(err)).toBe("unavailable");
    expect((err as Error).message).toMatch(/gpu has no endpoint or CA yet \(status CREATING\)/);
  });
});
