import { createHash } from "node:crypto";
import { ociError } from "../../fake-registry/core/errors.ts";
import { acceptedTypes } from "../../fake-registry/core/negotiate.ts";
import type {
  EndpointKind,
  RegistryRequest,
  RegistryResponse,
} from "../../fake-registry/core/types.ts";
import type { EventSink, MirrorEvent } from "../../vocabulary/events.ts";
import { MEDIA } from "../../vocabulary/oci/media-types.ts";
import { checkDigest, checkName, isTag, looksLikeDigest } from "../../vocabulary/oci/names.ts";
import { decodePath, parseRoute } from "../../vocabulary/oci/route.ts";
import type { Sim } from "../engine/sim.ts";
import { type InProcessHandler, isNetworkError } from "../engine/transport.ts";
import { BlobStore, ManifestStore, type StoredManifest } from "./cache.ts";
import { FLAVOURS, type FlavourProfile, type MirrorFlavour } from "./flavours.ts";
import {
  awaitShared,
  type Session,
  succeeded,
  Upstream,
  type UpstreamAnswer,
  type UpstreamTarget,
} from "./upstream.ts";

export type { MirrorFlavour } from "./flavours.ts";
export type { UpstreamTarget } from "./upstream.ts";

export interface MirrorModelOptions {
  upstream: UpstreamTarget;
  flavour: MirrorFlavour;
  sim: Sim;
  /** Capacity of the blob cache in bytes (least recently used evicted first); unlimited by default. */
  cacheBytes?: number;
  /** Slow storage: added to every read from the cache (simulated ms). */
  storageLatencyMs?: number;
  /** Overrides the flavour's cache lifetime (simulated ms; Infinity: never expires). */
  ttlMs?: number;
  emit?: EventSink;
  /** The design name events carry. */
  design?: string;
}

type Outcome = MirrorEvent["outcome"];

/** The answer to one client request plus what the MirrorEvent says about it. */
interface Served {
  response: RegistryResponse;
  outcome?: Outcome;
  upstreamStatus?: number;
}

const API_VERSION = { "docker-distribution-api-version": "registry/2.0" };

/**
 * The Accept list distribution's client sends upstream whatever the client
 * asked (distribution.ManifestMediaTypes()): the mirror always fetches the
 * index and picks a platform manifest itself when the client takes no index.
 */
const UPSTREAM_ACCEPT = [
  MEDIA.dockerManifest,
  MEDIA.dockerList,
  MEDIA.ociManifest,
  MEDIA.ociIndex,
  "application/vnd.docker.distribution.manifest.v1+prettyjws",
  "application/json",
].join(", ");

const INDEX_TYPES = new Set<string>([MEDIA.dockerList, MEDIA.ociIndex]);

/**
 * A pull-through mirror as the simulator sees it: answers client requests
 * in-process (or over HTTP with `serveMirror`), reaching the origin through a
 * Transport the way the chosen product does. What each flavour does, and the
 * sources, are in ./flavours.ts and docs/mirror-model.md.
 */
export class MirrorModel implements InProcessHandler {
  readonly flavour: MirrorFlavour;
  readonly profile: FlavourProfile;
  readonly blobs: BlobStore;
  readonly manifests: ManifestStore;
  private readonly upstream: Upstream;
  private readonly sim: Sim;
  private readonly storageLatencyMs: number;
  private readonly emit: EventSink | undefined;
  private readonly design: string;
  /** distribution's process-wide `inflight` map: digests being copied to storage. */
  private readonly storing = new Set<string>();
  /** Harbor's singleflight groups. */
  private readonly flights = new Map<string, Promise<unknown>>();

  constructor(options: MirrorModelOptions) {
    this.flavour = options.flavour;
    const profile = FLAVOURS[options.flavour];
    if (!profile) throw new Error(`unknown mirror flavour "${options.flavour}"`);
    this.profile = profile;
    this.sim = options.sim;
    this.storageLatencyMs = options.storageLatencyMs ?? 0;
    this.emit = options.emit;
    this.design = options.design ?? "mirror";
    const lifetime = { ttlMs: options.ttlMs ?? profile.ttlMs, from: profile.ttlFrom };
    this.blobs = new BlobStore(options.cacheBytes ?? Number.POSITIVE_INFINITY, lifetime);
    this.manifests = new ManifestStore(lifetime);
    this.upstream = new Upstream({
      target: options.upstream,
      sim: options.sim,
      profile,
      design: this.design,
      ...(options.emit ? { emit: options.emit } : {}),
    });
  }

