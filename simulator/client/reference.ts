/** An image reference as a runtime sees it: repository plus tag and/or digest (Docker Hub names normalised). */
export interface ImageRef {
  repository: string;
  tag?: string;
  digest?: string;
}

/** "nginx" -> library/nginx:latest, "myorg/api:1" -> myorg/api:1, "x@sha256:..." keeps the digest. */
export function parseReference(text: string): ImageRef | { error: string } {
  let rest = text.trim();
  let digest: string | undefined;
  const at = rest.indexOf("@");
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!/^sha256:[a-f0-9]{64}$/.test(digest))
      return { error: `"${text}": the digest must be sha256:<64 hex>` };
  }
  let tag: string | undefined;
  const colon = rest.lastIndexOf(":");
  if (colon > rest.lastIndexOf("/")) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
  }
  if (rest.startsWith("docker.io/")) rest = rest.slice("docker.io/".length);
  if (!rest.includes("/")) rest = `library/${rest}`;
  if (!/^[a-z0-9]+(?:[._-][a-z0-9]+)*(?:\/[a-z0-9]+(?:[._-][a-z0-9]+)*)*$/.test(rest))
    return { error: `"${text}" is not a valid image reference` };
  if (tag === undefined && digest === undefined) tag = "latest";
  return { repository: rest, ...(tag !== undefined ? { tag } : {}), ...(digest ? { digest } : {}) };
}

export function formatReference(ref: ImageRef): string {
  return `${ref.repository}${ref.tag ? `:${ref.tag}` : ""}${ref.digest ? `@${ref.digest}` : ""}`;
}

/** kubelet's default pull policy: Always for `latest` or no tag, IfNotPresent otherwise; digests IfNotPresent. */
export function defaultPullPolicy(ref: ImageRef): "Always" | "IfNotPresent" {
  if (ref.digest) return "IfNotPresent";
  return ref.tag === undefined || ref.tag === "latest" ? "Always" : "IfNotPresent";
}
