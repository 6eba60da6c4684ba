// Throttling as real registries do it, driven in-process on a manual clock:
// each preset's numbers, headers and refusal shapes, rolling windows, token-service
// limits, misleading errors, edge and abuse layers, and live control.
import { afterEach, describe, expect, it } from "vitest";
import { ScaledClock } from "../fake-registry/core/clock.ts";
import { createHttpServer } from "../fake-registry/http/server.ts";
import { PRESETS } from "../fake-registry/policy/presets.ts";
import { refusalResponse } from "../fake-registry/policy/refusal.ts";
import { ipv6Prefix64 } from "../fake-registry/policy/subject.ts";
import type { QuotaRule } from "../fake-registry/policy/types.ts";
import { inProcessRegistry } from "./helpers/inprocess.ts";

const H = 3_600_000;
const MANIFEST = "/v2/library/nginx/manifests/1.25";
const ALICE = { name: "alice", password: "pw", plan: "free" };
const PAT = { name: "pat", password: "pw", plan: "pro" };

async function exhaust(
  call: ReturnType<typeof inProcessRegistry>["call"],
  n: number,
  opts: { ip?: string; token?: string },
) {
  const statuses: number[] = [];
  for (let i = 0; i < n; i++) statuses.push((await call("GET", MANIFEST, opts)).status);
  return statuses;
}

