import { ociError } from "../../fake-registry/core/errors.ts";
import type {
  EndpointKind,
  RegistryRequest,
  RegistryResponse,
} from "../../fake-registry/core/types.ts";
import type { EventSink } from "../../vocabulary/events.ts";
import { checkDigest, checkName, isTag, looksLikeDigest } from "../../vocabulary/oci/names.ts";
import { decodePath, parseRoute } from "../../vocabulary/oci/route.ts";
import type { Sim } from "../engine/sim.ts";
import { type InProcessHandler, isNetworkError } from "../engine/transport.ts";
import { blob } from "./blobs.ts";
import { BlobStore, ManifestStore } from "./cache.ts";
import { type MirrorCapacity, Processors } from "./cpu.ts";
import { FLAVOURS, type FlavourProfile, type MirrorFlavour } from "./flavours.ts";
import { type ManifestPull, manifestByDigest, manifestByTag } from "./manifests.ts";
import { invalidDigest, invalidName, other, type Routed } from "./responses.ts";
import type { MirrorState } from "./state.ts";
import { tags } from "./tags.ts";
import { Upstream, type UpstreamTarget } from "./upstream.ts";

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
  /** The server's processors (default: the flavour's, ./flavours.ts). */
  capacity?: MirrorCapacity;
}

const API_VERSION = { "docker-distribution-api-version": "registry/2.0" };

/**
 * A pull-through mirror as the simulator sees it: answers client requests
 * in-process (or over HTTP with `serveMirror`), reaching the origin through a
 * Transport the way the chosen product does. What each flavour does, and the
 * sources, are in ./flavours.ts and docs/mirror-model.md.
 *
 * This file routes requests and emits the MirrorEvents; the endpoints are
 * ./manifests.ts (and tag resolution), ./blobs.ts and ./tags.ts, over the
 * shared ./state.ts, answering with ./responses.ts.
 */
export class MirrorModel implements InProcessHandler {
  readonly flavour: MirrorFlavour;
  readonly profile: FlavourProfile;
  readonly blobs: BlobStore;
  readonly manifests: ManifestStore;
  private readonly upstream: Upstream;
  private readonly state: MirrorState;
  private readonly sim: Sim;
  private readonly emit: EventSink | undefined;
  private readonly design: string;
  private readonly processors: Processors;

  constructor(options: MirrorModelOptions) {
    this.flavour = options.flavour;
    const profile = FLAVOURS[options.flavour];
    if (!profile) throw new Error(`unknown mirror flavour "${options.flavour}"`);
    this.profile = profile;
    this.sim = options.sim;
    this.emit = options.emit;
    this.design = options.design ?? "mirror";
    const lifetime = { ttlMs: options.ttlMs ?? profile.ttlMs, from: profile.ttlFrom };
    this.blobs = new BlobStore(options.cacheBytes ?? Number.POSITIVE_INFINITY, lifetime);
    this.manifests = new ManifestStore(lifetime);
    this.state = {
      profile,
      sim: options.sim,
      blobs: this.blobs,
      manifests: this.manifests,
      storageLatencyMs: options.storageLatencyMs ?? 0,
      storing: new Set(),
      flights: new Map(),
    };
    this.processors = new Processors(options.sim, options.capacity ?? profile.capacity);
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
    if (this.profile.upstream.ping !== "until-challenge") return;
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
    await this.processors.use();
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

  private async dispatch(req: RegistryRequest): Promise<Routed> {
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
      // The model mirrors pulls only: the repository list and referrers are not
      // modelled (answered as they were before the fake registry served them).
      case "catalog":
      case "referrers":
        return other(ociError("UNSUPPORTED", "not an OCI distribution endpoint", { status: 404 }));
      case "tags": {
        if (!checkName(route.name).ok) return invalidName("tags");
        const session = this.upstream.session(route.name);
        return { kind: "tags", served: await tags(this.state, session, route.name) };
      }
      case "manifest": {
        if (!checkName(route.name).ok) return invalidName("manifest");
        const ref = route.reference;
        if (looksLikeDigest(ref)) {
          if (!checkDigest(ref).ok) return invalidDigest("manifest");
          const pull = this.manifestPull(route.name, req, head);
          return { kind: "manifest", served: await manifestByDigest(this.state, pull, ref) };
        }
        if (!isTag(ref))
          return {
            kind: "manifest",
            served: {
              response: ociError("MANIFEST_UNKNOWN", "manifest unknown", { detail: { Tag: ref } }),
            },
          };
        const pull = this.manifestPull(route.name, req, head);
        return { kind: "manifest", served: await manifestByTag(this.state, pull, ref) };
      }
      case "blob": {
        if (!checkName(route.name).ok) return invalidName("blob");
        if (!checkDigest(route.digest).ok) return invalidDigest("blob");
        const { name, digest } = route;
        const pull = { session: this.upstream.session(name), name, digest, head };
        return { kind: "blob", served: await blob(this.state, pull) };
      }
    }
  }

  private manifestPull(name: string, req: RegistryRequest, head: boolean): ManifestPull {
    return { session: this.upstream.session(name), name, accept: req.headers.accept, head };
  }
}
