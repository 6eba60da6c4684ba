// One quota-store suite, run against the memory store and the Redis store:
// rolling, fixed and GCRA semantics, peek, hit, reset, key isolation and window
// expiry, all on time values the test passes in (no sleeping). Then what only
// Redis has: op-for-op agreement with the memory store, key names and TTLs,
// Redis's own (scaled) clock shared by replicas, NOSCRIPT recovery.
import { Redis } from "ioredis";
import { afterAll, afterEach, beforeAll, describe, expect, it, type TestContext } from "vitest";
import {
  RedisQuotaStore,
  type RedisQuotaStoreOptions,
} from "../fake-registry/policy/redis-store.ts";
import { MemoryQuotaStore, type QuotaStore } from "../fake-registry/policy/store.ts";
import type { Limit } from "../fake-registry/policy/types.ts";
import { ConfigError } from "../vocabulary/config/yaml-file.ts";
import { sharedOrPrivateRedis } from "./helpers/redis.ts";
import { checkTools } from "./helpers/tools.ts";

const T = Date.UTC(2025, 0, 6, 8, 45);
const S = 1000;
const M = 60 * S;
const H = 60 * M;

const tools = process.env.PULLSTORM_TEST_REDIS_URL
  ? { available: true, reason: "" }
  : checkTools("redis-server");

let redis: { url: string; stop(): Promise<void> } | undefined;
/** A plain client on the same Redis and database, to look at keys. */
let inspect: Redis | undefined;
const opened: QuotaStore[] = [];
let prefixes = 0;

beforeAll(async () => {
  if (!tools.available) return;
  redis = await sharedOrPrivateRedis();
  const url = new URL(redis.url);
  inspect = new Redis({
    host: url.hostname,
    port: Number(url.port || 6379),
    db: Number(url.pathname.slice(1) || 0),
    maxRetriesPerRequest: 0,
  });
});

afterEach(async () => {
  await Promise.all(opened.splice(0).map((s) => s.close?.()));
});

afterAll(async () => {
  inspect?.disconnect();
  await redis?.stop();
});

/** A prefix no other test (or test file sharing the Redis) uses. */
function freshPrefix(): string {
  return `pullstorm-test:${process.pid}:${Date.now()}:${++prefixes}:`;
}

async function redisStore(
  ctx: TestContext,
  options: Partial<RedisQuotaStoreOptions> = {},
): Promise<RedisQuotaStore> {
  if (!tools.available || !redis) ctx.skip(tools.reason);
  const store = await RedisQuotaStore.connect({
    url: (redis as { url: string }).url,
    time: "caller",
    prefix: freshPrefix(),
    ...options,
  });
  opened.push(store);
  return store;
}

const BACKENDS: { name: string; open(ctx: TestContext): Promise<QuotaStore> }[] = [
  { name: "memory", open: async () => new MemoryQuotaStore() },
  { name: "redis", open: (ctx) => redisStore(ctx) },
];

const rolling = (limit: number, windowMs: number): Limit => ({
  limit,
  windowMs,
  algorithm: "rolling",
});
const fixed = (limit: number, windowMs: number): Limit => ({ limit, windowMs, algorithm: "fixed" });
const gcra = (limit: number, windowMs: number, burst = 0): Limit => ({
  limit,
  windowMs,
  algorithm: "gcra",
  burst,
});

