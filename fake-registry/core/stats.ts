import type { EndpointKind, Identity } from "./types.ts";

type Counts = Record<string, Record<string, Record<string, number>>>;

export interface IdentityStats {
  type: Identity["type"];
  total: number;
  byKind: Counts;
}

export interface StatsSnapshot {
  since: string;
  total: number;
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
  private byKind: Counts = {};
  private byIdentity = new Map<string, IdentityStats>();

  record(kind: EndpointKind, method: string, status: number, identity: Identity): void {
    this.total++;
    bump(this.byKind, kind, method, status);
    let entry = this.byIdentity.get(identity.key);
    if (!entry) {
      entry = { type: identity.type, total: 0, byKind: {} };
      this.byIdentity.set(identity.key, entry);
    }
    entry.total++;
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
      byKind: structuredClone(this.byKind),
      byIdentity: Object.fromEntries([...this.byIdentity].map(([k, v]) => [k, structuredClone(v)])),
    };
  }

  reset(): void {
    this.since = new Date();
    this.total = 0;
    this.byKind = {};
    this.byIdentity.clear();
  }
}
