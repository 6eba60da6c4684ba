// Quota counters in Redis, shared by registry replicas (docs/redis.md).
import { createRequire } from "node:module";
import type { Redis } from "ioredis";
import { ConfigError } from "../../vocabulary/config/yaml-file.ts";
import type { RegistryMetrics } from "../core/metrics.ts";
import {
  type QuotaState,
  type QuotaStore,
  QuotaStoreUnavailableError,
  type StoreFailureMode,
} from "./store.ts";
import type { Limit } from "./types.ts";

/** Where a Redis store lives, from `redis://HOST:PORT[/DB]`. */
export interface RedisAddress {
  host: string;
  port: number;
  db: number;
  /** The normalised URL, `redis://HOST:PORT/DB`: the store's name in logs and metrics. */
  url: string;
}

export const REDIS_URL_HINT = "redis://HOST:PORT[/DB]";

/** Parses `redis://HOST[:PORT][/DB]` (port 6379, db 0 by default); undefined when it is not one. */
export function parseRedisUrl(spec: string): RedisAddress | undefined {
  let url: URL;
  try {
    url = new URL(spec);
  } catch {
    return undefined;
  }
  if (url.protocol !== "redis:" || !url.hostname) return undefined;
  if (url.username || url.password || url.search || url.hash) return undefined;
  const port = url.port === "" ? 6379 : Number(url.port);
  if (!Number.isInteger(port) || port < 1 || port > 65535) return undefined;
  const path = url.pathname.replace(/^\//, "");
  if (path !== "" && !/^\d{1,4}$/.test(path)) return undefined;
  const db = path === "" ? 0 : Number(path);
  const host = url.hostname.replace(/^\[(.*)\]$/, "$1");
  const shown = host.includes(":") ? `[${host}]` : host;
  return { host, port, db, url: `redis://${shown}:${port}/${db}` };
}

/** The pino methods the store logs with (one warning when the store goes away, one line when it is back). */
export interface StoreLogger {
  info(fields: object, message: string): void;
  warn(fields: object, message: string): void;
}

export interface RedisQuotaStoreOptions {
  /** `redis://HOST:PORT[/DB]`. */
  url: string;
  /** While Redis cannot be reached: admit unchecked (open, default) or answer 503 (closed). */
  failure?: StoreFailureMode;
  /**
   * Which clock the windows run on. `redis` (default): the script reads Redis
   * TIME, scaled by `timeScale`, so every replica counts on one clock and the
   * caller's `now` is ignored. `caller`: the `now` each call passes (a manual
   * clock: tests and simulations).
   */
  time?: "redis" | "caller";
  /** Registry ms per wall ms (`--time-scale`): scales Redis TIME, and turns windows into wall TTLs. */
  timeScale?: number;
  /** Prefix of every key this store writes (default `pullstorm:`). */
  prefix?: string;
  /** A command that takes longer fails (default 1000 ms): a hung Redis cannot hang requests. */
  commandTimeoutMs?: number;
  /** Connecting at start-up gives up after this long (default 3000 ms). */
  connectTimeoutMs?: number;
  /** Longest wait between reconnection attempts after Redis went away (default 1000 ms). */
  reconnectMaxMs?: number;
  /** Wall ms added to every key's TTL (default 1000), for caller clocks that lag Redis. */
  ttlSlackMs?: number;
  logger?: StoreLogger;
}

/** Registry time in `redis` mode is ORIGIN + (Redis TIME - ORIGIN) x scale: one clock for all replicas. */
export const TIME_ORIGIN = Date.UTC(2025, 0, 1);
/** How long the time-scale mark outlives the last request, at least (wall ms). */
const MARK_TTL_MS = 600_000;
const MAX_HITS = Number.MAX_SAFE_INTEGER;
const SCALE_MISMATCH = "PULLSTORM_TIME_SCALE";

/**
 * One script does every operation, so each is a single atomic step in Redis:
 * scripts run to completion with no other command in between, whichever
 * replica sent them. The arithmetic is the memory store's, in the same order
 * on the same IEEE doubles, and numbers travel as %.17g strings (exact round
 * trip), so both stores give identical answers for the same inputs.
 *
 * KEYS[1] state key, KEYS[2] time-scale mark.
 * ARGV: op (rolling|fixed|gcra|hit|hello), limit, windowMs, burst, cost,
 * commit (1|0), now ("" = Redis TIME), scale, origin, ttl slack ms.
 */
const QUOTA_LUA = `
local op = ARGV[1]
local limit = tonumber(ARGV[2])
local windowMs = tonumber(ARGV[3])
local burst = tonumber(ARGV[4])
local cost = tonumber(ARGV[5])
local commit = ARGV[6] == '1'
local scale = tonumber(ARGV[8])
local slack = tonumber(ARGV[10])
local key = KEYS[1]
local timed = ARGV[7] == ''

local function fmt(x) return string.format('%.17g', x) end

local now
if timed then
  local mark = redis.call('GET', KEYS[2])
  if not mark then
    redis.call('SET', KEYS[2], ARGV[8], 'PX', ${MARK_TTL_MS})
  elseif mark ~= ARGV[8] then
    return redis.error_reply('${SCALE_MISMATCH} ' .. mark)
  end
  local t = redis.call('TIME')
  local origin = tonumber(ARGV[9])
  now = origin + (tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000 - origin) * scale
else
  now = tonumber(ARGV[7])
end
if op == 'hello' then return {'1', '0', '0', '0'} end

-- A key lives as long as its state can matter: ms of registry time, as wall ms.
local function expire(k, ms)
  local px = math.max(1, math.ceil(ms / scale) + slack)
  redis.call('PEXPIRE', k, string.format('%d', px))
  if timed then
    redis.call('PEXPIRE', KEYS[2], string.format('%d', math.max(${MARK_TTL_MS}, px)), 'GT')
  end
end

local function result(admitted, used, remaining, retry)
  return {admitted and '1' or '0', fmt(used), fmt(remaining), fmt(retry)}
end

-- Rolling window: an exact log, one sorted-set member per cost unit, scored by time.
if op == 'rolling' then
  redis.call('ZREMRANGEBYSCORE', key, '-inf', fmt(now - windowMs))
  local used = redis.call('ZCARD', key)
  local admitted = used + cost <= limit
  local after = used
  if admitted and commit and cost > 0 then
    local score = fmt(now)
    -- Members at one score are pruned together, so #0..#n-1 exist and #n is new.
    local n = redis.call('ZCOUNT', key, score, score)
    local i = 0
    while i < cost do
      local args = {}
      local j = 0
      while j < 500 and i < cost do
        args[#args + 1] = score
        args[#args + 1] = score .. '#' .. string.format('%d', n + i)
        i = i + 1
        j = j + 1
      end
      redis.call('ZADD', key, unpack(args))
    end
    after = used + cost
    expire(key, windowMs)
  end
  local retry = 0
  if after >= limit then
    local oldest = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
    if oldest[2] then retry = tonumber(oldest[2]) + windowMs - now end
  end
  return result(admitted, after, math.max(0, limit - after), retry)
end

-- Fixed window (and raw hits for bans): a counter for the window now falls in.
if op == 'fixed' or op == 'hit' then
  local windowStart = math.floor(now / windowMs) * windowMs
  local state = redis.call('HMGET', key, 'start', 'used')
  local used = 0
  if state[1] and tonumber(state[1]) == windowStart then used = tonumber(state[2]) end
  local admitted = used + cost <= limit
  if admitted and commit and cost > 0 then
    used = used + cost
    redis.call('HSET', key, 'start', fmt(windowStart), 'used', fmt(used))
    expire(key, windowStart + windowMs - now)
  end
  local remaining = math.max(0, limit - used)
  local retry = 0
  if remaining == 0 or not admitted then retry = windowStart + windowMs - now end
  return result(admitted, used, remaining, retry)
end

-- GCRA: the theoretical arrival time of the next request.
if op == 'gcra' then
  local interval = windowMs / limit
  local tolerance = interval * burst
  local tat = now
  local stored = redis.call('GET', key)
  if stored then tat = math.max(tonumber(stored), now) end
  local newTat = tat + interval * cost
  local allowAt = newTat - interval - tolerance
  local admitted = cost == 0 or allowAt <= now
  local effective = tat
  if admitted and commit then
    effective = newTat
    if cost > 0 then
      redis.call('SET', key, fmt(newTat))
      expire(key, newTat - now)
    end
  end
  local capacity = burst + 1
  local used = math.min(capacity, math.max(0, math.ceil((effective - now) / interval - 1e-9)))
  local retry = 0
  if not admitted then retry = math.max(0, allowAt - now) end
  return result(admitted, used, math.max(0, capacity - used), retry)
end

return redis.error_reply('PULLSTORM_BAD_OP ' .. tostring(op))
`;

type QuotaCommand = (...args: string[]) => Promise<string[]>;

/**
 * ioredis, loaded when the first Redis store is made: a registry keeping its
 * counters in memory (the default) never pays the ~15 MB it costs resident.
 */
function redisClass(): typeof Redis {
  return (createRequire(import.meta.url)("ioredis") as { Redis: typeof Redis }).Redis;
}

function messageOf(error: unknown): string {
  if (error instanceof AggregateError && error.errors.length > 0) return messageOf(error.errors[0]);
  return error instanceof Error ? error.message : String(error);
}

/**
 * Quota counters in Redis, shared by every registry that points at it: each
 * operation is one Lua script run, so replicas admit exactly the limit per
 * identity between them. While Redis is unreachable the store fails open
 * (admits, uncounted) or closed (QuotaStoreUnavailableError: 503), logs one
 * warning per outage, counts failures in pullstorm_quota_store_errors_total and
 * reports pullstorm_quota_store_up 0; it reconnects on its own.
 */
export class RedisQuotaStore implements QuotaStore {
  readonly name: string;
  readonly failure: StoreFailureMode;
  readonly prefix: string;
  readonly time: "redis" | "caller";
  readonly timeScale: number;
  private readonly client: Redis;
  private readonly logger: StoreLogger | undefined;
  private readonly ttlSlackMs: number;
  private readonly connectTimeoutMs: number;
  private readonly sinks = new Set<RegistryMetrics>();
  private healthy = false;
  private started = false;
  private closing = false;
  private failures = 0;
  private probing = false;
  private lastError: Error | undefined;
  private lastFailure: unknown = "unreachable";

  /** Connects and checks the time scale; throws a clear error naming the URL when it cannot. */
  static async connect(options: RedisQuotaStoreOptions): Promise<RedisQuotaStore> {
    const store = new RedisQuotaStore(options);
    await store.start();
    return store;
  }

  /** A store that is not connected yet: call start() before using it (connect() does both). */
  constructor(options: RedisQuotaStoreOptions) {
    const address = parseRedisUrl(options.url);
    if (!address) throw new ConfigError([`--store: expected memory or ${REDIS_URL_HINT}`]);
    const scale = options.timeScale ?? 1;
    if (!(scale > 0) || !Number.isFinite(scale))
      throw new RangeError("time scale must be a positive number");
    this.name = address.url;
    this.failure = options.failure ?? "open";
    this.prefix = options.prefix ?? "pullstorm:";
    this.time = options.time ?? "redis";
    this.timeScale = scale;
    this.ttlSlackMs = options.ttlSlackMs ?? 1000;
    this.connectTimeoutMs = options.connectTimeoutMs ?? 3000;
    this.logger = options.logger;
    const reconnectMaxMs = options.reconnectMaxMs ?? 1000;
    const RedisClient = redisClass();
    this.client = new RedisClient({
      host: address.host,
      port: address.port,
      db: address.db,
      lazyConnect: true,
      connectionName: "pullstorm-registry",
      connectTimeout: this.connectTimeoutMs,
      commandTimeout: options.commandTimeoutMs ?? 1000,
      // Never queue: a request asks Redis now or fails now (then open or closed).
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      autoResendUnfulfilledCommands: false,
      // Start-up fails at once; after that, keep reconnecting (quickly) forever.
      retryStrategy: (times) =>
        this.started && !this.closing
          ? Math.min(50 * 2 ** Math.min(times, 10), reconnectMaxMs)
          : null,
    });
    this.client.defineCommand("pullstormQuota", { numberOfKeys: 2, lua: QUOTA_LUA });
    this.client.on("error", (error: Error) => {
      this.lastError = error;
    });
    this.client.on("close", () => {
      if (this.started && !this.closing) this.markDown(this.lastError ?? "connection closed");
    });
    this.client.on("ready", () => {
      this.lastError = undefined;
      if (this.started) this.markUp();
    });
  }

  /** False while Redis cannot be reached. */
  get up(): boolean {
    return this.healthy;
  }

  instrument(metrics: RegistryMetrics): void {
    this.sinks.add(metrics);
  }

  /** Connects and checks Redis; throws an error naming the URL when it cannot. */
  async start(): Promise<void> {
    if (this.started) return;
    const timeoutMs = this.connectTimeoutMs;
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        (async () => {
          await this.client.connect();
          const version = /redis_version:(\d+)\./.exec(await this.client.info("server"))?.[1];
          if (version !== undefined && Number(version) < 7) {
            throw new ConfigError([
              `--store ${this.name}: Redis ${version}.x is too old; the quota scripts need Redis 7.0 or newer`,
            ]);
          }
          // Checks the time-scale mark (redis time) and loads the script on this connection.
          await this.command("hello", "-", "1", "1", "0", "0", "0", this.nowArg(0));
        })(),
        new Promise((_, reject) => {
          timer = setTimeout(
            () => reject(new Error(`no answer within ${timeoutMs} ms`)),
            timeoutMs,
          );
        }),
      ]);
    } catch (error) {
      this.closing = true;
      this.client.disconnect();
      if (error instanceof ConfigError) throw error;
      const message = messageOf(error);
      if (message.startsWith(SCALE_MISMATCH)) {
        throw new ConfigError([this.mismatch(message)]);
      }
      const reason =
        message === "Connection is closed." && this.lastError ? messageOf(this.lastError) : message;
      throw new Error(`cannot reach the quota store ${this.name}: ${reason}`);
    } finally {
      clearTimeout(timer);
    }
    this.started = true;
    this.healthy = true;
  }

  private mismatch(message: string): string {
    const theirs = message.slice(SCALE_MISMATCH.length).trim().split(/\s/)[0];
    return `--store ${this.name}: replicas sharing it count quotas at --time-scale ${theirs}, this one at ${this.timeScale}; start every replica with the same --time-scale (the mark ${this.prefix}time-scale expires 10 minutes after the last request)`;
  }

  private command(
    op: string,
    key: string,
    limit: string,
    windowMs: string,
    burst: string,
    cost: string,
    commit: string,
    now: string,
  ): Promise<string[]> {
    const run = (this.client as unknown as { pullstormQuota: QuotaCommand }).pullstormQuota;
    return run.call(
      this.client,
      key,
      `${this.prefix}time-scale`,
      op,
      limit,
      windowMs,
      burst,
      cost,
      commit,
      now,
      String(this.timeScale),
      String(TIME_ORIGIN),
      String(this.ttlSlackMs),
    );
  }

  private nowArg(now: number): string {
    return this.time === "caller" ? String(now) : "";
  }

  private async guard<T>(run: () => Promise<T>, fallback: () => T): Promise<T> {
    // While Redis is down, one operation at a time probes it; the others fail at
    // once instead of each waiting out the command timeout of a hung Redis.
    const probe = !this.healthy;
    if (probe && this.probing) return this.failed(this.lastFailure, fallback);
    if (probe) this.probing = true;
    try {
      const value = await run();
      this.markUp();
      return value;
    } catch (error) {
      if (this.closing) throw new QuotaStoreUnavailableError(this.name, "store closed", "closed");
      const reason =
        error instanceof Error && error.message.startsWith(SCALE_MISMATCH)
          ? new Error(this.mismatch(error.message))
          : error;
      return this.failed(reason, fallback);
    } finally {
      if (probe) this.probing = false;
    }
  }

  /** An operation Redis did not answer: count it, then admit unchecked (open) or throw (closed). */
  private failed<T>(reason: unknown, fallback: () => T): T {
    this.markDown(reason);
    this.failures++;
    this.lastFailure = reason;
    for (const sink of this.sinks) sink.storeErrors.inc({ mode: this.failure });
    if (this.failure === "open") return fallback();
    throw new QuotaStoreUnavailableError(this.name, reason);
  }

  private markDown(reason: unknown): void {
    if (!this.healthy) return;
    this.healthy = false;
    this.logger?.warn(
      { store: this.name, failure: this.failure, error: messageOf(reason) },
      this.failure === "open"
        ? `quota store ${this.name} unreachable: admitting requests without counting them until it is back (--store-failure open)`
        : `quota store ${this.name} unreachable: answering 503 to requests it would count until it is back (--store-failure closed)`,
    );
  }

  private markUp(): void {
    if (this.healthy || this.closing) return;
    this.healthy = true;
    this.logger?.info(
      { store: this.name, failedOperations: this.failures },
      `quota store ${this.name} reachable again`,
    );
    this.failures = 0;
  }

  private async apply(
    key: string,
    limit: Limit,
    cost: number,
    now: number,
    commit: boolean,
  ): Promise<QuotaState> {
    return this.guard(
      async () => {
        const reply = await this.command(
          limit.algorithm,
          `${this.prefix}q:${limit.algorithm}:${limit.windowMs}:${key}`,
          String(limit.limit),
          String(limit.windowMs),
          String(limit.burst ?? 0),
          String(cost),
          commit ? "1" : "0",
          this.nowArg(now),
        );
        return {
          admitted: reply[0] === "1",
          used: Number(reply[1]),
          remaining: Number(reply[2]),
          retryAfterMs: Number(reply[3]),
        };
      },
      () => ({ admitted: true, used: 0, remaining: limit.limit, retryAfterMs: 0, unchecked: true }),
    );
  }

  consume(key: string, limit: Limit, cost: number, now: number): Promise<QuotaState> {
    return this.apply(key, limit, cost, now, true);
  }

  peek(key: string, limit: Limit, now: number): Promise<QuotaState> {
    return this.apply(key, limit, 0, now, false);
  }

  hit(key: string, windowMs: number, now: number): Promise<number> {
    return this.guard(
      async () => {
        const reply = await this.command(
          "hit",
          `${this.prefix}hits:${key}`,
          String(MAX_HITS),
          String(windowMs),
          "0",
          "1",
          "1",
          this.nowArg(now),
        );
        return Number(reply[1]);
      },
      () => 0,
    );
  }

  /** Deletes every key under the prefix (all replicas' counters). Fails loudly, whatever the failure mode. */
  async reset(): Promise<void> {
    try {
      let cursor = "0";
      // SCAN visits every key present throughout; bounded so a runaway cursor cannot spin.
      for (let round = 0; round < 1_000_000; round++) {
        const [next, keys] = await this.client.scan(
          cursor,
          "MATCH",
          `${escapeGlob(this.prefix)}*`,
          "COUNT",
          1000,
        );
        if (keys.length > 0) await this.client.unlink(...keys);
        cursor = next;
        if (cursor === "0") break;
      }
      if (!this.healthy) this.markUp();
    } catch (error) {
      this.markDown(error);
      this.failures++;
      throw new QuotaStoreUnavailableError(this.name, error, "counters not reset");
    }
  }

  async close(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    if (!this.started) {
      this.client.disconnect();
      return;
    }
    try {
      await Promise.race([this.client.quit(), new Promise((r) => setTimeout(r, 500).unref())]);
    } catch {
      // already gone
    }
    this.client.disconnect();
  }
}

function escapeGlob(text: string): string {
  return text.replace(/[*?[\]\\]/g, (c) => `\\${c}`);
}
