import type { EventSink } from "../../vocabulary/events.ts";
import { errorCode } from "../../vocabulary/oci/errors.ts";
import { CLIENT_ACCEPT } from "../../vocabulary/oci/media-types.ts";
import { formatReference, type ImageRef } from "../../vocabulary/oci/reference.ts";
import type { Sim } from "../engine/sim.ts";
import {
  type InboundResponse,
  isNetworkError,
  type Outcome,
  type Transport,
} from "../engine/transport-types.ts";
import type { ContentStore } from "./content-store.ts";
import type { RuntimeModel } from "./runtimes.ts";
import { type Credentials, parseBearerChallenge, readToken, tokenRequest, Wire } from "./wire.ts";

/** One host a runtime may pull from, in the order it tries them. */
export interface HostRoute {
  host: string;
  role: "mirror" | "upstream";
  /** false: content by digest only, never asked to resolve a reference (containerd's capabilities = ["pull"]). */
  resolve?: boolean;
  /** The registry named in containerd's ?ns= on requests to this mirror (default docker.io). */
  ns?: string;
}

export interface PullClientOptions {
  actor: string;
  design: string;
  runtime: RuntimeModel;
  hosts: HostRoute[];
  credentials?: Credentials;
  egressIp: string;
  transport: Transport;
  sim: Sim;
  store: ContentStore;
  emit: EventSink;
  architecture?: string;
}

export type PullResult =
  | { ok: true; digest: string; cached: boolean; requests: number; host: string }
  | { ok: false; reason: string; status: number; code?: string; requests: number; host: string };

interface CachedToken {
  token: string;
  expiresAt: number;
}

const NO_HOST: Outcome = { status: 0, error: "refused", message: "no host to pull from" };

function codeOf(res: Outcome): string | undefined {
  return isNetworkError(res) ? undefined : errorCode(res.status, res.headers, res.body);
}

/** Why a pull failed, in the words of the layer that said no. */
export function failureReason(res: Outcome): string {
  if (isNetworkError(res)) return `network-${res.error}`;
  const code = codeOf(res);
  if (res.status === 429)
    return code === "HAP429"
      ? "abuse-limit"
      : code === "TOOMANYREQUESTS"
        ? "quota"
        : "rate-limited";
  if (res.status === 401) return "unauthorized";
  if (res.status === 403) return code === "DENIED" ? "denied" : "forbidden";
  if (res.status === 404) return "not-found";
  if (res.status >= 500) return `server-${res.status}`;
  return `http-${res.status}`;
}

/** Tokens, and what each host's ping said, for one stretch of a pull (see RuntimeModel.tokenScope). */
class AuthState {
  readonly tokens = new Map<string, CachedToken>();
  /** host -> the Bearer challenge its ping answered with ("" for none), or the failed ping. */
  readonly pings = new Map<string, { challenge: string } | { failed: Outcome }>();
}

/** Where one pull's requests go: every request tries `routes` in order. */
interface Lane {
  routes: HostRoute[];
  /** Auth for resolving the reference, and for fetching content. */
  resolve: AuthState;
  fetch: AuthState;
}

type Stage = "manifest" | "content";

type Answered =
  | { ok: true; response: InboundResponse; host: string }
  | { ok: false; response: Outcome; host: string };

type Attempt =
  | { ok: true; digest: string; cached: boolean; host: string }
  | { ok: false; response: Outcome; host: string; stage: Stage };

/**
 * The pull protocol as a runtime speaks it: token, resolve the tag (HEAD or
 * GET), index -> platform manifest -> config and layers, skipping what the
 * content store already has; hosts tried the runtime's way (per request for
 * containerd, per pull for containers/image and dockerd).
 */
export class PullClient {
  readonly options: PullClientOptions;
  /** Tokens kept across pulls (tokenScope "client"). */
  private readonly clientAuth = new AuthState();
  private readonly wire: Wire;

  constructor(options: PullClientOptions) {
    this.options = options;
    this.wire = new Wire({ ...options, emit: options.emit });
  }