  /**
   * The start-up ping distribution does (it refuses to start when the upstream
   * is unreachable). Optional: scenarios that count every upstream request call it.
   */
  async start(): Promise<void> {
    if (this.profile.auth !== "ping-first") return;
    const outcome = await this.upstream.ping();
    if (isNetworkError(outcome))
      throw new Error(
        `mirror upstream ${this.upstream.target.host} unreachable: ${outcome.message}`,
      );
  }

  async handle(
    req: RegistryRequest,
    _client: { ip: string },
  ): Promise<{ response: RegistryResponse; kind: EndpointKind }> {
    const { kind, served } = await this.dispatch(req);
    Object.assign(served.response.headers, API_VERSION);
    if (served.outcome && this.emit) {
      this.emit({
        type: "mirror",
        t: this.sim.now() / 1000,
        design: this.design,
        kind,
        outcome: served.outcome,
        ...(served.upstreamStatus !== undefined ? { upstreamStatus: served.upstreamStatus } : {}),
      });
    }
    return { response: served.response, kind };
  }

  private async dispatch(req: RegistryRequest): Promise<{ kind: EndpointKind; served: Served }> {
    const path = decodePath(req.path);
    if (path === undefined)
      return other(ociError("NAME_INVALID", "malformed percent-encoding in path"));
    if (path !== "/v2" && !path.startsWith("/v2/"))
      return other(ociError("UNSUPPORTED", "not an OCI distribution endpoint", { status: 404 }));
    const route = parseRoute(path);
    const read = req.method === "GET" || req.method === "HEAD";
    if (route.kind === "push" || !read) {
      // distribution's proxy refuses every write the same way.
      const kind = route.kind === "other" ? "other" : route.kind;
      return {
        kind,
        served: { response: ociError("UNSUPPORTED", "The operation is unsupported.") },
      };
    }
    const head = req.method === "HEAD";
    switch (route.kind) {
      case "ping":
        return {
          kind: "ping",
          served: {
            response: {
              status: 200,
              headers: { "content-type": "application/json; charset=utf-8", "content-length": "2" },
              body: head ? undefined : "{}",
            },
          },
        };
      case "other":
        return other(ociError("UNSUPPORTED", route.reason, { status: 404 }));
      case "tags": {
        if (!checkName(route.name).ok) return invalidName("tags");
        return { kind: "tags", served: await this.tags(route.name) };
      }
      case "manifest": {
        if (!checkName(route.name).ok) return invalidName("manifest");
        const ref = route.reference;
        if (looksLikeDigest(ref)) {
          if (!checkDigest(ref).ok) return invalidDigest("manifest");
          const session = this.upstream.session(route.name);
          return {
            kind: "manifest",
            served: await this.manifestByDigest(session, route.name, ref, req.headers.accept, head),
          };
        }
        if (!isTag(ref))
          return {
            kind: "manifest",
            served: {
              response: ociError("MANIFEST_UNKNOWN", "manifest unknown", { detail: { Tag: ref } }),
            },
          };
        const session = this.upstream.session(route.name);
        return {
          kind: "manifest",
          served: await this.manifestByTag(session, route.name, ref, req.headers.accept, head),
        };
      }
      case "blob": {
        if (!checkName(route.name).ok) return invalidName("blob");
        if (!checkDigest(route.digest).ok) return invalidDigest("blob");
        const session = this.upstream.session(route.name);
        return { kind: "blob", served: await this.blob(session, route.name, route.digest, head) };
      }
    }
  }

  // --- manifests -----------------------------------------------------------

