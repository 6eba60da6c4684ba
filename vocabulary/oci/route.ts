/** What a request path addresses, before any validation of its parts. */
export type Route =
  | { kind: "ping" }
  | { kind: "manifest"; name: string; reference: string }
  | { kind: "blob"; name: string; digest: string }
  | { kind: "tags"; name: string }
  /** `GET /v2/<name>/referrers/<digest>` (distribution-spec v1.1). */
  | { kind: "referrers"; name: string; digest: string }
  /** `GET /v2/_catalog`: the repository list (distribution's extension, not in the OCI spec). */
  | { kind: "catalog" }
  | { kind: "push"; name: string }
  | { kind: "other"; reason: string };

// dotAll: a decoded name holding CR/LF must still be captured, so validation can refuse it.
const MANIFEST_RE = /^\/v2\/(.*)\/manifests\/([^/]+)$/s;
const BLOB_RE = /^\/v2\/(.*)\/blobs\/([^/]+)$/s;
const UPLOAD_RE = /^\/v2\/(.+)\/blobs\/uploads(?:\/.*)?$/s;
const TAGS_RE = /^\/v2\/(.*)\/tags\/list$/s;
const REFERRERS_RE = /^\/v2\/(.*)\/referrers\/([^/]+)$/s;

/** Splits an already-decoded `/v2/...` path into the OCI endpoint it names. */
export function parseRoute(path: string): Route {
  if (path === "/v2" || path === "/v2/") return { kind: "ping" };
  if (path === "/v2/_catalog") return { kind: "catalog" };
  // UPLOAD_RE needs "/blobs/uploads" in the path: most paths are not tried against it.
  let m = path.includes("/blobs/uploads") ? UPLOAD_RE.exec(path) : null;
  if (m) return { kind: "push", name: m[1] as string };
  m = MANIFEST_RE.exec(path);
  if (m) return { kind: "manifest", name: m[1] as string, reference: m[2] as string };
  m = BLOB_RE.exec(path);
  if (m) return { kind: "blob", name: m[1] as string, digest: m[2] as string };
  m = TAGS_RE.exec(path);
  if (m) return { kind: "tags", name: m[1] as string };
  m = path.includes("/referrers/") ? REFERRERS_RE.exec(path) : null;
  if (m) return { kind: "referrers", name: m[1] as string, digest: m[2] as string };
  return { kind: "other", reason: "not an OCI distribution endpoint" };
}

/** Percent-decodes a path; undefined when the encoding is malformed. */
export function decodePath(raw: string): string | undefined {
  if (!raw.includes("%")) return raw;
  try {
    return decodeURIComponent(raw);
  } catch {
    return undefined;
  }
}