describe("dockerhub-2020", () => {
  it("admits 100 anonymous manifest GETs per IP per 6 h, then 429 TOOMANYREQUESTS with headers", async () => {
    const { call, token } = inProcessRegistry();
    const t = await token("library/nginx");
    const first = await call("GET", MANIFEST, { token: t });
    expect(first.status).toBe(200);
    expect(first.headers["ratelimit-limit"]).toBe("100;w=21600");
    expect(first.headers["ratelimit-remaining"]).toBe("99;w=21600");
    expect(first.headers["docker-ratelimit-source"]).toBe("127.0.0.1");
    const rest = await exhaust(call, 99, { token: t });
    expect(rest.every((s) => s === 200)).toBe(true);
    const refused = await call("GET", MANIFEST, { token: t });
    expect(refused.status).toBe(429);
    expect(JSON.parse(refused.text)).toEqual({
      errors: [
        {
          code: "TOOMANYREQUESTS",
          message:
            "You have reached your pull rate limit. You may increase the limit by authenticating and upgrading: https://www.docker.com/increase-rate-limit",
          detail: null,
        },
      ],
    });
    expect(refused.headers["ratelimit-remaining"]).toBe("0;w=21600");
    expect(refused.headers["retry-after"]).toBeUndefined();
    expect(refused.handled.refusal).toEqual({ reason: "quota", rule: "pulls" });
  });

  it("does not count HEADs or blobs; a HEAD on an exhausted quota answers 200 with remaining 0", async () => {
    const { call, token } = inProcessRegistry({
      policy: { limits: { pulls: { anonymous: { limit: 2, window: "6h" } } } },
    });
    const t = await token("library/nginx");
    for (let i = 0; i < 5; i++)
      expect((await call("HEAD", MANIFEST, { token: t })).headers["ratelimit-remaining"]).toBe(
        "2;w=21600",
      );
    // One pull: the index and, with it, the platform manifest.
    const list = JSON.parse((await call("GET", MANIFEST, { token: t })).text);
    const manifest = JSON.parse(
      (await call("GET", `/v2/library/nginx/manifests/${list.manifests[0].digest}`, { token: t }))
        .text,
    );
    expect((await call("GET", MANIFEST, { token: t })).status).toBe(200);
    for (let i = 0; i < 5; i++) {
      const blob = await call("GET", `/v2/library/nginx/blobs/${manifest.layers[0].digest}`, {
        token: t,
      });
      expect(blob.status).toBe(200);
      expect(blob.headers["ratelimit-limit"]).toBeUndefined();
    }
    expect((await call("GET", MANIFEST, { token: t })).status).toBe(429);
    const head = await call("HEAD", MANIFEST, { token: t });
    expect(head.status).toBe(200);
    expect(head.headers["ratelimit-remaining"]).toBe("0;w=21600");
  });

  it("rolls the window: each admitted GET frees up 6 h after it was made", async () => {
    const { call, token, clock } = inProcessRegistry({
      policy: { limits: { pulls: { anonymous: { limit: 3, window: "6h" } } } },
    });
    // tokens live 300 s of registry time: fetch a fresh one for each step, as clients do
    expect((await call("GET", MANIFEST, { token: await token("library/nginx") })).status).toBe(200); // t=0
    clock.advance(2 * H);
    expect(await exhaust(call, 3, { token: await token("library/nginx") })).toEqual([
      200, 200, 429,
    ]); // t=2h
    clock.advance(4 * H - 1);
    expect((await call("GET", MANIFEST, { token: await token("library/nginx") })).status).toBe(429); // 1 ms before the first expires
    clock.advance(1);
    const t = await token("library/nginx");
    expect((await call("GET", MANIFEST, { token: t })).status).toBe(200); // t=6h: the first slot is free
    expect((await call("GET", MANIFEST, { token: t })).status).toBe(429);
    clock.advance(2 * H);
    expect(await exhaust(call, 3, { token: await token("library/nginx") })).toEqual([
      200, 200, 429,
    ]);
  });

  it("counts accounts apart from IPs, with the plan's limit and the account message", async () => {
    const { call, token } = inProcessRegistry({ accounts: [ALICE, PAT] });
    const anon = await token("library/nginx");
    const alice = await token("library/nginx", { basic: "alice:pw" });
    const pat = await token("library/nginx", { basic: "pat:pw" });
    expect((await exhaust(call, 100, { token: anon })).every((s) => s === 200)).toBe(true);
    expect((await call("GET", MANIFEST, { token: anon })).status).toBe(429);
    const a = await exhaust(call, 201, { token: alice });
    expect(a.filter((s) => s === 200)).toHaveLength(200);
    const refused = await call("GET", MANIFEST, { token: alice });
    expect(JSON.parse(refused.text).errors[0].message).toContain("as 'alice'");
    expect(refused.headers["docker-ratelimit-source"]).toBe("alice");
    const p = await call("GET", MANIFEST, { token: pat });
    expect(p.headers["ratelimit-limit"]).toBe("50000;w=86400");
    expect(p.headers["ratelimit-remaining"]).toBe("49999;w=86400");
  });

  it("groups IPv6 clients by /64 and puts the prefix in docker-ratelimit-source", async () => {
    expect(ipv6Prefix64("2001:db8:1:2:aaaa::1")).toBe("2001:db8:1:2::/64");
    expect(ipv6Prefix64("::1")).toBe("0:0:0:0::/64");
    const { call, token } = inProcessRegistry({
      policy: { limits: { pulls: { anonymous: { limit: 2, window: "6h" } } } },
    });
    const t = await token("library/nginx");
    expect(
      (await call("GET", MANIFEST, { token: t, ip: "2001:db8:1:2::10" })).headers[
        "docker-ratelimit-source"
      ],
    ).toBe("2001:db8:1:2::/64");
    expect((await call("GET", MANIFEST, { token: t, ip: "2001:db8:1:2:ffff::20" })).status).toBe(
      200,
    );
    expect((await call("GET", MANIFEST, { token: t, ip: "2001:db8:1:2::30" })).status).toBe(429);
    expect((await call("GET", MANIFEST, { token: t, ip: "2001:db8:1:3::10" })).status).toBe(200);
  });

  it("puts pull_limit and pull_limit_interval in tokens, by plan", async () => {
    const { token } = inProcessRegistry({ accounts: [ALICE] });
    const claims = (t: string) =>
      JSON.parse(Buffer.from(t.split(".")[1] as string, "base64url").toString());
    expect(claims(await token("library/nginx")).access[0].parameters).toEqual({
      pull_limit: "100",
      pull_limit_interval: "21600",
    });
    expect(
      claims(await token("library/nginx", { basic: "alice:pw" })).access[0].parameters,
    ).toEqual({
      pull_limit: "200",
      pull_limit_interval: "21600",
    });
  });

  it("answers the HAP429 abuse limit in plain text with Retry-After 60, counting every request", async () => {
    const { call } = inProcessRegistry({
      policy: { limits: { abuse: { default: { limit: 5, window: "1m", algorithm: "fixed" } } } },
    });
    for (let i = 0; i < 5; i++) expect((await call("GET", "/v2/")).status).toBe(401);
    const refused = await call("GET", "/v2/");
    expect(refused.status).toBe(429);
    expect(refused.headers["content-type"]).toBe("text/plain");
    expect(refused.headers["retry-after"]).toBe("60");
    expect(refused.text).toBe("429 Too Many Requests (HAP429).\n");
    expect((await call("GET", "/v2/", { ip: "127.0.0.2" })).status).toBe(401);
  });

  it("locks out a username and IP after failed logins, for 10 minutes", async () => {
    const { call, clock } = inProcessRegistry({ accounts: [ALICE] });
    const path = "/token?service=registry.pullstorm.test&scope=repository:library/nginx:pull";
    for (let i = 0; i < 10; i++)
      expect((await call("GET", path, { basic: "alice:wrong" })).status).toBe(401);
    const locked = await call("GET", path, { basic: "alice:pw" });
    expect(locked.status).toBe(429);
    expect(JSON.parse(locked.text).errors[0].message).toBe(
      "too many failed login attempts for username or IP address",
    );
    // the username is locked from another address too
    expect((await call("GET", path, { basic: "alice:pw", ip: "127.0.0.9" })).status).toBe(429);
    clock.advance(10 * 60_000);
    expect((await call("GET", path, { basic: "alice:pw" })).status).toBe(200);
  });
});

