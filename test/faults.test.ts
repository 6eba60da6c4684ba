// Fault injection: each fault module, the FaultSet (scope, schedule, probability,
// merging, validation), and the transport carrying effects out on real sockets,
// seen by node's HTTP client and by skopeo.
import { createHash } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import pino from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ManualClock } from "../fake-registry/core/clock.ts";
import type { Identity } from "../fake-registry/core/types.ts";
import { bandwidth } from "../fake-registry/faults/bandwidth.ts";
import { errorBurst } from "../fake-registry/faults/error-burst.ts";
import { hang } from "../fake-registry/faults/hang.ts";
import {
  compileFault,
  type FaultContext,
  FaultSet,
  type FaultView,
  mergeEffects,
  mulberry32,
} from "../fake-registry/faults/index.ts";
import { latency } from "../fake-registry/faults/latency.ts";
import { outage } from "../fake-registry/faults/outage.ts";
import { reset } from "../fake-registry/faults/reset.ts";
import { createRegistry, type RunningRegistry, serveRegistry } from "../fake-registry/index.ts";
import type { Registry } from "../fake-registry/registry/registry.ts";
import { httpRequest } from "./helpers/http.ts";
import { runCommand, waitFor } from "./helpers/processes.ts";
import { pullToken, startRegistry } from "./helpers/registry.ts";
import { checkTools } from "./helpers/tools.ts";

const ANON: Identity = { type: "anonymous", key: "10.0.0.1", ip: "10.0.0.1" };
const ALICE: Identity = { type: "account", key: "alice", ip: "10.0.0.2", plan: "pro" };

function ctx(over: Partial<FaultContext> = {}): FaultContext {
  return {
    kind: "manifest",
    method: "GET",
    repository: "library/nginx",
    identity: ANON,
    now: 0,
    elapsedMs: 0,
    ...over,
  };
}

function added(set: FaultSet, spec: unknown): FaultView {
  const result = set.add(spec);
  if (!result.ok) throw new Error(result.errors.join("\n"));
  return result.fault;
}

