/** Content serving: the endpoint a validated, authorized and admitted pull request asked for. */

import type { Route } from "../../vocabulary/oci/route.ts";
import type { Catalog } from "../catalog/catalog.ts";
import { ociError } from "../core/errors.ts";
import type { RegistryRequest, RegistryResponse } from "../core/types.ts";
import { serveBlob } from "./blobs.ts";
import { serveManifest } from "./manifests.ts";
import { serveReferrers } from "./referrers.ts";
import { serveCatalog } from "./repositories.ts";
import { serveTags } from "./tags.ts";

/**
 * `elapsed`: registry ms since start-up (images the catalog publishes later do
 * not exist yet); `visible`: whether the asker may see a repository in the
 * catalog listing (private ones are listed to their users only).
 */
export async function serveContent(
  catalog: Catalog,
  route: Route,
  req: RegistryRequest,
  elapsed: number,
  visible: (name: string) => boolean,
): Promise<RegistryResponse> {
  const head = req.method === "HEAD";
  switch (route.kind) {
    case "ping":
      return { status: 200, headers: { "content-type": "application/json" }, body: "{}" };
    case "tags":
      return serveTags(catalog, route.name, req.query);
    case "referrers":
      return serveReferrers(catalog, route.name, req.query);
    case "catalog":
      return serveCatalog(catalog, req.query, visible);
    case "manifest":
      return serveManifest(catalog, route.name, route.reference, req.headers.accept, head, elapsed);
    case "blob":
      return serveBlob(catalog, route.name, route.digest, req.headers.range, head, elapsed);
    default:
      return ociError("UNSUPPORTED", "not an OCI distribution endpoint", { status: 404 });
  }
}