describe("other presets", () => {
  it("dockerhub-2025-announced: anonymous 10 per hour, personal 100, newer message", async () => {
    const { call, token, clock } = inProcessRegistry({
      policy: { preset: "dockerhub-2025-announced" },
      accounts: [ALICE],
    });
    const t = await token("library/nginx");
    expect((await exhaust(call, 11, { token: t })).filter((s) => s === 200)).toHaveLength(10);
    const refused = await call("GET", MANIFEST, { token: t });
    expect(refused.headers["ratelimit-limit"]).toBe("10;w=3600");
    expect(JSON.parse(refused.text).errors[0].message).toContain("unauthenticated pull rate limit");
    clock.advance(H);
    expect((await call("GET", MANIFEST, { token: await token("library/nginx") })).status).toBe(200);
    const a = await token("library/nginx", { basic: "alice:pw" });
    expect((await call("GET", MANIFEST, { token: a })).headers["ratelimit-limit"]).toBe(
      "100;w=3600",
    );
  });

  it("ecr-public: 1 pull per second anonymous, 10 authenticated, 'Rate exceeded'", async () => {
    const { call, token, clock } = inProcessRegistry({
      policy: { preset: "ecr-public" },
      accounts: [ALICE],
    });
    const t = await token("library/nginx");
    expect(await exhaust(call, 2, { token: t })).toEqual([200, 429]);
    const refused = await call("GET", MANIFEST, { token: t });
    expect(JSON.parse(refused.text).errors[0]).toMatchObject({
      code: "TOOMANYREQUESTS",
      message: "Rate exceeded",
    });
    clock.advance(1000);
    expect((await call("GET", MANIFEST, { token: t })).status).toBe(200);
    const a = await token("library/nginx", { basic: "alice:pw" });
    clock.advance(1000);
    const burst = await exhaust(call, 3, { token: a });
    expect(burst[0]).toBe(200);
    clock.advance(100);
    expect((await call("GET", MANIFEST, { token: a })).status).toBe(200); // 10/s: one every 100 ms
  });

  it("quay: per-IP nginx limits per endpoint with bursts, answered with nginx's HTML 429", async () => {
    const { call, token } = inProcessRegistry({ policy: { preset: "quay" } });
    const t = await token("library/nginx");
    const manifests = await exhaust(call, 12, { token: t });
    expect(manifests.filter((s) => s === 200)).toHaveLength(11); // 20 r/s, burst 10
    const refused = await call("GET", MANIFEST, { token: t });
    expect(refused.headers["content-type"]).toBe("text/html");
    expect(refused.text).toContain("<center><h1>429 Too Many Requests</h1></center>");
    const tags: number[] = [];
    for (let i = 0; i < 4; i++)
      tags.push((await call("GET", "/v2/library/nginx/tags/list", { token: t })).status);
    expect(tags).toEqual([200, 200, 200, 429]); // 1 r/s, burst 2
  });

  it("ghcr: 44000 per minute, error text with retry-after", async () => {
    const { call, token } = inProcessRegistry({
      policy: {
        preset: "ghcr",
        limits: { requests: { default: { limit: 3, window: "1m", algorithm: "fixed" } } },
      },
    });
    const t = await token("library/nginx");
    await exhaust(call, 3, { token: t });
    const refused = await call("GET", MANIFEST, { token: t });
    expect(refused.status).toBe(429);
    expect(JSON.parse(refused.text).errors[0].message).toMatch(
      /^retry-after: .+ GMT, allowed: 44000\/minute$/,
    );
    expect(Number(refused.headers["retry-after"])).toBeGreaterThan(0);
    expect(PRESETS.ghcr?.rules[0]?.limits.default).toMatchObject({
      limit: 44_000,
      windowMs: 60_000,
    });
  });

  it("artifact-registry: one project-wide quota counting every request from every client", async () => {
    const { call, token } = inProcessRegistry({
      policy: {
        preset: "artifact-registry",
        limits: { "project-requests": { default: { limit: 4, window: "1m", algorithm: "fixed" } } },
      },
    });
    // the token service is another host: its requests are not in the project's registry quota
    const t = await token("library/nginx", { ip: "127.0.0.2" });
    expect((await call("GET", MANIFEST, { token: t, ip: "127.0.0.3" })).status).toBe(200); // 1
    expect((await call("HEAD", MANIFEST, { token: t, ip: "127.0.0.4" })).status).toBe(200); // 2
    expect((await call("GET", "/v2/", { token: t, ip: "127.0.0.5" })).status).toBe(200); // 3
    expect((await call("GET", "/v2/", { token: t, ip: "127.0.0.6" })).status).toBe(200); // 4
    expect((await call("GET", "/v2/", { token: t, ip: "127.0.0.7" })).status).toBe(429);
    expect(PRESETS["artifact-registry"]?.rules[0]?.limits.default).toMatchObject({
      limit: 60_000,
      windowMs: 60_000,
    });
  });

  it("registry-k8s-io: Cloud Armor 429 per IP, then a temporary ban past the higher threshold", async () => {
    const rule = structuredClone(PRESETS["registry-k8s-io"]?.rules[0]);
    expect(rule?.ban).toEqual({ after: 10_000, windowMs: 120_000, forMs: 1_800_000 });
    const { call, clock } = inProcessRegistry({
      auth: false,
      policy: {
        preset: "registry-k8s-io",
        rules: [
          {
            name: "cloud-armor",
            layer: "edge",
            counts: [{ kind: "*", method: "*" }],
            limits: { default: { limit: 5, window: "1m", algorithm: "fixed" } },
            refusal: { type: "html", body: "<h1>429 Too Many Requests</h1>" },
            ban: { after: 8, window: "2m", for: "30m" },
          },
        ],
      },
    });
    const s: number[] = [];
    for (let i = 0; i < 10; i++) s.push((await call("GET", MANIFEST)).status);
    expect(s).toEqual([200, 200, 200, 200, 200, 429, 429, 429, 429, 429]);
    expect((await call("GET", MANIFEST)).handled.refusal?.reason).toBe("ban");
    clock.advance(2 * 60_000);
    expect((await call("GET", MANIFEST)).status).toBe(429); // still banned after the rate window
    clock.advance(30 * 60_000);
    expect((await call("GET", MANIFEST)).status).toBe(200);
  });

  it("unlimited: counts and never refuses", async () => {
    const { call, registry } = inProcessRegistry({ auth: false, policy: { preset: "unlimited" } });
    const s = await exhaust(call, 300, {});
    expect(s.every((x) => x === 200)).toBe(true);
    expect(registry.stats.count("manifest", "GET", 200)).toBe(300);
  });
});

