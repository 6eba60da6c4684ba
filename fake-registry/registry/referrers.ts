/**
 * `GET /v2/<name>/referrers/<digest>` (distribution-spec v1.1, "Listing
 * Referrers"): an OCI image index of the manifests whose `subject` is the
 * digest. No manifest of this catalog has a `subject` (it serves images, not
 * signatures or SBOMs), so the index is always empty; `artifactType` filters
 * that empty list, and the answer says so with `OCI-Filters-Applied`.
 */
import { MEDIA } from "../../vocabulary/oci/media-types.ts";
import type { Catalog } from "../catalog/catalog.ts";
import type { RegistryResponse } from "../core/types.ts";
import { unknownName } from "./errors.ts";

export function serveReferrers(
  catalog: Catalog,
  name: string,
  query: URLSearchParams,
): RegistryResponse {
  if (!catalog.spec(name)) return unknownName(name);
  // Bytes with their length: sent as they are, without a charset added to the media type.
  const body = Buffer.from(
    JSON.stringify({ schemaVersion: 2, mediaType: MEDIA.ociIndex, manifests: [] }),
  );
  const headers: Record<string, string> = {
    "content-type": MEDIA.ociIndex,
    "content-length": String(body.length),
  };
  if (query.has("artifactType")) headers["oci-filters-applied"] = "artifactType";
  return { status: 200, headers, body };
}
