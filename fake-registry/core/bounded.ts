/**
 * Per-client records a served registry keeps at most, of each kind (quota
 * counters per rule window, lockout and ban entries, remembered index GETs,
 * stats per identity): `registry serve --max-clients` and `startFakeRegistry`
 * default to this. A flood of distinct clients then evicts the least recently
 * used first; records that expired with their window are dropped before that.
 * The simulator's own registries keep every record (its clients are its own:
 * an eviction there could move a verdict), and drop only expired ones.
 */
export const DEFAULT_MAX_CLIENTS = 100_000;

/** Which kind of per-client record was evicted (the `state` label of pullstorm_state_evictions_total). */
export type BoundedState = "quota" | "lockout" | "ban" | "pull-memory" | "stats";

/** Told how many records of a kind were evicted to stay under the cap. */
export type EvictionListener = (state: BoundedState, count: number) => void;

export interface BoundedMapOptions<V> {
  state: BoundedState;
  /** Records kept at most; past it the least recently used is evicted. Default: no limit. */
  max?: number;
  /**
   * The registry time from which a record is as good as absent (its window
   * has passed, so a new record would behave the same): it is then dropped,
   * which is not an eviction. Absent: records never expire.
   */
  expiresAt?(value: V): number;
  onEvict?: EvictionListener;
  /** A record's weight, as of its last `set` (default: none kept). */
  weight?(value: V): number;
  /** Total weight kept at most; past it the least recently used records are evicted. */
  maxWeight?: number;
  /** Each evicted record, before onEvict hears how many. */
  evicted?(key: string, value: V): void;
}

/**
 * A map of per-client records that stays bounded. A JavaScript Map keeps
 * insertion order, so moving a record to the end on every use makes its first
 * key the least recently used: past `max` that one is evicted and reported.
 * Expired records are swept: a sweep looks at every record once, and runs
 * after as many operations as there are records, so it costs O(1) per
 * operation. Nothing is allocated up front (an unbounded map costs nothing).
 */
export class BoundedMap<V> {
  private readonly map = new Map<string, V>();
  private readonly max: number;
  private readonly expiresAt: ((value: V) => number) | undefined;
  private readonly state: BoundedState;
  private readonly evicted: ((key: string, value: V) => void) | undefined;
  private readonly weight: ((value: V) => number) | undefined;
  private readonly maxWeight: number;
  /** Each record's weight as of its last set, and their sum (only with `weight`). */
  private readonly weights = new Map<string, number>();
  private totalWeight = 0;
  onEvict: EvictionListener | undefined;
  private operations = 0;

  constructor(options: BoundedMapOptions<V>) {
    this.state = options.state;
    this.max = Math.max(1, options.max ?? Number.POSITIVE_INFINITY);
    this.expiresAt = options.expiresAt;
    this.onEvict = options.onEvict;
    this.evicted = options.evicted;
    this.weight = options.weight;
    this.maxWeight = options.maxWeight ?? Number.POSITIVE_INFINITY;
  }

  /** The record (marking it recently used), sweeping expired ones when a sweep is due. */
  get(key: string, now: number): V | undefined {
    this.tick(now);
    const value = this.map.get(key);
    if (value !== undefined && this.max !== Number.POSITIVE_INFINITY) {
      this.map.delete(key);
      this.map.set(key, value);
    }
    return value;
  }

  /** The record without marking it used or sweeping (for reports). */
  peek(key: string): V | undefined {
    return this.map.get(key);
  }

  set(key: string, value: V, now: number): void {
    this.tick(now);
    if (this.weight) {
      const w = this.weight(value);
      this.totalWeight += w - (this.weights.get(key) ?? 0);
      this.weights.set(key, w);
    }
    if (this.max === Number.POSITIVE_INFINITY && this.maxWeight === Number.POSITIVE_INFINITY) {
      this.map.set(key, value);
      return;
    }
    if (this.map.has(key)) this.map.delete(key);
    this.map.set(key, value);
    if (this.map.size > this.max || this.totalWeight > this.maxWeight) {
      let evicted = 0;
      for (const [oldest, value] of this.map) {
        if (this.map.size <= this.max && this.totalWeight <= this.maxWeight) break;
        if (oldest === key) break;
        this.delete(oldest);
        this.evicted?.(oldest, value);
        evicted++;
      }
      if (evicted > 0) this.onEvict?.(this.state, evicted);
    }
  }

  delete(key: string): void {
    this.map.delete(key);
    if (this.weight) {
      this.totalWeight -= this.weights.get(key) ?? 0;
      this.weights.delete(key);
    }
  }

  get size(): number {
    return this.map.size;
  }

  clear(): void {
    this.map.clear();
    this.weights.clear();
    this.totalWeight = 0;
    this.operations = 0;
  }

  keys(): IterableIterator<string> {
    return this.map.keys();
  }

  /** Drops every record that has expired by `now`; returns how many. */
  sweep(now: number): number {
    this.operations = 0;
    const expiresAt = this.expiresAt;
    if (!expiresAt) return 0;
    let dropped = 0;
    // Deleting the entry being visited is safe while iterating a Map.
    for (const [key, value] of this.map)
      if (expiresAt(value) <= now) {
        this.delete(key);
        dropped++;
      }
    return dropped;
  }

  private tick(now: number): void {
    if (this.expiresAt && ++this.operations >= Math.max(1024, this.map.size)) this.sweep(now);
  }
}