describe("token service, misleading errors and the edge", () => {
  it("token-service quota per IP and per username, with added latency", async () => {
    const { call } = inProcessRegistry({
      accounts: [ALICE],
      policy: {
        tokenLatency: "150ms",
        rules: [
          {
            name: "token-ip",
            layer: "token",
            counts: [{ kind: "token" }],
            anonymousBy: "ip",
            authenticatedBy: "account",
            limits: { default: { limit: 2, window: "1m", algorithm: "fixed" } },
            refusal: {
              type: "oci",
              code: "TOOMANYREQUESTS",
              anonymous: "token rate exceeded",
              account: "token rate exceeded for {user}",
            },
          },
        ],
      },
    });
    const path = "/token?service=registry.pullstorm.test&scope=repository:library/nginx:pull";
    const first = await call("GET", path);
    expect(first.status).toBe(200);
    expect(first.effects?.delayMs).toBe(150);
    expect((await call("GET", path)).status).toBe(200);
    const refused = await call("GET", path);
    expect(refused.status).toBe(429);
    expect(refused.handled.refusal?.reason).toBe("token-quota");
    // the account has its own count, from the same IP
    expect((await call("GET", path, { basic: "alice:pw" })).status).toBe(200);
    expect((await call("GET", path, { basic: "alice:pw" })).status).toBe(200);
    expect(
      JSON.parse((await call("GET", path, { basic: "alice:pw" })).text).errors[0].message,
    ).toBe("token rate exceeded for alice");
  });

  it("answers DENIED instead of 429 past the load threshold", async () => {
    const { call, token } = inProcessRegistry({
      policy: {
        limits: { pulls: { anonymous: { limit: 3, window: "6h" } } },
        misleading: { aboveRps: 4, status: 403 },
      },
    });
    const t = await token("library/nginx");
    // the fifth counted request within one second is past the threshold of 4
    expect(await exhaust(call, 4, { token: t })).toEqual([200, 200, 200, 429]);
    const denied = await call("GET", MANIFEST, { token: t });
    expect(denied.status).toBe(403);
    expect(JSON.parse(denied.text).errors[0]).toEqual({
      code: "DENIED",
      message: "requested access to the resource is denied",
    });
    expect(denied.handled.refusal?.reason).toBe("misleading-denied");
  });

  it("refuses at the edge before auth, with the edge's own shape and a stricter rule", async () => {
    const { call } = inProcessRegistry({
      policy: {
        rules: [
          {
            name: "cdn",
            layer: "edge",
            counts: [{ kind: "*" }],
            limits: { default: { limit: 2, window: "10s", algorithm: "fixed" } },
            refusal: {
              type: "html",
              status: 429,
              body: "<html><body>Error 429 Too Many Requests (edge)</body></html>",
            },
            retryAfter: true,
          },
          ...(PRESETS["dockerhub-2020"]?.rules.filter((r) => r.name === "pulls") ?? []).map(
            (r) => ({
              name: r.name,
              counts: r.counts.map(({ withinMs, ...c }) =>
                withinMs === undefined ? c : { ...c, within: withinMs },
              ),
              limits: { anonymous: { limit: 100, window: "6h" } },
              headers: true,
              refusal: r.refusal,
            }),
          ),
        ],
      },
    });
    expect((await call("GET", MANIFEST)).status).toBe(401);
    expect((await call("GET", MANIFEST)).status).toBe(401);
    const edge = await call("GET", MANIFEST);
    expect(edge.status).toBe(429);
    expect(edge.headers["content-type"]).toBe("text/html");
    expect(edge.headers["retry-after"]).toBe("10");
    expect(edge.handled.refusal).toEqual({ reason: "edge", rule: "cdn" });
  });
});

