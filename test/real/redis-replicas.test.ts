// Several fake-registry replicas sharing quotas in one real redis-server
// (Debian's redis-server, started here on a free loopback port, no persistence):
// concurrent manifest GETs from several source addresses, spread over the
// replicas, admit exactly the limit per address between them, in-process and as
// separate `pullstorm registry serve --store redis://...` processes. Then Redis
// goes away mid-run (SIGKILL, or SIGSTOP for a hung one): the registry keeps
// answering within the command timeout, fails open or closed as configured, says
// so once in its logs and in /metrics, and recovers when Redis is back.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  createRegistry,
  openQuotaStore,
  type RunningRegistry,
  serveRegistry,
} from "../../fake-registry/index.ts";
import { parsePolicyDocument } from "../../fake-registry/policy/file.ts";
import type { StoreLogger } from "../../fake-registry/policy/redis-store.ts";
import type { QuotaStore } from "../../fake-registry/policy/store.ts";
import { httpRequest, type SimpleResponse } from "../helpers/http.ts";
import { freePort, type Managed, runCommand, startProcess, waitFor } from "../helpers/processes.ts";
import { type PrivateRedis, startPrivateRedis } from "../helpers/redis.ts";
import { pullToken } from "../helpers/registry.ts";
import { checkTools } from "../helpers/tools.ts";

const tools = checkTools("redis-server");
const BIN = join(import.meta.dirname, "..", "..", "bin", "pullstorm.js");
const MANIFEST = "/v2/library/alpine/manifests/3.20";
const W = "w=21600";

// Everything started here is stopped in afterAll, whatever happened.
const registries: RunningRegistry[] = [];
const stores: QuotaStore[] = [];
const redises: PrivateRedis[] = [];
const processes: Managed[] = [];
const dirs: string[] = [];