describe.each(BACKENDS)("$name quota store", (backend) => {
  describe("rolling window", () => {
    it("admits exactly the limit, then refuses until the oldest admission leaves the window", async (ctx) => {
      const store = await backend.open(ctx);
      const limit = rolling(3, H);
      expect(await store.consume("pulls:10.0.0.1", limit, 1, T)).toEqual({
        admitted: true,
        used: 1,
        remaining: 2,
        retryAfterMs: 0,
      });
      expect(await store.consume("pulls:10.0.0.1", limit, 1, T + S)).toMatchObject({
        admitted: true,
        remaining: 1,
      });
      // The last unit: nothing remains until the first admission (at T) is an hour old.
      expect(await store.consume("pulls:10.0.0.1", limit, 1, T + 2 * S)).toEqual({
        admitted: true,
        used: 3,
        remaining: 0,
        retryAfterMs: H - 2 * S,
      });
      expect(await store.consume("pulls:10.0.0.1", limit, 1, T + 3 * S)).toEqual({
        admitted: false,
        used: 3,
        remaining: 0,
        retryAfterMs: H - 3 * S,
      });
    });

    it("frees each unit exactly one window after it was admitted, never earlier", async (ctx) => {
      const store = await backend.open(ctx);
      const limit = rolling(2, H);
      await store.consume("k", limit, 1, T);
      await store.consume("k", limit, 1, T + 10 * M);
      expect((await store.consume("k", limit, 1, T + H - 1)).admitted).toBe(false);
      const freed = await store.consume("k", limit, 1, T + H);
      expect(freed).toEqual({ admitted: true, used: 2, remaining: 0, retryAfterMs: 10 * M });
      expect((await store.consume("k", limit, 1, T + H + 10 * M - 1)).admitted).toBe(false);
      expect((await store.consume("k", limit, 1, T + H + 10 * M)).admitted).toBe(true);
      // Long after everything left the window, the whole limit is back.
      expect(await store.peek("k", limit, T + 5 * H)).toEqual({
        admitted: true,
        used: 0,
        remaining: 2,
        retryAfterMs: 0,
      });
    });

    it("charges a cost in units and refuses a cost that does not fit", async (ctx) => {
      const store = await backend.open(ctx);
      const limit = rolling(5, H);
      expect((await store.consume("k", limit, 2, T)).used).toBe(2);
      expect((await store.consume("k", limit, 2, T)).used).toBe(4);
      expect(await store.consume("k", limit, 2, T)).toMatchObject({ admitted: false, used: 4 });
      expect(await store.consume("k", limit, 1, T)).toMatchObject({
        admitted: true,
        used: 5,
        remaining: 0,
      });
      // Several units admitted at one instant all leave together.
      expect((await store.consume("k", limit, 5, T + H)).admitted).toBe(true);
    });
  });

  describe("fixed window", () => {
    it("counts per window aligned to multiples of its length and starts afresh at the boundary", async (ctx) => {
      const store = await backend.open(ctx);
      const limit = fixed(2, M);
      const start = Math.floor(T / M) * M;
      expect(await store.consume("k", limit, 1, start + 10 * S)).toEqual({
        admitted: true,
        used: 1,
        remaining: 1,
        retryAfterMs: 0,
      });
      expect(await store.consume("k", limit, 1, start + 20 * S)).toEqual({
        admitted: true,
        used: 2,
        remaining: 0,
        retryAfterMs: 40 * S,
      });
      expect(await store.consume("k", limit, 1, start + M - 1)).toEqual({
        admitted: false,
        used: 2,
        remaining: 0,
        retryAfterMs: 1,
      });
      expect(await store.consume("k", limit, 1, start + M)).toEqual({
        admitted: true,
        used: 1,
        remaining: 1,
        retryAfterMs: 0,
      });
    });
  });

  describe("GCRA", () => {
    it("admits burst + 1 at once, then one per interval, with the wait to the next slot", async (ctx) => {
      const store = await backend.open(ctx);
      const limit = gcra(10, S, 2); // one per 100 ms, 2 extra at once
      for (let i = 0; i < 3; i++)
        expect((await store.consume("k", limit, 1, T)).admitted).toBe(true);
      expect(await store.consume("k", limit, 1, T)).toEqual({
        admitted: false,
        used: 3,
        remaining: 0,
        retryAfterMs: 100,
      });
      expect(await store.consume("k", limit, 1, T + 99)).toMatchObject({
        admitted: false,
        retryAfterMs: 1,
      });
      expect(await store.consume("k", limit, 1, T + 100)).toMatchObject({
        admitted: true,
        used: 3,
        remaining: 0,
      });
      // Idle for a while: the burst is back.
      expect(await store.peek("k", limit, T + 10 * S)).toMatchObject({ used: 0, remaining: 3 });
    });

    it("keeps fractional intervals exact (3 per second)", async (ctx) => {
      const store = await backend.open(ctx);
      const limit = gcra(3, S);
      expect((await store.consume("k", limit, 1, T)).admitted).toBe(true);
      const refused = await store.consume("k", limit, 1, T + 100);
      expect(refused.admitted).toBe(false);
      // Epoch-sized times leave ~1e-4 ms of double precision; both stores round alike.
      expect(refused.retryAfterMs).toBeCloseTo(1000 / 3 - 100, 3);
      expect((await store.consume("k", limit, 1, T + 1000 / 3)).admitted).toBe(true);
    });
  });

  it("peek reports used and remaining without counting, for every algorithm", async (ctx) => {
    const store = await backend.open(ctx);
    for (const limit of [rolling(2, H), fixed(2, H), gcra(2, H, 1)]) {
      const key = `peek:${limit.algorithm}`;
      expect(await store.peek(key, limit, T)).toEqual({
        admitted: true,
        used: 0,
        remaining: 2,
        retryAfterMs: 0,
      });
      await store.consume(key, limit, 1, T);
      for (let i = 0; i < 3; i++)
        expect(await store.peek(key, limit, T)).toMatchObject({ used: 1, remaining: 1 });
      await store.consume(key, limit, 1, T);
      const exhausted = await store.peek(key, limit, T + 1);
      expect(exhausted).toMatchObject({ admitted: true, used: 2, remaining: 0 });
      expect((await store.consume(key, limit, 1, T + 1)).admitted).toBe(false);
    }
  });

  it("hit counts every call, admitted or not, per fixed window", async (ctx) => {
    const store = await backend.open(ctx);
    const start = Math.floor(T / M) * M;
    const counts = [];
    for (let i = 0; i < 4; i++) counts.push(await store.hit("ban:10.0.0.9", M, start + i * S));
    expect(counts).toEqual([1, 2, 3, 4]);
    expect(await store.hit("ban:10.0.0.9", M, start + M)).toBe(1);
    expect(await store.hit("ban:10.0.0.8", M, start + M)).toBe(1);
  });

  it("keeps identities, rules, algorithms and windows apart", async (ctx) => {
    const store = await backend.open(ctx);
    const limit = rolling(1, H);
    expect((await store.consume("pulls:10.0.0.1", limit, 1, T)).admitted).toBe(true);
    expect((await store.consume("pulls:10.0.0.1", limit, 1, T)).admitted).toBe(false);
    expect((await store.consume("pulls:10.0.0.2", limit, 1, T)).admitted).toBe(true);
    expect((await store.consume("abuse:10.0.0.1", limit, 1, T)).admitted).toBe(true);
    expect((await store.consume("pulls:alice", limit, 1, T)).admitted).toBe(true);
    expect((await store.consume("pulls:10.0.0.1", rolling(1, 2 * H), 1, T)).admitted).toBe(true);
    expect((await store.consume("pulls:10.0.0.1", fixed(1, H), 1, T)).admitted).toBe(true);
    expect((await store.consume("pulls:10.0.0.1", gcra(1, H), 1, T)).admitted).toBe(true);
  });

  it("reset forgets every counter", async (ctx) => {
    const store = await backend.open(ctx);
    await store.consume("a", rolling(1, H), 1, T);
    await store.consume("b", fixed(1, H), 1, T);
    await store.consume("c", gcra(1, H), 1, T);
    await store.hit("d", H, T);
    await store.reset();
    expect((await store.consume("a", rolling(1, H), 1, T)).admitted).toBe(true);
    expect((await store.consume("b", fixed(1, H), 1, T)).admitted).toBe(true);
    expect((await store.consume("c", gcra(1, H), 1, T)).admitted).toBe(true);
    expect(await store.hit("d", H, T)).toBe(1);
  });

  it("admits exactly the limit out of many concurrent calls, each seeing its own count", async (ctx) => {
    const store = await backend.open(ctx);
    for (const limit of [rolling(40, H), fixed(40, 24 * H), gcra(40, H, 39)]) {
      const results = await Promise.all(
        Array.from({ length: 120 }, () => store.consume(`burst:${limit.algorithm}`, limit, 1, T)),
      );
      const admitted = results.filter((r) => r.admitted);
      expect(admitted, limit.algorithm).toHaveLength(40);
      // Every admission saw a different remaining count: 39 down to 0, once each.
      expect(admitted.map((r) => r.remaining).sort((a, b) => a - b)).toEqual(
        Array.from({ length: 40 }, (_, i) => i),
      );
      expect(results.filter((r) => !r.admitted).every((r) => r.remaining === 0)).toBe(true);
    }
  });
});