/**
 * The control API is a Fastify plugin beside the core (the core no longer
 * answers it): driven through Fastify's inject, still without a socket.
 */
function withControl(registry: ReturnType<typeof inProcessRegistry>["registry"]) {
  const app = createHttpServer(registry, { control: registry });
  opened.push(app);
  return async (
    method: string,
    url: string,
    opts: { ip?: string; headers?: Record<string, string>; body?: string } = {},
  ) => {
    const res = await app.inject({
      method: method as "GET",
      url,
      headers: {
        host: "127.0.0.1:5000",
        // Control bodies are JSON (a text/plain or form body is refused: test/control-api.test.ts).
        ...(opts.body !== undefined ? { "content-type": "application/json" } : {}),
        ...opts.headers,
      },
      remoteAddress: opts.ip ?? "127.0.0.1",
      ...(opts.body !== undefined ? { payload: opts.body } : {}),
    });
    return { status: res.statusCode, headers: res.headers, text: res.body };
  };
}
const opened: ReturnType<typeof createHttpServer>[] = [];

describe("live control", () => {
  afterEach(async () => {
    await Promise.all(opened.splice(0).map((app) => app.close()));
  });

  it("is not part of the transport-free core", async () => {
    const { call } = inProcessRegistry();
    const res = await call("GET", "/_pullstorm/stats");
    expect(res.status).toBe(404);
    expect(JSON.parse(res.text).errors[0].code).toBe("UNSUPPORTED");
  });

  it("swaps the policy, resets counters and reports per-identity quota and metrics", async () => {
    const { call: pull, token, registry } = inProcessRegistry({ accounts: [ALICE] });
    const control = withControl(registry);
    const call = (method: string, target: string, opts: { token?: string; body?: string } = {}) =>
      target.startsWith("/v2/") ? pull(method, target, opts) : control(method, target, opts);
    const t = await token("library/nginx");
    await exhaust(pull, 3, { token: t });
    const stats = JSON.parse((await call("GET", "/_pullstorm/stats")).text);
    expect(stats.policy).toBe("dockerhub-2020");
    expect(stats.byIdentity["127.0.0.1"].quota).toEqual([
      {
        rule: "pulls",
        key: "ip:127.0.0.1",
        limit: 100,
        windowSeconds: 21600,
        used: 3,
        remaining: 97,
      },
    ]);
    const swapped = await call("PUT", "/_pullstorm/policy", {
      body: JSON.stringify({ preset: "dockerhub-2025-announced" }),
    });
    expect(swapped.status).toBe(200);
    expect(JSON.parse((await call("GET", "/_pullstorm/policy")).text).preset).toBe(
      "dockerhub-2025-announced",
    );
    expect((await call("GET", MANIFEST, { token: t })).headers["ratelimit-limit"]).toBe(
      "10;w=3600",
    );
    const bad = await call("PUT", "/_pullstorm/policy", {
      body: JSON.stringify({ preset: "nope", limits: 3 }),
    });
    expect(bad.status).toBe(400);
    expect(JSON.parse(bad.text).errors[0].detail.problems.join("\n")).toMatch(
      /preset: unknown preset[\s\S]*limits: /,
    );
    expect((await call("PUT", "/_pullstorm/policy", { body: "{not json" })).status).toBe(400);
    const metrics = await call("GET", "/metrics");
    expect(metrics.text).toMatch(
      /pullstorm_requests_total\{kind="manifest",method="GET",status="200"\} 4/,
    );
    expect(metrics.text).toMatch(
      /pullstorm_quota_remaining\{rule="pulls",identity="127.0.0.1"\} 9/,
    );
    expect((await call("POST", "/_pullstorm/reset")).status).toBe(200);
    expect(JSON.parse((await call("GET", "/_pullstorm/stats")).text).total).toBe(1);
  });

  it("answers control endpoints only on loopback unless the control token is presented", async () => {
    const open = { call: withControl(inProcessRegistry().registry) };
    const denied = await open.call("GET", "/_pullstorm/policy", { ip: "192.0.2.10" });
    expect(denied.status).toBe(403);
    expect(JSON.parse(denied.text).errors[0].code).toBe("DENIED");
    expect((await open.call("GET", "/_pullstorm/policy", { ip: "::1" })).status).toBe(200);
    const withToken = {
      call: withControl(inProcessRegistry({ controlToken: "gameday" }).registry),
    };
    expect(
      (
        await withToken.call("GET", "/metrics", {
          ip: "192.0.2.10",
          headers: { authorization: "Bearer nope" },
        })
      ).status,
    ).toBe(403);
    expect(
      (
        await withToken.call("GET", "/metrics", {
          ip: "192.0.2.10",
          headers: { authorization: "Bearer gameday" },
        })
      ).status,
    ).toBe(200);
  });
});

