/**
 * @kubernetes/client-node 2 brings undici 8, which needs Node >= 22.19 (zstd in
 * zlib, worker_threads.markAsUncloneable at load time, Promise.withResolvers per request). This machine runs Node
 * 20, so the tests stub the three missing functions before the client loads —
 * neither is used on the code path under test (no zstd responses, no
 * structured cloning). Production runs on Node 22 (Lambda nodejs22.x) without
 * this; import it first in a test that loads the Kubernetes client.
 */
import zlib from "node:zlib";
import workerThreads from "node:worker_threads";

const z = zlib as unknown as Record<string, unknown> & { constants: Record<string, number> };
if (typeof z.createZstdDecompress !== "function") {
  z.createZstdDecompress = () => {
    throw new Error("zstd is not available on this Node version");
  };
  z.constants.ZSTD_d_windowLogMax ??= 100;
}
const w = workerThreads as unknown as Record<string, unknown>;
if (typeof w.markAsUncloneable !== "function") w.markAsUncloneable = () => undefined;

// Node 22's Promise.withResolvers, used by undici's request path.
const P = Promise as unknown as { withResolvers?: () => unknown };
if (typeof P.withResolvers !== "function")
  P.withResolvers = () => {
    let resolve!: (v: unknown) => void;
    let reject!: (e: unknown) => void;
    const promise = new Promise((res, rej) => ((resolve = res), (reject = rej)));
    return { promise, resolve, reject };
  };