afterAll(async () => {
  await Promise.allSettled(processes.map((p) => p.stop()));
  await Promise.allSettled(registries.map((r) => r.close()));
  await Promise.allSettled(stores.map((s) => s.close?.()));
  await Promise.allSettled(redises.map((r) => r.stop()));
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

async function privateRedis(): Promise<PrivateRedis> {
  const redis = await startPrivateRedis();
  redises.push(redis);
  return redis;
}

function policyWith(limit: unknown) {
  const policy = parsePolicyDocument({ limits: { pulls: { anonymous: limit } } }, "dockerhub-2020");
  if ("errors" in policy) throw new Error(policy.errors.join("; "));
  return policy;
}

function recordingLogger() {
  const lines: { level: string; message: string; fields: object }[] = [];
  const logger: StoreLogger = {
    info: (fields, message) => lines.push({ level: "info", message, fields }),
    warn: (fields, message) => lines.push({ level: "warn", message, fields }),
  };
  return { logger, lines };
}

/**
 * An in-process replica: its own Redis connection, its own HTTP server. The command
 * timeout is 10 s unless a test is about timeouts, and connecting may take 10 s: a
 * healthy Redis on a busy machine (a second `npm test` beside this one) took more than
 * the 1 s command timeout, and once more than the 3 s connect timeout, to answer the
 * start-up check; a 500 ms timeout made one counted request of a healthy Redis fail open.
 */
async function replica(
  url: string,
  options: {
    limit: unknown;
    prefix?: string;
    failure?: "open" | "closed";
    logger?: StoreLogger;
    auth?: boolean;
    commandTimeoutMs?: number;
    timeScale?: number;
  },
): Promise<{ running: RunningRegistry; store: QuotaStore }> {
  const store = await openQuotaStore(url, {
    ...(options.prefix ? { prefix: options.prefix } : {}),
    ...(options.failure ? { failure: options.failure } : {}),
    ...(options.logger ? { logger: options.logger } : {}),
    commandTimeoutMs: options.commandTimeoutMs ?? 10_000,
    connectTimeoutMs: 10_000,
    ...(options.timeScale ? { timeScale: options.timeScale } : {}),
  });
  stores.push(store);
  const registry = createRegistry({
    ...(options.timeScale ? { timeScale: options.timeScale } : {}),
    policy: policyWith(options.limit),
    store,
    auth: options.auth ?? false,
    tokenSecret: "shared-by-replicas",
  });
  const running = await serveRegistry(registry, { host: "127.0.0.1", port: 0 });
  registries.push(running);
  return { running, store };
}

/** perIp concurrent manifest GETs from each address, request j from address i to replica (i + j) mod n. */
async function storm(
  urls: string[],
  ips: string[],
  perIp: number,
  token?: string,
): Promise<Map<string, SimpleResponse[]>> {
  const byIp = new Map<string, SimpleResponse[]>();
  await Promise.all(
    ips.map(async (ip, i) => {
      const responses = await Promise.all(
        Array.from({ length: perIp }, (_, j) =>
          httpRequest(`${urls[(i + j) % urls.length]}${MANIFEST}`, {
            localAddress: ip,
            ...(token ? { headers: { authorization: `Bearer ${token}` } } : {}),
          }),
        ),
      );
      byIp.set(ip, responses);
    }),
  );
  return byIp;
}

/** Exactly `limit` 200s per address, each with its own remaining count; the rest 429 with remaining 0. */
function expectExact(byIp: Map<string, SimpleResponse[]>, limit: number): void {
  for (const [ip, responses] of byIp) {
    const admitted = responses.filter((r) => r.status === 200);
    const refused = responses.filter((r) => r.status === 429);
    expect(admitted, ip).toHaveLength(limit);
    expect(refused, ip).toHaveLength(responses.length - limit);
    expect(
      admitted
        .map((r) => Number.parseInt(String(r.headers["ratelimit-remaining"]), 10))
        .sort((a, b) => a - b),
      ip,
    ).toEqual(Array.from({ length: limit }, (_, n) => n));
    for (const r of [...admitted, ...refused]) {
      expect(r.headers["ratelimit-limit"], ip).toBe(`${limit};${W}`);
      expect(r.headers["docker-ratelimit-source"], ip).toBe(ip);
    }
    for (const r of refused) {
      expect(r.headers["ratelimit-remaining"], ip).toBe(`0;${W}`);
      expect(JSON.parse(r.body.toString()).errors[0].code, ip).toBe("TOOMANYREQUESTS");
    }
  }
}

async function metricsOf(url: string): Promise<string> {
  return (await httpRequest(`${url}/metrics`)).body.toString();
}

async function timedGet(url: string, ip: string, method = "GET") {
  const started = performance.now();
  const res = await httpRequest(`${url}${MANIFEST}`, {
    localAddress: ip,
    method,
    timeoutMs: 5_000,
  });
  return { ...res, ms: performance.now() - started };
}

function ipRange(from: number, count: number): string[] {
  return Array.from({ length: count }, (_, i) => `127.0.0.${from + i}`);
}

describe("registry replicas sharing quotas in redis-server", () => {
  let redis: PrivateRedis;
  beforeAll(async () => {
    if (tools.available) redis = await privateRedis();
  });

  for (const [algorithm, limit] of [
    ["rolling", { limit: 20, window: "6h" }],
    ["gcra", { limit: 20, window: "6h", algorithm: "gcra", burst: 19 }],
  ] as const) {
    it(`three in-process replicas admit exactly the limit per IP between them (${algorithm})`, async (ctx) => {
      if (!tools.available) return ctx.skip(tools.reason);
      const prefix = `pullstorm-${algorithm}:`;
      const replicas = await Promise.all(
        [0, 1, 2].map(() => replica(redis.url, { limit, prefix, auth: true })),
      );
      const urls = replicas.map((r) => r.running.url);
      // A token from one replica is good on every one (shared secret); identities are IPs.
      const token = await pullToken(urls[0] as string, "library/alpine");
      const ips = ipRange(40, 6);
      expectExact(await storm(urls, ips, 45, token), 20);
      // Every replica sees the shared count.
      for (const url of urls) {
        const head = await httpRequest(`${url}${MANIFEST}`, {
          method: "HEAD",
          localAddress: ips[0] as string,
          headers: { authorization: `Bearer ${token}` },
        });
        expect(head.status).toBe(200);
        expect(head.headers["ratelimit-remaining"]).toBe(`0;${W}`);
      }
      const served = replicas.map(
        (r) =>
          r.running.registry.stats.snapshot().byIdentity[ips[0] as string]?.byKind.manifest?.GET ??
          {},
      );
      expect(served.reduce((n, s) => n + (s["200"] ?? 0), 0)).toBe(20);
      expect(served.reduce((n, s) => n + (s["429"] ?? 0), 0)).toBe(25);
    });
  }

  it("with --time-scale, replicas started apart share one scaled clock (Redis TIME): the window ends for all at once", async (ctx) => {
    if (!tools.available) return ctx.skip(tools.reason);
    // x7200: a registry hour is half a wall second. Replica clocks start 300 ms (36 registry min) apart.
    const limit = { limit: 2, window: "1h" };
    const a = await replica(redis.url, { limit, prefix: "pullstorm-scaled:", timeScale: 7200 });
    await new Promise((r) => setTimeout(r, 300));
    const b = await replica(redis.url, { limit, prefix: "pullstorm-scaled:", timeScale: 7200 });
    const ip = "127.0.0.50";
    expect((await timedGet(a.running.url, ip)).status).toBe(200);
    expect((await timedGet(b.running.url, ip)).status).toBe(200);
    const refused = await timedGet(a.running.url, ip);
    expect(refused.status).toBe(429);
    expect((await timedGet(b.running.url, ip)).status).toBe(429);
    // Retry-After is in wall seconds (a registry hour here is 0.5 s): at least 1.
    await waitFor(
      async () => (await timedGet(b.running.url, ip)).status === 200,
      5_000,
      () => "the window never ended",
    );
    // Once a whole registry hour has passed, both replicas see an empty window.
    await new Promise((r) => setTimeout(r, 600));
    expect((await timedGet(a.running.url, ip)).status).toBe(200);
    expect((await timedGet(b.running.url, ip)).status).toBe(200);
    expect((await timedGet(a.running.url, ip)).status).toBe(429);
  });

  it("three `pullstorm registry serve --store redis://...` processes admit exactly the limit per IP, fail open while Redis is gone, and recover", async (ctx) => {
    if (!tools.available) return ctx.skip(tools.reason);
    const own = await privateRedis();
    const dir = mkdtempSync(join(tmpdir(), "pullstorm-replicas-"));
    dirs.push(dir);
    const policyFile = join(dir, "policy.yaml");
    writeFileSync(
      policyFile,
      "preset: dockerhub-2020\nlimits:\n  pulls:\n    anonymous: {limit: 15, window: 6h}\n",
    );
    const procs = [0, 1, 2].map(() => {
      const proc = startProcess(process.execPath, [
        BIN,
        "registry",
        "serve",
        "--port",
        "0",
        "--no-auth",
        "--policy",
        policyFile,
        "--store",
        own.url,
        // A healthy Redis on a busy machine answered later than the 1 s default: one request
        // of the storm failed open ("unreachable", then "reachable again"). Redis killed below
        // fails commands at once, whatever the timeout.
        "--store-timeout",
        "10000",
        "--log-level",
        "info",
      ]);
      processes.push(proc);
      return proc;
    });
    const urls: string[] = [];
    for (const proc of procs) {
      await waitFor(
        () => /listening on http:\/\/\S+/.test(proc.output()),
        20_000,
        () => `no URL line; output so far:\n${proc.output()}`,
      );
      expect(proc.output()).toContain(`quotas in ${own.url} fail-open`);
      urls.push(/listening on (http:\/\/\S+)/.exec(proc.output())?.[1] as string);
    }
    expectExact(await storm(urls, ipRange(60, 5), 40), 15);
    for (const url of urls)
      expect(await metricsOf(url)).toContain(`pullstorm_quota_store_up{store="${own.url}"} 1`);

    // Redis goes away: every replica keeps answering, admits unchecked, and says so once.
    await own.kill();
    for (const url of urls) {
      for (let i = 0; i < 3; i++) {
        const res = await timedGet(url, "127.0.0.70");
        expect(res.status).toBe(200);
        expect(res.headers["ratelimit-remaining"]).toBeUndefined();
        expect(res.ms).toBeLessThan(2_500);
      }
      const metrics = await metricsOf(url);
      expect(metrics).toContain(`pullstorm_quota_store_up{store="${own.url}"} 0`);
      expect(metrics).toMatch(/pullstorm_quota_store_errors_total\{mode="open"\} [1-9]/);
    }
    // The log line travels through the child's stdout pipe: on a busy machine it arrived after
    // the requests above had been answered, so wait for it (at most 10 s), then count.
    const warningsOf = (proc: Managed) =>
      proc
        .output()
        .split("\n")
        .filter((l) => l.includes("unreachable"));
    for (const proc of procs) {
      await waitFor(
        () => warningsOf(proc).length > 0,
        10_000,
        () => `no warning logged:\n${proc.output()}`,
      );
      const warnings = warningsOf(proc);
      expect(warnings, proc.output()).toHaveLength(1);
      expect(JSON.parse(warnings[0] as string)).toMatchObject({
        level: 40,
        store: own.url,
        failure: "open",
        msg: `quota store ${own.url} unreachable: admitting requests without counting them until it is back (--store-failure open)`,
      });
    }

    // Redis is back (empty): the replicas reconnect, reload the script and count again.
    await own.restart();
    for (const url of urls) {
      await waitFor(
        async () =>
          (await timedGet(url, "127.0.0.71")).headers["ratelimit-remaining"] !== undefined,
        15_000,
        () => `replica ${url} did not count again`,
      );
      expect(await metricsOf(url)).toContain(`pullstorm_quota_store_up{store="${own.url}"} 1`);
    }
    for (const proc of procs)
      await waitFor(
        () => proc.output().includes(`"msg":"quota store ${own.url} reachable again"`),
        10_000,
        () => `no 'reachable again' logged:\n${proc.output()}`,
      );
    const after = await timedGet(urls[0] as string, "127.0.0.72");
    expect(after.headers["ratelimit-remaining"]).toBe(`14;${W}`);
    for (const proc of procs) expect(await proc.stop("SIGTERM")).toBe(0);
  });
});

describe("when Redis goes away mid-run", () => {
  it("fail-open: keeps admitting without RateLimit headers, warns once, exposes it in /metrics, recovers", async (ctx) => {
    if (!tools.available) return ctx.skip(tools.reason);
    const redis = await privateRedis();
    const { logger, lines } = recordingLogger();
    const { running } = await replica(redis.url, {
      limit: { limit: 3, window: "6h" },
      failure: "open",
      logger,
      // Redis killed: commands fail at once (no offline queue), whatever the timeout; 2 s
      // so a healthy Redis on a busy machine is not taken for a dead one before the kill.
      commandTimeoutMs: 2_000,
    });
    const first = await timedGet(running.url, "127.0.0.80");
    expect(first.status).toBe(200);
    expect(first.headers["ratelimit-remaining"]).toBe(`2;${W}`);

    await redis.kill();
    for (let i = 0; i < 6; i++) {
      const res = await timedGet(running.url, "127.0.0.80");
      expect(res.status).toBe(200);
      expect(res.headers["ratelimit-remaining"]).toBeUndefined();
      expect(res.ms).toBeLessThan(2_500);
    }
    const metrics = await metricsOf(running.url);
    expect(metrics).toContain(`pullstorm_quota_store_up{store="${redis.url}"} 0`);
    // Two rules count each request (the abuse limit and the pull limit): 12 uncounted operations.
    expect(metrics).toMatch(/pullstorm_quota_store_errors_total\{mode="open"\} 12\b/);
    expect(lines.filter((l) => l.level === "warn")).toEqual([
      {
        level: "warn",
        message: `quota store ${redis.url} unreachable: admitting requests without counting them until it is back (--store-failure open)`,
        fields: expect.objectContaining({ store: redis.url, failure: "open" }),
      },
    ]);

    await redis.restart();
    await waitFor(
      async () =>
        (await timedGet(running.url, "127.0.0.81")).headers["ratelimit-remaining"] !== undefined,
      15_000,
      () => "the store did not recover",
    );
    expect(lines.filter((l) => l.level === "info").map((l) => l.message)).toEqual([
      `quota store ${redis.url} reachable again`,
    ]);
    // Counting starts afresh in the empty Redis (the outage's requests were not counted).
    expect((await timedGet(running.url, "127.0.0.80")).headers["ratelimit-remaining"]).toBe(
      `2;${W}`,
    );
    expect(await metricsOf(running.url)).toContain(
      `pullstorm_quota_store_up{store="${redis.url}"} 1`,
    );
  });

  it("fail-closed: answers 503 UNAVAILABLE naming the store (no stack trace) within the timeout, recovers", async (ctx) => {
    if (!tools.available) return ctx.skip(tools.reason);
    const redis = await privateRedis();
    const { logger, lines } = recordingLogger();
    const { running } = await replica(redis.url, {
      limit: { limit: 3, window: "6h" },
      failure: "closed",
      logger,
      // Redis killed: commands fail at once (no offline queue), whatever the timeout; 2 s
      // so a healthy Redis on a busy machine is not taken for a dead one before the kill.
      commandTimeoutMs: 2_000,
    });
    expect((await timedGet(running.url, "127.0.0.90")).status).toBe(200);

    await redis.kill();
    for (const method of ["GET", "HEAD", "GET"]) {
      const res = await timedGet(running.url, "127.0.0.90", method);
      expect(res.status).toBe(503);
      expect(res.ms).toBeLessThan(2_500);
      expect(res.headers["pullstorm-refusal"]).toBe("quota-store");
      if (method === "GET") {
        const text = res.body.toString();
        expect(JSON.parse(text)).toEqual({
          errors: [
            {
              code: "UNAVAILABLE",
              message: `quota store ${redis.url} unreachable: refusing requests it would count (--store-failure closed)`,
            },
          ],
        });
        expect(text).not.toMatch(/\bat \S+:\d+|Error:|ECONNREFUSED/);
      }
    }
    // Control endpoints that read counters say the same.
    const stats = await httpRequest(`${running.url}/_pullstorm/stats`);
    expect(stats.status).toBe(503);
    expect(JSON.parse(stats.body.toString()).errors[0].code).toBe("UNAVAILABLE");
    const metrics = await metricsOf(running.url);
    expect(metrics).toContain(`pullstorm_quota_store_up{store="${redis.url}"} 0`);
    expect(metrics).toMatch(/pullstorm_quota_store_errors_total\{mode="closed"\} [1-9]/);
    expect(metrics).toMatch(/pullstorm_refusals_total\{reason="quota-store",rule="abuse"\} 3\b/);
    expect(lines.filter((l) => l.level === "warn").map((l) => l.message)).toEqual([
      `quota store ${redis.url} unreachable: answering 503 to requests it would count until it is back (--store-failure closed)`,
    ]);

    await redis.restart();
    await waitFor(
      async () => (await timedGet(running.url, "127.0.0.91")).status === 200,
      15_000,
      () => "the store did not recover",
    );
    expect((await timedGet(running.url, "127.0.0.90")).headers["ratelimit-remaining"]).toBe(
      `2;${W}`,
    );
  });

  it("a hung Redis (SIGSTOP) cannot hang requests: the command timeout bounds them", async (ctx) => {
    if (!tools.available) return ctx.skip(tools.reason);
    const redis = await privateRedis();
    const { running, store } = await replica(redis.url, {
      limit: { limit: 3, window: "6h" },
      failure: "open",
      commandTimeoutMs: 300,
    });
    expect((await timedGet(running.url, "127.0.0.100")).status).toBe(200);
    redis.pause();
    try {
      const answers = await Promise.all(
        Array.from({ length: 5 }, () => timedGet(running.url, "127.0.0.100")),
      );
      for (const res of answers) {
        expect(res.status).toBe(200);
        expect(res.headers["ratelimit-remaining"]).toBeUndefined();
        expect(res.ms).toBeLessThan(2_500);
      }
      expect(store.up).toBe(false);
    } finally {
      redis.resume();
    }
    await waitFor(
      async () =>
        (await timedGet(running.url, "127.0.0.101")).headers["ratelimit-remaining"] !== undefined,
      10_000,
      () => "the store did not recover after SIGCONT",
    );
    expect(store.up).toBe(true);
  });
});

describe("pullstorm registry serve --store: bad values and an unreachable Redis", () => {
  it("exits 2 on a --store that is neither memory nor redis://HOST:PORT[/DB]", async () => {
    for (const bad of [
      "foo",
      "redis://",
      "redis://host:99999",
      "redis://host:6379/x",
      "http://h:1",
    ]) {
      const res = await runCommand(
        process.execPath,
        [BIN, "registry", "serve", "--port", "0", "--store", bad],
        { timeoutMs: 20_000 },
      );
      expect(res.status, bad).toBe(2);
      expect(res.stderr, bad).toContain("--store: expected memory or redis://HOST:PORT[/DB]");
      expect(res.stderr, bad).not.toMatch(/\n\s+at /);
    }
    const badMode = await runCommand(
      process.execPath,
      [BIN, "registry", "serve", "--port", "0", "--store-failure", "maybe"],
      { timeoutMs: 20_000 },
    );
    expect(badMode.status).toBe(2);
    expect(badMode.stderr).toContain("--store-failure");
  });

  it("exits non-zero naming the URL when Redis cannot be reached at start-up", async () => {
    const port = await freePort();
    const res = await runCommand(
      process.execPath,
      [BIN, "registry", "serve", "--port", "0", "--store", `redis://127.0.0.1:${port}`],
      { timeoutMs: 20_000 },
    );
    expect(res.status).toBe(1);
    expect(res.stderr.trim()).toBe(
      `pullstorm: cannot reach the quota store redis://127.0.0.1:${port}/0: connect ECONNREFUSED 127.0.0.1:${port}`,
    );
    expect(res.stdout).not.toContain("listening");
  });
});
