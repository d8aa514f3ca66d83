// No Kubernetes API server runs here: the calls go to the repository's fake Kubernetes API
// (test/support/fake-kube-api.ts), and, for the deadline and a refused connection, to local servers
// that never answer or are gone.
import { afterEach, describe, expect, it } from "vitest";
import http from "node:http";
import type { AddressInfo } from "node:net";
import {
  JSON_PATCH,
  KubernetesApiError,
  kubernetesApis,
  kubernetesCall,
  kubernetesStatusOf,
} from "../../functions/adapters/kubernetes-client.js";
import { errorKind } from "../../functions/core/errors.js";
import { k8sNode, startFakeKubeApi } from "../support/fake-kube-api.js";

const stops: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const stop of stops.splice(0)) await stop();
});

describe("Kubernetes client", () => {
  it("given a token source that changes, when two requests are made, then each carries the token current at its time", async () => {
    const k = await startFakeKubeApi({ nodes: [k8sNode("n1")] });
    stops.push(k.stop);
    let n = 0;
    const { core } = kubernetesApis({ server: k.url, token: async () => `k8s-aws-v1.token-${++n}` });
    await core.readNode({ name: "n1" });
    await core.listNode();
    expect(k.requests.map((r) => r.authorization)).toEqual(["Bearer k8s-aws-v1.token-1", "Bearer k8s-aws-v1.token-2"]);
  });

  it("given a call the API server refuses, when run through kubernetesCall, then the error names the call, the status and the server's message", async () => {
    const k = await startFakeKubeApi({});
    stops.push(k.stop);
    const { core } = kubernetesApis({ server: k.url, token: async () => "t" });
    const err = await kubernetesCall("GET node gone", () => core.readNode({ name: "gone" })).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(KubernetesApiError);
    expect((err as Error).message).toBe('Kubernetes API GET node gone: HTTP 404: nodes "gone" not found');
    expect(kubernetesStatusOf(err)).toBe(404);
  });

  it("given a patch sent with JSON_PATCH, when the API server reads it, then the Content-Type says RFC 6902 JSON Patch", async () => {
    const k = await startFakeKubeApi({ nodes: [k8sNode("n1")] });
    stops.push(k.stop);
    const { core } = kubernetesApis({ server: k.url, token: async () => "t" });
    const n = await core.patchNode({ name: "n1", body: [{ op: "add", path: "/spec/unschedulable", value: true }] }, JSON_PATCH);
    expect(n.spec?.unschedulable).toBe(true);
    expect(k.requests.at(-1)!.contentType).toBe("application/json-patch+json");
  });

  it("given an API server that never answers, when a call is made, then it fails after the deadline instead of hanging", async () => {
    const server = http.createServer(() => {}); // accepts the request, never responds
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    stops.push(async () => void server.closeAllConnections());
    stops.push(() => new Promise<void>((r) => server.close(() => r())));
    const { core } = kubernetesApis({
      server: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
      token: async () => "t",
      timeoutMs: 200,
    });
    const started = Date.now();
    const err = await kubernetesCall("GET /api/v1/nodes", () => core.listNode()).catch((e: unknown) => e);
    expect(Date.now() - started).toBeLessThan(5_000);
    expect((err as Error).message).toBe("Kubernetes API GET /api/v1/nodes: no answer within the deadline");
    expect(errorKind(err)).toBe("unavailable");
  });

  it("given nothing listens at the endpoint, when a call is made, then it is unavailable and says the connection was refused", async () => {
    const server = http.createServer();
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const { port } = server.address() as AddressInfo;
    await new Promise<void>((r) => server.close(() => r())); // the port is free again: connections are refused
    const { core } = kubernetesApis({ server: `http://127.0.0.1:${port}`, token: async () => "t" });
    const err = await kubernetesCall("GET /api/v1/nodes", () => core.listNode()).catch((e: unknown) => e);
    expect((err as Error).message).toBe("Kubernetes API GET /api/v1/nodes: ECONNREFUSED");
    expect(errorKind(err)).toBe("unavailable");
  });
});