describe("fault modules", () => {
  it("latency: ms ± uniform jitter, never negative, centred on ms", () => {
    const random = mulberry32(7);
    const fault = latency.create(latency.params.parse({ ms: 200, jitterMs: 50 }));
    const delays = Array.from(
      { length: 2000 },
      () => fault.apply(ctx(), random)?.effects?.delayMs ?? -1,
    );
    for (const d of delays) {
      expect(d).toBeGreaterThanOrEqual(150);
      expect(d).toBeLessThanOrEqual(250);
    }
    const mean = delays.reduce((a, b) => a + b, 0) / delays.length;
    expect(Math.abs(mean - 200)).toBeLessThan(5);
    const small = latency.create(latency.params.parse({ ms: 10, jitterMs: 50 }));
    const smallDelays = Array.from({ length: 500 }, () => small.apply(ctx(), random)?.effects);
    expect(smallDelays.every((e) => (e?.delayMs ?? -1) >= 0)).toBe(true);
    expect(smallDelays.some((e) => e?.delayMs === 0)).toBe(true);
    expect(latency.params.parse({ ms: 5 }).jitterMs).toBe(0);
    expect(fault.answers).toBe(false);
  });

  it("bandwidth takes bytes or sizes; reset and hang are plain effects", () => {
    expect(bandwidth.params.parse({ bytesPerSecond: "100KB" }).bytesPerSecond).toBe(100_000);
    expect(
      bandwidth
        .create(bandwidth.params.parse({ bytesPerSecond: "64KiB" }))
        .apply(ctx(), Math.random),
    ).toEqual({ effects: { bytesPerSecond: 65_536 } });
    expect(reset.create({}).apply(ctx(), Math.random)).toEqual({ effects: { reset: true } });
    expect(hang.create(hang.params.parse({})).apply(ctx(), Math.random)).toEqual({
      effects: { hang: true },
    });
    expect(hang.create(hang.params.parse({ closeAfter: "30s" })).apply(ctx(), Math.random)).toEqual(
      { effects: { hang: true, hangMs: 30_000 } },
    );
  });

  it("error-burst answers like distribution (UNAVAILABLE for 503, UNKNOWN otherwise) and stops after count", () => {
    const burst = errorBurst.create(errorBurst.params.parse({ count: 2 }));
    expect(burst.answers).toBe(true);
    const first = burst.apply(ctx(), Math.random)?.response;
    expect(first?.status).toBe(503);
    expect(first?.headers["content-type"]).toBe("application/json");
    expect(JSON.parse(String(first?.body))).toEqual({
      errors: [{ code: "UNAVAILABLE", message: "service unavailable" }],
    });
    expect(burst.apply(ctx(), Math.random)?.response?.status).toBe(503);
    expect(burst.spent?.()).toBe(true);
    expect(burst.apply(ctx(), Math.random)).toBeUndefined();
    const e500 = errorBurst.create(errorBurst.params.parse({ status: 500 }));
    const r = e500.apply(ctx(), Math.random)?.response;
    expect(r?.status).toBe(500);
    expect(JSON.parse(String(r?.body)).errors[0].code).toBe("UNKNOWN");
    expect(e500.spent?.()).toBe(false);
  });

  it("outage answers as the proxy in front would: envoy, nginx or an AWS load balancer", () => {
    const envoy = outage.create(outage.params.parse({})).apply(ctx(), Math.random)?.response;
    expect(envoy).toMatchObject({
      status: 503,
      headers: { "content-type": "text/plain", server: "envoy" },
      body: "no healthy upstream",
    });
    const nginx = outage
      .create(outage.params.parse({ server: "nginx", status: 502 }))
      .apply(ctx(), Math.random)?.response;
    expect(nginx?.status).toBe(502);
    expect(nginx?.headers["content-type"]).toBe("text/html");
    expect(String(nginx?.body)).toContain("<title>502 Bad Gateway</title>");
    expect(String(nginx?.body)).toContain("<center>nginx</center>");
    const elb = outage.create(outage.params.parse({ server: "elb" })).apply(ctx(), Math.random);
    expect(elb?.response?.headers.server).toBe("awselb/2.0");
    expect(String(elb?.response?.body)).toContain("503 Service Temporarily Unavailable");
  });

  it("mulberry32 is a seeded, repeatable source in [0, 1)", () => {
    const a = mulberry32(42);
    const b = mulberry32(42);
    const xs = Array.from({ length: 100 }, () => a());
    expect(Array.from({ length: 100 }, () => b())).toEqual(xs);
    expect(xs.every((x) => x >= 0 && x < 1)).toBe(true);
    expect(mulberry32(43)()).not.toBe(xs[0]);
  });
});