  /** Pulls (or re-resolves) an image; the caller decides whether to pull at all (pull policy). */
  async pull(ref: ImageRef): Promise<PullResult> {
    this.wire.sent = 0;
    const { hosts, runtime } = this.options;
    const lanes =
      runtime.fallThroughHosts && runtime.hostFallback === "per-request"
        ? [hosts]
        : hosts.map((h) => [h]);
    let last: Attempt | undefined;
    for (const [i, routes] of lanes.entries()) {
      const result = await this.pullVia(this.lane(routes), ref);
      if (result.ok) return { ...result, requests: this.wire.sent };
      last = result;
      const more =
        runtime.fallThroughHosts &&
        i < lanes.length - 1 &&
        (runtime.hostFallback === "any-error" || result.stage === "manifest");
      if (!more) break;
    }
    const failed = last as Extract<Attempt, { ok: false }>;
    const res = failed.response;
    const code = codeOf(res);
    return {
      ok: false,
      reason: failureReason(res),
      status: res.status,
      ...(code ? { code } : {}),
      requests: this.wire.sent,
      host: failed.host,
    };
  }

  private lane(routes: HostRoute[]): Lane {
    switch (this.options.runtime.tokenScope) {
      case "client":
        return { routes, resolve: this.clientAuth, fetch: this.clientAuth };
      case "pull": {
        const auth = new AuthState();
        return { routes, resolve: auth, fetch: auth };
      }
      case "phase":
        return { routes, resolve: new AuthState(), fetch: new AuthState() };
    }
  }

  private async pullVia(lane: Lane, ref: ImageRef): Promise<Attempt> {
    const { store, runtime } = this.options;
    const scope = `repository:${ref.repository}:pull`;
    const manifests = `/v2/${ref.repository}/manifests`;
    const accept = { accept: CLIENT_ACCEPT };
    let digest = ref.digest;
    let top: InboundResponse | undefined;
    let host = lane.routes[0]?.host ?? "";
    const resolving = { ...lane, routes: lane.routes.filter((r) => r.resolve !== false) };
    if (!digest || runtime.resolveMethod === "GET") {
      // Resolve by tag (HEAD or GET), or, for GET runtimes, fetch the manifest by digest.
      const reference = digest ?? ref.tag;
      const method = digest ? "GET" : runtime.resolveMethod;
      let got = await this.request(
        resolving,
        lane.resolve,
        method,
        `${manifests}/${reference}`,
        accept,
        scope,
      );
      if (got.ok && method === "HEAD" && !got.response.headers["docker-content-digest"]) {
        const route = lane.routes.filter((r) => r.host === got.host);
        got = await this.request(
          { ...lane, routes: route },
          lane.resolve,
          "GET",
          `${manifests}/${reference}`,
          accept,
          scope,
        );
      }
      if (!got.ok) return { ...got, stage: "manifest" };
      const res = got.response;
      host = got.host;
      if (!digest) digest = res.headers["docker-content-digest"] as string;
      if (method === "GET") top = res;
    } else if (runtime.resolveDigests) {
      // containerd resolves a digest too: manifests/<digest> on every host, then blobs/<digest>.
      let got = await this.request(
        resolving,
        lane.resolve,
        "HEAD",
        `${manifests}/${digest}`,
        accept,
        scope,
      );
      if (!got.ok)
        got = await this.request(
          resolving,
          lane.resolve,
          "HEAD",
          `/v2/${ref.repository}/blobs/${digest}`,
          accept,
          scope,
        );
      if (!got.ok) return { ...got, stage: "manifest" };
      host = got.host;
    }
    const refText = formatReference(ref);
    // A top-level digest enters the store only with everything under it: the image is here.
    if (store.blobs.has(digest)) {
      store.images.set(refText, digest);
      return { ok: true, digest, cached: true, host };
    }
    if (!top) {
      const got = await this.request(
        lane,
        lane.fetch,
        "GET",
        `${manifests}/${digest}`,
        accept,
        scope,
      );
      if (!got.ok) return { ...got, stage: "content" };
      top = got.response;
    }
    let manifest = JSON.parse(top.body.toString()) as {
      mediaType?: string;
      manifests?: Array<{ digest: string; platform?: { architecture?: string } }>;
      config?: { digest: string };
      layers?: Array<{ digest: string }>;
    };
    const fetched: string[] = [digest];
    if (manifest.manifests) {
      const arch = this.options.architecture ?? "amd64";
      const entry =
        manifest.manifests.find((m) => m.platform?.architecture === arch) ?? manifest.manifests[0];
      if (!entry)
        return {
          ok: false,
          response: { status: 404, headers: {}, body: Buffer.from("no platform") },
          host,
          stage: "content",
        };
      if (!store.blobs.has(entry.digest)) {
        const got = await this.request(
          lane,
          lane.fetch,
          "GET",
          `${manifests}/${entry.digest}`,
          accept,
          scope,
        );
        if (!got.ok) return { ...got, stage: "content" };
        manifest = JSON.parse(got.response.body.toString());
      } else {
        // A stored platform manifest still has to be read: model it as known content.
        manifest = { config: { digest: "" }, layers: [] };
      }
      fetched.push(entry.digest);
    }
    const blobs = [manifest.config?.digest, ...(manifest.layers ?? []).map((l) => l.digest)].filter(
      (d): d is string => Boolean(d) && !store.blobs.has(d as string),
    );
    const failure = await this.fetchBlobs(lane, ref, blobs);
    if (failure)
      return { ok: false, response: failure.response, host: failure.host, stage: "content" };
    for (const d of [...fetched, ...blobs]) store.blobs.add(d);
    store.images.set(refText, digest);
    return { ok: true, digest, cached: false, host };
  }

