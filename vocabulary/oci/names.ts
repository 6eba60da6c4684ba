/**
 * Validation of repository names, tags and digests, per the OCI distribution spec
 * ("Pulling manifests"): names match a path-component grammar, tags a short
 * pattern, digests `algorithm:encoded`. Everything the routes accept passes here first,
 * so traversal (`..`), encoded slashes and oversize input never reach the catalog.
 */

const NAME_COMPONENT = "[a-z0-9]+(?:(?:\\.|_|__|-+)[a-z0-9]+)*";
const NAME_RE = new RegExp(`^${NAME_COMPONENT}(?:/${NAME_COMPONENT})*$`);
const TAG_RE = /^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$/;
const DIGEST_RE = /^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$/;
const SHA256_RE = /^sha256:[a-f0-9]{64}$/;
const SHA512_RE = /^sha512:[a-f0-9]{128}$/;

/** Docker Hub and distribution cap names at 255 characters. */
export const MAX_NAME_LENGTH = 255;

export type NameCheck = { ok: true } | { ok: false; reason: string };

export function checkName(name: string): NameCheck {
  if (name.length === 0) return { ok: false, reason: "repository name is empty" };
  if (name.length > MAX_NAME_LENGTH)
    return {
      ok: false,
      reason: `repository name is ${name.length} characters, longer than ${MAX_NAME_LENGTH}`,
    };
  if (!NAME_RE.test(name))
    return { ok: false, reason: "repository name must match [a-z0-9]+([._-][a-z0-9]+)*(/...)*" };
  return { ok: true };
}

export function isTag(ref: string): boolean {
  return TAG_RE.test(ref);
}

export type DigestCheck = { ok: true } | { ok: false; reason: string };

/** Recognises the digest grammar and insists on a well-formed sha256/sha512 encoding. */
export function checkDigest(ref: string): DigestCheck {
  if (!DIGEST_RE.test(ref)) return { ok: false, reason: `"${clip(ref)}" is not a digest` };
  if (ref.startsWith("sha256:")) {
    return SHA256_RE.test(ref)
      ? { ok: true }
      : { ok: false, reason: "sha256 digests have 64 lower-case hex characters" };
  }
  if (ref.startsWith("sha512:")) {
    return SHA512_RE.test(ref)
      ? { ok: true }
      : { ok: false, reason: "sha512 digests have 128 lower-case hex characters" };
  }
  return { ok: false, reason: `unsupported digest algorithm "${clip(ref.split(":")[0] ?? "")}"` };
}

export function looksLikeDigest(ref: string): boolean {
  return ref.includes(":");
}

/** Keeps echoed input short in error messages. */
export function clip(text: string, max = 80): string {
  return text.length > max ? `${text.slice(0, max)}...` : text;
}
