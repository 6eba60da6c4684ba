import { isIPv6 } from "node:net";
import type { Identity } from "../core/types.ts";
import type { Subject } from "./types.ts";

/** The IPv6 /64 prefix an address belongs to, as Docker Hub groups IPv6 clients. */
export function ipv6Prefix64(address: string): string {
  const [head = "", tail = ""] = address.split("::");
  const left = head ? head.split(":") : [];
  const right = tail ? tail.split(":") : [];
  const groups = address.includes("::")
    ? [...left, ...Array(8 - left.length - right.length).fill("0"), ...right]
    : left;
  return `${groups
    .slice(0, 4)
    .map((g) => (Number.parseInt(g || "0", 16) || 0).toString(16))
    .join(":")}::/64`;
}

/** The address as a quota source: IPv4 as is, IPv6 grouped by /64. */
export function ipSource(ip: string): string {
  // No colon, no IPv6: skips isIPv6's long regular expression for every IPv4 client.
  return ip.includes(":") && isIPv6(ip) ? ipv6Prefix64(ip) : ip;
}

/**
 * Subject keys by kind and name, made once: the names (a client's address, an
 * account from a cached token) are the same string objects request after
 * request, so these lookups are cheap, and the keys they return are too when
 * the quota store looks them up in turn. A key built afresh on every request
 * had to be hashed again at every lookup. Cleared when very large (a storm of
 * distinct addresses), never otherwise: they are only names.
 */
const subjects = new Map<string, Map<string, { key: string; source: string }>>();
// A cache, not state: a flood of distinct clients refills it, nothing is lost.
const SUBJECTS_MAX = 10_000;

function subject(kind: "ip" | "account" | "org" | "token", name: string, source = name) {
  let byName = subjects.get(kind);
  if (!byName) {
    byName = new Map();
    subjects.set(kind, byName);
  }
  let found = byName.get(name);
  if (!found) {
    if (byName.size >= SUBJECTS_MAX) byName.clear();
    found = { key: `${kind}:${name}`, source };
    byName.set(name, found);
  }
  return found;
}

function byIp(ip: string): { key: string; source: string } {
  let byName = subjects.get("ip-source");
  if (!byName) {
    byName = new Map();
    subjects.set("ip-source", byName);
  }
  let found = byName.get(ip);
  if (!found) {
    if (byName.size >= SUBJECTS_MAX) byName.clear();
    const source = ipSource(ip);
    found = { key: `ip:${source}`, source };
    byName.set(ip, found);
  }
  return found;
}

const GLOBAL = { key: "global", source: "global" };

/**
 * The key a rule counts this identity under, and the value shown in
 * docker-ratelimit-source. The object returned is shared: do not change it.
 */
export function subjectKey(
  identity: Identity,
  anonymousBy: Subject,
  authenticatedBy: Subject,
): { readonly key: string; readonly source: string } {
  const by = identity.type === "account" ? authenticatedBy : anonymousBy;
  switch (by) {
    case "ip":
      return byIp(identity.ip);
    case "account":
      return identity.type === "account" ? subject("account", identity.key) : byIp(identity.ip);
    case "org": {
      const org = identity.type === "account" ? (identity.org ?? identity.key) : undefined;
      return org ? subject("org", org) : byIp(identity.ip);
    }
    case "token": {
      const id = identity.tokenId ?? `ip:${ipSource(identity.ip)}`;
      return subject("token", id);
    }
    case "global":
      return GLOBAL;
  }
}

export function planOf(identity: Identity): string {
  return identity.type === "account" ? identity.plan : "anonymous";
}

/** 127.0.0.0/8 and ::1 (also IPv4-mapped): the only clients control endpoints trust by default. */
export function isLoopback(ip: string): boolean {
  const v4 = ip.startsWith("::ffff:") ? ip.slice(7) : ip;
  return v4.startsWith("127.") || ip === "::1";
}
