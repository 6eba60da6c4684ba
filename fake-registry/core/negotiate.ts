import { FORMAT_MEDIA, type ManifestFormat } from "../../vocabulary/oci/media-types.ts";
import type { Document, ImageBuild } from "../catalog/build.ts";
import { platformKey } from "../catalog/spec.ts";

/** Media types a client accepts, from one or more comma-joined Accept headers; q=0 means refused. */
export function acceptedTypes(accept: string | undefined): Set<string> {
  const types = new Set<string>();
  if (!accept) return types;
  for (const part of accept.split(",")) {
    const [type, ...params] = part.split(";").map((s) => s.trim().toLowerCase());
    if (!type) continue;
    const q = params.find((p) => p.startsWith("q="));
    if (q && Number(q.slice(2)) === 0) continue;
    types.add(type);
  }
  return types;
}

const DEFAULT_PLATFORM = "linux/amd64";

/**
 * The last few Accept headers seen, parsed: clients send the same one on every
 * request, so parsing it again (and hashing it, for a Map) each time was a
 * good part of a manifest answer. Compared by value; never mutated.
 */
const EMPTY: ReadonlySet<string> = new Set();
const recentAccepts: Array<{ accept: string; types: ReadonlySet<string> }> = [];
const RECENT_ACCEPTS = 8;

function acceptedTypesCached(accept: string | undefined): ReadonlySet<string> {
  if (!accept) return EMPTY;
  for (const entry of recentAccepts) if (entry.accept === accept) return entry.types;
  const types = acceptedTypes(accept);
  if (recentAccepts.length >= RECENT_ACCEPTS) recentAccepts.pop();
  recentAccepts.unshift({ accept, types });
  return types;
}

/**
 * Picks the document a tag request gets, as Docker Hub and distribution do: the
 * image's own family if the client takes it, else the other family, and for a
 * client that takes no index at all, the linux/amd64 manifest. No Accept header
 * gets the image's own top-level document. Undefined: nothing acceptable.
 */
export function negotiate(build: ImageBuild, accept: string | undefined): Document | undefined {
  const accepted = acceptedTypesCached(accept);
  const anything = accepted.size === 0 || accepted.has("*/*");
  const families: ManifestFormat[] = [build.format, build.format === "docker" ? "oci" : "docker"];
  if (build.index) {
    for (const f of families) {
      if (anything || accepted.has(FORMAT_MEDIA[f].index)) return build.index[f];
    }
  }
  const platform =
    build.platforms.find((p) => platformKey(p.platform) === DEFAULT_PLATFORM) ?? build.platforms[0];
  if (!platform) return undefined;
  for (const f of families) {
    if (anything || accepted.has(FORMAT_MEDIA[f].manifest)) return platform.manifests[f];
  }
  return undefined;
}
