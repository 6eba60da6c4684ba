// The few registry requests a benchmark makes itself: a token, one manifest, the fake registry's stats.
import { createHash } from "node:crypto";

/** What pull clients (containerd, Docker) send: every manifest and index type. */
export const MANIFEST_ACCEPT = [
  "application/vnd.docker.distribution.manifest.list.v2+json",
  "application/vnd.oci.image.index.v1+json",
  "application/vnd.docker.distribution.manifest.v2+json",
  "application/vnd.oci.image.manifest.v1+json",
].join(", ");

export const SERVICE = "registry.pullstorm.test";

/** `name:tag` split at the tag. */
export function splitImage(image: string): { name: string; reference: string } {
  const at = image.lastIndexOf(":");
  return { name: image.slice(0, at), reference: image.slice(at + 1) };
}

/** A pull token for `repository` from the fake registry's token service, as `user:password`. */
export async function fetchToken(
  url: string,
  repository: string,
  credentials: string,
): Promise<string> {
  const query = new URLSearchParams({ service: SERVICE, scope: `repository:${repository}:pull` });
  const res = await fetch(`${url}/token?${query}`, {
    headers: { authorization: `Basic ${Buffer.from(credentials).toString("base64")}` },
  });
  const body = (await res.json()) as { token?: string };
  if (res.status !== 200 || !body.token)
    throw new Error(`token service answered ${res.status}: ${JSON.stringify(body)}`);
  return body.token;
}

export interface Fetched {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
  sha256: string;
}

export async function fetchBytes(url: string, headers: Record<string, string>): Promise<Fetched> {
  const res = await fetch(url, { headers });
  const body = Buffer.from(await res.arrayBuffer());
  return {
    status: res.status,
    headers: Object.fromEntries(res.headers),
    body,
    sha256: `sha256:${createHash("sha256").update(body).digest("hex")}`,
  };
}

export interface IdentityStats {
  total: number;
  quota?: Array<{ rule: string; used: number; remaining: number; limit: number }>;
}

/** The fake registry's counts for one identity (`/_pullstorm/stats`). */
export async function identityStats(url: string, identity: string): Promise<IdentityStats> {
  const res = await fetch(`${url}/_pullstorm/stats?identity=${encodeURIComponent(identity)}`);
  const body = (await res.json()) as { byIdentity: Record<string, IdentityStats> };
  return body.byIdentity[identity] ?? { total: 0 };
}

/** Used units of one quota rule for an identity, from its stats. */
export function quotaUsed(stats: IdentityStats, rule: string): number {
  return stats.quota?.find((q) => q.rule === rule)?.used ?? 0;
}
