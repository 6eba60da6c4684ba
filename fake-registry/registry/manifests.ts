/** `GET|HEAD /v2/<name>/manifests/<reference>`: by digest, or by tag with content negotiation on Accept. */
import { clip, looksLikeDigest } from "../../vocabulary/oci/names.ts";
import type { Document } from "../catalog/build.ts";
import type { Catalog } from "../catalog/catalog.ts";
import { ociError } from "../core/errors.ts";
import { negotiate } from "../core/negotiate.ts";
import type { RegistryResponse } from "../core/types.ts";
import { unknownName } from "./errors.ts";

export async function serveManifest(
  catalog: Catalog,
  name: string,
  reference: string,
  accept: string | undefined,
  head: boolean,
  elapsed: number,
): Promise<RegistryResponse> {
  if (!catalog.spec(name)) return unknownName(name);
  let doc: Document | undefined;
  if (looksLikeDigest(reference)) {
    doc = await catalog.manifestByDigest(name, reference, elapsed);
    if (!doc)
      return ociError("MANIFEST_UNKNOWN", "manifest unknown", { detail: { digest: reference } });
  } else {
    const build = await catalog.resolveTag(name, reference, elapsed);
    if (!build)
      return ociError("MANIFEST_UNKNOWN", "manifest unknown", { detail: { tag: reference } });
    doc = negotiate(build, accept);
    if (!doc)
      return ociError("MANIFEST_UNKNOWN", "no manifest matches the Accept header", {
        detail: { tag: reference, accept: clip(accept ?? "", 200) },
      });
  }
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
