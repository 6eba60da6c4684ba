import { decodePath, parseRoute } from "../../fake-registry/core/route.ts";
import type { EndpointKind } from "../../fake-registry/core/types.ts";
import { type EventSink, rateLimitOf } from "../engine/events.ts";
import type { Sim } from "../engine/sim.ts";
import {
  type InboundResponse,
  isNetworkError,
  type Outcome,
  type Transport,
} from "../engine/transport.ts";
import type { ContentStore } from "./content-store.ts";
import { formatReference, type ImageRef } from "./reference.ts";
import type { RuntimeModel } from "./runtimes.ts";

/** One host a runtime may pull from, in the order it tries them. */
export interface HostRoute {
  host: string;
  role: "mirror" | "upstream";
}

export interface PullClientOptions {
  actor: string;
  design: string;
  runtime: RuntimeModel;
  hosts: HostRoute[];
  credentials?: { user: string; password: string };
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

const ACCEPT = [
  "application/vnd.docker.distribution.manifest.list.v2+json",
  "application/vnd.docker.distribution.manifest.v2+json",
  "application/vnd.oci.image.index.v1+json",
  "application/vnd.oci.image.manifest.v1+json",
].join(", ");

interface CachedToken {
  token: string;
  expiresAt: number;
}

function kindOf(path: string): EndpointKind {
  const p = decodePath(path.split("?")[0] ?? "") ?? "";
  if (p === "/token") return "token";
  return p.startsWith("/v2") ? parseRoute(p).kind : "other";
}

function errorCode(res: Outcome): string | undefined {
  if (isNetworkError(res) || res.status < 400) return undefined;
  const type = res.headers["content-type"] ?? "";
  if (type.includes("json")) {
    try {
      return (JSON.parse(res.body.toString()) as { errors?: Array<{ code?: string }> }).errors?.[0]
        ?.code;
    } catch {
      return undefined;
    }
  }
  return res.body.toString().includes("HAP429")
    ? "HAP429"
    : type.includes("html")
      ? "html"
      : "text";
}

/** Why a pull failed, in the words of the layer that said no. */
export function failureReason(res: Outcome): string {
  if (isNetworkError(res)) return `network-${res.error}`;
  const code = errorCode(res);
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

/**
 * The pull protocol as a runtime speaks it: token (cached until expiry),
 * resolve the tag (HEAD or GET), index -> platform manifest -> config and
 * layers, skipping what the content store already has; hosts tried in order.
 */
export class PullClient {
  readonly options: PullClientOptions;
  private readonly tokens = new Map<string, CachedToken>();
  private requests = 0;

  constructor(options: PullClientOptions) {
    this.options = options;
  }

  /** Pulls (or re-resolves) an image; the caller decides whether to pull at all (pull policy). */
  async pull(ref: ImageRef): Promise<PullResult> {
    this.requests = 0;
    const { hosts, runtime } = this.options;
    let last: Outcome | undefined;
    let lastHost = hosts[0]?.host ?? "";
    for (const [i, route] of hosts.entries()) {
      const result = await this.pullFrom(route, ref);
      if (result.ok) return { ...result, requests: this.requests };
      last = result.response;
      lastHost = route.host;
      const fallThrough = runtime.fallThroughHosts && i < hosts.length - 1;
      if (!fallThrough) break;
    }
    const res = last as Outcome;
    const code = errorCode(res);
    return {
      ok: false,
      reason: failureReason(res),
      status: res.status,
      ...(code ? { code } : {}),
      requests: this.requests,
      host: lastHost,
    };
  }

  private async pullFrom(
    route: HostRoute,
    ref: ImageRef,
  ): Promise<
    { ok: true; digest: string; cached: boolean; host: string } | { ok: false; response: Outcome }
  > {
    const { store, runtime } = this.options;
    const scope = `repository:${ref.repository}:pull`;
    const ns = route.role === "mirror" && runtime.mirrorNamespaceParam ? "?ns=docker.io" : "";
    const base = `/v2/${ref.repository}/manifests`;
    let digest = ref.digest;
    let top: InboundResponse | undefined;
    if (!digest) {
      const method = runtime.resolveMethod;
      let res = await this.send(
        route.host,
        method,
        `${base}/${ref.tag}${ns}`,
        { accept: ACCEPT },
        scope,
      );
      if (
        !isNetworkError(res) &&
        res.status === 200 &&
        method === "HEAD" &&
        !res.headers["docker-content-digest"]
      ) {
        res = await this.send(
          route.host,
          "GET",
          `${base}/${ref.tag}${ns}`,
          { accept: ACCEPT },
          scope,
        );
      }
      if (isNetworkError(res) || res.status !== 200) return { ok: false, response: res };
      digest = res.headers["docker-content-digest"] as string;
      if (method === "GET") top = res;
    }
    const refText = formatReference(ref);
    // A top-level digest enters the store only with everything under it: the image is here.
    if (store.blobs.has(digest)) {
      store.images.set(refText, digest);
      return { ok: true, digest, cached: true, host: route.host };
    }
    if (!top) {
      const res = await this.send(
        route.host,
        "GET",
        `${base}/${digest}${ns}`,
        { accept: ACCEPT },
        scope,
      );
      if (isNetworkError(res) || res.status !== 200) return { ok: false, response: res };
      top = res;
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
        };
      if (!store.blobs.has(entry.digest)) {
        const res = await this.send(
          route.host,
          "GET",
          `${base}/${entry.digest}${ns}`,
          { accept: ACCEPT },
          scope,
        );
        if (isNetworkError(res) || res.status !== 200) return { ok: false, response: res };
        manifest = JSON.parse(res.body.toString());
      } else {
        // A stored platform manifest still has to be read: model it as known content.
        manifest = { config: { digest: "" }, layers: [] };
      }
      fetched.push(entry.digest);
    }
    const blobs = [manifest.config?.digest, ...(manifest.layers ?? []).map((l) => l.digest)].filter(
      (d): d is string => Boolean(d) && !store.blobs.has(d as string),
    );
    const failure = await this.fetchBlobs(route, ref, blobs, ns);
    if (failure) return { ok: false, response: failure };
    for (const d of [...fetched, ...blobs]) store.blobs.add(d);
    store.images.set(refText, digest);
    return { ok: true, digest, cached: false, host: route.host };
  }

  /** Layers with the runtime's download concurrency; dockerd retries a failed layer after 5, 10, 15, 20 s. */
  private async fetchBlobs(
    route: HostRoute,
    ref: ImageRef,
    digests: string[],
    ns: string,
  ): Promise<Outcome | undefined> {
    const queue = [...digests];
    let failure: Outcome | undefined;
    const worker = async () => {
      for (let digest = queue.shift(); digest && !failure; digest = queue.shift()) {
        const delays = this.options.runtime.layerRetryDelaysMs;
        for (let attempt = 0; ; attempt++) {
          const res = await this.send(
            route.host,
            "GET",
            `/v2/${ref.repository}/blobs/${digest}${ns}`,
            {},
            `repository:${ref.repository}:pull`,
          );
          if (res.status === 200) break;
          const delay = delays[attempt];
          if (delay === undefined || this.options.sim.stopped) {
            failure = res;
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

  /** One logical request: bearer token flow, immediate retries and 429 back-off as the runtime does them. */
  private async send(
    host: string,
    method: "GET" | "HEAD",
    path: string,
    headers: Record<string, string>,
    scope: string,
  ): Promise<Outcome> {
    const { runtime, sim } = this.options;
    let responses = 0;
    let backoffAttempt = 0;
    for (;;) {
      const token = this.cachedToken(host, scope);
      let res = await this.exchange(
        host,
        method,
        path,
        token ? { ...headers, authorization: `Bearer ${token}` } : headers,
      );
      if (res.status === 401) {
        const fresh = await this.fetchToken(host, res, scope);
        if (fresh)
          res = await this.exchange(host, method, path, {
            ...headers,
            authorization: `Bearer ${fresh}`,
          });
      }
      responses++;
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

  private cachedToken(host: string, scope: string): string | undefined {
    const cached = this.tokens.get(`${host}|${scope}`);
    return cached && cached.expiresAt > this.options.sim.now() ? cached.token : undefined;
  }

  private async fetchToken(
    host: string,
    challenge: Outcome,
    scope: string,
  ): Promise<string | undefined> {
    if (isNetworkError(challenge)) return undefined;
    const header = challenge.headers["www-authenticate"] ?? "";
    const realm = /realm="([^"]+)"/.exec(header)?.[1];
    const service = /service="([^"]+)"/.exec(header)?.[1];
    if (!realm || !header.startsWith("Bearer")) return undefined;
    let path: string;
    try {
      path = new URL(realm).pathname;
    } catch {
      return undefined;
    }
    const query = new URLSearchParams();
    if (service) query.set("service", service);
    query.set("scope", /scope="([^"]+)"/.exec(header)?.[1] ?? scope);
    const creds = this.options.credentials;
    const headers: Record<string, string> = creds
      ? {
          authorization: `Basic ${Buffer.from(`${creds.user}:${creds.password}`).toString("base64")}`,
        }
      : {};
    const res = await this.exchange(host, "GET", `${path}?${query}`, headers);
    if (res.status !== 200) return undefined;
    const body = JSON.parse(res.body.toString()) as {
      token?: string;
      access_token?: string;
      expires_in?: number;
    };
    const token = body.token ?? body.access_token;
    if (!token) return undefined;
    this.tokens.set(`${host}|${scope}`, {
      token,
      expiresAt: this.options.sim.now() + (body.expires_in ?? 60) * 1000 * 0.9,
    });
    return token;
  }

  private async exchange(
    host: string,
    method: "GET" | "HEAD",
    path: string,
    headers: Record<string, string>,
  ): Promise<Outcome> {
    const { sim, transport, egressIp, emit } = this.options;
    const started = performance.now();
    const res = await sim.trackCall(() =>
      transport.send({ host, method, path, headers }, egressIp),
    );
    this.requests++;
    const code = errorCode(res);
    const rateLimit = isNetworkError(res) ? undefined : rateLimitOf(res.headers);
    emit({
      type: "request",
      t: sim.now() / 1000,
      design: this.options.design,
      actor: this.options.actor,
      identity: this.options.credentials?.user ?? egressIp,
      egressIp,
      host,
      kind: kindOf(path),
      method,
      status: res.status,
      bytes: isNetworkError(res) ? 0 : res.body.length,
      latencyMs: Math.round((performance.now() - started) * 10) / 10,
      ...(isNetworkError(res) ? { network: res.error } : {}),
      ...(code ? { code } : {}),
      ...(rateLimit ? { rateLimit } : {}),
      ...(!isNetworkError(res) && res.headers["pullstorm-refusal"]
        ? { refusal: res.headers["pullstorm-refusal"] }
        : {}),
    });
    return res;
  }
}
