import { ociError } from "../../fake-registry/core/errors.ts";
import type { EndpointKind, RegistryResponse } from "../../fake-registry/core/types.ts";
import type { MirrorEvent } from "../../vocabulary/events.ts";
import type { FlavourProfile } from "./flavours.ts";
import type { UpstreamAnswer } from "./upstream.ts";

export type Outcome = MirrorEvent["outcome"];

/** The answer to one client request plus what the MirrorEvent says about it. */
export interface Served {
  response: RegistryResponse;
  outcome?: Outcome;
  upstreamStatus?: number;
}

/** A routed answer: the endpoint it counts as and what was served. */
export interface Routed {
  kind: EndpointKind;
  served: Served;
}

/** The endpoints whose upstream failures the mirror translates. */
export type UpstreamKind = "manifest" | "blob" | "tags";

/** The `upstreamStatus` field, present only when there is one. */
export function withStatus(upstreamStatus: number | undefined): { upstreamStatus?: number } {
  return upstreamStatus !== undefined ? { upstreamStatus } : {};
}

// --- client errors -----------------------------------------------------------

export function other(response: RegistryResponse): Routed {
  return { kind: "other", served: { response } };
}

export function invalidName(kind: EndpointKind): Routed {
  return { kind, served: { response: ociError("NAME_INVALID", "invalid repository name") } };
}

export function invalidDigest(kind: EndpointKind): Routed {
  return {
    kind,
    served: {
      response: ociError("DIGEST_INVALID", "provided digest did not match uploaded content"),
    },
  };
}

// --- blobs -------------------------------------------------------------------

export function blobHeaders(digest: string): Record<string, string> {
  return {
    "content-type": "application/octet-stream",
    "docker-content-digest": digest,
    etag: `"${digest}"`,
    "accept-ranges": "bytes",
    "cache-control": "max-age=31536000",
  };
}

export function blobResponse(digest: string, bytes: Buffer, head: boolean): RegistryResponse {
  return {
    status: 200,
    headers: { ...blobHeaders(digest), "content-length": String(bytes.length) },
    body: head ? undefined : bytes,
  };
}

// --- upstream failures -------------------------------------------------------

/** An upstream step failed: the client's answer, counted as an error. */
export function failure(
  profile: FlavourProfile,
  failed: UpstreamAnswer,
  kind: UpstreamKind,
  digest?: string,
): Served {
  return {
    response: upstreamError(profile, failed, kind, digest),
    outcome: "error",
    upstreamStatus: failed.status,
  };
}

/** A tag that could not be resolved and has no usable local copy. */
export function tagError(
  profile: FlavourProfile,
  failed: UpstreamAnswer,
  tag: string,
): RegistryResponse {
  if (profile.errors === "pass-through") return upstreamError(profile, failed, "manifest");
  // distribution falls back to the local tag store, which does not know the tag.
  return ociError("MANIFEST_UNKNOWN", "manifest unknown", { detail: { Tag: tag } });
}

/** What the client gets when an upstream step failed. */
export function upstreamError(
  profile: FlavourProfile,
  failed: UpstreamAnswer,
  kind: UpstreamKind,
  digest?: string,
): RegistryResponse {
  if (profile.errors === "pass-through") {
    if (failed.status === 0)
      return ociError("UNKNOWN", `upstream unreachable: ${failed.message ?? failed.network}`, {
        status: 502,
      });
    if (failed.body.length > 0)
      return {
        status: failed.status,
        headers: {
          "content-type": failed.headers["content-type"] ?? "application/octet-stream",
          "content-length": String(failed.body.length),
          ...(failed.headers["retry-after"]
            ? { "retry-after": failed.headers["retry-after"] }
            : {}),
        },
        body: failed.body,
      };
    return statusError(failed.status, kind);
  }
  // distribution: a missing blob is BLOB_UNKNOWN; anything else is 500 UNKNOWN carrying what went wrong.
  if (kind === "blob" && failed.stage === "request" && failed.status === 404)
    return ociError("BLOB_UNKNOWN", "blob unknown to registry", { detail: digest });
  const parsed = failed.stage === "request" ? ociErrors(failed.body) : undefined;
  const detail = parsed ?? {
    Op: failed.method === "HEAD" ? "Head" : "Get",
    URL: failed.path,
    Err:
      failed.status === 0
        ? (failed.message ?? failed.network)
        : { Status: `${failed.status} ${statusText(failed.status)}` },
  };
  return ociError("UNKNOWN", "unknown error", { detail });
}

function ociErrors(body: Buffer): unknown {
  if (body.length === 0) return undefined;
  try {
    const parsed = JSON.parse(body.toString("utf8")) as { errors?: unknown };
    return Array.isArray(parsed.errors) ? parsed : undefined;
  } catch {
    return undefined;
  }
}

/** An OCI body for an upstream answer that had none (a HEAD). */
function statusError(status: number, kind: UpstreamKind): RegistryResponse {
  if (status === 404)
    return kind === "blob"
      ? ociError("BLOB_UNKNOWN", "blob unknown to registry")
      : ociError("MANIFEST_UNKNOWN", "manifest unknown");
  if (status === 429) return ociError("TOOMANYREQUESTS", "too many requests");
  if (status === 401) return ociError("UNAUTHORIZED", "authentication required");
  if (status === 403) return ociError("DENIED", "requested access to the resource is denied");
  return ociError("UNKNOWN", `upstream answered ${status}`, { status });
}

function statusText(status: number): string {
  return (
    {
      401: "Unauthorized",
      403: "Forbidden",
      404: "Not Found",
      429: "Too Many Requests",
      500: "Internal Server Error",
      502: "Bad Gateway",
      503: "Service Unavailable",
      504: "Gateway Timeout",
    }[status] ?? "Error"
  );
}