  /**
   * One logical request, tried on the lane's hosts in order until one answers 2xx
   * (containerd moves on after any failure, a 404 included); the last failure otherwise.
   */
  private async request(
    lane: Lane,
    auth: AuthState,
    method: "GET" | "HEAD",
    path: string,
    headers: Record<string, string>,
    scope: string,
  ): Promise<Answered> {
    let last: Answered = { ok: false, response: NO_HOST, host: "" };
    for (const route of lane.routes) {
      const ns =
        route.role === "mirror" && this.options.runtime.mirrorNamespaceParam
          ? `?ns=${route.ns ?? "docker.io"}`
          : "";
      const response = await this.send(route.host, method, `${path}${ns}`, headers, scope, auth);
      if (!isNetworkError(response) && response.status >= 200 && response.status < 300)
        return { ok: true, response, host: route.host };
      last = { ok: false, response, host: route.host };
    }
    return last;
  }

  /** Layers with the runtime's download concurrency; dockerd retries a failed layer after 5, 10, 15, 20 s. */
  private async fetchBlobs(
    lane: Lane,
    ref: ImageRef,
    digests: string[],
  ): Promise<{ response: Outcome; host: string } | undefined> {
    const queue = [...digests];
    let failure: { response: Outcome; host: string } | undefined;
    const worker = async () => {
      for (let digest = queue.shift(); digest && !failure; digest = queue.shift()) {
        const delays = this.options.runtime.layerRetryDelaysMs;
        for (let attempt = 0; ; attempt++) {
          const got = await this.request(
            lane,
            lane.fetch,
            "GET",
            `/v2/${ref.repository}/blobs/${digest}`,
            {},
            `repository:${ref.repository}:pull`,
          );
          if (got.ok) break;
          const delay = delays[attempt];
          if (delay === undefined || this.options.sim.stopped) {
            failure = { response: got.response, host: got.host };
            break;
          }
          await this.options.sim.sleep(delay);
        }
      }
    };
    const workers = Math.min(this.options.runtime.maxConcurrentDownloads, queue.length);
    await Promise.all(Array.from({ length: workers }, worker));
    return failure;
  }

