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

/** The methods each endpoint answers, for the `Allow` header of a 405 (RFC 9110 15.5.6). */
export function allowedMethods(kind: Route["kind"] | "token"): string {
  switch (kind) {
    case "token":
      return "GET, POST";
    case "tags":
    case "catalog":
    case "referrers":
      return "GET";
    case "push":
      // A read-only registry: no method uploads.
      return "";
    default:
      return "GET, HEAD";
  }
}

/** 405 UNSUPPORTED for a method an endpoint does not answer, with its `Allow` header. */
export function methodNotAllowed(kind: Route["kind"] | "token", message: string): RegistryResponse {
  return ociError("UNSUPPORTED", message, { headers: { allow: allowedMethods(kind) } });
}

/** Method and input checks that need no credentials: bad input never reaches auth, limits or catalog. */
export function validate(route: Route, method: string): RegistryResponse | undefined {
  const read = method === "GET" || method === "HEAD";
  if (route.kind === "other") return ociError("UNSUPPORTED", route.reason, { status: 404 });
  if (route.kind === "push")
    return methodNotAllowed("push", "this registry is read-only: push is not supported");
  if (!read)
    return methodNotAllowed(
      route.kind,
      `${clip(method, 20)} is not supported on this endpoint; pulls use GET and HEAD`,
    );
  if (route.kind === "ping") return undefined;
  if (route.kind === "catalog") {
    return method === "GET" ? undefined : methodNotAllowed("catalog", "_catalog answers GET only");
  }
  const name = checkName(route.name);
  if (!name.ok)
    return ociError("NAME_INVALID", "invalid repository name", {
      detail: { name: clip(route.name), reason: name.reason },
    });
  if (route.kind === "tags" && method !== "GET")
    return methodNotAllowed("tags", "tags/list answers GET only");
  if (route.kind === "referrers" && method !== "GET")
    return methodNotAllowed("referrers", "referrers answers GET only");
  if (route.kind === "blob" || route.kind === "referrers") {
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