describe("who is counted", () => {
  const rule = (by: string) => ({
    rules: [
      {
        name: "pulls",
        counts: [{ kind: "manifest", method: "GET" }],
        anonymousBy: by === "token" ? "token" : "ip",
        authenticatedBy: by,
        limits: { default: { limit: 2, window: "1h" }, anonymous: { limit: 2, window: "1h" } },
        headers: true,
        refusal: { type: "oci", anonymous: "limited", account: "limited as '{user}'" },
      },
    ],
  });

  it("per organisation: two accounts of one org share a quota", async () => {
    const accounts = [
      { name: "ann", password: "pw", plan: "team", org: "acme" },
      { name: "bob", password: "pw", plan: "team", org: "acme" },
      { name: "cy", password: "pw", plan: "team", org: "other" },
    ];
    const { call, token } = inProcessRegistry({ accounts, policy: rule("org") });
    const ann = await token("library/nginx", { basic: "ann:pw" });
    const bob = await token("library/nginx", { basic: "bob:pw" });
    const cy = await token("library/nginx", { basic: "cy:pw" });
    expect((await call("GET", MANIFEST, { token: ann })).headers["docker-ratelimit-source"]).toBe(
      "acme",
    );
    expect((await call("GET", MANIFEST, { token: bob })).status).toBe(200);
    expect((await call("GET", MANIFEST, { token: ann })).status).toBe(429);
    expect((await call("GET", MANIFEST, { token: cy })).status).toBe(200);
  });

  it("per token: each token has its own quota, even from one address", async () => {
    const { call, token } = inProcessRegistry({ policy: rule("token") });
    const one = await token("library/nginx");
    const two = await token("library/nginx");
    expect(await exhaust(call, 3, { token: one })).toEqual([200, 200, 429]);
    expect(await exhaust(call, 3, { token: two })).toEqual([200, 200, 429]);
  });
});

