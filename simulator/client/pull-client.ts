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
import { type RuntimeModel, runtimeSession } from "./runtimes.ts";
import { AuthState, outcomeOf, RegistryClient, Session } from "./session.ts";
import type { Credentials } from "./wire.ts";

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

/** Where one pull's requests go: every request tries `routes` in order. */
interface Lane {
  routes: HostRoute[];
  /** Auth (tokens, what each host's ping said) for resolving, and for fetching (RuntimeModel.tokenScope). */
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

/** What an actor pulls with: one client, or one per registry and credentials (RoutedPuller). */
export interface Puller {
  pull(ref: ImageRef): Promise<PullResult>;
  /** Who the registry counts a pull of `ref` against: the account's name, or the egress address. */
  identity(ref: ImageRef): string;
}

/**
 * An actor's pull clients, one per way an image is pulled (its registry, the
 * credentials its pods use: `wayOf`), each made on first use by `make`: a runtime
 * keeps auth per registry, and kubelet passes each pod's pull secrets with its pull.
 */
export class RoutedPuller implements Puller {
  private readonly clients = new Map<string, PullClient>();
  private readonly wayOf: (ref: ImageRef) => string;
  private readonly make: (ref: ImageRef) => PullClient;

  /** `first`: a reference whose client is made at once (the actor's usual way). */
  constructor(
    wayOf: (ref: ImageRef) => string,
    make: (ref: ImageRef) => PullClient,
    first?: ImageRef,
  ) {
    this.wayOf = wayOf;
    this.make = make;
    if (first) this.clientFor(first);
  }

  private clientFor(ref: ImageRef): PullClient {
    const way = this.wayOf(ref);
    let client = this.clients.get(way);
    if (!client) {
      client = this.make(ref);
      this.clients.set(way, client);
    }
    return client;
  }

  pull(ref: ImageRef): Promise<PullResult> {
    return this.clientFor(ref).pull(ref);
  }

  identity(ref: ImageRef): string {
    return this.clientFor(ref).identity(ref);
  }
}

/**
 * The pull protocol as a runtime speaks it: token, resolve the tag (HEAD or
 * GET), index -> platform manifest -> config and layers, skipping what the
 * content store already has; hosts tried the runtime's way (per request for
 * containerd, per pull for containers/image and dockerd).
 */
export class PullClient implements Puller {
  readonly options: PullClientOptions;
  /** Tokens kept across pulls (tokenScope "client"). */
  private readonly clientAuth = new AuthState();
  /** Sends each request the runtime's way (session.ts). */
  private readonly client: RegistryClient;

  constructor(options: PullClientOptions) {
    this.options = options;
    this.client = new RegistryClient({ ...options, quirks: runtimeSession(options.runtime) });
  }

  identity(_ref?: ImageRef): string {
    return this.options.credentials?.user ?? this.options.egressIp;
  }

  /** Pulls (or re-resolves) an image; the caller decides whether to pull at all (pull policy). */
  async pull(ref: ImageRef): Promise<PullResult> {
    this.client.wire.sent = 0;
    const { hosts, runtime } = this.options;
    const lanes =
      runtime.fallThroughHosts && runtime.hostFallback === "per-request"
        ? [hosts]
        : hosts.map((h) => [h]);
    let last: Attempt | undefined;
    for (const [i, routes] of lanes.entries()) {
      const result = await this.pullVia(this.lane(routes), ref);
      if (result.ok) return { ...result, requests: this.client.wire.sent };
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
      requests: this.client.wire.sent,
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
    // A top-level digest enters the store only with everything under it: the image is here
    // (containers/image reads its platform manifest and config again all the same).
    const stored = store.hasBlob(digest);
    const reread = stored && runtime.rereadsStoredImage;
    if (stored && !reread) {
      store.setImage(refText, digest);
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
      if (reread || !store.hasBlob(entry.digest)) {
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
    const config = manifest.config?.digest;
    const blobs = [config, ...(manifest.layers ?? []).map((l) => l.digest)].filter(
      (d): d is string => Boolean(d) && ((reread && d === config) || !store.hasBlob(d as string)),
    );
    const failure = await this.fetchBlobs(lane, ref, blobs);
    if (failure)
      return { ok: false, response: failure.response, host: failure.host, stage: "content" };
    for (const d of [...fetched, ...blobs]) store.addBlob(d);
    store.setImage(refText, digest);
    return { ok: true, digest, cached: stored, host };
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
      const session = new Session(this.client, auth, route.host, scope);
      const response = outcomeOf(await session.send(method, `${path}${ns}`, headers));
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
}
