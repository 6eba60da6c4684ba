// @ts-check
/// <reference types="k6" />
/**
 * pullstorm's k6 runtime: the body of every script `pullstorm k6 export` writes.
 * The export puts the design's plan (simulator/k6/plan.ts) in place of the
 * marked JSON.parse below; everything else is this file as it stands, plain
 * JavaScript for k6, type-checked against @types/k6 by `tsc --noEmit`.
 *
 * Each VU is a node, a CI runner or a desktop with its own content store. The
 * pull client is simulator/client/pull-client.ts method for method, driven by
 * the runtime models in the plan (bearer tokens from the WWW-Authenticate
 * challenge, kept per phase, pull or client; tag resolved with HEAD or GET;
 * index -> platform manifest -> config and layers, skipping blobs the store
 * holds; the runtime's retries and host fallback); test/k6-runtime.test.ts
 * holds the two together. Nodes run kubelet as simulator/actors/kubelet.ts does
 * (pull policy, serialized pulls, registryPullQPS, per-pod backoff 10 s
 * doubling to 300 s on 10-15 s resyncs). Time is the scenario's, compressed by
 * the plan's time scale (the registry must run on the same one).
 *
 * What the report needs leaves as k6 samples (`--out json=...`):
 *  - http_reqs, tagged design, kind, identity, egress, host (metadata rq, actor);
 *  - pullstorm_response_bytes: what came back (metadata rq, code, refusal, rate limit);
 *  - pullstorm_pull_seconds and pullstorm_start_seconds: pulls and unit starts;
 *  - pullstorm_t0 (setup): the wall time of simulated t=0.
 */
import encoding from "k6/encoding";
import exec from "k6/execution";
import http from "k6/http";
import { Counter, Gauge, Rate, Trend } from "k6/metrics";
import { setTimeout } from "k6/timers";

/** @typedef {import("./plan.ts").K6Plan} Plan */
/** @typedef {import("./plan.ts").PlanRef} Ref */
/** @typedef {import("./plan.ts").PlanContent} Content */
/** @typedef {import("./plan.ts").NodeUnit} NodeUnit */
/** @typedef {import("./plan.ts").PodSpec} PodSpec */
/** @typedef {import("./plan.ts").PlanGroup} Group */
/** @typedef {import("../client/runtimes.ts").RuntimeModel} RuntimeModel */
/** @typedef {import("../client/pull-client.ts").HostRoute} HostRoute */
/** @typedef {{ user: string, password: string }} Credentials */
/**
 * One answer, as the client models see it (status 0: no answer, see `network`).
 * @typedef {{ status: number, headers: Record<string, string>, text: string, bytes: number, network?: string }} Answer
 */
/**
 * @typedef {{ ok: true, digest: string, cached: boolean, requests: number, host: string }
 *   | { ok: false, reason: string, status: number, code?: string, requests: number, host: string }} PullResult
 */

/** @type {Plan} */
const PLAN = JSON.parse("__PULLSTORM_PLAN__");

export const options = PLAN.options;

const SCALE = PLAN.timeScale;
/** @type {Record<string, string>} */
const BASES = {
  registry: trimSlash(__ENV.PULLSTORM_REGISTRY || PLAN.hosts.registry),
  mirror: trimSlash(__ENV.PULLSTORM_MIRROR || PLAN.hosts.mirror || ""),
};
const ACCEPT = [
  "application/vnd.docker.distribution.manifest.list.v2+json",
  "application/vnd.docker.distribution.manifest.v2+json",
  "application/vnd.oci.image.index.v1+json",
  "application/vnd.oci.image.manifest.v1+json",
].join(", ");
const ARCHITECTURE = "amd64";

const responseBytes = new Counter("pullstorm_response_bytes");
const pullSeconds = new Trend("pullstorm_pull_seconds");
const startSeconds = new Trend("pullstorm_start_seconds");
const pullsFailed = new Counter("pullstorm_pulls_failed");
const breaks = new Counter("pullstorm_breaks");
const unitsStarted = new Rate("pullstorm_units_started");
const timeZero = new Gauge("pullstorm_t0");

/** @param {string} url */
function trimSlash(url) {
  return url.replace(/\/+$/, "");
}

// ---------------------------------------------------------------- time

/** Wall ms (epoch) of simulated t=0, from setup(). */
let T0 = Date.now();

/** Simulated ms since the scenario start. */
function now() {
  return (Date.now() - T0) * SCALE;
}

function stopped() {
  return now() >= PLAN.durationMs;
}

/**
 * Sleeps simulated ms, never past the scenario's end (where every sleeper wakes, as LiveSim.stop does).
 * @param {number} ms
 * @returns {Promise<void>}
 */