describe("FaultSet", () => {
  it("scopes by endpoint kind, repository (with * patterns) and identity (key or IP)", () => {
    const set = new FaultSet();
    added(set, { id: "kinds", type: "latency", ms: 1, scope: { kinds: ["blob", "tags"] } });
    added(set, { id: "repos", type: "latency", ms: 10, scope: { repositories: ["library/*"] } });
    added(set, { id: "who", type: "latency", ms: 100, scope: { identities: ["10.0.0.2"] } });
    added(set, { id: "alice", type: "latency", ms: 1000, scope: { identities: ["alice"] } });
    const delay = (c: Partial<FaultContext>) => set.evaluate(ctx(c))?.effects?.delayMs;
    expect(delay({ kind: "blob", repository: "myorg/api" })).toBe(1);
    expect(delay({ kind: "manifest", repository: "library/redis" })).toBe(10);
    expect(delay({ kind: "blob", repository: "library/redis" })).toBe(11);
    expect(delay({ kind: "ping", repository: undefined })).toBeUndefined();
    expect(delay({ kind: "ping", repository: undefined, identity: ALICE })).toBe(1100);
    expect(
      delay({
        kind: "token",
        repository: undefined,
        identity: { type: "anonymous", key: "10.0.0.2", ip: "10.0.0.2" },
      }),
    ).toBe(100);
    expect(delay({ repository: "libraryX/nginx" })).toBeUndefined();
    const views = Object.fromEntries(set.list().map((v) => [v.id, v]));
    expect(views.kinds?.injected).toBe(2);
    expect(views.repos?.injected).toBe(2);
    expect(views.alice?.matched).toBe(1);
  });

  it("schedules on registry time since start-up: active from start for duration", () => {
    const set = new FaultSet();
    const view = added(set, {
      type: "outage",
      schedule: { start: "60s", duration: 30 },
    });
    expect(view).toMatchObject({ id: "f1", schedule: { start: "1m", duration: "30s" } });
    const status = (elapsedMs: number) => set.evaluate(ctx({ elapsedMs }))?.response?.status;
    expect(status(59_999)).toBeUndefined();
    expect(status(60_000)).toBe(503);
    expect(status(89_999)).toBe(503);
    expect(status(90_000)).toBeUndefined();
    expect(set.list(70_000)[0]?.active).toBe(true);
    expect(set.list(90_000)[0]?.active).toBe(false);
    // Without an argument, `active` follows the clock when there is one.
    const clock = new ManualClock();
    const timed = new FaultSet({ clock });
    added(timed, { type: "reset", schedule: { start: "10m" } });
    expect(timed.list()[0]?.active).toBe(false);
    clock.advance(600_000);
    expect(timed.list()[0]?.active).toBe(true);
    clock.advance(86_400_000);
    expect(timed.list()[0]?.active).toBe(true);
  });

  it("draws probability from a seeded PRNG: about p of requests, identically for the same seed", () => {
    const run = (seed: number) => {
      const set = new FaultSet({ seed });
      added(set, { type: "error-burst", probability: 0.3 });
      return Array.from({ length: 10_000 }, () => set.evaluate(ctx()) !== undefined);
    };
    const a = run(5);
    const hits = a.filter(Boolean).length;
    // binomial(10000, 0.3): sd ≈ 46; 5 sd either side
    expect(hits).toBeGreaterThan(2770);
    expect(hits).toBeLessThan(3230);
    expect(run(5)).toEqual(a);
    expect(run(6)).not.toEqual(a);
    const never = new FaultSet();
    added(never, { type: "reset", probability: 0 });
    for (let i = 0; i < 1000; i++) expect(never.evaluate(ctx())).toBeUndefined();
    expect(never.list()[0]).toMatchObject({ matched: 1000, injected: 0 });
  });

  it("an error burst with count answers only the first N matching requests of its window", () => {
    const set = new FaultSet();
    added(set, {
      type: "error-burst",
      status: 502,
      count: 3,
      scope: { kinds: ["manifest"] },
      schedule: { start: "1m" },
    });
    expect(set.evaluate(ctx({ elapsedMs: 1000 }))).toBeUndefined();
    expect(set.evaluate(ctx({ kind: "blob", elapsedMs: 61_000 }))).toBeUndefined();
    const statuses = Array.from(
      { length: 5 },
      () => set.evaluate(ctx({ elapsedMs: 61_000 }))?.response?.status,
    );
    expect(statuses).toEqual([502, 502, 502, undefined, undefined]);
    expect(set.list(61_000)[0]).toMatchObject({ active: false, injected: 3, matched: 5 });
  });

  it("merges: first answer wins, delays add up, the lowest bandwidth wins, reset and hang stick", () => {
    const set = new FaultSet();
    added(set, { type: "latency", ms: 100 });
    added(set, { id: "lb", type: "outage" });
    added(set, { id: "burst", type: "error-burst", count: 1 });
    added(set, { type: "latency", ms: 50 });
    added(set, { type: "bandwidth", bytesPerSecond: 1000 });
    added(set, { type: "bandwidth", bytesPerSecond: 500 });
    const outcome = set.evaluate(ctx());
    expect(outcome?.response?.body).toBe("no healthy upstream");
    expect(outcome?.effects).toEqual({ delayMs: 150, bytesPerSecond: 500 });
    // The burst was not consulted, so its one error is still to come.
    expect(set.get("burst")).toMatchObject({ active: true, injected: 0 });
    set.remove("lb");
    expect(set.evaluate(ctx())?.response?.headers["content-type"]).toBe("application/json");
    expect(set.evaluate(ctx())?.response).toBeUndefined();
    expect(
      mergeEffects({ reset: true, hangMs: 10 }, { hang: true, hangMs: 5, delayMs: 1 }),
    ).toEqual({ reset: true, hang: true, hangMs: 5, delayMs: 1 });
  });

  it("assigns ids, refuses duplicates, removes and clears", () => {
    const set = new FaultSet();
    expect(added(set, { id: "f2", type: "reset" }).id).toBe("f2");
    expect(added(set, { type: "reset" }).id).toBe("f1");
    expect(added(set, { type: "reset" }).id).toBe("f3");
    const dup = set.add({ id: "f2", type: "hang" });
    expect(dup).toEqual({
      ok: false,
      errors: ['id: a fault with id "f2" already exists; remove it first'],
    });
    expect(set.remove("f2")).toBe(true);
    expect(set.remove("f2")).toBe(false);
    expect(set.list().map((v) => v.id)).toEqual(["f1", "f3"]);
    set.clear();
    expect(set.size).toBe(0);
    expect(set.evaluate(ctx())).toBeUndefined();
  });

  it("lists specs normalized (defaults filled, schedule as durations) that can be posted again", () => {
    const set = new FaultSet();
    const view = added(set, {
      type: "latency",
      ms: 250,
      scope: { kinds: ["blob"], identities: ["alice"] },
      schedule: { start: 90, duration: "1.5h" },
    });
    expect(view).toEqual({
      id: "f1",
      type: "latency",
      probability: 1,
      ms: 250,
      jitterMs: 0,
      scope: { kinds: ["blob"], identities: ["alice"] },
      schedule: { start: "90s", duration: "90m" },
      active: false,
      matched: 0,
      injected: 0,
    });
    const { active: _a, matched: _m, injected: _i, ...spec } = view;
    const again = new FaultSet().add(JSON.parse(JSON.stringify(spec)));
    expect(again.ok && again.fault).toEqual(view);
    expect(added(set, { type: "bandwidth", bytesPerSecond: "1MiB" }).bytesPerSecond).toBe("1MiB");
  });

  it("validation errors name the field and never throw", () => {
    const errors = (spec: unknown) => {
      const result = compileFault(spec);
      return result.ok ? [] : result.errors;
    };
    expect(errors("latency")[0]).toMatch(/^\(top level\): a fault spec is an object/);
    expect(errors({ ms: 3 })).toEqual([
      "type: required; one of latency, bandwidth, reset, hang, error-burst, outage",
    ]);
    expect(errors({ type: "jitter" })[0]).toMatch(/^type: unknown fault type "jitter"; one of /);
    expect(errors({ type: "latency" })).toEqual(["ms: required"]);
    expect(errors({ type: "latency", ms: 5, jitter: 1 })[0]).toMatch(
      /^jitter: unknown field; latency faults take .*jitterMs/,
    );
    expect(errors({ type: "reset", probability: 1.5 })[0]).toMatch(/^probability: /);
    expect(errors({ type: "error-burst", status: 429 })).toEqual([
      "status: must be a 5xx status (500 to 599)",
    ]);
    expect(errors({ type: "error-burst", count: 0 })[0]).toMatch(/^count: /);
    expect(errors({ type: "bandwidth", bytesPerSecond: "fast" })[0]).toMatch(
      /^bytesPerSecond: "fast" is not a size/,
    );
    expect(errors({ type: "outage", server: "haproxy" })[0]).toMatch(/^server: /);
    const nested = errors({
      type: "hang",
      scope: { kinds: ["manifest", "layers"], repositories: [], typo: true },
      schedule: { start: "soon" },
    });
    expect(nested).toEqual([
      expect.stringMatching(/^scope\.kinds\.1: /),
      "scope.repositories: an empty list matches nothing; leave repositories out to match every request",
      "scope.typo: unknown field",
      expect.stringMatching(/^schedule\.start: "soon" is not a duration/),
    ]);
    expect(errors({ type: "reset", id: "no spaces" })[0]).toMatch(/^id: /);
    expect(new FaultSet().add({ type: "latency", ms: "slow" })).toMatchObject({
      ok: false,
      errors: [expect.stringMatching(/^ms: /)],
    });
  });
});

