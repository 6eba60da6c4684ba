import { BoundedMap, type EvictionListener } from "../core/bounded.ts";
import type { RegistryMetrics } from "../core/metrics.ts";
import type { Limit } from "./types.ts";

/** The outcome of counting one request against one key. */
export interface QuotaState {
  admitted: boolean;
  /** Cost units used in the current window after this request (or at this moment, for peek). */
  used: number;
  remaining: number;
  /** How long until the next unit frees up, ms of registry time (0 when some remain). */
  retryAfterMs: number;
  /**
   * The store could not be asked and fails open: the request was admitted
   * without being counted, so used and remaining mean nothing (no RateLimit
   * headers are sent).
   */
  unchecked?: boolean;
}

/** What a shared store does while it cannot be reached (`--store-failure`). */
export type StoreFailureMode = "open" | "closed";

/**
 * Where quota counters live. Every call is atomic per key: the memory store
 * does all its work synchronously inside the call, so no interleaving of
 * concurrent requests can admit one past the limit; a shared store (Redis)
 * must do the same in one server-side step.
 */
export interface QuotaStore {
  consume(key: string, limit: Limit, cost: number, now: number): Promise<QuotaState>;
  peek(key: string, limit: Limit, now: number): Promise<QuotaState>;
  /** Raw window hits, for ban thresholds: counts every request, admitted or not. */
  hit(key: string, windowMs: number, now: number): Promise<number>;
  reset(): Promise<void>;
  /** What the store is, for logs and metrics: "memory", "redis://HOST:PORT/DB". */
  readonly name?: string;
  /** False while a shared store cannot be reached (pullstorm_quota_store_up). */
  readonly up?: boolean;
  /** Lets a shared store count its failures in a registry's metrics. */
  instrument?(metrics: RegistryMetrics): void;
  /** Releases connections; the store is unusable afterwards. */
  close?(): Promise<void>;
}

/**
 * A shared store that fails closed could not be asked: the registry answers
 * 503 UNAVAILABLE naming the store instead of guessing.
 */
export class QuotaStoreUnavailableError extends Error {
  override name = "QuotaStoreUnavailableError";
  readonly store: string;
  /** What the registry does about it, for the client: "refusing requests it would count ...". */
  readonly consequence: string;
  constructor(
    store: string,
    cause: unknown,
    consequence = "refusing requests it would count (--store-failure closed)",
  ) {
    super(
      `quota store ${store} unreachable: ${cause instanceof Error ? cause.message : String(cause)}`,
      { cause },
    );
    this.store = store;
    this.consequence = consequence;
  }
}

/**
 * Rolling window as an exact log of admission times, run-length encoded: one
 * entry per distinct millisecond with how many units were admitted then, so a
 * key admitting thousands a second keeps at most one entry per millisecond of
 * its window instead of one per request.
 */
class RollingLog {
  times: number[] = [];
  counts: number[] = [];
  head = 0;
  /** Units admitted within the window (as of the last prune). */
  total = 0;

  prune(now: number, windowMs: number): void {
    while (this.head < this.times.length && (this.times[this.head] as number) <= now - windowMs) {
      this.total -= this.counts[this.head] as number;
      this.head++;
    }
    if (this.head > 1024 && this.head * 2 > this.times.length) {
      this.times = this.times.slice(this.head);
      this.counts = this.counts.slice(this.head);
      this.head = 0;
    }
  }

  add(now: number, cost: number): void {
    const last = this.times.length - 1;
    if (last >= this.head && this.times[last] === now) {
      this.counts[last] = (this.counts[last] as number) + cost;
    } else {
      this.times.push(now);
      this.counts.push(cost);
    }
    this.total += cost;
  }

  get count(): number {
    return this.total;
  }

  oldest(): number | undefined {
    return this.head < this.times.length ? this.times[this.head] : undefined;
  }

  /** The latest admission, if any: once it has left the window, the log is as good as empty. */
  newest(): number | undefined {
    return this.head < this.times.length ? this.times[this.times.length - 1] : undefined;
  }
}

interface FixedCounter {
  windowStart: number;
  used: number;
}