describe("Redis quota store", () => {
  it("agrees with the memory store op for op over a random run", async (ctx) => {
    const store = await redisStore(ctx);
    const memory = new MemoryQuotaStore();
    let seed = 12345;
    const random = () => {
      seed = (seed * 1103515245 + 12345) % 2147483648;
      return seed / 2147483648;
    };
    const limits = [
      rolling(5, 10 * S),
      fixed(4, 7 * S),
      gcra(3, S, 2),
      gcra(7, 3 * S),
      rolling(1, S),
    ];
    let now = T;
    for (let i = 0; i < 1500; i++) {
      now += Math.floor(random() * 700) + (random() < 0.2 ? random() : 0);
      const key = `k${Math.floor(random() * 3)}`;
      const limit = limits[Math.floor(random() * limits.length)] as Limit;
      const roll = random();
      if (roll < 0.1) {
        expect(await store.hit(key, 5 * S, now), `op ${i}`).toBe(await memory.hit(key, 5 * S, now));
      } else if (roll < 0.3) {
        expect(await store.peek(key, limit, now), `op ${i}`).toEqual(
          await memory.peek(key, limit, now),
        );
      } else {
        const cost = random() < 0.1 ? 2 : 1;
        expect(await store.consume(key, limit, cost, now), `op ${i}`).toEqual(
          await memory.consume(key, limit, cost, now),
        );
      }
    }
  });

  it("names keys by prefix, algorithm, window and key, with TTLs as long as the window", async (ctx) => {
    const store = await redisStore(ctx);
    const client = inspect as Redis;
    await store.consume("pulls:10.0.0.1", rolling(3, H), 1, T);
    await store.consume("pulls:10.0.0.1", fixed(3, H), 1, Math.floor(T / H) * H + 15 * M);
    await store.consume("pulls:10.0.0.1", gcra(4, H), 1, T);
    await store.hit("pulls:10.0.0.1", M, Math.floor(T / M) * M + 30 * S);
    const keys = await client.keys(`${store.prefix}*`);
    for (const key of [
      `${store.prefix}q:rolling:3600000:pulls:10.0.0.1`,
      `${store.prefix}q:fixed:3600000:pulls:10.0.0.1`,
      `${store.prefix}q:gcra:3600000:pulls:10.0.0.1`,
      `${store.prefix}hits:pulls:10.0.0.1`,
    ])
      expect(keys).toContain(key);
    const pttl = (key: string) => client.pttl(`${store.prefix}${key}`);
    // Window (registry ms) / time scale + 1 s of slack, as wall ms.
    const rollingTtl = await pttl("q:rolling:3600000:pulls:10.0.0.1");
    expect(rollingTtl).toBeGreaterThan(H);
    expect(rollingTtl).toBeLessThanOrEqual(H + S);
    const fixedTtl = await pttl("q:fixed:3600000:pulls:10.0.0.1");
    expect(fixedTtl).toBeGreaterThan(45 * M);
    expect(fixedTtl).toBeLessThanOrEqual(45 * M + S);
    const gcraTtl = await pttl("q:gcra:3600000:pulls:10.0.0.1");
    expect(gcraTtl).toBeGreaterThan(15 * M);
    expect(gcraTtl).toBeLessThanOrEqual(15 * M + S);
    const hitsTtl = await pttl("hits:pulls:10.0.0.1");
    expect(hitsTtl).toBeGreaterThan(30 * S);
    expect(hitsTtl).toBeLessThanOrEqual(31 * S);
    // A scaled registry (x3600: an hour passes in a wall second) writes wall TTLs.
    const scaled = await redisStore(ctx, { timeScale: 3600 });
    await scaled.consume("k", rolling(1, H), 1, T);
    const scaledTtl = await client.pttl(`${scaled.prefix}q:rolling:3600000:k`);
    expect(scaledTtl).toBeGreaterThan(S);
    expect(scaledTtl).toBeLessThanOrEqual(2 * S);
  });

  it("on Redis's clock, expires keys in Redis when the window is over (time scale x1000)", async (ctx) => {
    const store = await redisStore(ctx, { time: "redis", timeScale: 1000, ttlSlackMs: 0 });
    const limit = rolling(2, M); // a registry minute: 60 wall ms
    // The caller's now is ignored: Redis TIME, scaled, is the clock.
    expect((await store.consume("k", limit, 1, 0)).admitted).toBe(true);
    expect((await store.consume("k", limit, 1, 0)).admitted).toBe(true);
    const refused = await store.consume("k", limit, 1, 0);
    expect(refused.admitted).toBe(false);
    expect(refused.retryAfterMs).toBeGreaterThan(0);
    expect(refused.retryAfterMs).toBeLessThanOrEqual(M);
    const key = `${store.prefix}q:rolling:60000:k`;
    const deadline = Date.now() + 5_000;
    while (Date.now() < deadline) {
      if ((await (inspect as Redis).exists(key)) === 0) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    expect(await (inspect as Redis).exists(key)).toBe(0);
    expect((await store.consume("k", limit, 1, 0)).admitted).toBe(true);
  });

  it("on Redis's clock, replicas whose own clocks disagree still share one count", async (ctx) => {
    const a = await redisStore(ctx, { time: "redis" });
    const b = await redisStore(ctx, { time: "redis", prefix: a.prefix });
    const limit = rolling(5, H);
    const results = await Promise.all(
      Array.from({ length: 12 }, (_, i) =>
        (i % 2 ? a : b).consume("pulls:10.0.0.1", limit, 1, i % 2 ? 0 : T + 1000 * H),
      ),
    );
    expect(results.filter((r) => r.admitted)).toHaveLength(5);
    expect((await b.peek("pulls:10.0.0.1", limit, 0)).remaining).toBe(0);
  });

  it("refuses to start next to replicas counting at another time scale", async (ctx) => {
    const first = await redisStore(ctx, { time: "redis", timeScale: 360 });
    await first.consume("k", rolling(1, H), 1, 0);
    const second = RedisQuotaStore.connect({
      url: first.name,
      time: "redis",
      timeScale: 1,
      prefix: first.prefix,
    });
    await expect(second).rejects.toBeInstanceOf(ConfigError);
    await expect(second).rejects.toThrow(
      `--store ${first.name}: replicas sharing it count quotas at --time-scale 360, this one at 1`,
    );
  });

  it("reloads its script after SCRIPT FLUSH (NOSCRIPT) and keeps counting", async (ctx) => {
    const store = await redisStore(ctx);
    const limit = rolling(3, H);
    await store.consume("k", limit, 1, T);
    expect(await (inspect as Redis).script("FLUSH")).toBe("OK");
    expect(await store.consume("k", limit, 1, T)).toMatchObject({ admitted: true, used: 2 });
    expect(store.up).toBe(true);
  });

  it("reset deletes its own prefix only", async (ctx) => {
    const mine = await redisStore(ctx);
    const theirs = await redisStore(ctx);
    const limit = rolling(1, H);
    await mine.consume("k", limit, 1, T);
    await theirs.consume("k", limit, 1, T);
    await mine.reset();
    expect((await mine.consume("k", limit, 1, T)).admitted).toBe(true);
    expect((await theirs.consume("k", limit, 1, T)).admitted).toBe(false);
  });
});