/**
 * Stands in for the core's wiring (the registry will call `faults.evaluate`
 * itself): evaluate after the registry answered, swap in a fault's response,
 * merge its effects into what goes to the transport.
 */
function injectFaults(registry: Registry, faults: FaultSet): void {
  const handle = registry.handle.bind(registry);
  registry.handle = async (req, client, now = registry.clock.now()) => {
    const handled = await handle(req, client, now);
    const outcome = faults.evaluate({
      kind: handled.kind,
      method: req.method,
      identity: handled.identity,
      now,
      elapsedMs: now - registry.clock.startedAt,
      ...(handled.repository ? { repository: handled.repository } : {}),
    });
    if (outcome?.response) handled.response = { ...outcome.response };
    if (outcome?.effects)
      handled.response.effects = mergeEffects(handled.response.effects, outcome.effects);
    return handled;
  };
}

interface Timed {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
  ms: number;
}

/** One request with a client-side timeout, timed; rejects with the socket error (code ECONNRESET, TIMEOUT, ...). */
async function timedRequest(
  url: string,
  options: { method?: string; headers?: Record<string, string>; timeoutMs?: number } = {},
): Promise<Timed> {
  const started = performance.now();
  try {
    const res = await httpRequest(url, options);
    return { ...res, ms: performance.now() - started };
  } catch (error) {
    throw Object.assign(error as Error, { ms: performance.now() - started });
  }
}