  /**
   * By tag: always ask upstream which digest the tag has now (HEAD; distribution
   * retries a failed HEAD as GET), then serve that digest from the cache, or
   * fetch it by tag. When the check fails, the tag's last known digest (stale).
   */
  private async manifestByTag(
    session: Session,
    name: string,
    tag: string,
    accept: string | undefined,
    head: boolean,
  ): Promise<Served> {
    const check = await this.checkTag(session, name, tag);
    let digest: string;
    let outcome: Outcome;
    if ("digest" in check) {
      digest = check.digest;
      outcome = "revalidated";
      // distribution's tag service records the link before the manifest is fetched.
      this.manifests.tag(name, tag, digest);
    } else {
      const failed = check.failed;
      const local = this.manifests.tagged(name, tag);
      // distribution falls back to its local tag whatever went wrong (even a 404);
      // Harbor only on a rate limit, and forgets a tag upstream says is gone.
      const rateLimited = failed.stage === "request" && failed.status === 429;
      const staleAllowed = this.profile.staleOn === "any-failure" || rateLimited;
      if (check.notFound && this.profile.staleOn === "rate-limit") this.manifests.untag(name, tag);
      if (!local || !staleAllowed) {
        return {
          response: this.tagError(failed, tag),
          outcome: "error",
          upstreamStatus: failed.status,
        };
      }
      digest = local;
      outcome = "stale";
    }
    const upstreamStatus = "digest" in check ? check.status : check.failed.status;
    const cached = this.manifests.get(name, digest, this.sim.now());
    if (cached) {
      await this.readStorage();
      return this.serveManifest(session, name, cached, accept, head, outcome, upstreamStatus);
    }
    // Not in the cache: distribution fetches it by tag (the handler passes WithTag), Harbor too.
    const fetched = await this.fetchManifest(session, name, tag);
    if ("failed" in fetched)
      return {
        response: this.upstreamError(fetched.failed, "manifest"),
        outcome: "error",
        upstreamStatus: fetched.failed.status,
      };
    this.manifests.tag(name, tag, fetched.manifest.digest);
    return this.serveManifest(session, name, fetched.manifest, accept, head, "miss", 200);
  }

  /** The tag's digest upstream now, or why it could not be had. */
  private async checkTag(
    session: Session,
    name: string,
    tag: string,
  ): Promise<{ digest: string; status: number } | { failed: UpstreamAnswer; notFound: boolean }> {
    const path = `/v2/${name}/manifests/${tag}`;
    // One tryEstablishChallenges for the tag check, HEAD and GET fallback alike.
    const pinged = await session.establish();
    if (pinged) return { failed: pinged, notFound: false };
    const headResult = await this.once(`head:${name}:${tag}`, () =>
      session.send("HEAD", path, { accept: UPSTREAM_ACCEPT }),
    );
    const headDigest = headResult.headers["docker-content-digest"];
    if (
      headResult.stage === "request" &&
      headResult.status >= 200 &&
      headResult.status < 400 &&
      headDigest
    )
      return { digest: headDigest, status: headResult.status };
    // Only an HTTP answer is retried as GET; a transport or auth failure is final.
    if (this.profile.headFallbackGet && headResult.stage === "request" && headResult.status > 0) {
      const getResult = await session.send("GET", path, { accept: UPSTREAM_ACCEPT });
      if (getResult.stage === "request" && getResult.status >= 200 && getResult.status < 400) {
        const digest = getResult.headers["docker-content-digest"] ?? sha256(getResult.body);
        return { digest, status: getResult.status };
      }
      return { failed: getResult, notFound: isNotFound(getResult) };
    }
    return { failed: headResult, notFound: isNotFound(headResult) };
  }

  private async manifestByDigest(
    session: Session,
    name: string,
    digest: string,
    accept: string | undefined,
    head: boolean,
  ): Promise<Served> {
    const cached = this.manifests.get(name, digest, this.sim.now());
    if (cached) {
      await this.readStorage();
      return this.serveManifest(session, name, cached, accept, head, "hit", undefined);
    }
    const fetched = await this.fetchManifest(session, name, digest);
    if ("failed" in fetched)
      return {
        response: this.upstreamError(fetched.failed, "manifest"),
        outcome: "error",
        upstreamStatus: fetched.failed.status,
      };
    return this.serveManifest(session, name, fetched.manifest, accept, head, "miss", 200);
  }

  /** Upstream GET of a manifest (by tag or digest), stored by the digest of its bytes. */
  private async fetchManifest(
    session: Session,
    name: string,
    reference: string,
  ): Promise<{ manifest: StoredManifest } | { failed: UpstreamAnswer }> {
    const pinged = await session.establish();
    if (pinged) return { failed: pinged };
    const result = await this.once(`manifest:${name}:${reference}`, () =>
      session.send("GET", `/v2/${name}/manifests/${reference}`, { accept: UPSTREAM_ACCEPT }),
    );
    if (!succeeded(result)) return { failed: result };
    const manifest: StoredManifest = {
      digest: sha256(result.body),
      mediaType: result.headers["content-type"] ?? mediaTypeOf(result.body),
      bytes: result.body,
    };
    this.manifests.put(name, manifest, this.sim.now());
    return { manifest };
  }

