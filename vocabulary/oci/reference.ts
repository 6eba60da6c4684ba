/**
 * The project's one image-reference parser. References with their registry, normalised the way docker, containerd
 * and Kubernetes do it (distribution/reference ParseNormalizedNamed): a first
 * component without "." or ":" that is not "localhost" is a Docker Hub path,
 * `index.docker.io` is `docker.io`, and a one-component Hub name gets `library/`.
 */
export interface ImageReference {
  /** The registry as the runtime sees it: docker.io, quay.io, mirror.corp:5000. */
  registry: string;
  repository: string;
  tag?: string;
  digest?: string;
}

export const DOCKER_HUB = "docker.io";

const COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const TAG = /^\w[\w.-]{0,127}$/;
const DIGEST = /^sha256:[a-f0-9]{64}$|^sha512:[a-f0-9]{128}$/;
const HOST =
  /^(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?$/;

/** "nginx:1.25" -> docker.io/library/nginx:1.25; errors say what is wrong with the text. */
export function parseImageReference(text: string): ImageReference | { error: string } {
  const input = text.trim();
  if (!input) return { error: "an image reference cannot be empty" };
  if (input.includes("://"))
    return {
      error: `"${text}": write the image without a scheme, e.g. docker.io/library/nginx:1.25`,
    };
  let rest = input;
  let digest: string | undefined;
  const at = rest.indexOf("@");
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!DIGEST.test(digest))
      return { error: `"${text}": the digest must be sha256:<64 hex> (or sha512:<128 hex>)` };
  }
  let registry = DOCKER_HUB;
  const slash = rest.indexOf("/");
  const first = slash < 0 ? "" : rest.slice(0, slash);
  if (first && (first.includes(".") || first.includes(":") || first === "localhost")) {
    if (!HOST.test(first)) return { error: `"${text}": "${first}" is not a registry host` };
    registry = first === "index.docker.io" ? DOCKER_HUB : first.toLowerCase();
    rest = rest.slice(slash + 1);
  }
  let tag: string | undefined;
  const colon = rest.lastIndexOf(":");
  if (colon >= 0) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!TAG.test(tag)) return { error: `"${text}": "${tag}" is not a valid tag` };
  }
  const written = rest;
  if (registry === DOCKER_HUB && rest && !rest.includes("/")) rest = `library/${rest}`;
  const components = rest.split("/");
  if (!rest || components.some((c) => !COMPONENT.test(c)))
    return {
      error: `"${text}": "${written}" is not a valid repository name (lowercase letters, digits, and . _ - between them)`,
    };
  if (rest.length > 255) return { error: `"${text}": the repository name is longer than 255` };
  if (tag === undefined && digest === undefined) tag = "latest";
  return {
    registry,
    repository: rest,
    ...(tag !== undefined ? { tag } : {}),
    ...(digest !== undefined ? { digest } : {}),
  };
}

/** The reference text on `host` (by default its own registry). */
export function formatImage(ref: ImageReference, host = ref.registry): string {
  return `${host}/${ref.repository}${ref.tag !== undefined ? `:${ref.tag}` : ""}${ref.digest ? `@${ref.digest}` : ""}`;
}

/** True when the reference pins a digest: the tag, if any, is never resolved. */
export function byDigest(ref: ImageReference): boolean {
  return ref.digest !== undefined;
}

/**
 * An image reference as a runtime sees it: repository plus tag and/or digest (Docker Hub
 * names normalised), and the registry when it is not Docker Hub (the scenario's other
 * origins: `registries`).
 */
export interface ImageRef {
  /** The registry host when it is not Docker Hub (absent: docker.io). */
  registry?: string;
  repository: string;
  tag?: string;
  digest?: string;
}

/**
 * "nginx" -> library/nginx:latest, "myorg/api:1" -> myorg/api:1, "x@sha256:..." keeps
 * the digest, "ghcr.io/acme/api:1" -> acme/api:1 on registry ghcr.io: a reference as
 * the simulator's catalogs serve it.
 */
export function parseReference(text: string): ImageRef | { error: string } {
  const parsed = parseImageReference(text);
  if ("error" in parsed) return parsed;
  const { registry, ...ref } = parsed;
  return registry === DOCKER_HUB ? ref : { registry, ...ref };
}

/** The reference as text: "library/nginx:1.25", "ghcr.io/acme/api:1" (how content stores key images). */
export function formatReference(ref: ImageRef): string {
  return `${ref.registry ? `${ref.registry}/` : ""}${ref.repository}${ref.tag ? `:${ref.tag}` : ""}${ref.digest ? `@${ref.digest}` : ""}`;
}

/** The same image at another tag or digest: its registry and repository kept. */
export function withReference(ref: ImageRef, at: { tag: string } | { digest: string }): ImageRef {
  return { ...(ref.registry ? { registry: ref.registry } : {}), repository: ref.repository, ...at };
}

/** kubelet's default pull policy: Always for `latest` or no tag, IfNotPresent otherwise; digests IfNotPresent. */
export function defaultPullPolicy(ref: ImageRef): "Always" | "IfNotPresent" {
  if (ref.digest) return "IfNotPresent";
  return ref.tag === undefined || ref.tag === "latest" ? "Always" : "IfNotPresent";
}