/** The shortest time of `n` requests made one after another (each must answer 200). */
async function fastestOf(n: number, request: () => Promise<Timed>): Promise<number> {
  let fastest = Number.POSITIVE_INFINITY;
  for (let i = 0; i < n; i++) {
    const res = await request();
    expect(res.status).toBe(200);
    fastest = Math.min(fastest, res.ms);
  }
  return fastest;
}

const sha = (b: Buffer) => `sha256:${createHash("sha256").update(b).digest("hex")}`;
const DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json";

describe("fault effects on real sockets", () => {
  let running: RunningRegistry;
  let faults: FaultSet;
  let token: string;
  let blob: { digest: string; size: number };
  const url = (path: string) => `${running.url}${path}`;
  const auth = () => ({ authorization: `Bearer ${token}` });

  beforeAll(async () => {
    running = await startRegistry({ defaults: { layers: 2, layerSize: 200_000 } });
    faults = new FaultSet({ seed: 1, clock: running.registry.clock });
    injectFaults(running.registry, faults);
    token = await pullToken(running.url, "library/nginx");
    const manifest = await httpRequest(url("/v2/library/nginx/manifests/1.25"), {
      headers: { ...auth(), accept: DOCKER_MANIFEST },
    });
    const layers = JSON.parse(manifest.body.toString()).layers as {
      digest: string;
      size: number;
    }[];
    // the smallest layer of about 200 KB (layer sizes vary around layerSize)
    blob = layers.filter((l) => l.size >= 150_000).reduce((a, b) => (b.size < a.size ? b : a));
  });
  afterAll(() => running?.close());

  it("latency delays the answer, GET and HEAD alike", async () => {
    faults.clear();
    added(faults, { type: "latency", ms: 300, scope: { kinds: ["ping", "manifest"] } });
    const ping = await timedRequest(url("/v2/"), { headers: auth() });
    expect(ping.status).toBe(200);
    expect(ping.ms).toBeGreaterThanOrEqual(295);
    const head = await timedRequest(url("/v2/library/nginx/manifests/1.25"), {
      method: "HEAD",
      headers: { ...auth(), accept: DOCKER_MANIFEST },
    });
    expect(head.status).toBe(200);
    expect(head.ms).toBeGreaterThanOrEqual(295);
    expect(head.body.length).toBe(0);
    expect(Number(head.headers["content-length"])).toBeGreaterThan(0);
    faults.clear();
    // Without the fault no request waits 300 ms; one can still take that long on a busy
    // machine (722 ms seen with a second `npm test` running), so the fastest of three counts:
    // with the latency still in place every one of them would take 300 ms or more.
    expect(await fastestOf(3, () => timedRequest(url("/v2/"), { headers: auth() }))).toBeLessThan(
      295,
    );
  });

  it("reset: the client sees ECONNRESET, for GET and HEAD, and nothing else is written", async () => {
    faults.clear();
    added(faults, { type: "reset", scope: { kinds: ["manifest"] } });
    for (const method of ["GET", "HEAD"]) {
      await expect(
        timedRequest(url("/v2/library/nginx/manifests/1.25"), { method, headers: auth() }),
      ).rejects.toMatchObject({ code: "ECONNRESET" });
    }
    // a delay first, then the reset
    faults.clear();
    added(faults, { type: "latency", ms: 200 });
    added(faults, { type: "reset" });
    const error = await timedRequest(url("/v2/"), { headers: auth() }).catch((e) => e);
    expect(error).toMatchObject({ code: "ECONNRESET" });
    expect(error.ms).toBeGreaterThanOrEqual(195);
    faults.clear();
    expect((await timedRequest(url("/v2/"), { headers: auth() })).status).toBe(200);
  });

  it("hang: the request is never answered and the client times out; the server goes on", async () => {
    faults.clear();
    added(faults, { type: "hang", scope: { kinds: ["blob"] } });
    const error = await timedRequest(url(`/v2/library/nginx/blobs/${blob.digest}`), {
      headers: auth(),
      timeoutMs: 500,
    }).catch((e) => e);
    expect(error).toMatchObject({ code: "TIMEOUT" });
    expect(error.ms).toBeGreaterThanOrEqual(495);
    expect((await timedRequest(url("/v2/"), { headers: auth() })).status).toBe(200);
    faults.clear();
  });

  it("hang with closeAfter: the connection is closed unanswered", async () => {
    faults.clear();
    added(faults, { type: "hang", closeAfter: "300ms" });
    const error = await timedRequest(url("/v2/"), { headers: auth() }).catch((e) => e);
    expect(error).toBeInstanceOf(Error);
    expect(error.code).toBe("ECONNRESET"); // node's "socket hang up"
    expect(error.message).toBe("socket hang up");
    expect(error.ms).toBeGreaterThanOrEqual(295);
    expect(error.ms).toBeLessThan(5000);
    faults.clear();
  });

  it("bandwidth paces the body (a 200 KB blob at 100 KB/s takes about 2 s) and keeps it intact", async () => {
    faults.clear();
    expect(blob.size).toBeGreaterThan(150_000);
    added(faults, { type: "bandwidth", bytesPerSecond: "100KB", scope: { kinds: ["blob"] } });
    const res = await timedRequest(url(`/v2/library/nginx/blobs/${blob.digest}`), {
      headers: auth(),
    });
    expect(res.status).toBe(200);
    expect(res.ms).toBeGreaterThanOrEqual(Math.min(1500, (blob.size / 100_000) * 1000 - 100));
    expect(res.headers["content-length"]).toBe(String(blob.size));
    expect(res.headers["transfer-encoding"]).toBeUndefined();
    expect(res.body.length).toBe(blob.size);
    expect(sha(res.body)).toBe(blob.digest);
    // HEAD has no body to pace: answered at once, with the real length (the fastest of
    // three, as above: a paced HEAD would take 1.5 s or more every time)
    const headOnce = () =>
      timedRequest(url(`/v2/library/nginx/blobs/${blob.digest}`), {
        method: "HEAD",
        headers: auth(),
      });
    const head = await headOnce();
    expect(head.status).toBe(200);
    expect(head.headers["content-length"]).toBe(String(blob.size));
    expect(Math.min(head.ms, await fastestOf(2, headOnce))).toBeLessThan(1000);
    // bodies without a content-length of their own get one
    const ping = await timedRequest(url("/v2/"), { headers: auth() });
    expect(ping.body.toString()).toBe("{}");
    faults.clear();
  });

  it("error-burst and outage answer over HTTP; HEAD gets the status without a body", async () => {
    faults.clear();
    added(faults, { type: "error-burst", count: 2, scope: { kinds: ["manifest"] } });
    const path = url("/v2/library/nginx/manifests/1.25");
    const first = await httpRequest(path, { headers: auth() });
    expect(first.status).toBe(503);
    expect(JSON.parse(first.body.toString()).errors[0].code).toBe("UNAVAILABLE");
    const head = await httpRequest(path, { method: "HEAD", headers: auth() });
    expect(head.status).toBe(503);
    expect(head.body.length).toBe(0);
    expect((await httpRequest(path, { headers: auth() })).status).toBe(200);
    faults.clear();
    added(faults, { type: "outage", server: "nginx", status: 502 });
    const lb = await httpRequest(url("/v2/"), { headers: auth() });
    expect(lb.status).toBe(502);
    expect(lb.headers["content-type"]).toMatch(/^text\/html/);
    expect(lb.body.toString()).toContain("502 Bad Gateway");
    faults.clear();
  });

  it("a client that gives up during a delay is let go, and the server carries on", async () => {
    faults.clear();
    added(faults, { type: "latency", ms: 5000, scope: { kinds: ["ping"] } });
    const error = await timedRequest(url("/v2/"), { headers: auth(), timeoutMs: 200 }).catch(
      (e) => e,
    );
    expect(error).toMatchObject({ code: "TIMEOUT" });
    faults.clear();
    expect((await timedRequest(url("/v2/"), { headers: auth() })).status).toBe(200);
  });
});

