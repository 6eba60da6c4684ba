/**
 * How each pull-through mirror product talks to its upstream, as data. The
 * model in ./model.ts reads these switches; docs/mirror-model.md gives the
 * sources and what was seen with the real `docker-registry` 2.8.2 binary.
 */

import { MIRROR_PROXY_SESSIONS } from "../client/runtimes.ts";
import type { SessionQuirks } from "../client/session.ts";
import type { MirrorCapacity } from "./cpu.ts";

export type MirrorFlavour = "distribution-2.8" | "distribution-3" | "harbor";

export interface FlavourProfile {
  /**
   * How the mirror sends a request upstream (ping first or not, how long a token is kept):
   * the proxy quirk sets in ../client/runtimes.ts, one implementation in ../client/session.ts.
   */
  upstream: SessionQuirks;
  /** An HTTP error on the tag HEAD is retried as a GET (distribution's client tags.Get). */
  headFallbackGet: boolean;
  /** Serve the cached tag when the upstream check fails for any reason, or only on a 429. */
  staleOn: "any-failure" | "rate-limit";
  /** A blob miss asks upstream HEAD (Stat) before the GET. */
  blobStat: boolean;
  /** Upstream blob GETs for one miss: 2 in distribution 2.8 (client stream + storage copy). */
  blobGetsPerMiss: 1 | 2;
  /** A client HEAD on an uncached blob fetches and stores it (distribution routes HEAD to GetBlob). */
  blobHeadFetches: boolean;
  /** Concurrent identical upstream requests share one (Harbor's singleflight groups). */
  dedupe: boolean;
  /**
   * What a client sees when upstream fails and nothing local can answer:
   * "wrap-500": distribution's 500 UNKNOWN with the upstream errors as detail
   * (404 MANIFEST_UNKNOWN for a tag, 404 BLOB_UNKNOWN for a missing blob);
   * "pass-through": the upstream status and body.
   */
  errors: "wrap-500" | "pass-through";
  /** How long cached content lives (ms of simulated time) and from when it is counted. */
  ttlMs: number;
  ttlFrom: "stored" | "last-use";
  /** The server's processors unless the design gives its own (`mirror.capacity`). */
  capacity: MirrorCapacity;
  sources: string[];
}

/**
 * docker-registry 2.8.2 measured here (`npm run calibrate:fleet` reads its processor
 * time from /proc, bench/lib/fleet.ts; docs/mirror-model.md "Capacity"): 3.35-4.49 ms
 * per client request in cold starts of 50-180 clients, on a 2-core machine.
 * Distribution 3 and Harbor are assumed to cost the same (not measured: no binary here).
 */
export const MEASURED_CAPACITY: MirrorCapacity = { cores: 2, cpuPerRequestMs: 3.5 };

const WEEK_MS = 7 * 24 * 3_600_000;

/** distribution's proxy (registry/proxy), as of 2.8; 3.x differs in the blob copy. */
const DISTRIBUTION_2_8: FlavourProfile = {
  upstream: MIRROR_PROXY_SESSIONS.distribution,
  headFallbackGet: true,
  staleOn: "any-failure",
  blobStat: true,
  blobGetsPerMiss: 2,
  blobHeadFetches: true,
  dedupe: false,
  errors: "wrap-500",
  ttlMs: WEEK_MS,
  ttlFrom: "stored",
  capacity: MEASURED_CAPACITY,
  sources: [
    "distribution v2.8 registry/proxy (proxytagservice.go, proxymanifeststore.go, proxyblobstore.go, proxyregistry.go)",
    "docker-registry 2.8.2 observed in front of the fake registry (docs/mirror-model.md)",
  ],
};

export const FLAVOURS: Record<MirrorFlavour, FlavourProfile> = {
  "distribution-2.8": DISTRIBUTION_2_8,
  "distribution-3": {
    ...DISTRIBUTION_2_8,
    blobGetsPerMiss: 1,
    sources: [
      "distribution v3 registry/proxy/proxyblobstore.go (one fetch teed to client and storage; proxy.ttl, default 168h)",
    ],
  },
  harbor: {
    upstream: MIRROR_PROXY_SESSIONS.harbor,
    headFallbackGet: false,
    staleOn: "rate-limit",
    blobStat: false,
    blobGetsPerMiss: 1,
    blobHeadFetches: false,
    dedupe: true,
    errors: "pass-through",
    ttlMs: WEEK_MS,
    ttlFrom: "last-use",
    capacity: MEASURED_CAPACITY,
    sources: [
      "goharbor/harbor src/controller/proxy/controller.go (UseLocalManifest: HEAD, local on rate limit; singleflight; proxyBlobSync)",
      "Harbor docs: proxy cache projects drop artifacts not pulled for 7 days",
    ],
  },
};
