import {
  checkDigest,
  checkName,
  clip,
  isTag,
  looksLikeDigest,
} from "../../vocabulary/oci/names.ts";
import type { Route } from "../../vocabulary/oci/route.ts";
import { ociError } from "../core/errors.ts";
import type { RegistryResponse } from "../core/types.ts";

/** Method and input checks that need no credentials: bad input never reaches auth, limits or catalog. */
export function validate(route: Route, method: string): RegistryResponse | undefined {
  const read = method === "GET" || method === "HEAD";
  if (route.kind === "other") return ociError("UNSUPPORTED", route.reason, { status: 404 });
  if (route.kind === "push")
    return ociError("UNSUPPORTED", "this registry is read-only: push is not supported");
  if (!read)
    return ociError(
      "UNSUPPORTED",
      `${clip(method, 20)} is not supported on this endpoint; pulls use GET and HEAD`,
    );
  if (route.kind === "ping") return undefined;
  const name = checkName(route.name);
  if (!name.ok)
    return ociError("NAME_INVALID", "invalid repository name", {
      detail: { name: clip(route.name), reason: name.reason },
    });
  if (route.kind === "tags" && method !== "GET")
    return ociError("UNSUPPORTED", "tags/list answers GET only");
  if (route.kind === "blob") {
    const digest = checkDigest(route.digest);
    if (!digest.ok)
      return ociError("DIGEST_INVALID", "invalid digest", {
        detail: { digest: clip(route.digest), reason: digest.reason },
      });
  }
  if (route.kind === "manifest") {
    if (looksLikeDigest(route.reference)) {
      const digest = checkDigest(route.reference);
      if (!digest.ok)
        return ociError("DIGEST_INVALID", "invalid digest", {
          detail: { digest: clip(route.reference), reason: digest.reason },
        });
    } else if (!isTag(route.reference)) {
      return ociError("MANIFEST_UNKNOWN", "invalid tag", {
        detail: {
          tag: clip(route.reference),
          reason: "tags match [a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}",
        },
      });
    }
  }
  return undefined;
}