describe("request logs", () => {
  it("requests a fault left unanswered still get their log line", async () => {
    const lines: Record<string, unknown>[] = [];
    const sink = new Writable({
      write(chunk, _encoding, done) {
        for (const line of chunk.toString().split("\n").filter(Boolean))
          lines.push(JSON.parse(line));
        done();
      },
    });
    const running = await serveRegistry(createRegistry(), { logger: pino({}, sink) });
    try {
      const faults = new FaultSet();
      injectFaults(running.registry, faults);
      const token = await pullToken(running.url, "library/nginx");
      const headers = { authorization: `Bearer ${token}` };
      added(faults, { type: "reset", scope: { kinds: ["ping"] } });
      await timedRequest(`${running.url}/v2/`, { headers }).catch(() => undefined);
      faults.clear();
      added(faults, { type: "hang", scope: { kinds: ["ping"] } });
      await timedRequest(`${running.url}/v2/`, { headers, timeoutMs: 200 }).catch(() => undefined);
      await waitFor(
        () => lines.filter((l) => l.outcome).length >= 2,
        5000,
        () => JSON.stringify(lines),
      );
      const unanswered = lines.filter((l) => l.outcome);
      expect(unanswered).toEqual([
        expect.objectContaining({ path: "/v2/", kind: "ping", status: null, outcome: "reset" }),
        expect.objectContaining({ path: "/v2/", kind: "ping", status: null, outcome: "hang" }),
      ]);
      expect(unanswered[1]?.ms).toBeGreaterThanOrEqual(150);
    } finally {
      await running.close();
    }
  });
});

