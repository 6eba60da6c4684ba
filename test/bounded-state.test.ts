// Per-client state stays bounded (issue 14): records expire with their windows, and a
// served registry caps them, evicting the least recently used, with a metric and a log line.
// The flood's memory and /_pullstorm/stats size over HTTP: bench/hostile-clients.ts.
import { describe, expect, it } from "vitest";
import { BoundedMap } from "../fake-registry/core/bounded.ts";
import { ManualClock } from "../fake-registry/core/clock.ts";
import { createRegistry, type RunningRegistry, serveRegistry } from "../fake-registry/index.ts";
import { MemoryQuotaStore } from "../fake-registry/policy/store.ts";
import type { Registry } from "../fake-registry/registry/registry.ts";
import { httpRequest } from "./helpers/http.ts";

const TOKEN = "/token?service=registry.pullstorm.test&scope=repository:library/nginx:pull";

/** The i-th distinct client address (127.1.0.0 upwards), set in-process: no socket per client. */
function ip(i: number): string {
  const n = 0x010000 + i;
  return `127.${(n >> 16) & 255}.${(n >> 8) & 255}.${n & 255}`;
}

async function failedLogin(registry: Registry, i: number, user = `flood-${i}`) {
  return registry.handle(
    {
      method: "GET",
      path: "/token",
      query: new URLSearchParams(TOKEN.split("?")[1]),
      headers: {
        host: "127.0.0.1:5000",
        authorization: `Basic ${Buffer.from(`${user}:wrong`).toString("base64")}`,
      },
    },
    { ip: ip(i) },
  );
}

function metric(text: string, name: string): number {
  const line = text.split("\n").find((l) => l.startsWith(name));
  return line ? Number(line.split(" ").pop()) : 0;
}

describe("BoundedMap", () => {
  it("evicts the least recently used past its cap and reports it; drops expired records without reporting", () => {
    const evicted: [string, number][] = [];
    const map = new BoundedMap<number>({
      state: "ban",
      max: 3,
      expiresAt: (until) => until,
      onEvict: (state, n) => evicted.push([state, n]),
    });
    map.set("a", 100, 0);
    map.set("b", 100, 0);
    map.set("c", 5, 0);
    expect(map.get("a", 1)).toBe(100); // a is now the most recently used
    map.set("d", 100, 1);
    expect([...map.keys()]).toEqual(["c", "a", "d"]);
    expect(evicted).toEqual([["ban", 1]]);
    expect(map.sweep(10)).toBe(1); // c expired at 5
    expect([...map.keys()]).toEqual(["a", "d"]);
    expect(evicted).toEqual([["ban", 1]]);
  });
});

describe("a flood of distinct clients", () => {
  it("keeps at most --max-clients records of each kind, counts and logs the evictions, and keeps answering", async () => {
    // Registry time stands still. On the wall clock the abuse rule's fixed minute can
    // end during the flood (2.2 s on a busy machine): the records of that minute then
    // expire instead of being evicted (a CI run counted 38,238, not 39,000).
    // Eviction, not expiry, is what this counts.
    const registry = createRegistry({ maxClients: 1000, clock: new ManualClock() });
    const lines: { state: string; evicted: number }[] = [];
    registry.metrics.logEvictionsTo((line) => lines.push(line));
    for (let i = 0; i < 40_000; i++) {
      const handled = await failedLogin(registry, i);
      expect(handled.response.status).toBe(401);
    }
    expect(registry.lockouts.size).toBeLessThanOrEqual(1000);
    expect(registry.stats.identities).toBe(1000);
    const snapshot = registry.stats.snapshot();
    // Evicted identities leave the list, not the totals.
    expect(snapshot.total).toBe(40_000);
    expect(snapshot.evicted).toEqual({ identities: 39_000, total: 39_000, pulls: 0 });
    const metrics = await registry.metrics.text();
    expect(metric(metrics, 'pullstorm_state_evictions_total{state="stats"}')).toBe(39_000);
    // Two lockout records per failed login (username and address), 1,000 kept.
    expect(metric(metrics, 'pullstorm_state_evictions_total{state="lockout"}')).toBe(79_000);
    // The abuse rule's per-address counters, 1,000 kept.
    expect(metric(metrics, 'pullstorm_state_evictions_total{state="quota"}')).toBe(39_000);
    // One log line per kind for the whole flood (it took less than the 10 s between lines).
    expect(lines.map((l) => l.state).sort()).toEqual(["lockout", "quota", "stats"]);
    expect(lines.every((l) => l.evicted === 1)).toBe(true);
    // Still answering, and still enforcing for the clients it remembers.
    const ok = await registry.handle(
      { method: "GET", path: "/token", query: new URLSearchParams(), headers: {} },
      { ip: "127.0.0.1" },
    );
    expect(ok.response.status).toBe(200);
  }, 60_000);

  it("keeps a lockout in force for a client that keeps trying while others flood past the cap", async () => {
    const registry = createRegistry({ maxClients: 100 });
    // dockerhub-2020's lockout: 10 failed logins lock the username and address.
    for (let k = 0; k < 10; k++) await failedLogin(registry, 0, "victim");
    expect((await failedLogin(registry, 0, "victim")).response.status).toBe(429);
    for (let i = 1; i <= 500; i++) {
      await failedLogin(registry, i);
      // Asking again makes it recently used: the flood evicts others first.
      if (i % 20 === 0)
        expect((await failedLogin(registry, 0, "victim")).response.status).toBe(429);
    }
    expect(registry.stats.snapshot().evicted.identities).toBe(401);
  });
});

