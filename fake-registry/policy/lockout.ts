import { BoundedMap, type EvictionListener } from "../core/bounded.ts";
import type { LoginLockout } from "./types.ts";

/** One username's or address's recent failed logins, and its lock. */
interface Failures {
  /** Registry times of the failures still within the window, oldest first. */
  times: number[];
  windowMs: number;
  lockedUntil?: number;
}

/**
 * Failed logins at the token service: past `attempts` failures within the
 * window, both the username and the client address are locked out for `lockMs`
 * (docker/hub-feedback #2201: "too many failed login attempts for username or IP address").
 * Bounded: a record whose failures have left the window and whose lock has
 * passed is dropped; past `maxKeys` records (if given) the least recently used is evicted.
 */
export class LoginLockouts {
  /** A single failure is kept as its time alone (most of a flood of distinct clients). */
  private readonly records: BoundedMap<Failures | number>;
  /** The longest window any rule used: a lone failure is kept at least that long. */
  private longestWindowMs = 0;

  constructor(options: { maxKeys?: number; onEvict?: EvictionListener } = {}) {
    this.records = new BoundedMap<Failures | number>({
      state: "lockout",
      ...(options.maxKeys ? { max: options.maxKeys } : {}),
      expiresAt: (r) =>
        typeof r === "number"
          ? r + this.longestWindowMs
          : Math.max(r.lockedUntil ?? Number.NEGATIVE_INFINITY, (r.times.at(-1) ?? 0) + r.windowMs),
      ...(options.onEvict ? { onEvict: options.onEvict } : {}),
    });
  }

  set onEvict(listener: EvictionListener) {
    this.records.onEvict = listener;
  }

  /** Registry time until which this username or IP is locked, if it is. */
  lockedUntilFor(keys: string[], now: number): number | undefined {
    let until: number | undefined;
    for (const key of keys) {
      const record = this.records.get(key, now);
      const t = typeof record === "object" ? record.lockedUntil : undefined;
      if (t !== undefined && t > now) until = Math.max(until ?? 0, t);
    }
    return until;
  }

  recordFailure(keys: string[], now: number, rule: LoginLockout): void {
    this.longestWindowMs = Math.max(this.longestWindowMs, rule.windowMs);
    for (const key of keys) {
      const found = this.records.get(key, now);
      if (found === undefined && rule.attempts > 1) {
        this.records.set(key, now, now);
        continue;
      }
      const record: Failures =
        typeof found === "object"
          ? found
          : { times: found === undefined ? [] : [found], windowMs: rule.windowMs };
      record.windowMs = rule.windowMs;
      record.times = record.times.filter((t) => t > now - rule.windowMs);
      record.times.push(now);
      // Only whether `attempts` failures fall within the window matters: older ones need not be kept.
      if (record.times.length > rule.attempts)
        record.times.splice(0, record.times.length - rule.attempts);
      if (record.times.length >= rule.attempts) record.lockedUntil = now + rule.lockMs;
      this.records.set(key, record, now);
    }
  }

  /** Usernames and addresses remembered now, for tests. */
  get size(): number {
    return this.records.size;
  }

  reset(): void {
    this.records.clear();
  }
}