function sleep(ms) {
  const wallMs = Math.max(0, Math.min(ms, PLAN.durationMs - now())) / SCALE;
  return new Promise((resolve) => {
    setTimeout(resolve, wallMs);
  });
}

/** @param {number} atMs */
function sleepUntil(atMs) {
  return sleep(atMs - now());
}

/** mulberry32, as simulator/engine/sim.ts; seeded per VU. */
let randomState = 0;
function random() {
  randomState = (randomState + 0x6d2b79f5) >>> 0;
  let t = randomState;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}

/** @param {unknown} data */
function begin(data) {
  const t0 = /** @type {{ t0?: number } | undefined} */ (data)?.t0;
  if (typeof t0 === "number" && t0 > 0) T0 = t0;
  if (randomState === 0) randomState = (PLAN.seed * 7919 + exec.vu.idInTest) >>> 0 || 1;
}

// ---------------------------------------------------------------- identity and samples

/**
 * This VU's source address: k6 hands `--local-ips` out by VU number within the
 * instance. Without them, PULLSTORM_EGRESS names it (a k6-operator runner's pod IP).
 */
function egressOfVu() {
  const raw = /** @type {{ localIPs?: string | null }} */ (exec.test.options).localIPs;
  if (!raw) return __ENV.PULLSTORM_EGRESS || "127.0.0.1";
  /** @type {Array<{ first: number, count: number }>} */
  const blocks = [];
  for (const part of raw.split(",")) {
    const text = part.trim();
    if (text.includes("/")) {
      const [ip = "", bits = "32"] = text.split("/");
      const size = 2 ** (32 - Number(bits));
      const base = ipNumber(ip) - (ipNumber(ip) % size);
      blocks.push(size > 2 ? { first: base + 1, count: size - 2 } : { first: base, count: size });
    } else if (text.includes("-")) {
      const [a = "", b = ""] = text.split("-");
      blocks.push({ first: ipNumber(a), count: ipNumber(b) - ipNumber(a) + 1 });
    } else blocks.push({ first: ipNumber(text), count: 1 });
  }
  const total = blocks.reduce((n, b) => n + b.count, 0);
  let index = (exec.vu.idInInstance - 1) % total;
  for (const b of blocks) {
    if (index < b.count) return ipText(b.first + index);
    index -= b.count;
  }
  return "127.0.0.1";
}

/** @param {string} ip */
function ipNumber(ip) {
  return ip.split(".").reduce((n, o) => n * 256 + Number(o), 0);
}

/** @param {number} n */
function ipText(n) {
  return [24, 16, 8, 0].map((s) => Math.floor(n / 2 ** s) % 256).join(".");
}

/** @type {string | undefined} */
let egressMemo;
/** This VU's egress address (exec.test is only readable once VU code runs). */
function egress() {
  if (egressMemo === undefined) egressMemo = egressOfVu();
  return egressMemo;
}

/**
 * Runs `fn` with VU metadata set: every sample it emits (an HTTP request is
 * tagged when it is made, so asyncRequest is covered) carries it.
 * @template T
 * @param {Record<string, string | number | undefined>} meta
 * @param {() => T} fn
 * @returns {T}
 */
function withMeta(meta, fn) {
  const md = exec.vu.metrics.metadata;
  const keys = Object.keys(meta).filter((k) => meta[k] !== undefined);
  for (const k of keys) md[k] = /** @type {string | number} */ (meta[k]);
  try {
    return fn();
  } finally {
    for (const k of keys) delete md[k];
  }
}

/**
 * @param {{ actor: string, identity: string, image: string, outcome: string, reason?: string,
 *   status?: number, host?: string, durationSeconds: number, requests: number }} p
 */
function recordPull(p) {
  /** @type {Record<string, string>} */
  const tags = { identity: p.identity, image: p.image, outcome: p.outcome };
  if (p.reason) tags.reason = p.reason;
  if (p.host) tags.host = p.host;
  withMeta({ actor: p.actor, status: p.status, requests: p.requests }, () => {
    pullSeconds.add(p.durationSeconds, tags);
    if (p.outcome === "failed") {
      pullsFailed.add(1);
      breaks.add(1);
    }
  });
}

/**
 * @param {{ actor: string, what: "pod" | "job" | "desktop", id: string, ok: boolean, seconds: number }} s
 */
function recordStart(s) {
  withMeta({ actor: s.actor, id: s.id }, () => {
    startSeconds.add(s.seconds, { what: s.what, ok: String(s.ok) });
    unitsStarted.add(s.ok, { what: s.what });
    if (!s.ok) breaks.add(1);
  });
}

// ---------------------------------------------------------------- answers