  /**
   * Answers with a stored manifest. A client that takes no index gets the
   * linux/amd64 manifest the mirror picks from a Docker manifest list (fetched
   * by digest if not cached), as distribution's manifest handler does; an OCI
   * index such a client cannot take is a 404.
   */
  private async serveManifest(
    session: Session,
    name: string,
    manifest: StoredManifest,
    accept: string | undefined,
    head: boolean,
    outcome: Outcome,
    upstreamStatus: number | undefined,
  ): Promise<Served> {
    const accepted = acceptedTypes(accept);
    const picky = accepted.size > 0 && !accepted.has("*/*");
    if (picky && INDEX_TYPES.has(manifest.mediaType) && !accepted.has(manifest.mediaType)) {
      if (manifest.mediaType === MEDIA.ociIndex)
        return {
          response: ociError(
            "MANIFEST_UNKNOWN",
            "OCI index found, but accept header does not support OCI indexes",
          ),
          outcome,
          ...(upstreamStatus !== undefined ? { upstreamStatus } : {}),
        };
      const platform = amd64Manifest(manifest.bytes);
      if (!platform)
        return {
          response: ociError("MANIFEST_UNKNOWN", "manifest unknown"),
          outcome,
          ...(upstreamStatus !== undefined ? { upstreamStatus } : {}),
        };
      const inner = await this.manifestByDigest(session, name, platform, undefined, head);
      const worse = inner.outcome === "miss" || inner.outcome === "error";
      return {
        ...inner,
        outcome: worse ? (inner.outcome as Outcome) : outcome,
        ...(worse ? {} : upstreamStatus !== undefined ? { upstreamStatus } : {}),
      };
    }
    return {
      response: {
        status: 200,
        headers: {
          "content-type": manifest.mediaType,
          "content-length": String(manifest.bytes.length),
          "docker-content-digest": manifest.digest,
          etag: `"${manifest.digest}"`,
        },
        body: head ? undefined : manifest.bytes,
      },
      outcome,
      ...(upstreamStatus !== undefined ? { upstreamStatus } : {}),
    };
  }

  // --- blobs ---------------------------------------------------------------

  private async blob(
    session: Session,
    name: string,
    digest: string,
    head: boolean,
  ): Promise<Served> {
    const cached = this.blobs.get(name, digest, this.sim.now());
    if (cached) {
      await this.readStorage();
      return { response: blobResponse(digest, cached, head), outcome: "hit" };
    }
    if (head && !this.profile.blobHeadFetches) {
      const result = await this.once(`blob-head:${name}:${digest}`, () =>
        session.send("HEAD", `/v2/${name}/blobs/${digest}`),
      );
      if (!succeeded(result))
        return {
          response: this.upstreamError(result, "blob", digest),
          outcome: "error",
          upstreamStatus: result.status,
        };
      const length = result.headers["content-length"] ?? "0";
      return {
        response: { status: 200, headers: { ...blobHeaders(digest), "content-length": length } },
        outcome: "miss",
        upstreamStatus: result.status,
      };
    }
    return this.profile.dedupe
      ? this.blobThroughStorage(session, name, digest, head)
      : this.blobStreamed(session, name, digest, head);
  }

  /**
   * distribution: Stat upstream (the blob handler), look in storage again, then
   * stream to the client (ServeBlob); the first request for a digest also copies
   * it to storage (2.8: a second upstream GET, in a goroutine that establishes
   * the challenge again; 3.x: the same GET teed). Requests arriving while that
   * copy runs only stream. With an upstream that never challenges, each of
   * these steps pings first (seen with docker-registry 2.8.2: three pings per miss).
   */
  private async blobStreamed(
    session: Session,
    name: string,
    digest: string,
    head: boolean,
  ): Promise<Served> {
    const path = `/v2/${name}/blobs/${digest}`;
    const failedWith = (answer: UpstreamAnswer): Served => ({
      response: this.upstreamError(answer, "blob", digest),
      outcome: "error",
      upstreamStatus: answer.status,
    });
    if (this.profile.blobStat) {
      const pinged = await session.establish();
      if (pinged) return failedWith(pinged);
      const stat = await session.send("HEAD", path);
      if (!succeeded(stat)) return failedWith(stat);
      // ServeBlob looks in storage first: a copy that finished meanwhile is served from there.
      const stored = this.blobs.get(name, digest, this.sim.now());
      if (stored) {
        await this.readStorage();
        return { response: blobResponse(digest, stored, head), outcome: "hit" };
      }
    }
    const pinged = await session.establish();
    if (pinged) return failedWith(pinged);
    const storer = !this.storing.has(digest);
    if (storer) this.storing.add(digest);
    try {
      const copies = storer && this.profile.blobGetsPerMiss === 2 ? 2 : 1;
      const results = await Promise.all(
        Array.from({ length: copies }, async (_, i) => {
          if (i === 1) {
            const again = await session.establish();
            if (again) return again;
          }
          return session.send("GET", path);
        }),
      );
      const toClient = results[0] as UpstreamAnswer;
      const toStorage = results[copies - 1] as UpstreamAnswer;
      if (storer && succeeded(toStorage))
        this.blobs.put(name, digest, toStorage.body, this.sim.now());
      if (!succeeded(toClient))
        return {
          response: this.upstreamError(toClient, "blob", digest),
          outcome: "error",
          upstreamStatus: toClient.status,
        };
      return {
        response: blobResponse(digest, toClient.body, head),
        outcome: "miss",
        upstreamStatus: toClient.status,
      };
    } finally {
      if (storer) this.storing.delete(digest);
    }
  }