/** GCRA state: the theoretical arrival time of the next request. */
interface Gcra {
  tat: number;
}

function rolling(
  log: RollingLog,
  limit: Limit,
  cost: number,
  now: number,
  commit: boolean,
): QuotaState {
  log.prune(now, limit.windowMs);
  const used = log.count;
  const admitted = used + cost <= limit.limit;
  if (admitted && commit && cost > 0) log.add(now, cost);
  const after = admitted && commit ? used + cost : used;
  const oldest = log.oldest();
  const retryAfterMs =
    after >= limit.limit && oldest !== undefined ? oldest + limit.windowMs - now : 0;
  return { admitted, used: after, remaining: Math.max(0, limit.limit - after), retryAfterMs };
}

function fixed(
  counter: FixedCounter,
  limit: Limit,
  cost: number,
  now: number,
  commit: boolean,
): QuotaState {
  const windowStart = Math.floor(now / limit.windowMs) * limit.windowMs;
  if (counter.windowStart !== windowStart) {
    counter.windowStart = windowStart;
    counter.used = 0;
  }
  const admitted = counter.used + cost <= limit.limit;
  if (admitted && commit) counter.used += cost;
  const remaining = Math.max(0, limit.limit - counter.used);
  return {
    admitted,
    used: counter.used,
    remaining,
    retryAfterMs: remaining === 0 || !admitted ? windowStart + limit.windowMs - now : 0,
  };
}

/** Generic cell rate algorithm: steady rate limit/window, `burst` extra at once. */
function gcra(state: Gcra, limit: Limit, cost: number, now: number, commit: boolean): QuotaState {
  const interval = limit.windowMs / limit.limit;
  const tolerance = interval * (limit.burst ?? 0);
  const tat = Math.max(state.tat, now);
  const newTat = tat + interval * cost;
  const allowAt = newTat - interval - tolerance;
  const admitted = cost === 0 || allowAt <= now;
  if (admitted && commit) state.tat = newTat;
  const effective = admitted && commit ? newTat : tat;
  const capacity = (limit.burst ?? 0) + 1;
  // max(0, ...): never -0 when nothing is pending.
  const used = Math.min(capacity, Math.max(0, Math.ceil((effective - now) / interval - 1e-9)));
  return {
    admitted,
    used,
    remaining: Math.max(0, capacity - used),
    retryAfterMs: admitted ? 0 : Math.max(0, allowAt - now),
  };
}

/** Per window length, then per key: no key string is built per request (`${windowMs}:${key}` was). */
type ByWindow<T> = Map<number, BoundedMap<T>>;

/**
 * A store that answers at once (memory): the enforcer asks it without
 * awaiting, which saves a few turns of the microtask queue per request.
 */
export interface ImmediateQuotaStore {
  consumeNow(key: string, limit: Limit, cost: number, now: number): QuotaState;
  peekNow(key: string, limit: Limit, now: number): QuotaState;
  hitNow(key: string, windowMs: number, now: number): number;
}

export function isImmediate(store: QuotaStore): store is QuotaStore & ImmediateQuotaStore {
  return typeof (store as Partial<ImmediateQuotaStore>).consumeNow === "function";
}

/**
 * The default store: counters in this process's memory. Bounded: a counter
 * whose window has passed is dropped (it is then as good as a new one), and
 * past `maxKeys` counters per rule window (a served registry's --max-clients;
 * no limit by default) the least recently used is evicted (that client starts
 * afresh), counted in pullstorm_state_evictions_total.
 */
export class MemoryQuotaStore implements QuotaStore, ImmediateQuotaStore {
  readonly name = "memory";
  readonly up = true;
  private readonly logs: ByWindow<RollingLog> = new Map();
  private readonly fixedCounters: ByWindow<FixedCounter> = new Map();
  private readonly cells: ByWindow<Gcra> = new Map();
  private readonly hits: ByWindow<FixedCounter> = new Map();
  private readonly maxKeys: number;
  private onEvict: EvictionListener | undefined;

  constructor(options: { maxKeys?: number } = {}) {
    this.maxKeys = options.maxKeys ?? Number.POSITIVE_INFINITY;
  }

