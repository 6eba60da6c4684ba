import type { SessionQuirks } from "./session.ts";

/**
 * How each container runtime pulls (../shared/FACTS.md): which request resolves
 * a tag, what it retries, how mirrors are tried. Numbers as data. containerd and
 * cri-o (containers/image, as skopeo and podman) are held against the real programs by
 * test/real/calibration.test.ts (docs/calibration.md). Below them, how each
 * runtime sends one authenticated request (`runtimeSession`) and how a
 * pull-through mirror sends its upstream requests (`MIRROR_PROXY_SESSIONS`):
 * the quirks of the one sender in session.ts.
 */
export interface RuntimeModel {
  name: "containerd" | "dockerd" | "cri-o";
  /** containerd resolves with HEAD (GET only without a digest header); dockerd with GET. */
  resolveMethod: "HEAD" | "GET";
  /** Responses (429/408) retried at once on the same host: containerd stops after 6 responses. */
  immediateRetryStatuses: number[];
  maxResponsesPerRequest: number;
  /** A status >= 400 from a host moves to the next host (containerd); dockerd falls back to Hub on any mirror error. */
  fallThroughHosts: boolean;
  maxConcurrentDownloads: number;
  /** Waits before retrying a failed layer (dockerd: 5, 10, 15, 20 s). */
  layerRetryDelaysMs: number[];
  /** Honour Retry-After and back off on 429 (containers/image: 2 s doubling to 60 s, 5 attempts). */
  backoff429?: { attempts: number; firstMs: number; maxMs: number; honourRetryAfter: boolean };
  /** containerd adds ?ns=<registry> on requests to mirrors. */
  mirrorNamespaceParam: boolean;
  /**
   * How hosts share a pull (when `fallThroughHosts`):
   * "per-request": every request tries the hosts in order (containerd's resolver and fetcher);
   * "manifest": the first host whose top-level manifest answers serves the whole pull, and a
   * later failure fails the pull (containers/image picks its pull source that way);
   * "any-error": any failure moves the whole pull to the next host (dockerd's endpoints).
   */
  hostFallback: "per-request" | "manifest" | "any-error";
  /** A pull by digest is resolved too: HEAD manifests/<digest> (then blobs/<digest>) before the GET (containerd). */
  resolveDigests: boolean;
  /**
   * GET /v2/ on a host before its first request of a pull, and a token before the first
   * request when the answer was a Bearer challenge; a ping answered with anything but
   * 200/401 fails that host after a GET /v1/_ping (containers/image's detectProperties).
   */
  pingFirst: boolean;
  /**
   * How long a token is kept: "phase": containerd's resolve and fetch each build their own
   * authorizer (a token each); "pull": one per pull (and host); "client": until it expires.
   */
  tokenScope: "phase" | "pull" | "client";
  /**
   * An image already in the node's store is copied again all the same: its platform
   * manifest and config are read from the registry, only layers are reused
   * (containers/image into containers/storage, as CRI-O and podman pull: measured with
   * podman, docs/calibration.md). false: a stored top-level digest ends the pull.
   */
  rereadsStoredImage: boolean;
}

export const RUNTIMES: Record<RuntimeModel["name"], RuntimeModel> = {
  containerd: {
    name: "containerd",
    resolveMethod: "HEAD",
    immediateRetryStatuses: [429, 408],
    maxResponsesPerRequest: 6,
    fallThroughHosts: true,
    maxConcurrentDownloads: 3,
    layerRetryDelaysMs: [],
    mirrorNamespaceParam: true,
    hostFallback: "per-request",
    resolveDigests: true,
    pingFirst: false,
    tokenScope: "phase",
    rereadsStoredImage: false,
  },
  dockerd: {
    name: "dockerd",
    resolveMethod: "GET",
    immediateRetryStatuses: [],
    maxResponsesPerRequest: 1,
    fallThroughHosts: true,
    maxConcurrentDownloads: 3,
    layerRetryDelaysMs: [5000, 10_000, 15_000, 20_000],
    mirrorNamespaceParam: false,
    // Not calibrated (no dockerd here): kept as it was modelled before.
    hostFallback: "any-error",
    resolveDigests: false,
    pingFirst: false,
    tokenScope: "client",
    rereadsStoredImage: false,
  },
  "cri-o": {
    name: "cri-o",
    resolveMethod: "GET",
    immediateRetryStatuses: [],
    maxResponsesPerRequest: 1,
    fallThroughHosts: true,
    maxConcurrentDownloads: 3,
    layerRetryDelaysMs: [],
    backoff429: { attempts: 5, firstMs: 2000, maxMs: 60_000, honourRetryAfter: true },
    mirrorNamespaceParam: false,
    hostFallback: "manifest",
    resolveDigests: false,
    pingFirst: true,
    tokenScope: "pull",
    rereadsStoredImage: true,
  },
};

/**
 * How a runtime sends one request (session.ts): the runtimes' own switches above, and
 * what they all do alike: tokens asked for the way clients ask (service and scope),
 * kept per host and scope until a little before they expire, a failed token request
 * leaving the request to go without one, every request counted as the account.
 */
export function runtimeSession(runtime: RuntimeModel): SessionQuirks {
  return {
    ping: runtime.pingFirst ? "once" : "never",
    tokenStyle: "client",
    keepTokens: 0.9,
    holdToken: false,
    forgetRefusedToken: false,
    tokenFailure: "send-without",
    countedAs: "account",
    retry: {
      immediateStatuses: runtime.immediateRetryStatuses,
      maxResponses: runtime.maxResponsesPerRequest,
      ...(runtime.backoff429 ? { backoff429: runtime.backoff429 } : {}),
    },
  };
}

/**
 * A pull-through mirror as a client of its upstream (session.ts), per product:
 * the token asked for the way distribution's proxy asks (the realm's query kept,
 * `account` named), one token per client request held for the rest of it, a 401
 * dropping the kept token, a failed ping or token request failing the request
 * (the mirror answers the client with it), a request counted as the mirror's
 * account only when it carries authorization, no retries.
 */
const MIRROR_PROXY: SessionQuirks = {
  ping: "until-challenge",
  tokenStyle: "proxy",
  keepTokens: 0,
  holdToken: true,
  forgetRefusedToken: true,
  tokenFailure: "fails-request",
  countedAs: "authorized",
};

export const MIRROR_PROXY_SESSIONS: Record<"distribution" | "harbor", SessionQuirks> = {
  /**
   * distribution's registry/proxy: tryEstablishChallenges pings the upstream until it
   * has seen a challenge, then a token before each request; a token handler per
   * repository access, so a new token for every client request that goes upstream.
   */
  distribution: MIRROR_PROXY,
  /** Harbor: send, and on a 401 get a token and send again; one token per scope, kept until `expires_in` passes. */
  harbor: { ...MIRROR_PROXY, ping: "never", keepTokens: 1 },
};
