/**
 * Registry endpoints as configuration files name them ("https://mirror.corp:5000",
 * "mirror.corp:5000/v2/dockerhub", "registry-1.docker.io"), and which of them
 * are the registry itself rather than a mirror of it.
 */
import { DOCKER_HUB } from "../vocabulary/oci/reference.ts";

export interface Endpoint {
  /** Exactly as written in the configuration. */
  raw: string;
  scheme: "http" | "https";
  /** host[:port], lower case; the scheme's default port dropped. */
  host: string;
  /** Path prefix without a trailing slash ("" for none), e.g. "/v2/dockerhub". */
  path: string;
}

/** The names Docker Hub answers under: all of them are Docker Hub, never a mirror of it. */
export const HUB_ENDPOINTS = ["docker.io", "registry-1.docker.io", "index.docker.io"];

/**
 * Parses an endpoint the way containerd does for hosts.toml (a missing scheme
 * means https). Errors say what is wrong in a sentence.
 */
export function parseEndpoint(raw: string): Endpoint | { error: string } {
  const text = raw.trim();
  if (!text) return { error: "is empty" };
  const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(text) ? text : `https://${text}`;
  let url: URL;
  try {
    url = new URL(withScheme);
  } catch {
    return { error: `"${raw}" is not a host or URL` };
  }
  const scheme = url.protocol.replace(/:$/, "");
  if (scheme !== "http" && scheme !== "https")
    return { error: `"${raw}": only http and https registries exist (got ${scheme}://)` };
  if (!url.hostname) return { error: `"${raw}" names no host` };
  if (url.username || url.password)
    return { error: `"${raw}": credentials do not belong in the URL` };
  if (url.search || url.hash) return { error: `"${raw}": a registry URL has no query or fragment` };
  const path = url.pathname.replace(/\/+$/, "");
  return { raw, scheme, host: url.host.toLowerCase(), path };
}

/** The registry a host name is: Docker Hub's names are all "docker.io". */
export function registryOfHost(host: string): string {
  const h = host.toLowerCase();
  const bare = h.replace(/:443$/, "");
  return HUB_ENDPOINTS.includes(bare) ? DOCKER_HUB : h;
}

/**
 * Whether a host named in the configuration of an image is the registry itself
 * (the image's registry, or Docker Hub under any name) or a mirror of it.
 */
export function roleOfHost(host: string, imageRegistry: string): "mirror" | "upstream" {
  const registry = registryOfHost(host);
  return registry === registryOfHost(imageRegistry) || registry === DOCKER_HUB
    ? "upstream"
    : "mirror";
}

/** containerd's certs.d directory name for a host: "host:port" is also looked up as "host_port_". */
export function hostDirectoryName(host: string): string {
  const i = host.lastIndexOf(":");
  return i > 0 ? `${host.slice(0, i)}_${host.slice(i + 1)}_` : host;
}

/** True for 127.0.0.0/8 and ::1 only: where every request check-mirror makes must go. */
export function isLoopbackHost(host: string): boolean {
  let h = host;
  if (h.startsWith("[")) h = h.slice(1, h.indexOf("]"));
  else if (h.includes(":") && h.split(":").length === 2) h = h.split(":")[0] as string;
  if (h === "::1") return true;
  const parts = h.split(".");
  return (
    parts.length === 4 &&
    parts[0] === "127" &&
    parts.every((p) => /^\d{1,3}$/.test(p) && Number(p) <= 255)
  );
}