describe("stopping a server with requests held by faults", () => {
  it("close() returns promptly with a hang, a long delay and a paced body in flight", async () => {
    const running = await startRegistry({ defaults: { layers: 1, layerSize: 100_000 } });
    try {
      const faults = new FaultSet();
      injectFaults(running.registry, faults);
      const token = await pullToken(running.url, "library/alpine");
      const headers = { authorization: `Bearer ${token}`, accept: DOCKER_MANIFEST };
      const manifest = await httpRequest(`${running.url}/v2/library/alpine/manifests/3.20`, {
        headers,
      });
      const layer = JSON.parse(manifest.body.toString()).layers[0].digest as string;
      added(faults, { id: "hang", type: "hang", scope: { kinds: ["ping"] } });
      added(faults, { id: "slow", type: "latency", ms: 60_000, scope: { kinds: ["tags"] } });
      added(faults, {
        id: "thin",
        type: "bandwidth",
        bytesPerSecond: 1000,
        scope: { kinds: ["blob"] },
      });
      const inFlight = [
        timedRequest(`${running.url}/v2/`, { headers }),
        timedRequest(`${running.url}/v2/library/alpine/tags/list`, { headers }),
        timedRequest(`${running.url}/v2/library/alpine/blobs/${layer}`, { headers }),
      ].map((p) =>
        p.then(
          () => "answered",
          (e: NodeJS.ErrnoException) => e.code ?? e.message,
        ),
      );
      await waitFor(
        () => faults.list().every((f) => f.injected === 1),
        5000,
        () => JSON.stringify(faults.list()),
      );
      const started = performance.now();
      await running.close();
      expect(performance.now() - started).toBeLessThan(2000);
      const outcomes = await Promise.all(inFlight);
      expect(outcomes).not.toContain("answered");
      expect(outcomes).not.toContain("TIMEOUT");
    } finally {
      await running.close().catch(() => undefined);
    }
  });
});

