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
  return isIPv6(ip) ? ipv6Prefix64(ip) : ip;
}

/** The key a rule counts this identity under, and the value shown in docker-ratelimit-source. */
export function subjectKey(
  identity: Identity,
  anonymousBy: Subject,
  authenticatedBy: Subject,
): { key: string; source: string } {
  const by = identity.type === "account" ? authenticatedBy : anonymousBy;
  switch (by) {
    case "ip": {
      const source = ipSource(identity.ip);
      return { key: `ip:${source}`, source };
    }
    case "account":
      return identity.type === "account"
        ? { key: `account:${identity.key}`, source: identity.key }
        : { key: `ip:${ipSource(identity.ip)}`, source: ipSource(identity.ip) };
    case "org": {
      const org = identity.type === "account" ? (identity.org ?? identity.key) : undefined;
      return org
        ? { key: `org:${org}`, source: org }
        : { key: `ip:${ipSource(identity.ip)}`, source: ipSource(identity.ip) };
    }
    case "token": {
      const id = identity.tokenId ?? `ip:${ipSource(identity.ip)}`;
      return { key: `token:${id}`, source: id };
    }
    case "global":
      return { key: "global", source: "global" };
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