describe("scaled clock", () => {
  it("expires a rolling window in scaled time: 6 h pass in 60 wall seconds at x360", async () => {
    let wall = 1_000_000;
    const clock = new ScaledClock(360, () => wall);
    const { createRegistry } = await import("../fake-registry/index.ts");
    const registry = createRegistry({
      clock,
      auth: false,
      policy: (await import("../fake-registry/policy/file.ts")).parsePolicyDocument(
        {
          limits: { pulls: { anonymous: { limit: 2, window: "6h" } } },
          retryAfter: { pulls: true },
        },
        "dockerhub-2020",
      ) as import("../fake-registry/policy/types.ts").Policy,
    });
    const get = async () =>
      (
        await registry.handle(
          { method: "GET", path: MANIFEST, query: new URLSearchParams(), headers: {} },
          { ip: "127.0.0.1" },
        )
      ).response;
    expect((await get()).status).toBe(200);
    wall += 30_000; // 3 h of registry time
    expect((await get()).status).toBe(200);
    const refused = await get();
    expect(refused.status).toBe(429);
    expect(refused.headers["retry-after"]).toBe("30"); // the first slot frees in 3 h = 30 wall seconds
    wall += 30_000;
    expect((await get()).status).toBe(200);
  });

  it("issues and checks tokens in wall time, so clients' cached tokens survive scaled time", async () => {
    let wall = Date.now();
    const clock = new ScaledClock(3600, () => wall);
    const { createRegistry } = await import("../fake-registry/index.ts");
    const registry = createRegistry({ clock });
    const ask = (path: string, headers: Record<string, string> = {}) =>
      registry.handle(
        { method: "GET", path, query: new URLSearchParams(), headers },
        { ip: "127.0.0.1" },
      );
    const tokenRes = await registry.handle(
      {
        method: "GET",
        path: "/token",
        query: new URLSearchParams(
          "service=registry.pullstorm.test&scope=repository:library/nginx:pull",
        ),
        headers: {},
      },
      { ip: "127.0.0.1" },
    );
    const body = JSON.parse(String(tokenRes.response.body));
    expect(body.expires_in).toBe(300);
    expect(Math.abs(Date.parse(body.issued_at) - wall)).toBeLessThan(1000);
    wall += 2_000; // two hours of registry time, two wall seconds
    expect((await ask(MANIFEST, { authorization: `Bearer ${body.token}` })).response.status).toBe(
      200,
    );
    wall += 300_000;
    expect((await ask(MANIFEST, { authorization: `Bearer ${body.token}` })).response.status).toBe(
      401,
    );
  });

  it("runs registry time N times faster than the wall clock", () => {
    let wall = 1_000_000;
    const clock = new ScaledClock(360, () => wall);
    const start = clock.now();
    wall += 60_000; // one wall minute
    expect(clock.now() - start).toBe(6 * H);
    expect(() => new ScaledClock(0)).toThrow(/positive/);
  });
});