const tools = checkTools("skopeo");

describe("skopeo under faults", () => {
  let running: RunningRegistry;
  let faults: FaultSet;
  let work: string;
  const copy = (image: string, dest: string) =>
    runCommand(
      "skopeo",
      [
        "copy",
        "--retry-times",
        "0",
        "--src-tls-verify=false",
        `docker://${running.url.replace("http://", "")}/${image}`,
        `dir:${join(work, dest)}`,
      ],
      { timeoutMs: 60_000 },
    );

  beforeAll(async () => {
    running = await startRegistry({ defaults: { layers: 2, layerSize: 50_000 } });
    faults = new FaultSet({ seed: 3 });
    injectFaults(running.registry, faults);
    work = mkdtempSync(join(tmpdir(), "pullstorm-faults-"));
  });
  afterAll(async () => {
    await running?.close();
    rmSync(work, { recursive: true, force: true });
  });

  it("a reset on blob fetches fails the copy with 'connection reset by peer'", async (ctx) => {
    if (!tools.available) return ctx.skip(tools.reason);
    faults.clear();
    added(faults, { type: "reset", scope: { kinds: ["blob"] } });
    const result = await copy("library/busybox:latest", "reset");
    expect(result.status).not.toBe(0);
    expect(result.stderr).toMatch(/reading blob sha256:[a-f0-9]{64}: .*connection reset by peer/);
    expect(faults.list()[0]?.injected).toBeGreaterThanOrEqual(1);
  });

  it("a 503 burst on manifests fails the copy with the registry's error", async (ctx) => {
    if (!tools.available) return ctx.skip(tools.reason);
    faults.clear();
    added(faults, { type: "error-burst", scope: { kinds: ["manifest"] } });
    const result = await copy("library/busybox:latest", "burst");
    expect(result.status).not.toBe(0);
    expect(result.stderr).toMatch(/reading manifest latest in .*: .*503 Service Unavailable/);
  });

  it("an outage fails the copy with the proxy's 503", async (ctx) => {
    if (!tools.available) return ctx.skip(tools.reason);
    faults.clear();
    added(faults, { type: "outage", scope: { kinds: ["manifest"] } });
    const result = await copy("library/busybox:latest", "outage");
    expect(result.status).not.toBe(0);
    expect(result.stderr).toMatch(/503 Service Unavailable/);
  });

  it("a hang with closeAfter fails the blob fetch with EOF", async (ctx) => {
    if (!tools.available) return ctx.skip(tools.reason);
    faults.clear();
    added(faults, { type: "hang", closeAfter: "500ms", scope: { kinds: ["blob"] } });
    const result = await copy("library/busybox:latest", "hang");
    expect(result.status).not.toBe(0);
    expect(result.stderr).toMatch(/reading blob sha256:[a-f0-9]{64}: .*EOF/);
  });

  it("copies intact once the faults are cleared, even through latency and a bandwidth cap", async (ctx) => {
    if (!tools.available) return ctx.skip(tools.reason);
    faults.clear();
    added(faults, { type: "latency", ms: 20, jitterMs: 10 });
    added(faults, { type: "bandwidth", bytesPerSecond: "2MB", scope: { kinds: ["blob"] } });
    const result = await copy("library/busybox:latest", "ok");
    expect(result.stderr).toBe("");
    expect(result.status).toBe(0);
  });
});