  /** Harbor (proxyBlobSync): one shared upstream GET into storage, then every waiter reads storage. */
  private async blobThroughStorage(
    session: Session,
    name: string,
    digest: string,
    head: boolean,
  ): Promise<Served> {
    const result = await this.once(`blob:${name}:${digest}`, async () => {
      const got = await session.send("GET", `/v2/${name}/blobs/${digest}`);
      if (succeeded(got)) this.blobs.put(name, digest, got.body, this.sim.now());
      return got;
    });
    if (!succeeded(result))
      return {
        response: this.upstreamError(result, "blob", digest),
        outcome: "error",
        upstreamStatus: result.status,
      };
    await this.readStorage();
    return {
      response: blobResponse(digest, result.body, head),
      outcome: "miss",
      upstreamStatus: result.status,
    };
  }

  // --- tags ----------------------------------------------------------------

  /** Proxied upstream; when that fails, the tags known locally (distribution's proxyTagService.All). */
  private async tags(name: string): Promise<Served> {
    const session = this.upstream.session(name);
    const result =
      (await session.establish()) ?? (await session.send("GET", `/v2/${name}/tags/list`));
    if (succeeded(result)) {
      return {
        response: {
          status: 200,
          headers: {
            "content-type": result.headers["content-type"] ?? "application/json",
            "content-length": String(result.body.length),
          },
          body: result.body,
        },
        outcome: "miss",
        upstreamStatus: result.status,
      };
    }
    const local = this.manifests.tagsOf(name);
    if (local.length === 0 || this.profile.errors === "pass-through") {
      const response =
        this.profile.errors === "pass-through"
          ? this.upstreamError(result, "tags")
          : ociError("NAME_UNKNOWN", "repository name not known to registry", { detail: { name } });
      return { response, outcome: "error", upstreamStatus: result.status };
    }
    const body = JSON.stringify({ name, tags: local });
    return {
      response: {
        status: 200,
        headers: {
          "content-type": "application/json",
          "content-length": String(Buffer.byteLength(body)),
        },
        body,
      },
      outcome: "stale",
      upstreamStatus: result.status,
    };
  }

  // --- helpers -------------------------------------------------------------

  private async readStorage(): Promise<void> {
    if (this.storageLatencyMs > 0) await this.sim.sleep(this.storageLatencyMs);
  }

  /** Harbor shares one upstream request among concurrent identical ones; distribution does not. */
  private once<T>(key: string, work: () => Promise<T>): Promise<T> {
    if (!this.profile.dedupe) return work();
    const running = this.flights.get(key);
    if (running) return awaitShared(this.sim, running as Promise<T>);
    const flight = work().finally(() => this.flights.delete(key));
    this.flights.set(key, flight);
    return flight;
  }

  /** A tag that could not be resolved and has no usable local copy. */
  private tagError(failed: UpstreamAnswer, tag: string): RegistryResponse {
    if (this.profile.errors === "pass-through") return this.upstreamError(failed, "manifest");
    // distribution falls back to the local tag store, which does not know the tag.
    return ociError("MANIFEST_UNKNOWN", "manifest unknown", { detail: { Tag: tag } });
  }