/** @param {number} code @param {string} message */
function networkKind(code, message) {
  if (code === 1050 || code === 1211 || /timeout|deadline/i.test(message)) return "timeout";
  if (code === 1212 || /refused/i.test(message)) return "refused";
  if (code === 1201 || code === 1220 || /reset|EOF|broken pipe/i.test(message)) return "reset";
  return "error";
}

/** @param {ArrayBuffer} buffer */
function asciiOf(buffer) {
  const bytes = new Uint8Array(buffer);
  let text = "";
  for (let i = 0; i < bytes.length && i < 4096; i++) text += String.fromCharCode(bytes[i] ?? 0);
  return text;
}

/** The error code from an OCI body, or HAP429/html/text for other shapes (as pull-client.ts). @param {Answer} res */
function errorCode(res) {
  if (res.status === 0 || res.status < 400) return undefined;
  const type = res.headers["content-type"] ?? "";
  if (type.includes("json")) {
    try {
      return JSON.parse(res.text).errors?.[0]?.code;
    } catch {
      return undefined;
    }
  }
  return res.text.includes("HAP429") ? "HAP429" : type.includes("html") ? "html" : "text";
}

/** Why a pull failed, in the words of the layer that said no. @param {Answer} res */
function failureReason(res) {
  if (res.status === 0) return `network-${res.network}`;
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

/** `ratelimit-limit: 100;w=21600` and friends, as one metadata value. @param {Record<string, string>} h */
function rateLimitOf(h) {
  const limit = /^(\d+);w=(\d+)/.exec(h["ratelimit-limit"] ?? "");
  const remaining = /^(\d+)/.exec(h["ratelimit-remaining"] ?? "");
  if (!limit || !remaining) return undefined;
  return [limit[1], remaining[1], limit[2], h["docker-ratelimit-source"] ?? ""].join(";");
}

// ---------------------------------------------------------------- content store

class Store {
  constructor() {
    /** @type {Set<string>} */
    this.blobs = new Set();
    /** reference text -> top-level manifest digest @type {Map<string, string>} */
    this.images = new Map();
  }
  /** @param {string} ref */
  hasImage(ref) {
    return this.images.has(ref);
  }
  clear() {
    this.blobs.clear();
    this.images.clear();
  }
  /** @param {Content[]} contents */
  seed(contents) {
    for (const c of contents) {
      for (const b of c.blobs) this.blobs.add(b);
      this.images.set(c.ref, c.digest);
    }
  }
}

// ---------------------------------------------------------------- pull client

/** What a request path addresses (fake-registry/core/route.ts, for the paths a client sends). @param {string} path */
function kindOf(path) {
  const p = path.split("?")[0] ?? "";
  if (p === "/token") return "token";
  if (!p.startsWith("/v2")) return "other";
  if (p === "/v2" || p === "/v2/") return "ping";
  if (/^\/v2\/.+\/blobs\/uploads(\/.*)?$/.test(p)) return "push";
  if (/^\/v2\/.*\/manifests\/[^/]+$/.test(p)) return "manifest";
  if (/^\/v2\/.*\/blobs\/[^/]+$/.test(p)) return "blob";
  if (/^\/v2\/.*\/tags\/list$/.test(p)) return "tags";
  return "other";
}

/** @type {Answer} */
const NO_HOST = { status: 0, headers: {}, text: "", bytes: 0, network: "refused" };

/** Tokens, and what each host's ping said, for one stretch of a pull (RuntimeModel.tokenScope). */
class AuthState {
  constructor() {
    /** @type {Map<string, { token: string, expiresAt: number }>} */
    this.tokens = new Map();
    /** host -> the Bearer challenge its ping answered with ("" for none), or the failed ping. @type {Map<string, { challenge: string } | { failed: Answer }>} */
    this.pings = new Map();
  }
}

/**
 * Where one pull's requests go: every request tries `routes` in order.
 * @typedef {{ routes: HostRoute[], resolve: AuthState, fetch: AuthState }} Lane
 * @typedef {{ ok: true, response: Answer, host: string } | { ok: false, response: Answer, host: string }} Answered
 * @typedef {{ ok: true, digest: string, cached: boolean, host: string }
 *   | { ok: false, response: Answer, host: string, stage: "manifest" | "content" }} Attempt
 */

let requestSeq = 0;

/**
 * The pull protocol as a runtime speaks it (simulator/client/pull-client.ts, method for
 * method): token, resolve the tag (HEAD or GET), index -> platform manifest -> config and
 * layers, skipping what the content store already has; hosts tried the runtime's way.
 */
class PullClient {
  /**
   * @param {{ actor: string, runtime: RuntimeModel, routes: HostRoute[],
   *   credentials?: Credentials, store: Store }} o
   */
  constructor(o) {
    this.o = o;
    /** Tokens kept across pulls (tokenScope "client"). */
    this.clientAuth = new AuthState();
    this.requests = 0;
    this.identity = o.credentials ? o.credentials.user : egress();
  }

  /** @param {Ref} ref @returns {Promise<PullResult>} */
  async pull(ref) {
    this.requests = 0;
    const { routes, runtime } = this.o;
    const lanes =
      runtime.fallThroughHosts && runtime.hostFallback === "per-request"
        ? [routes]
        : routes.map((h) => [h]);
    /** @type {Attempt | undefined} */
    let last;
    for (let i = 0; i < lanes.length; i++) {
      const result = await this.pullVia(this.lane(/** @type {HostRoute[]} */ (lanes[i])), ref);
      if (result.ok) return { ...result, requests: this.requests };
      last = result;
      const more =
        runtime.fallThroughHosts &&
        i < lanes.length - 1 &&
        (runtime.hostFallback === "any-error" || result.stage === "manifest");
      if (!more) break;
    }
    const failed = /** @type {Extract<Attempt, { ok: false }>} */ (last);
    const res = failed.response;
    const code = errorCode(res);
    return {
      ok: false,
      reason: failureReason(res),
      status: res.status,
      ...(code ? { code } : {}),
      requests: this.requests,
      host: failed.host,
    };
  }

  /** @param {HostRoute[]} routes @returns {Lane} */
  lane(routes) {
    switch (this.o.runtime.tokenScope) {
      case "client":
        return { routes, resolve: this.clientAuth, fetch: this.clientAuth };
      case "pull": {
        const auth = new AuthState();
        return { routes, resolve: auth, fetch: auth };
      }
      default:
        return { routes, resolve: new AuthState(), fetch: new AuthState() };
    }
  }

  /** @param {Lane} lane @param {Ref} ref @returns {Promise<Attempt>} */
  async pullVia(lane, ref) {
    const { store, runtime } = this.o;
    const scope = `repository:${ref.repository}:pull`;
    const manifests = `/v2/${ref.repository}/manifests`;
    const accept = { accept: ACCEPT };
    let digest = ref.digest;
    /** @type {Answer | undefined} */
    let top;
    let host = lane.routes[0]?.host ?? "";
    if (!digest || runtime.resolveMethod === "GET") {
      // Resolve by tag (HEAD or GET), or, for GET runtimes, fetch the manifest by digest.
      const reference = digest ?? ref.tag;
      const method = digest ? "GET" : runtime.resolveMethod;
      let got = await this.request(
        lane,
        lane.resolve,
        method,
        `${manifests}/${reference}`,
        accept,
        scope,
      );
      if (got.ok && method === "HEAD" && !got.response.headers["docker-content-digest"]) {
        const answered = got.host;
        const route = lane.routes.filter((r) => r.host === answered);
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
      if (!digest) digest = /** @type {string} */ (res.headers["docker-content-digest"]);
      if (method === "GET") top = res;
    } else if (runtime.resolveDigests) {
      // containerd resolves a digest too: manifests/<digest> on every host, then blobs/<digest>.
      let got = await this.request(
        lane,
        lane.resolve,
        "HEAD",
        `${manifests}/${digest}`,
        accept,
        scope,
      );
      if (!got.ok)
        got = await this.request(
          lane,
          lane.resolve,
          "HEAD",
          `/v2/${ref.repository}/blobs/${digest}`,
          accept,
          scope,
        );
      if (!got.ok) return { ...got, stage: "manifest" };
      host = got.host;
    }
    // A top-level digest enters the store only with everything under it: the image is here.
    if (store.blobs.has(digest)) {
      store.images.set(ref.text, digest);
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
    /** @type {{ manifests?: Array<{ digest: string, platform?: { architecture?: string } }>,
     *   config?: { digest: string }, layers?: Array<{ digest: string }> }} */
    let manifest = JSON.parse(top.text);
    const fetched = [digest];
    if (manifest.manifests) {
      const entry =
        manifest.manifests.find((m) => m.platform?.architecture === ARCHITECTURE) ??
        manifest.manifests[0];
      if (!entry)
        return {
          ok: false,
          response: { status: 404, headers: {}, text: "no platform", bytes: 0 },
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
        manifest = JSON.parse(got.response.text);
      } else {
        // A stored platform manifest still has to be read: model it as known content.
        manifest = { config: { digest: "" }, layers: [] };
      }
      fetched.push(entry.digest);
    }
    const blobs = [
      manifest.config?.digest ?? "",
      ...(manifest.layers ?? []).map((l) => l.digest),
    ].filter((d) => d !== "" && !store.blobs.has(d));
    const failure = await this.fetchBlobs(lane, ref, blobs);
    if (failure)
      return { ok: false, response: failure.response, host: failure.host, stage: "content" };
    for (const d of [...fetched, ...blobs]) store.blobs.add(d);
    store.images.set(ref.text, digest);
    return { ok: true, digest, cached: false, host };
  }

  /**
   * One logical request, tried on the lane's hosts in order until one answers 2xx
   * (containerd moves on after any failure, a 404 included); the last failure otherwise.
   * @param {Lane} lane @param {AuthState} auth @param {"GET" | "HEAD"} method @param {string} path
   * @param {Record<string, string>} headers @param {string} scope
   * @returns {Promise<Answered>}
   */
  async request(lane, auth, method, path, headers, scope) {
    /** @type {Answered} */
    let last = { ok: false, response: NO_HOST, host: "" };
    for (const route of lane.routes) {
      const ns =
        route.role === "mirror" && this.o.runtime.mirrorNamespaceParam ? "?ns=docker.io" : "";
      const response = await this.send(route.host, method, `${path}${ns}`, headers, scope, auth);
      if (response.status >= 200 && response.status < 300)
        return { ok: true, response, host: route.host };
      last = { ok: false, response, host: route.host };
    }
    return last;
  }

  /**
   * Layers with the runtime's download concurrency; dockerd retries a failed layer after 5, 10, 15, 20 s.
   * @param {Lane} lane @param {Ref} ref @param {string[]} digests
   * @returns {Promise<{ response: Answer, host: string } | undefined>}
   */
  async fetchBlobs(lane, ref, digests) {
    const queue = [...digests];
    /** @type {{ response: Answer, host: string } | undefined} */
    let failure;
    const worker = async () => {
      for (let digest = queue.shift(); digest && !failure; digest = queue.shift()) {
        const delays = this.o.runtime.layerRetryDelaysMs;
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
          if (delay === undefined || stopped()) {
            failure = { response: got.response, host: got.host };
            break;
          }
          await sleep(delay);
        }
      }
    };
    const workers = Math.min(this.o.runtime.maxConcurrentDownloads, queue.length);
    await Promise.all(Array.from({ length: workers }, worker));
    return failure;
  }

  /**
   * One request to one host: ping and token first where the runtime does, then immediate
   * retries and 429 back-off as the runtime does them.
   * @param {string} host @param {"GET" | "HEAD"} method @param {string} path
   * @param {Record<string, string>} headers @param {string} scope @param {AuthState} auth
   * @returns {Promise<Answer>}
   */
  async send(host, method, path, headers, scope, auth) {
    if (this.o.runtime.pingFirst) {
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
      if (res.status === 401) {
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

  /**
   * containers/image's detectProperties: GET /v2/ once per host and auth state; a failure is remembered.
   * @param {string} host @param {AuthState} auth
   * @returns {Promise<{ challenge: string } | { failed: Answer }>}
   */
  async ping(host, auth) {
    const known = auth.pings.get(host);
    if (known) return known;
    const res = await this.retrying(async () => ({
      res: await this.exchange(host, "GET", "/v2/", {}),
      responses: 1,
    }));
    /** @type {{ challenge: string } | { failed: Answer }} */
    let result;
    if (res.status === 200 || res.status === 401) {
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

  /**
   * Immediate retries (containerd: 429/408 until 6 responses, a 401 challenge included) and
   * 429 back-off (containers/image).
   * @param {() => Promise<{ res: Answer, responses: number }>} attempt
   * @returns {Promise<Answer>}
   */
  async retrying(attempt) {
    const { runtime } = this.o;
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
      if (b && res.status === 429 && backoffAttempt < b.attempts - 1 && !stopped()) {
        const retryAfter = Number(res.headers["retry-after"]);
        const wait =
          b.honourRetryAfter && retryAfter > 0
            ? retryAfter * 1000
            : Math.min(b.maxMs, b.firstMs * 2 ** backoffAttempt);
        backoffAttempt++;
        await sleep(wait);
        continue;
      }
      return res;
    }
  }

  /** @param {AuthState} auth @param {string} host @param {string} scope */
  cachedToken(auth, host, scope) {
    const cached = auth.tokens.get(`${host}|${scope}`);
    return cached && cached.expiresAt > now() ? cached.token : undefined;
  }

  /**
   * Asks the realm of a Bearer challenge for a token (Basic with credentials); undefined when none is had.
   * @param {AuthState} auth @param {string} host @param {string} header @param {string} scope
   * @returns {Promise<string | undefined>}
   */
  async fetchToken(auth, host, header, scope) {
    const realm = /realm="([^"]+)"/.exec(header)?.[1];
    const service = /service="([^"]+)"/.exec(header)?.[1];
    if (!realm || !/^bearer\s/i.test(header)) return undefined;
    const path = /^[a-z][a-z0-9+.-]*:\/\/[^/?#]*(\/[^?#]*)?/i.exec(realm);
    if (!path) return undefined;
    const query = [];
    if (service) query.push(`service=${encodeURIComponent(service)}`);
    query.push(`scope=${encodeURIComponent(/scope="([^"]+)"/.exec(header)?.[1] ?? scope)}`);
    const creds = this.o.credentials;
    /** @type {Record<string, string>} */
    const headers = creds
      ? { authorization: `Basic ${encoding.b64encode(`${creds.user}:${creds.password}`)}` }
      : {};
    const res = await this.exchange(host, "GET", `${path[1] || "/"}?${query.join("&")}`, headers);
    if (res.status !== 200) return undefined;
    /** @type {{ token?: string, access_token?: string, expires_in?: number }} */
    let body;
    try {
      body = JSON.parse(res.text);
    } catch {
      return undefined;
    }
    const token = body.token ?? body.access_token;
    if (!token) return undefined;
    auth.tokens.set(`${host}|${scope}`, {
      token,
      expiresAt: now() + (body.expires_in ?? 60) * 1000 * 0.9,
    });
    return token;
  }

  /**
   * One HTTP exchange from this VU's egress address, tagged for the report.
   * @param {string} host @param {"GET" | "HEAD"} method @param {string} path
   * @param {Record<string, string>} headers
   * @returns {Promise<Answer>}
   */
  async exchange(host, method, path, headers) {
    const kind = kindOf(path);
    const rq = `${exec.vu.idInTest}.${++requestSeq}`;
    const tags = {
      kind,
      identity: this.identity,
      egress: egress(),
      host,
      name: `${host} ${kind}`,
    };
    /** @type {"none" | "binary" | "text"} */
    const responseType = method === "HEAD" ? "none" : kind === "blob" ? "binary" : "text";
    const base = BASES[host] ?? "";
    const res = await withMeta({ rq, actor: this.o.actor }, () =>
      http.asyncRequest(method, `${base}${path}`, null, {
        headers,
        tags,
        redirects: 0,
        timeout: "30s",
        responseType,
      }),
    );
    this.requests++;
    /** @type {Record<string, string>} */
    const lower = {};
    for (const [k, v] of Object.entries(res.headers ?? {})) lower[k.toLowerCase()] = String(v);
    const body = /** @type {unknown} */ (res.body);
    const binary = body instanceof ArrayBuffer ? body : undefined;
    /** @type {Answer} */
    const answer = {
      status: res.status,
      headers: lower,
      text: typeof body === "string" ? body : binary && res.status >= 400 ? asciiOf(binary) : "",
      bytes: typeof body === "string" ? body.length : binary ? binary.byteLength : 0,
    };
    if (res.status === 0) answer.network = networkKind(res.error_code, res.error);
    withMeta(
      {
        rq,
        code: errorCode(answer),
        refusal: lower["pullstorm-refusal"],
        network: answer.network,
        ratelimit: rateLimitOf(lower),
        latency: Math.round(res.timings.duration * 10) / 10,
      },
      () => responseBytes.add(answer.bytes, { kind, host }),
    );
    return answer;
  }
}

/**
 * @param {PullClient} client @param {string} actor @param {Ref} ref
 * @returns {Promise<PullResult>}
 */
async function pullAndRecord(client, actor, ref) {
  const started = now();
  const result = await client.pull(ref);
  recordPull({
    actor,
    identity: client.identity,
    image: ref.text,
    outcome: result.ok ? (result.cached ? "cached" : "ok") : "failed",
    ...(result.ok ? {} : { reason: result.reason, status: result.status, host: result.host }),
    durationSeconds: (now() - started) / 1000,
    requests: result.requests,
  });
  return result;
}

/** Credentials for an actor: none, the shared account, or its own. @param {string} actor */
function credentialsFor(actor) {
  if (PLAN.auth.mode === "anonymous") return undefined;
  return {
    user: PLAN.auth.mode === "shared-account" ? "shared" : actor,
    password: PLAN.auth.password,
  };
}

/**
 * @param {string} actor @param {import("./plan.ts").RuntimeName} runtime @param {Store} store
 */
function clientFor(actor, runtime, store) {
  const credentials = credentialsFor(actor);
  return new PullClient({
    actor,
    runtime: PLAN.runtimes[runtime],
    routes: PLAN.routes[runtime],
    store,
    ...(credentials ? { credentials } : {}),
  });
}

// ---------------------------------------------------------------- kubelet

/**
 * @typedef {{ id: string, image: string, ref: Ref, policy: "Always" | "IfNotPresent",
 *   createdAt: number, current: boolean }} Pod
 */

/** A Kubernetes node: kubelet's image manager over one runtime and content store (kubelet.ts). */
class KubeletNode {
  /** @param {NodeUnit} unit */
  constructor(unit) {
    this.name = unit.name;
    this.store = new Store();
    this.store.seed(unit.warm);
    this.client = clientFor(unit.name, PLAN.nodeRuntime, this.store);
    /** @type {Map<string, Pod>} */
    this.pods = new Map();
    this.alive = true;
    this.podSeq = 0;
    this.running = 0;
    /** @type {Array<() => void>} */
    this.waiting = [];
    this.tokens = PLAN.kubelet.registryBurst;
    this.lastRefill = now();
    /** @type {Set<Promise<void>>} */
    this.work = new Set();
  }

  /** @param {Promise<void>} p */
  track(p) {
    this.work.add(p);
    const done = () => {
      this.work.delete(p);
    };
    p.then(done, done);
  }

  /** @param {PodSpec} spec */
  startPod(spec) {
    if (!this.alive) return;
    /** @type {Pod} */
    const pod = {
      id: `${this.name}/pod-${++this.podSeq}`,
      image: spec.image,
      ref: spec.ref,
      policy: spec.policy,
      createdAt: now(),
      current: true,
    };
    this.pods.set(pod.id, pod);
    this.track(this.podWorker(pod));
  }

  /** A rolling restart: the image's pods are replaced by new ones (new UIDs, fresh backoff). @param {PodSpec} spec */
  restartPods(spec) {
    const old = [...this.pods.values()].filter((p) => p.image === spec.image && p.current);
    for (const p of old) {
      p.current = false;
      this.pods.delete(p.id);
    }
    for (let i = 0; i < Math.max(1, old.length); i++) this.startPod(spec);
  }

  /** Pulls an image ahead of need (a pre-pull DaemonSet), without a pod. @param {Ref} ref */
  prePull(ref) {
    if (!this.alive || this.store.hasImage(ref.text)) return;
    this.track(pullAndRecord(this.client, `${this.name}/pre-pull`, ref).then(() => undefined));
  }

  remove() {
    this.alive = false;
    for (const p of this.pods.values()) p.current = false;
  }

  /** Pods still waiting at the end of the scenario, reported as not started. */
  finish() {
    for (const p of this.pods.values()) {
      if (!p.current) continue;
      recordStart({
        actor: this.name,
        what: "pod",
        id: p.id,
        ok: false,
        seconds: (now() - p.createdAt) / 1000,
      });
    }
    this.pods.clear();
  }

  /** @param {Pod} pod */
  async podWorker(pod) {
    const k = PLAN.kubelet;
    let backoff = 0;
    while (this.alive && pod.current && !stopped()) {
      const ok = await this.ensureImage(pod);
      if (!pod.current) return;
      if (ok) {
        pod.current = false;
        this.pods.delete(pod.id);
        recordStart({
          actor: this.name,
          what: "pod",
          id: pod.id,
          ok: true,
          seconds: (now() - pod.createdAt) / 1000,
        });
        return;
      }
      // ErrImagePull -> ImagePullBackOff: retried on the first resync after the backoff expires.
      backoff = backoff === 0 ? k.backoffInitialMs : Math.min(backoff * 2, k.backoffMaxMs);
      const retryAt = now() + backoff;
      do {
        await sleep(k.resyncMs * (1 + k.resyncJitter * random()));
      } while (now() < retryAt && this.alive && pod.current && !stopped());
    }
  }

  /** @param {Pod} pod */
  async ensureImage(pod) {
    if (pod.policy === "IfNotPresent" && this.store.hasImage(pod.ref.text)) return true;
    if (!this.takeQpsToken()) {
      recordPull({
        actor: this.name,
        identity: this.client.identity,
        image: pod.ref.text,
        outcome: "failed",
        reason: "qps",
        durationSeconds: 0,
        requests: 0,
      });
      return false;
    }
    await this.acquire();
    try {
      if (pod.policy === "IfNotPresent" && this.store.hasImage(pod.ref.text)) return true;
      return (await pullAndRecord(this.client, this.name, pod.ref)).ok;
    } finally {
      this.release();
    }
  }

  /** registryPullQPS / registryBurst: a token bucket checked without waiting. */
  takeQpsToken() {
    const k = PLAN.kubelet;
    const t = now();
    this.tokens = Math.min(
      k.registryBurst,
      this.tokens + ((t - this.lastRefill) / 1000) * k.registryPullQPS,
    );
    this.lastRefill = t;
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }

  /** serializeImagePulls: one pull at a time unless maxParallelImagePulls >= 2. @returns {Promise<void>} */
  acquire() {
    if (this.running < PLAN.maxParallelImagePulls) {
      this.running++;
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      this.waiting.push(resolve);
    });
  }

  release() {
    const next = this.waiting.shift();
    if (next) next();
    else this.running--;
  }
}

// ---------------------------------------------------------------- setup and the VU functions

/**
 * Fixes simulated t=0 for every VU: the wall time the embedded registry's clock
 * was started at (PULLSTORM_SYNC_URL, served by `pullstorm run --engine k6` and
 * `pullstorm k6 serve`; the first instance to ask starts it), else now.
 */
export function setup() {
  let t0 = Date.now();
  const sync = __ENV.PULLSTORM_SYNC_URL;
  if (sync) {
    const res = http.post(sync, null, { tags: { kind: "sync" }, responseType: "text" });
    const anchored = Number(res.body);
    if (res.status !== 200 || !(anchored > 0))
      throw new Error(`pullstorm: ${sync} answered ${res.status}: cannot start the clock`);
    t0 = anchored;
  }
  timeZero.add(t0, { scale: String(SCALE) });
  return { t0 };
}

/** @param {string} kind */
function groupOf(kind) {
  const group = PLAN.groups[exec.scenario.name];
  if (!group || group.kind !== kind)
    throw new Error(`pullstorm: k6 scenario ${exec.scenario.name} is not a ${kind} group`);
  return group;
}

/** A node's life: its actions at their times, its pods until they start, the node goes or the scenario ends. */
export async function node(/** @type {unknown} */ data) {
  begin(data);
  const group = /** @type {Extract<Group, { kind: "nodes" }>} */ (groupOf("nodes"));
  const unit = group.nodes[exec.scenario.iterationInTest];
  if (!unit) return;
  const kubelet = new KubeletNode(unit);
  for (const action of unit.actions) {
    await sleepUntil(action.atMs);
    if (stopped()) break;
    if (action.op === "pods") for (const pod of action.pods) kubelet.startPod(pod);
    else if (action.op === "restart") kubelet.restartPods(action.pod);
    else if (action.op === "prune") kubelet.store.clear();
    else if (action.op === "prepull") kubelet.prePull(action.ref);
    else if (action.op === "remove") kubelet.remove();
  }
  while (kubelet.work.size > 0) await Promise.all([...kubelet.work]);
  kubelet.finish();
}

/** @type {Store | undefined} */
let runnerStore;

/** One queued CI job on this VU (a runner): pulls in order, fails at the first failed pull. */
export async function ciJob(/** @type {unknown} */ data) {
  begin(data);
  const group = /** @type {Extract<Group, { kind: "ci" }>} */ (groupOf("ci"));
  const i = exec.scenario.iterationInTest;
  if (i >= group.jobs) return;
  const index = group.firstJob + i;
  const id = `job-${index + 1}`;
  const queuedAt = group.atMs + (group.overMs > 0 ? (i * group.overMs) / group.jobs : 0);
  await sleepUntil(queuedAt);
  if (stopped()) {
    recordStart({ actor: "queue", what: "job", id, ok: false, seconds: (now() - queuedAt) / 1000 });
    return;
  }
  if (!runnerStore) runnerStore = new Store();
  if (PLAN.ephemeralRunners) runnerStore.clear();
  const client = clientFor(id, PLAN.ciRuntime, runnerStore);
  let ok = true;
  for (const ref of group.refs) {
    if (!(await pullAndRecord(client, id, ref)).ok) {
      ok = false;
      break;
    }
  }
  const runner = `runner-${exec.vu.idInTest}`;
  recordStart({ actor: runner, what: "job", id, ok, seconds: (now() - queuedAt) / 1000 });
}

/** A developer arriving: Docker with a warm cache pulling the step's images. */
export async function desktop(/** @type {unknown} */ data) {
  begin(data);
  const group = /** @type {Extract<Group, { kind: "arrivals" }>} */ (groupOf("arrivals"));
  const i = exec.scenario.iterationInTest;
  if (i >= group.desktops) return;
  const name = `desktop-${group.firstDesktop + i + 1}`;
  await sleepUntil(group.atMs + (group.overMs > 0 ? (i * group.overMs) / group.desktops : 0));
  if (stopped()) return;
  const store = new Store();
  store.seed(PLAN.desktopWarm);
  const client = clientFor(name, "dockerd", store);
  const arrived = now();
  let ok = true;
  for (const ref of group.refs) if (!(await pullAndRecord(client, name, ref)).ok) ok = false;
  recordStart({ actor: name, what: "desktop", id: name, ok, seconds: (now() - arrived) / 1000 });
}

/** The only scenario of a design whose workload pulls nothing. */
export function idle() {}
