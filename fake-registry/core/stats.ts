import type { EndpointKind, Identity } from "./types.ts";

type Counts = Record<string, Record<string, Record<string, number>>>;

export interface IdentityStats {
  type: Identity["type"];
  total: number;
  /** Pulls the registry charged this identity (a multi-arch pull is one; HEADs none). */
  pulls: number;
  byKind: Counts;
}

export interface StatsSnapshot {
  since: string;
  total: number;
  /** Pulls the registry charged, as its pull limit counts them (not requests: an index GET and its platform manifest GET are one). */
  pulls: number;
  /** kind -> method -> status -> count */
  byKind: Counts;
  /** client IP (anonymous) or account name -> counts */
  byIdentity: Record<string, IdentityStats>;
}

function bump(counts: Counts, kind: string, method: string, status: number): void {
  const byMethod = counts[kind] ?? {};
  counts[kind] = byMethod;
  const byStatus = byMethod[method] ?? {};
  byMethod[method] = byStatus;
  byStatus[status] = (byStatus[status] ?? 0) + 1;
}

/** Request counts by endpoint kind, method and status, overall and per client identity. */
export class Stats {
  private since = new Date();
  private total = 0;
  private pulls = 0;
  private byKind: Counts = {};
  private byIdentity = new Map<string, IdentityStats>();

  record(kind: EndpointKind, method: string, status: number, identity: Identity, pulls = 0): void {
    this.total++;
    this.pulls += pulls;
    bump(this.byKind, kind, method, status);
    let entry = this.byIdentity.get(identity.key);
    if (!entry) {
      entry = { type: identity.type, total: 0, pulls: 0, byKind: {} };
      this.byIdentity.set(identity.key, entry);
    }
    entry.total++;
    entry.pulls += pulls;
    bump(entry.byKind, kind, method, status);
  }

  /** How many requests of a kind and method were answered (any status unless given). */
  count(kind: EndpointKind, method: string, status?: number): number {
    const byStatus = this.byKind[kind]?.[method] ?? {};
    if (status !== undefined) return byStatus[status] ?? 0;
    return Object.values(byStatus).reduce((a, b) => a + b, 0);
  }

  snapshot(): StatsSnapshot {
    return {
      since: this.since.toISOString(),
      total: this.total,
      pulls: this.pulls,
      byKind: structuredClone(this.byKind),
      byIdentity: Object.fromEntries([...this.byIdentity].map(([k, v]) => [k, structuredClone(v)])),
    };
  }

  reset(): void {
    this.since = new Date();
    this.total = 0;
    this.pulls = 0;
    this.byKind = {};
    this.byIdentity.clear();
  }
}
