// No STS or EKS here: the token is checked for its shape and that the cluster header is part of the signature.
import { describe, expect, it } from "vitest";
import { eksToken } from "../../functions/adapters/eks-token.js";

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
    const url = new URL(Buffer.from(token.slice("k8s-aws-v1.".length), "base64url").toString("utf8"));
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
      new URL(
        Buffer.from(
          (await eksToken({ clusterName, region: "ap-northeast-2", credentials, signingDate: at })).slice(11),
          "base64url",
        ).toString(),
      ).searchParams.get("X-Amz-Signature");
    expect(await sig("a")).not.toBe(await sig("b"));
    expect(await sig("a")).toBe(await sig("a"));
  });
});