describe("refusal bodies", () => {
  const facts = (refusal: QuotaRule["refusal"], key = "ci-bot") => ({
    identity: { type: "account" as const, key, ip: "127.0.0.9", plan: "personal" },
    rule: { refusal, retryAfter: true } as unknown as QuotaRule,
    limit: 200,
    windowSeconds: 21600,
    retryAfterSeconds: 30,
    wallNow: Date.UTC(2026, 11, 4, 12, 0, 0),
  });

  it("fill every placeholder, leave a body without any as it is, and say when to retry", () => {
    const text = refusalResponse(
      facts({
        type: "text",
        status: 429,
        body: "{user} {limit}/{window}s, again in {retryAfter}s ({retryAt}); {user}",
      }),
    );
    expect(text.body).toBe(
      "ci-bot 200/21600s, again in 30s (Fri, 04 Dec 2026 12:00:30 GMT); ci-bot",
    );
    expect(text.headers["retry-after"]).toBe("30");
    const fixed = refusalResponse(facts({ type: "html", status: 429, body: "<h1>429</h1>" }));
    expect(fixed.body).toBe("<h1>429</h1>");
    const oci = refusalResponse(
      facts({
        type: "oci",
        status: 429,
        code: "TOOMANYREQUESTS",
        anonymous: "-",
        account: "as '{user}'",
      }),
    );
    expect(JSON.parse(String(oci.body))).toEqual({
      errors: [{ code: "TOOMANYREQUESTS", message: "as 'ci-bot'", detail: null }],
    });
  });

  it("fill in order: a name that spells a later placeholder is filled too, as before", () => {
    const r = refusalResponse(facts({ type: "text", status: 429, body: "{user}" }, "x{limit}"));
    expect(r.body).toBe("x200");
  });
});