describe("records expire with their windows", () => {
  it("drops lockouts, quota counters and pull memory once their windows pass, evicting nothing", async () => {
    const clock = new ManualClock();
    const store = new MemoryQuotaStore();
    const registry = createRegistry({ clock, store });
    for (let i = 0; i < 3000; i++) await failedLogin(registry, i);
    expect(registry.lockouts.size).toBe(6000);
    expect(store.size).toBe(3000);
    // Past the lockout window (10 min) and the abuse window (1 min): the next sweep drops them.
    clock.advance(11 * 60_000);
    for (let i = 0; i < 7000; i++) registry.lockouts.lockedUntilFor([`ip:${ip(i)}`], clock.now());
    expect(registry.lockouts.size).toBe(0);
    for (let i = 0; i < 4000; i++) await store.consume(`x:${i % 10}`, ABUSE, 1, clock.now());
    expect(store.size).toBe(10);
    const metrics = await registry.metrics.text();
    expect(metrics).not.toMatch(/pullstorm_state_evictions_total\{/);
  });

  it("treats a swept client exactly as a new one: the window decides, not the sweep", async () => {
    const store = new MemoryQuotaStore();
    const limit = { limit: 2, windowMs: 1000, algorithm: "rolling" as const };
    expect((await store.consume("k", limit, 1, 0)).admitted).toBe(true);
    expect((await store.consume("k", limit, 1, 500)).admitted).toBe(true);
    expect((await store.consume("k", limit, 1, 999)).admitted).toBe(false);
    // 1,000 ms after the first admission one unit is free again, swept or not.
    expect((await store.consume("k", limit, 1, 1000)).admitted).toBe(true);
    for (let i = 0; i < 5000; i++) await store.consume(`other-${i}`, limit, 1, 2000 + i);
    expect((await store.consume("k", limit, 1, 8000)).remaining).toBe(1);
  });
});

const ABUSE = { limit: 1_000_000, windowMs: 60_000, algorithm: "fixed" as const };

describe("/_pullstorm/stats with many clients", () => {
  it("answers a page of identities with a Link to the next, and one identity on request", async () => {
    const running: RunningRegistry = await serveRegistry(createRegistry(), { port: 0 });
    try {
      for (let i = 0; i < 250; i++) await failedLogin(running.registry, i);
      const first = await httpRequest(`${running.url}/_pullstorm/stats`);
      const body = JSON.parse(first.body.toString());
      expect(body.identities).toBe(250);
      expect(Object.keys(body.byIdentity)).toHaveLength(100);
      expect(body.total).toBe(250);
      const seen = new Set<string>(Object.keys(body.byIdentity));
      let next = /^<([^>]+)>; rel="next"$/.exec(String(first.headers.link))?.[1];
      for (let page = 0; next && page < 10; page++) {
        const res = await httpRequest(`${running.url}${next}`);
        const more = JSON.parse(res.body.toString());
        for (const k of Object.keys(more.byIdentity)) seen.add(k);
        next = /^<([^>]+)>; rel="next"$/.exec(String(res.headers.link ?? ""))?.[1];
      }
      expect(seen.size).toBe(250);
      const one = JSON.parse(
        (await httpRequest(`${running.url}/_pullstorm/stats?identity=${ip(7)}`)).body.toString(),
      );
      expect(Object.keys(one.byIdentity)).toEqual([ip(7)]);
      expect(one.byIdentity[ip(7)].byKind.token.GET["401"]).toBe(1);
      expect((await httpRequest(`${running.url}/_pullstorm/stats?n=0`)).status).toBe(400);
    } finally {
      await running.close();
    }
  });
});
