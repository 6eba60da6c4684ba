import { createHash } from "node:crypto";
import { ociError } from "../../fake-registry/core/errors.ts";
import { acceptedTypes } from "../../fake-registry/core/negotiate.ts";
import { MEDIA } from "../../vocabulary/oci/media-types.ts";
import type { StoredManifest } from "./cache.ts";
import { failure, type Outcome, type Served, tagError, withStatus } from "./responses.ts";
import { type MirrorState, once, readStorage } from "./state.ts";
import { type Session, succeeded, type UpstreamAnswer } from "./upstream.ts";

/**
 * Manifests and tag resolution: GET/HEAD /v2/<name>/manifests/<reference>,
 * from the cache or through upstream, the way the mirror's flavour does it.
 */

/** One client manifest request. */
export interface ManifestPull {
  session: Session;
  name: string;
  accept: string | undefined;
  head: boolean;
}

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
 * By tag: always ask upstream which digest the tag has now (HEAD; distribution
 * retries a failed HEAD as GET), then serve that digest from the cache, or
 * fetch it by tag. When the check fails, the tag's last known digest (stale).
 */
export async function manifestByTag(
  state: MirrorState,
  pull: ManifestPull,
  tag: string,
): Promise<Served> {
  const { profile, manifests } = state;
  const { session, name } = pull;
  const check = await checkTag(state, session, name, tag);
  let digest: string;
  let outcome: Outcome;
  if ("digest" in check) {
    digest = check.digest;
    outcome = "revalidated";
    // distribution's tag service records the link before the manifest is fetched.
    manifests.tag(name, tag, digest);
  } else {
    const failed = check.failed;
    const local = manifests.tagged(name, tag);
    // distribution falls back to its local tag whatever went wrong (even a 404);
    // Harbor only on a rate limit, and forgets a tag upstream says is gone.
    const rateLimited = failed.stage === "request" && failed.status === 429;
    const staleAllowed = profile.staleOn === "any-failure" || rateLimited;
    if (check.notFound && profile.staleOn === "rate-limit") manifests.untag(name, tag);
    if (!local || !staleAllowed) {
      return {
        response: tagError(profile, failed, tag),
        outcome: "error",
        upstreamStatus: failed.status,
      };
    }
    digest = local;
    outcome = "stale";
  }
  const upstreamStatus = "digest" in check ? check.status : check.failed.status;
  const cached = manifests.get(name, digest, state.sim.now());
  if (cached) {
    await readStorage(state);
    return serveManifest(state, pull, cached, outcome, upstreamStatus);
  }
  // Not in the cache: distribution fetches it by tag (the handler passes WithTag), Harbor too.
  const fetched = await fetchManifest(state, session, name, tag);
  if ("failed" in fetched) return failure(profile, fetched.failed, "manifest");
  manifests.tag(name, tag, fetched.manifest.digest);
  return serveManifest(state, pull, fetched.manifest, "miss", 200);
}

export async function manifestByDigest(
  state: MirrorState,
  pull: ManifestPull,
  digest: string,
): Promise<Served> {
  const cached = state.manifests.get(pull.name, digest, state.sim.now());
  if (cached) {
    await readStorage(state);
    return serveManifest(state, pull, cached, "hit", undefined);
  }
  const fetched = await fetchManifest(state, pull.session, pull.name, digest);
  if ("failed" in fetched) return failure(state.profile, fetched.failed, "manifest");
  return serveManifest(state, pull, fetched.manifest, "miss", 200);
}

/** The tag's digest upstream now, or why it could not be had. */
async function checkTag(
  state: MirrorState,
  session: Session,
  name: string,
  tag: string,
): Promise<{ digest: string; status: number } | { failed: UpstreamAnswer; notFound: boolean }> {
  const path = `/v2/${name}/manifests/${tag}`;
  // One tryEstablishChallenges for the tag check, HEAD and GET fallback alike.
  const pinged = await session.establish();
  if (pinged) return { failed: pinged, notFound: false };
  const headResult = await once(state, `head:${name}:${tag}`, () =>
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
  if (state.profile.headFallbackGet && headResult.stage === "request" && headResult.status > 0) {
    const getResult = await session.send("GET", path, { accept: UPSTREAM_ACCEPT });
    if (getResult.stage === "request" && getResult.status >= 200 && getResult.status < 400) {
      const digest = getResult.headers["docker-content-digest"] ?? sha256(getResult.body);
      return { digest, status: getResult.status };
    }
    return { failed: getResult, notFound: isNotFound(getResult) };
  }
  return { failed: headResult, notFound: isNotFound(headResult) };
}

/** Upstream GET of a manifest (by tag or digest), stored by the digest of its bytes. */
async function fetchManifest(
  state: MirrorState,
  session: Session,
  name: string,
  reference: string,
): Promise<{ manifest: StoredManifest } | { failed: UpstreamAnswer }> {
  const pinged = await session.establish();
  if (pinged) return { failed: pinged };
  const result = await once(state, `manifest:${name}:${reference}`, () =>
    session.send("GET", `/v2/${name}/manifests/${reference}`, { accept: UPSTREAM_ACCEPT }),
  );
  if (!succeeded(result)) return { failed: result };
  const manifest: StoredManifest = {
    digest: sha256(result.body),
    mediaType: result.headers["content-type"] ?? mediaTypeOf(result.body),
    bytes: result.body,
  };
  state.manifests.put(name, manifest, state.sim.now());
  return { manifest };
}

/**
 * Answers with a stored manifest. A client that takes no index gets the
 * linux/amd64 manifest the mirror picks from a Docker manifest list (fetched
 * by digest if not cached), as distribution's manifest handler does; an OCI
 * index such a client cannot take is a 404.
 */
async function serveManifest(
  state: MirrorState,
  pull: ManifestPull,
  manifest: StoredManifest,
  outcome: Outcome,
  upstreamStatus: number | undefined,
): Promise<Served> {
  const accepted = acceptedTypes(pull.accept);
  const picky = accepted.size > 0 && !accepted.has("*/*");
  if (picky && INDEX_TYPES.has(manifest.mediaType) && !accepted.has(manifest.mediaType)) {
    if (manifest.mediaType === MEDIA.ociIndex)
      return {
        response: ociError(
          "MANIFEST_UNKNOWN",
          "OCI index found, but accept header does not support OCI indexes",
        ),
        outcome,
        ...withStatus(upstreamStatus),
      };
    const platform = amd64Manifest(manifest.bytes);
    if (!platform)
      return {
        response: ociError("MANIFEST_UNKNOWN", "manifest unknown"),
        outcome,
        ...withStatus(upstreamStatus),
      };
    const inner = await manifestByDigest(state, { ...pull, accept: undefined }, platform);
    const worse = inner.outcome === "miss" || inner.outcome === "error";
    return {
      ...inner,
      outcome: worse ? (inner.outcome as Outcome) : outcome,
      ...(worse ? {} : withStatus(upstreamStatus)),
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
      body: pull.head ? undefined : manifest.bytes,
    },
    outcome,
    ...withStatus(upstreamStatus),
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
