import {
  ApiException,
  CoreV1Api,
  CustomObjectsApi,
  KubeConfig,
  PatchStrategy,
  ServerConfiguration,
  createConfiguration,
  setHeaderOptions,
  type ConfigurationOptions,
  type User,
} from "@kubernetes/client-node";
import { UnavailableError } from "../core/errors.js";

/**
 * The one Kubernetes client of the product: `@kubernetes/client-node` (the project's official
 * JavaScript client, generated from the API server's OpenAPI), for the controller's nodes and pods
 * and the quota function's ResourceQuotas and Kueue queues alike.
 */
export interface KubernetesApis {
  core: CoreV1Api;
  customObjects: CustomObjectsApi;
}

/** An API server, the CA its certificate chains to, and where each request's bearer token comes from. */
export interface KubernetesEndpoint {
  /** `https://…` (EKS); plain `http://` only for the tests' local fake API server, which has no TLS to verify. */
  server: string;
  /** Base64 PEM, as EKS DescribeCluster returns it; absent = the system's CAs. */
  caData?: string;
  /** Called per request: an EKS token is honoured for 15 minutes and a warm Lambda container outlives it. */
  token: () => Promise<string>;
  /** Per request; a hung API server fails the call instead of the whole invocation's time budget. */
  timeoutMs?: number;
}

const TOKEN_AUTH_PROVIDER = "gpu-billing-bearer-token";

/**
 * Builds the clients from an endpoint, CA and token source — no kubeconfig file (a Lambda has
 * none). The KubeConfig carries the cluster (server, CA) and a user whose auth provider is ours:
 * `KubeConfig.addAuthenticator` is the client's hook for a token that changes over time (its
 * built-in `user.token` is fixed when the config is loaded).
 */
export function kubernetesApis(endpoint: KubernetesEndpoint): KubernetesApis {
  const kc = new KubeConfig();
  kc.addAuthenticator({
    isAuthProvider: (user: User) => user.authProvider?.name === TOKEN_AUTH_PROVIDER,
    async applyAuthentication(_user, opts) {
      opts.headers = { ...opts.headers, Authorization: `Bearer ${await endpoint.token()}` };
    },
  });
  kc.loadFromOptions({
    clusters: [{ name: "cluster", server: endpoint.server, caData: endpoint.caData, skipTLSVerify: endpoint.server.startsWith("http://") }],
    users: [{ name: "caller", authProvider: { name: TOKEN_AUTH_PROVIDER, config: {} } }],
    contexts: [{ name: "cluster", cluster: "cluster", user: "caller" }],
    currentContext: "cluster",
  });
  const timeoutMs = endpoint.timeoutMs ?? 20_000;
  // What KubeConfig.makeApiClient builds, plus a per-request deadline (fetch's AbortSignal).
  const config = createConfiguration({
    baseServer: new ServerConfiguration(endpoint.server, {}),
    authMethods: { default: kc },
    promiseMiddleware: [
      {
        pre: async (ctx) => {
          ctx.setSignal(AbortSignal.timeout(timeoutMs));
          return ctx;
        },
        post: async (res) => res,
      },
    ],
  });
  return { core: new CoreV1Api(config), customObjects: new CustomObjectsApi(config) };
}

/**
 * Request options that send a patch body as RFC 6902 JSON Patch or RFC 7386 JSON Merge Patch. The
 * API server picks the patch semantics from the Content-Type alone (Kubernetes API conventions,
 * "Patch operations"), so each call says which one it sends.
 */
export const JSON_PATCH: ConfigurationOptions = setHeaderOptions("Content-Type", PatchStrategy.JsonPatch);
export const MERGE_PATCH: ConfigurationOptions = setHeaderOptions("Content-Type", PatchStrategy.MergePatch);

/** A call the API server answered with an error status; the message names the call and carries the server's Status message. */
export class KubernetesApiError extends Error {
  constructor(
    message: string,
    readonly status: number,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = "KubernetesApiError";
  }
}

/** No answer at all: the API server refused or dropped the connection, or missed the deadline. Run again later. */
export class KubernetesUnreachableError extends UnavailableError {
  override name = "KubernetesUnreachableError";
}

/** fetch (undici) reports a failed connection as `TypeError: fetch failed` with the socket error as its cause. */
function unreachableReason(e: unknown): string | undefined {
  if (!(e instanceof Error)) return undefined;
  if (e.name === "TimeoutError") return "no answer within the deadline";
  if (e instanceof TypeError && e.message === "fetch failed") {
    const cause = e.cause as { code?: unknown; message?: unknown } | undefined;
    return String(cause?.code ?? cause?.message ?? e.message);
  }
  return undefined;
}

/**
 * Runs one call and says which call failed and why, in one line that the controller's audit log
 * and the halt reason can carry: the client's ApiException (whose message is the whole response,
 * headers included) becomes a KubernetesApiError with the server's Status message; a connection
 * that failed or timed out becomes a KubernetesUnreachableError (unavailable, like any network error).
 */
export async function kubernetesCall<T>(what: string, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (e) {
    const unreachable = unreachableReason(e);
    if (unreachable) throw new KubernetesUnreachableError(`Kubernetes API ${what}: ${unreachable}`, { cause: e });
    if (!(e instanceof ApiException)) throw e;
    throw new KubernetesApiError(`Kubernetes API ${what}: HTTP ${e.code}: ${statusMessage(e.body).slice(0, 300)}`, e.code, { cause: e });
  }
}

/** The `message` of the API server's Status object (the client hands an error body over as its raw text), else the body itself. */
function statusMessage(body: unknown): string {
  let parsed = body;
  if (typeof body === "string") {
    try {
      parsed = JSON.parse(body);
    } catch {
      return body; // not JSON: a proxy's or the mux's plain-text answer
    }
  }
  const message = (parsed as { message?: unknown } | null)?.message;
  return typeof message === "string" ? message : JSON.stringify(parsed);
}

/** The HTTP status of a failed call (404 not found, 409/422 a failed precondition), or undefined when none came back. */
export function kubernetesStatusOf(e: unknown): number | undefined {
  if (e instanceof KubernetesApiError) return e.status;
  return e instanceof ApiException ? e.code : undefined;
}