  /** What the client gets when an upstream step failed. */
  private upstreamError(
    failed: UpstreamAnswer,
    kind: "manifest" | "blob" | "tags",
    digest?: string,
  ): RegistryResponse {
    if (this.profile.errors === "pass-through") {
      if (failed.status === 0)
        return ociError("UNKNOWN", `upstream unreachable: ${failed.message ?? failed.network}`, {
          status: 502,
        });
      if (failed.body.length > 0)
        return {
          status: failed.status,
          headers: {
            "content-type": failed.headers["content-type"] ?? "application/octet-stream",
            "content-length": String(failed.body.length),
            ...(failed.headers["retry-after"]
              ? { "retry-after": failed.headers["retry-after"] }
              : {}),
          },
          body: failed.body,
        };
      return statusError(failed.status, kind);
    }
    // distribution: a missing blob is BLOB_UNKNOWN; anything else is 500 UNKNOWN carrying what went wrong.
    if (kind === "blob" && failed.stage === "request" && failed.status === 404)
      return ociError("BLOB_UNKNOWN", "blob unknown to registry", { detail: digest });
    const parsed = failed.stage === "request" ? ociErrors(failed.body) : undefined;
    const detail = parsed ?? {
      Op: failed.method === "HEAD" ? "Head" : "Get",
      URL: failed.path,
      Err:
        failed.status === 0
          ? (failed.message ?? failed.network)
          : { Status: `${failed.status} ${statusText(failed.status)}` },
    };
    return ociError("UNKNOWN", "unknown error", { detail });
  }
}

function other(response: RegistryResponse): { kind: EndpointKind; served: Served } {
  return { kind: "other", served: { response } };
}

function invalidName(kind: EndpointKind): { kind: EndpointKind; served: Served } {
  return { kind, served: { response: ociError("NAME_INVALID", "invalid repository name") } };
}

function invalidDigest(kind: EndpointKind): { kind: EndpointKind; served: Served } {
  return {
    kind,
    served: {
      response: ociError("DIGEST_INVALID", "provided digest did not match uploaded content"),
    },
  };
}

function isNotFound(answer: UpstreamAnswer): boolean {
  return answer.stage === "request" && answer.status === 404;
}

function sha256(bytes: Buffer): string {
  return `sha256:${createHash("sha256").update(bytes).digest("hex")}`;
}

function mediaTypeOf(bytes: Buffer): string {
  try {
    const parsed = JSON.parse(bytes.toString("utf8")) as { mediaType?: unknown };
    if (typeof parsed.mediaType === "string") return parsed.mediaType;
  } catch {
    // not JSON
  }
  return MEDIA.ociManifest;
}

/** The linux/amd64 entry of a manifest list, as distribution's handler picks it. */
function amd64Manifest(bytes: Buffer): string | undefined {
  try {
    const index = JSON.parse(bytes.toString("utf8")) as {
      manifests?: { digest?: string; platform?: { os?: string; architecture?: string } }[];
    };
    return index.manifests?.find(
      (m) => m.platform?.os === "linux" && m.platform?.architecture === "amd64",
    )?.digest;
  } catch {
    return undefined;
  }
}

function ociErrors(body: Buffer): unknown {
  if (body.length === 0) return undefined;
  try {
    const parsed = JSON.parse(body.toString("utf8")) as { errors?: unknown };
    return Array.isArray(parsed.errors) ? parsed : undefined;
  } catch {
    return undefined;
  }
}

function blobHeaders(digest: string): Record<string, string> {
  return {
    "content-type": "application/octet-stream",
    "docker-content-digest": digest,
    etag: `"${digest}"`,
    "accept-ranges": "bytes",
    "cache-control": "max-age=31536000",
  };
}

function blobResponse(digest: string, bytes: Buffer, head: boolean): RegistryResponse {
  return {
    status: 200,
    headers: { ...blobHeaders(digest), "content-length": String(bytes.length) },
    body: head ? undefined : bytes,
  };
}

/** An OCI body for an upstream answer that had none (a HEAD). */
function statusError(status: number, kind: "manifest" | "blob" | "tags"): RegistryResponse {
  if (status === 404)
    return kind === "blob"
      ? ociError("BLOB_UNKNOWN", "blob unknown to registry")
      : ociError("MANIFEST_UNKNOWN", "manifest unknown");
  if (status === 429) return ociError("TOOMANYREQUESTS", "too many requests");
  if (status === 401) return ociError("UNAUTHORIZED", "authentication required");
  if (status === 403) return ociError("DENIED", "requested access to the resource is denied");
  return ociError("UNKNOWN", `upstream answered ${status}`, { status });
}

function statusText(status: number): string {
  return (
    {
      401: "Unauthorized",
      403: "Forbidden",
      404: "Not Found",
      429: "Too Many Requests",
      500: "Internal Server Error",
      502: "Bad Gateway",
      503: "Service Unavailable",
      504: "Gateway Timeout",
    }[status] ?? "Error"
  );
}