  /** Evictions go to the registry's metrics (and its log). */
  instrument(metrics: RegistryMetrics): void {
    this.onEvict = (state, n) => metrics.noteEviction(state, n);
    for (const maps of [this.logs, this.fixedCounters, this.cells, this.hits])
      for (const byKey of maps.values()) byKey.onEvict = this.onEvict;
  }

  /** Counters held now (all rules and windows), for tests and reports. */
  get size(): number {
    let n = 0;
    for (const maps of [this.logs, this.fixedCounters, this.cells, this.hits])
      for (const byKey of maps.values()) n += byKey.size;
    return n;
  }

  private slot<T>(
    maps: ByWindow<T>,
    windowMs: number,
    expiresAt: (value: T) => number,
  ): BoundedMap<T> {
    let byKey = maps.get(windowMs);
    if (!byKey) {
      byKey = new BoundedMap<T>({
        state: "quota",
        max: this.maxKeys,
        expiresAt,
        ...(this.onEvict ? { onEvict: this.onEvict } : {}),
      });
      maps.set(windowMs, byKey);
    }
    return byKey;
  }

  async consume(key: string, limit: Limit, cost: number, now: number): Promise<QuotaState> {
    return this.apply(key, limit, cost, now, true);
  }

  async peek(key: string, limit: Limit, now: number): Promise<QuotaState> {
    return this.apply(key, limit, 0, now, false);
  }

  async hit(key: string, windowMs: number, now: number): Promise<number> {
    return this.hitNow(key, windowMs, now);
  }

  consumeNow(key: string, limit: Limit, cost: number, now: number): QuotaState {
    return this.apply(key, limit, cost, now, true);
  }

  peekNow(key: string, limit: Limit, now: number): QuotaState {
    return this.apply(key, limit, 0, now, false);
  }

  hitNow(key: string, windowMs: number, now: number): number {
    const hits = this.slot(this.hits, windowMs, (c: FixedCounter) => c.windowStart + windowMs);
    let counter = hits.get(key, now);
    if (!counter) {
      counter = { windowStart: 0, used: 0 };
      hits.set(key, counter, now);
    }
    return fixed(
      counter,
      { limit: Number.MAX_SAFE_INTEGER, windowMs, algorithm: "fixed" },
      1,
      now,
      true,
    ).used;
  }

  async reset(): Promise<void> {
    this.logs.clear();
    this.fixedCounters.clear();
    this.cells.clear();
    this.hits.clear();
  }

  private apply(key: string, limit: Limit, cost: number, now: number, commit: boolean): QuotaState {
    switch (limit.algorithm) {
      case "rolling": {
        const windowMs = limit.windowMs;
        const logs = this.slot(
          this.logs,
          windowMs,
          (log: RollingLog) => (log.newest() ?? Number.NEGATIVE_INFINITY) + windowMs,
        );
        let log = logs.get(key, now);
        if (!log) {
          // A peek needs no record: an absent log is an empty one.
          if (!commit || cost === 0) return rolling(new RollingLog(), limit, cost, now, false);
          log = new RollingLog();
          logs.set(key, log, now);
        }
        return rolling(log, limit, cost, now, commit);
      }
      case "fixed": {
        const windowMs = limit.windowMs;
        const counters = this.slot(
          this.fixedCounters,
          windowMs,
          (c: FixedCounter) => c.windowStart + windowMs,
        );
        let counter = counters.get(key, now);
        if (!counter) {
          counter = { windowStart: 0, used: 0 };
          if (!commit || cost === 0) return fixed(counter, limit, cost, now, false);
          counters.set(key, counter, now);
        }
        return fixed(counter, limit, cost, now, commit);
      }
      case "gcra": {
        const cells = this.slot(this.cells, limit.windowMs, (cell: Gcra) => cell.tat);
        let cell = cells.get(key, now);
        if (!cell) {
          cell = { tat: 0 };
          if (!commit || cost === 0) return gcra(cell, limit, cost, now, false);
          cells.set(key, cell, now);
        }
        return gcra(cell, limit, cost, now, commit);
      }
    }
  }
}
