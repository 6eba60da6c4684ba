import { BoundedMap, type EvictionListener } from "./bounded.ts";
import type { EndpointKind, Identity } from "./types.ts";

type Counts = Record<string, Record<string, Record<string, number>>>;
/** kind -> method -> status -> count, in Maps: a method or status never meets Object.prototype. */
type CountMaps = Map<string, Map<string, Map<number, number>>>;

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
  /** Identities counted now (byIdentity may hold a page of them). */
  identities: number;
  /** client IP (anonymous) or account name -> counts */
  byIdentity: Record<string, IdentityStats>;
  /** Identities evicted to stay under the cap, and the requests and pulls they had (still in total and pulls). */
  evicted: { identities: number; total: number; pulls: number };
}

/**
 * One identity's counts, kept small (a flood brings one per client): the
 * first `kind\nmethod\nstatus` it was answered with, and a Map
 * (`kind\nmethod\nstatus` -> count) only once a second one comes.
 */
interface IdentityEntry {
  type: Identity["type"];
  total: number;
  pulls: number;
  first: string;
  counts: Map<string, number> | undefined;
}

/** The `kind\nmethod\nstatus` keys, one string each (a flood of clients shares them). */
const countKeys = new Map<string, Map<string, Map<number, string>>>();

function countKey(kind: string, method: string, status: number): string {
  let byMethod = countKeys.get(kind);
  if (!byMethod) {
    byMethod = new Map();
    countKeys.set(kind, byMethod);
  }
  let byStatus = byMethod.get(method);
  if (!byStatus) {
    // Methods outside HTTP's (in-process callers may send any): not interned.
    if (byMethod.size > 64) return `${kind}\n${method}\n${status}`;
    byStatus = new Map();
    byMethod.set(method, byStatus);
  }
  let key = byStatus.get(status);
  if (key === undefined) {
    key = `${kind}\n${method}\n${status}`;
    if (byStatus.size < 1000) byStatus.set(status, key);
  }
  return key;
}

function countsOf(entry: IdentityEntry): Map<string, number> {
  return entry.counts ?? new Map([[entry.first, entry.total]]);
}

function unflatten(counts: Map<string, number>): CountMaps {
  const maps: CountMaps = new Map();
  for (const [key, n] of counts) {
    const [kind = "", method = "", status = "0"] = key.split("\n");
    let byMethod = maps.get(kind);
    if (!byMethod) {
      byMethod = new Map();
      maps.set(kind, byMethod);
    }
    let byStatus = byMethod.get(method);
    if (!byStatus) {
      byStatus = new Map();
      byMethod.set(method, byStatus);
    }
    byStatus.set(Number(status), n);
  }
  return maps;
}

function bump(counts: CountMaps, kind: string, method: string, status: number): void {
  let byMethod = counts.get(kind);
  if (!byMethod) {
    byMethod = new Map();
    counts.set(kind, byMethod);
  }
  let byStatus = byMethod.get(method);
  if (!byStatus) {
    byStatus = new Map();
    byMethod.set(method, byStatus);
  }
  byStatus.set(status, (byStatus.get(status) ?? 0) + 1);
}

/** Plain objects for JSON (Object.fromEntries makes own properties, whatever the key). */
function plain(counts: CountMaps): Counts {
  return Object.fromEntries(
    [...counts].map(([kind, byMethod]) => [
      kind,
      Object.fromEntries(
        [...byMethod].map(([method, byStatus]) => [
          method,
          Object.fromEntries([...byStatus].map(([s, n]) => [String(s), n])),
        ]),
      ),
    ]),
  );
}

/**
 * Request counts by endpoint kind, method and status, overall and per client
 * identity. Per identity, bounded: past `maxIdentities` the least recently
 * counted identity is evicted (its requests stay in the totals and in
 * `evicted`).
 */
export class Stats {
  private since = new Date();
  private total = 0;
  private pulls = 0;
  private byKind: CountMaps = new Map();
  private readonly byIdentity: BoundedMap<IdentityEntry>;
  private evicted = { identities: 0, total: 0, pulls: 0 };

  constructor(options: { maxIdentities?: number; onEvict?: EvictionListener } = {}) {
    this.byIdentity = new BoundedMap<IdentityEntry>({
      state: "stats",
      ...(options.maxIdentities ? { max: options.maxIdentities } : {}),
      ...(options.onEvict ? { onEvict: options.onEvict } : {}),
      evicted: (_key, entry) => {
        this.evicted.identities++;
        this.evicted.total += entry.total;
        this.evicted.pulls += entry.pulls;
      },
    });
  }

  record(kind: EndpointKind, method: string, status: number, identity: Identity, pulls = 0): void {
    this.total++;
    this.pulls += pulls;
    bump(this.byKind, kind, method, status);
    let entry = this.byIdentity.get(identity.key, 0);
    const key = countKey(kind, method, status);
    if (!entry) {
      entry = { type: identity.type, total: 0, pulls: 0, first: key, counts: undefined };
      this.byIdentity.set(identity.key, entry, 0);
    }
    if (!entry.counts && key !== entry.first) entry.counts = countsOf(entry);
    entry.total++;
    entry.pulls += pulls;
    if (entry.counts) entry.counts.set(key, (entry.counts.get(key) ?? 0) + 1);
  }

  /** How many requests of a kind and method were answered (any status unless given). */
  count(kind: EndpointKind, method: string, status?: number): number {
    const byStatus = this.byKind.get(kind)?.get(method);
    if (!byStatus) return 0;
    if (status !== undefined) return byStatus.get(status) ?? 0;
    let n = 0;
    for (const c of byStatus.values()) n += c;
    return n;
  }

  /** Identities counted now. */
  get identities(): number {
    return this.byIdentity.size;
  }

  /** Identity keys in order (sorted), for paging. */
  identityKeys(): string[] {
    return [...this.byIdentity.keys()].sort();
  }

  /** One identity's counts, if it is counted. */
  identity(key: string): IdentityStats | undefined {
    const entry = this.byIdentity.peek(key);
    return entry
      ? {
          type: entry.type,
          total: entry.total,
          pulls: entry.pulls,
          byKind: plain(unflatten(countsOf(entry))),
        }
      : undefined;
  }

  /**
   * The totals, and every identity (or those of `keys`): a registry with
   * many clients pages them (control.ts) instead of listing all.
   */
  snapshot(keys?: Iterable<string>): StatsSnapshot {
    const entries: [string, IdentityStats][] = [];
    for (const key of keys ?? this.identityKeys()) {
      const found = this.identity(key);
      if (found) entries.push([key, found]);
    }
    const byIdentity: Record<string, IdentityStats> = Object.fromEntries(entries);
    return {
      since: this.since.toISOString(),
      total: this.total,
      pulls: this.pulls,
      byKind: plain(this.byKind),
      identities: this.byIdentity.size,
      byIdentity,
      evicted: { ...this.evicted },
    };
  }

  reset(): void {
    this.since = new Date();
    this.total = 0;
    this.pulls = 0;
    this.byKind = new Map();
    this.evicted = { identities: 0, total: 0, pulls: 0 };
    this.byIdentity.clear();
  }
}
