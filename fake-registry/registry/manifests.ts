/** `GET|HEAD /v2/<name>/manifests/<reference>`: by digest, or by tag with content negotiation on Accept. */
import { clip, looksLikeDigest } from "../../vocabulary/oci/names.ts";
import type { Document, ImageBuild } from "../catalog/build.ts";
import type { Catalog } from "../catalog/catalog.ts";
import { platformKey } from "../catalog/spec.ts";
import { ociError } from "../core/errors.ts";
import { negotiate } from "../core/negotiate.ts";
import type { RegistryResponse } from "../core/types.ts";
import type { ManifestFacts } from "../policy/types.ts";
import { unknownName } from "./errors.ts";

/** A manifest the catalog has, with what it is (for the pull count). */
export interface FoundManifest {
  doc: Document;
  facts: ManifestFacts;
}

/** The document a manifest request names, or the error answer when there is none. */
export async function findManifest(
  catalog: Catalog,
  name: string,
  reference: string,
  accept: string | undefined,
  elapsed: number,
): Promise<FoundManifest | RegistryResponse> {
  if (!catalog.spec(name)) return unknownName(name);
  if (looksLikeDigest(reference)) {
    const found = await catalog.findManifest(name, reference, elapsed);
    if (!found)
      return ociError("MANIFEST_UNKNOWN", "manifest unknown", { detail: { digest: reference } });
    return { doc: found.doc, facts: factsOf(found.build, found.doc) };
  }
  const build = await catalog.resolveTag(name, reference, elapsed);
  if (!build)
    return ociError("MANIFEST_UNKNOWN", "manifest unknown", { detail: { tag: reference } });
  const doc = negotiate(build, accept);
  if (!doc)
    return ociError("MANIFEST_UNKNOWN", "no manifest matches the Accept header", {
      detail: { tag: reference, accept: clip(accept ?? "", 200) },
    });
  return { doc, facts: factsOf(build, doc) };
}

/** Facts of each document of a build, made once per build (it never changes). */
const buildFacts = new WeakMap<ImageBuild, Map<string, ManifestFacts>>();

/** Whether a document of a build is its index, a platform manifest under that index, or a single-arch manifest. */
export function factsOf(build: ImageBuild, doc: Document): ManifestFacts {
  let byDigest = buildFacts.get(build);
  if (!byDigest) {
    byDigest = new Map();
    const image = `${build.name}:${build.tag}@${build.generation}`;
    if (build.index) {
      const facts: ManifestFacts = { role: "index", image };
      byDigest.set(build.index.docker.digest, facts);
      byDigest.set(build.index.oci.digest, facts);
    }
    for (const p of build.platforms) {
      const facts: ManifestFacts = build.index
        ? { role: "platform", image, platform: platformKey(p.platform) }
        : { role: "single", image };
      byDigest.set(p.manifests.docker.digest, facts);
      byDigest.set(p.manifests.oci.digest, facts);
    }
    buildFacts.set(build, byDigest);
  }
  return (
    byDigest.get(doc.digest) ?? {
      role: "single",
      image: `${build.name}:${build.tag}@${build.generation}`,
    }
  );
}

export async function serveManifest(
  catalog: Catalog,
  name: string,
  reference: string,
  accept: string | undefined,
  head: boolean,
  elapsed: number,
): Promise<RegistryResponse> {
  const found = await findManifest(catalog, name, reference, accept, elapsed);
  return "doc" in found ? manifestResponse(found.doc, head) : found;
}

/** The 200 answer for a manifest document (GET with its bytes, HEAD without). */
export function manifestResponse(doc: Document, head: boolean): RegistryResponse {
  const made = documentHeaders(doc);
  return {
    status: 200,
    headers: {
      "content-type": doc.mediaType,
      "content-length": made.length,
      "docker-content-digest": doc.digest,
      etag: made.etag,
    },
    body: head ? undefined : doc.bytes,
  };
}

/** A document's Content-Length and ETag values, made once per document (it never changes). */
const madeHeaders = new WeakMap<Document, { length: string; etag: string }>();

function documentHeaders(doc: Document): { length: string; etag: string } {
  let made = madeHeaders.get(doc);
  if (!made) {
    made = { length: String(doc.bytes.length), etag: `"${doc.digest}"` };
    madeHeaders.set(doc, made);
  }
  return made;
}