  /** One request to one host: ping and token first where the runtime does, then immediate retries and 429 back-off as the runtime does them. */
  private async send(
    host: string,
    method: "GET" | "HEAD",
    path: string,
    headers: Record<string, string>,
    scope: string,
    auth: AuthState,
  ): Promise<Outcome> {
    const { runtime } = this.options;
    if (runtime.pingFirst) {
      const ping = await this.ping(host, auth);
      if ("failed" in ping) return ping.failed;
      if (ping.challenge && !this.cachedToken(auth, host, scope))
        await this.fetchToken(auth, host, ping.challenge, scope);
    }
    return this.retrying(async () => {
      const token = this.cachedToken(auth, host, scope);
      const res = await this.exchange(
        host,
        method,
        path,
        token ? { ...headers, authorization: `Bearer ${token}` } : headers,
      );
      if (res.status === 401 && !isNetworkError(res)) {
        const challenge = res.headers["www-authenticate"] ?? "";
        const fresh = await this.fetchToken(auth, host, challenge, scope);
        if (fresh) {
          const again = await this.exchange(host, method, path, {
            ...headers,
            authorization: `Bearer ${fresh}`,
          });
          // containerd counts the challenge among the responses it retries within.
          return { res: again, responses: 2 };
        }
      }
      return { res, responses: 1 };
    });
  }

  /** containers/image's detectProperties: GET /v2/ once per host and auth state; a failure is remembered. */
  private async ping(
    host: string,
    auth: AuthState,
  ): Promise<{ challenge: string } | { failed: Outcome }> {
    const known = auth.pings.get(host);
    if (known) return known;
    const res = await this.retrying(async () => ({
      res: await this.exchange(host, "GET", "/v2/", {}),
      responses: 1,
    }));
    let result: { challenge: string } | { failed: Outcome };
    if (!isNetworkError(res) && (res.status === 200 || res.status === 401)) {
      const header = res.headers["www-authenticate"] ?? "";
      result = { challenge: /^bearer\s/i.test(header) ? header : "" };
    } else {
      // Best effort to tell a v1 registry apart before giving up on the host.
      await this.exchange(host, "GET", "/v1/_ping", {});
      result = { failed: res };
    }
    auth.pings.set(host, result);
    return result;
  }

  /** Immediate retries (containerd: 429/408 until 6 responses, a 401 challenge included) and 429 back-off (containers/image). */
  private async retrying(
    attempt: () => Promise<{ res: Outcome; responses: number }>,
  ): Promise<Outcome> {
    const { runtime, sim } = this.options;
    let responses = 0;
    let backoffAttempt = 0;
    for (;;) {
      const answered = await attempt();
      const res = answered.res;
      responses += answered.responses;
      if (
        runtime.immediateRetryStatuses.includes(res.status) &&
        responses < runtime.maxResponsesPerRequest
      )
        continue;
      const b = runtime.backoff429;
      if (b && res.status === 429 && backoffAttempt < b.attempts - 1 && !sim.stopped) {
        const retryAfter = isNetworkError(res) ? 0 : Number(res.headers["retry-after"]);
        const wait =
          b.honourRetryAfter && retryAfter > 0
            ? retryAfter * 1000
            : Math.min(b.maxMs, b.firstMs * 2 ** backoffAttempt);
        backoffAttempt++;
        await sim.sleep(wait);
        continue;
      }
      return res;
    }
  }

  private cachedToken(auth: AuthState, host: string, scope: string): string | undefined {
    const cached = auth.tokens.get(`${host}|${scope}`);
    return cached && cached.expiresAt > this.options.sim.now() ? cached.token : undefined;
  }

  /** Asks the realm of a Bearer challenge for a token (Basic with credentials); undefined when none is had. */
  private async fetchToken(
    auth: AuthState,
    host: string,
    header: string,
    scope: string,
  ): Promise<string | undefined> {
    const challenge = parseBearerChallenge(header);
    const request = challenge && tokenRequest(challenge, scope, this.options.credentials, "client");
    if (!request) return undefined;
    const got = readToken(await this.exchange(host, "GET", request.path, request.headers, "token"));
    if (!got) return undefined;
    // Refreshed a little before it expires.
    auth.tokens.set(`${host}|${scope}`, {
      token: got.token,
      expiresAt: this.options.sim.now() + got.expiresInSeconds * 1000 * 0.9,
    });
    return got.token;
  }

  private exchange(
    host: string,
    method: "GET" | "HEAD",
    path: string,
    headers: Record<string, string>,
    kind?: "token",
  ): Promise<Outcome> {
    const identity = this.options.credentials?.user ?? this.options.egressIp;
    return this.wire.exchange(host, method, path, headers, identity, kind);
  }
}
