// The pull-through mirror model (simulator/mirror/model.ts) in front of a real
// fake-registry core, in-process: what it asks upstream for cold and warm pulls,
// how each flavour fetches blobs, what it serves when the upstream throttles or
// is down. (Served over HTTP to skopeo and held against the real docker-registry
// 2.8: test/real/mirror-model-live.test.ts.)
import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import type { StatsSnapshot } from "../fake-registry/core/stats.ts";
import { createRegistry } from "../fake-registry/index.ts";
import { parsePolicyDocument } from "../fake-registry/policy/file.ts";
import type { Policy } from "../fake-registry/policy/types.ts";
import { type Sim, VirtualSim } from "../simulator/engine/sim.ts";
import {
  type InboundResponse,
  InProcessTransport,
  type Outcome,
  type Transport,
} from "../simulator/engine/transport.ts";
import { type MirrorCapacity, Processors, UNLIMITED } from "../simulator/mirror/cpu.ts";
import { type MirrorFlavour, MirrorModel } from "../simulator/mirror/model.ts";
import type { MirrorEvent, RequestEvent, SimEvent } from "../vocabulary/events.ts";
import { faults, INDEX_ACCEPT, quota } from "./helpers/mirror-model.ts";
import { ALICE } from "./helpers/registry.ts";

const CLIENT_IP = "127.0.0.2";
const MIRROR_IP = "127.0.0.9";

interface Descriptor {
  digest: string;
  size: number;
}

/** A policy where manifest HEADs count too, so a spent quota refuses the mirror's tag check. */
function headsCount(limit: number): Policy {
  return parsePolicyDocument(
    {
      rules: [
        {
          name: "pulls",
          counts: [{ kind: "manifest", method: "*", cost: 1 }],
          // Alice's plan (pro) is named: a plan no rule names is refused, never silently unlimited.
          limits: {
            anonymous: { limit, window: "6h" },
            free: { limit, window: "6h" },
            pro: "unlimited",
          },
          headers: true,
          refusal: {
            type: "oci",
            status: 429,
            code: "TOOMANYREQUESTS",
            anonymous: "You have reached your pull rate limit.",
            account: "You have reached your pull rate limit as '{user}'.",
          },
        },
      ],
    },
    "dockerhub-2020",
  ) as Policy;
}

/** A transport that can be cut: every request fails below HTTP while `down`. */
class Switchable implements Transport {
  down = false;
  private readonly inner: Transport;
  constructor(inner: Transport) {
    this.inner = inner;
  }
  send(req: Parameters<Transport["send"]>[0], egressIp: string): Promise<Outcome> {
    if (this.down)
      return Promise.resolve({ status: 0, error: "refused", message: "connection refused" });
    return this.inner.send(req, egressIp);
  }
}

function setup(
  options: {
    flavour?: MirrorFlavour;
    policy?: Policy;
    credentials?: { user: string; password: string };
    cacheBytes?: number;
    storageLatencyMs?: number;
    capacity?: MirrorCapacity;
    sim?: Sim;
    /** Each upstream answer takes this long (simulated): an origin far away. Drive requests inside `sim.run()`. */
    upstreamRttMs?: number;
  } = {},
) {
  const registry = createRegistry({
    accounts: [ALICE],
    ...(options.policy ? { policy: options.policy } : {}),
  });
  const sim = options.sim ?? new VirtualSim(1, 1_000_000_000);
  const events: SimEvent[] = [];
  const link = new Switchable(
    options.upstreamRttMs
      ? new InProcessTransport({ registry }, sim, {
          rttMs: options.upstreamRttMs,
          bytesPerSecond: 0,
        })
      : new InProcessTransport({ registry }),
  );
  const model = new MirrorModel({
    upstream: {
      transport: link,
      host: "registry",
      egressIp: MIRROR_IP,
      ...(options.credentials ? { credentials: options.credentials } : {}),
    },
    flavour: options.flavour ?? "distribution-2.8",
    sim,
    emit: (e) => events.push(e),
    design: "mirror-test",
    // What the mirror does, not how fast: no processor queue unless a test asks for one.
    capacity: options.capacity ?? UNLIMITED,
    ...(options.cacheBytes !== undefined ? { cacheBytes: options.cacheBytes } : {}),
    ...(options.storageLatencyMs !== undefined
      ? { storageLatencyMs: options.storageLatencyMs }
      : {}),
  });
  const client = new InProcessTransport({ mirror: model });
  const request = async (
    path: string,
    init: { method?: "GET" | "HEAD"; accept?: string } = {},
  ): Promise<InboundResponse> => {
    const out = await client.send(
      {
        host: "mirror",
        method: init.method ?? "GET",
        path,
        headers: init.accept ? { accept: init.accept } : {},
      },
      CLIENT_IP,
    );
    if ("error" in out) throw new Error(`mirror unreachable: ${out.message}`);
    return out;
  };
  const json = (res: InboundResponse) => JSON.parse(res.body.toString("utf8"));
  /** Index by tag, then each platform manifest by digest; returns the platform manifests. */
  const pullManifests = async (name: string, tag: string) => {
    const index = await request(`/v2/${name}/manifests/${tag}`, { accept: INDEX_ACCEPT });
    expect(index.status, index.body.toString()).toBe(200);
    const platforms: { config: Descriptor; layers: Descriptor[] }[] = [];
    for (const m of json(index).manifests as Descriptor[]) {
      const res = await request(`/v2/${name}/manifests/${m.digest}`, { accept: INDEX_ACCEPT });
      expect(res.status).toBe(200);
      platforms.push(json(res));
    }
    return { index, platforms };
  };
  /** A whole multi-arch pull, blobs included. */
  const pull = async (name: string, tag: string) => {
    const { index, platforms } = await pullManifests(name, tag);
    for (const p of platforms) {
      for (const blob of [p.config, ...p.layers]) {
        const res = await request(`/v2/${name}/blobs/${blob.digest}`);
        expect(res.status).toBe(200);
        expect(sha256(res.body)).toBe(blob.digest);
      }
    }
    return { index, platforms };
  };
  const mirrorEvents = () => events.filter((e): e is MirrorEvent => e.type === "mirror");
  const requestEvents = () => events.filter((e): e is RequestEvent => e.type === "request");
  return {
    registry,
    model,
    sim,
    link,
    events,
    request,
    json,
    pull,
    pullManifests,
    mirrorEvents,
    requestEvents,
  };
}

function sha256(bytes: Buffer): string {
  return `sha256:${createHash("sha256").update(bytes).digest("hex")}`;
}

function count(stats: StatsSnapshot, kind: string, method: string, status?: number): number {
  const byStatus = stats.byKind[kind]?.[method] ?? {};
  if (status !== undefined) return byStatus[String(status)] ?? 0;
  return Object.values(byStatus).reduce((a, b) => a + b, 0);
}

describe("mirror model: the mirror itself", () => {
  it("answers GET /v2/ with 200 {} and the API version header, without asking upstream", async () => {
    const m = setup();
    const res = await m.request("/v2/");
    expect(res.status).toBe(200);
    expect(res.body.toString()).toBe("{}");
    expect(res.headers["docker-distribution-api-version"]).toBe("registry/2.0");
    expect(m.registry.stats.snapshot().total).toBe(0);
  });

  it("ignores containerd's ?ns=docker.io and refuses pushes like distribution", async () => {
    const m = setup();
    const res = await m.request("/v2/library/alpine/manifests/3.20?ns=docker.io", {
      accept: INDEX_ACCEPT,
    });
    expect(res.status).toBe(200);
    expect(res.headers["content-type"]).toBe(
      "application/vnd.docker.distribution.manifest.list.v2+json",
    );
    const push = await new InProcessTransport({ mirror: m.model }).send(
      { host: "mirror", method: "POST", path: "/v2/library/alpine/blobs/uploads/", headers: {} },
      CLIENT_IP,
    );
    expect(push.status).toBe(405);
  });
});

describe("mirror model: cold and warm pulls (distribution 2.8)", () => {
  const m = setup();
  let coldStats: StatsSnapshot;

  it("cold pull by tag: HEAD + GET for the tag, a GET per platform manifest, right headers", async () => {
    const { index, platforms } = await m.pull("library/alpine", "3.20");
    coldStats = m.registry.stats.snapshot();
    expect(count(coldStats, "manifest", "HEAD", 200)).toBe(1);
    expect(count(coldStats, "manifest", "GET", 200)).toBe(1 + platforms.length);
    // The mirror learns the challenge with one ping, then a token per client request.
    expect(count(coldStats, "ping", "GET", 401)).toBe(1);
    const blobs = platforms.reduce((n, p) => n + 1 + p.layers.length, 0);
    expect(count(coldStats, "token", "GET", 200)).toBe(1 + platforms.length + blobs);
    expect(index.headers["content-length"]).toBe(String(index.body.length));
    expect(index.headers["docker-content-digest"]).toBe(sha256(index.body));
    expect(
      m
        .mirrorEvents()
        .filter((e) => e.kind === "manifest")
        .map((e) => e.outcome),
    ).toEqual(["miss", "miss", "miss"]);
  });

  it("warm pull by tag: exactly one upstream manifest HEAD, no manifest GET, blobs from the cache", async () => {
    const before = m.registry.stats.snapshot();
    const gets = m.registry.stats.count("manifest", "GET");
    m.events.length = 0;
    await m.pull("library/alpine", "3.20");
    const after = m.registry.stats.snapshot();
    expect(m.registry.stats.count("manifest", "GET")).toBe(gets);
    expect(count(after, "manifest", "HEAD") - count(before, "manifest", "HEAD")).toBe(1);
    expect(count(after, "blob", "GET")).toBe(count(before, "blob", "GET"));
    // One token for the one client request that went upstream (distribution's per-request token handler).
    expect(after.total - before.total).toBe(2);
    const outcomes = m.mirrorEvents().map((e) => `${e.kind}:${e.outcome}`);
    expect(outcomes[0]).toBe("manifest:revalidated");
    expect(outcomes.slice(1).every((o) => o.endsWith(":hit"))).toBe(true);
  });

  it("emits one RequestEvent per upstream request, as the upstream counted them", () => {
    const requests = m.requestEvents();
    expect(requests).toHaveLength(2);
    expect(requests.map((r) => `${r.method} ${r.kind} ${r.status}`)).toEqual([
      "GET token 200",
      "HEAD manifest 200",
    ]);
    for (const r of requests) {
      expect(r.actor).toBe("mirror");
      expect(r.identity).toBe(MIRROR_IP);
      expect(r.host).toBe("registry");
      expect(r.design).toBe("mirror-test");
      // Measured the same way as every client's requests (simulator/client/wire.ts).
      expect(r.latencyMs).toBeGreaterThanOrEqual(0);
    }
    expect(coldStats.byIdentity[MIRROR_IP]?.total).toBe(coldStats.total);
  });

  it("a client that takes no index gets the linux/amd64 manifest the mirror picks", async () => {
    const res = await m.request("/v2/library/alpine/manifests/3.20", {
      accept: "application/vnd.docker.distribution.manifest.v2+json",
    });
    expect(res.status).toBe(200);
    expect(res.headers["content-type"]).toBe(
      "application/vnd.docker.distribution.manifest.v2+json",
    );
    expect(res.headers["docker-content-digest"]).toBe(sha256(res.body));
    const head = await m.request("/v2/library/alpine/manifests/3.20", {
      method: "HEAD",
      accept: INDEX_ACCEPT,
    });
    expect(head.status).toBe(200);
    expect(head.body.length).toBe(0);
    expect(Number(head.headers["content-length"])).toBeGreaterThan(0);
  });
});

describe("mirror model: blob misses per flavour", () => {
  async function firstLayer(m: ReturnType<typeof setup>) {
    const { platforms } = await m.pullManifests("library/alpine", "3.20");
    const layer = platforms[0]?.layers[0];
    if (!layer) throw new Error("alpine has no layer");
    return layer.digest;
  }

  it("distribution 2.8: a miss costs two upstream blob GETs (client stream + storage), then hits", async () => {
    const m = setup({ flavour: "distribution-2.8" });
    const digest = await firstLayer(m);
    const res = await m.request(`/v2/library/alpine/blobs/${digest}`);
    expect(res.status).toBe(200);
    expect(res.headers["docker-content-digest"]).toBe(digest);
    expect(res.headers["content-length"]).toBe(String(res.body.length));
    expect(res.headers["content-type"]).toBe("application/octet-stream");
    expect(m.registry.stats.count("blob", "GET")).toBe(2);
    expect(m.registry.stats.count("blob", "HEAD")).toBe(1);
    await m.request(`/v2/library/alpine/blobs/${digest}`);
    const head = await m.request(`/v2/library/alpine/blobs/${digest}`, { method: "HEAD" });
    expect(head.headers["content-length"]).toBe(String(res.body.length));
    expect(m.registry.stats.count("blob", "GET")).toBe(2);
    expect(
      m
        .mirrorEvents()
        .slice(-3)
        .map((e) => e.outcome),
    ).toEqual(["miss", "hit", "hit"]);
  });

  it("distribution 3: one upstream GET per miss; harbor: one GET and no HEAD", async () => {
    for (const [flavour, heads] of [
      ["distribution-3", 1],
      ["harbor", 0],
    ] as const) {
      const m = setup({ flavour });
      const digest = await firstLayer(m);
      expect((await m.request(`/v2/library/alpine/blobs/${digest}`)).status).toBe(200);
      expect(m.registry.stats.count("blob", "GET"), flavour).toBe(1);
      expect(m.registry.stats.count("blob", "HEAD"), flavour).toBe(heads);
    }
  });

  it("concurrent requests for the same uncached blob each go upstream (distribution), share one (harbor)", async () => {
    // An origin 50 ms away, so the two requests overlap as they do against a real one
    // (docker-registry 2.8.2, upstream 150 ms away: test/real/calibration.test.ts "concurrent").
    const concurrent = async (flavour: MirrorFlavour) => {
      const sim = new VirtualSim(1, 1_000_000);
      const m = setup({ flavour, sim, upstreamRttMs: 50 });
      const work = (async () => {
        const digest = await firstLayer(m);
        const before = m.registry.stats.snapshot();
        const both = await Promise.all([
          m.request(`/v2/library/alpine/blobs/${digest}`),
          m.request(`/v2/library/alpine/blobs/${digest}`),
        ]);
        expect(both.map((r) => r.status)).toEqual([200, 200]);
        const after = m.registry.stats.snapshot();
        return {
          gets: count(after, "blob", "GET") - count(before, "blob", "GET"),
          heads: count(after, "blob", "HEAD") - count(before, "blob", "HEAD"),
        };
      })();
      await sim.run();
      return work;
    };
    // Both Stat upstream; the first streams and stores (2 GETs), the second, arriving during the copy, only streams.
    expect(await concurrent("distribution-2.8")).toEqual({ gets: 3, heads: 2 });
    expect(await concurrent("harbor")).toEqual({ gets: 1, heads: 0 });
  });

  it("capacity: client requests queue for the mirror's cores, and a request a core reaches late finds the blob stored", async () => {
    // Two requests for one uncached blob, an origin 50 ms away, each request 200 ms of a core.
    const run = async (cores: number) => {
      const sim = new VirtualSim(1, 1_000_000);
      const m = setup({ sim, upstreamRttMs: 50, capacity: { cores, cpuPerRequestMs: 200 } });
      const work = (async () => {
        const digest = await firstLayer(m);
        const before = m.registry.stats.snapshot();
        const start = sim.now();
        const done: number[] = [];
        const both = await Promise.all(
          [0, 1].map(async () => {
            const r = await m.request(`/v2/library/alpine/blobs/${digest}`);
            done.push(sim.now() - start);
            return r.status;
          }),
        );
        expect(both).toEqual([200, 200]);
        const after = m.registry.stats.snapshot();
        return {
          gets: count(after, "blob", "GET") - count(before, "blob", "GET"),
          heads: count(after, "blob", "HEAD") - count(before, "blob", "HEAD"),
          done,
        };
      })();
      await sim.run();
      return work;
    };
    // Two cores: both are handled at 200 ms and overlap upstream, as without a queue.
    const two = await run(2);
    expect({ gets: two.gets, heads: two.heads }).toEqual({ gets: 3, heads: 2 });
    // One core: the second waits until 400 ms, when the first's copy is stored: served locally.
    const one = await run(1);
    expect({ gets: one.gets, heads: one.heads }).toEqual({ gets: 2, heads: 1 });
    expect(Math.min(...one.done)).toBeGreaterThanOrEqual(200);
    expect(Math.max(...one.done)).toBeGreaterThanOrEqual(400);
  });

  it("capacity: first come first served on the core free first; a bad capacity is refused", async () => {
    const sim = new VirtualSim(1, 1_000_000);
    const cpu = new Processors(sim, { cores: 2, cpuPerRequestMs: 10 });
    const finished: number[] = [];
    const work = Promise.all(
      [0, 1, 2, 3, 4].map(() => cpu.use().then(() => finished.push(sim.now()))),
    );
    await sim.run();
    await work;
    expect(finished).toEqual([10, 10, 20, 20, 30]);
    expect(() => new Processors(sim, { cores: 0, cpuPerRequestMs: 1 })).toThrow(
      /whole number of cores/,
    );
    expect(() => new Processors(sim, { cores: 1.5, cpuPerRequestMs: 1 })).toThrow(
      /whole number of cores/,
    );
    expect(() => new Processors(sim, { cores: 1, cpuPerRequestMs: -1 })).toThrow(/0 or more ms/);
  });

  it("distribution 2.8: a request whose Stat ends after the copy was stored is served from storage", async () => {
    // Zero latency: the first request's HEAD, GETs and store finish before the second's HEAD answer is read.
    const m = setup({ flavour: "distribution-2.8" });
    const digest = await firstLayer(m);
    const both = await Promise.all([
      m.request(`/v2/library/alpine/blobs/${digest}`),
      m.request(`/v2/library/alpine/blobs/${digest}`),
    ]);
    expect(both.map((r) => r.status)).toEqual([200, 200]);
    expect(m.registry.stats.count("blob", "HEAD")).toBe(2);
    expect(m.registry.stats.count("blob", "GET")).toBe(2);
    expect(
      m
        .mirrorEvents()
        .slice(-2)
        .map((e) => e.outcome)
        .sort(),
    ).toEqual(["hit", "miss"]);
  });

  it("a tiny cache evicts: the first blob is fetched upstream again", async () => {
    const probe = setup({ flavour: "distribution-3" });
    const { platforms } = await probe.pullManifests("library/alpine", "3.20");
    const layers = platforms.flatMap((p) => [p.config, ...p.layers]);
    const [a, b] = [...layers].sort((x, y) => y.size - x.size) as [Descriptor, Descriptor];
    const m = setup({ flavour: "distribution-3", cacheBytes: a.size + 1 });
    await m.pullManifests("library/alpine", "3.20");
    const upstreamGets = () =>
      m.requestEvents().filter((e) => e.kind === "blob" && e.method === "GET").length;
    await m.request(`/v2/library/alpine/blobs/${a.digest}`);
    await m.request(`/v2/library/alpine/blobs/${a.digest}`);
    expect(upstreamGets()).toBe(1);
    await m.request(`/v2/library/alpine/blobs/${b.digest}`);
    expect(m.model.blobs.evictions).toBe(1);
    const again = await m.request(`/v2/library/alpine/blobs/${a.digest}`);
    expect(sha256(again.body)).toBe(a.digest);
    expect(upstreamGets()).toBe(3);
    expect(m.model.blobs.bytesUsed).toBeLessThanOrEqual(a.size + 1);
  });

  it("slow storage: a cache read costs storageLatencyMs of simulated time; a streamed miss does not", async () => {
    const sim = new VirtualSim(1, 10_000_000);
    const m = setup({ flavour: "distribution-2.8", storageLatencyMs: 250, sim });
    const took: number[] = [];
    const work = (async () => {
      const digest = await firstLayer(m);
      for (let i = 0; i < 2; i++) {
        const start = sim.now();
        const res = await m.request(`/v2/library/alpine/blobs/${digest}`);
        expect(res.status).toBe(200);
        took.push(sim.now() - start);
      }
    })();
    await sim.run();
    await work;
    expect(took).toEqual([0, 250]);
  });
});

describe("mirror model: upstream throttled or down", () => {
  it("quota spent (manifest GETs count, HEADs free): warm tag revalidated, cold tag fails with the 429 inside", async () => {
    // A cold alpine pull of both platforms is 3 manifest GETs (index + 2 platforms):
    // 2 pulls (the first platform joins the index's pull), exactly the quota.
    const m = setup({ policy: quota(2) });
    await m.pullManifests("library/alpine", "3.20");
    m.events.length = 0;
    const warm = await m.request("/v2/library/alpine/manifests/3.20", { accept: INDEX_ACCEPT });
    expect(warm.status).toBe(200);
    expect(m.mirrorEvents()[0]?.outcome).toBe("revalidated");

    const cold = await m.request("/v2/library/nginx/manifests/1.25", { accept: INDEX_ACCEPT });
    // distribution 2.8 (seen with docker-registry 2.8.2): 500 UNKNOWN carrying the upstream errors.
    expect(cold.status).toBe(500);
    const body = JSON.parse(cold.body.toString());
    expect(body.errors[0].code).toBe("UNKNOWN");
    expect(body.errors[0].detail.errors[0].code).toBe("TOOMANYREQUESTS");
    const refused = m.requestEvents().find((e) => e.status === 429);
    expect(refused).toMatchObject({ kind: "manifest", method: "GET", code: "TOOMANYREQUESTS" });
    expect(m.mirrorEvents().at(-1)).toMatchObject({ outcome: "error", upstreamStatus: 429 });
  });

  it("harbor passes the upstream 429 and its body through", async () => {
    const m = setup({ flavour: "harbor", policy: quota(2) });
    await m.pullManifests("library/alpine", "3.20");
    const cold = await m.request("/v2/library/nginx/manifests/1.25", { accept: INDEX_ACCEPT });
    expect(cold.status).toBe(429);
    expect(JSON.parse(cold.body.toString()).errors[0].code).toBe("TOOMANYREQUESTS");
  });

  it("quota spent where HEADs count too: the cached tag is served stale (2.8 after HEAD and GET, harbor after HEAD)", async () => {
    for (const [flavour, checks] of [
      ["distribution-2.8", 2],
      ["harbor", 1],
    ] as const) {
      const m = setup({ flavour, policy: headsCount(4) });
      await m.pullManifests("library/alpine", "3.20"); // HEAD + 3 GETs: the quota
      const before = m.registry.stats.snapshot();
      m.events.length = 0;
      const warm = await m.request("/v2/library/alpine/manifests/3.20", { accept: INDEX_ACCEPT });
      expect(warm.status, flavour).toBe(200);
      expect(m.mirrorEvents()[0], flavour).toMatchObject({ outcome: "stale", upstreamStatus: 429 });
      const after = m.registry.stats.snapshot();
      expect(
        count(after, "manifest", "HEAD", 429) + count(after, "manifest", "GET", 429),
        flavour,
      ).toBe(checks);
      expect(count(after, "manifest", "GET", 200)).toBe(count(before, "manifest", "GET", 200));
    }
  });

  it("outage (load balancer 503): warm tag stale, cached content hits, cold content fails as distribution does", async () => {
    const m = setup({ flavour: "distribution-2.8" });
    const { platforms } = await m.pull("library/alpine", "3.20");
    faults(m.registry).add({ type: "outage" });
    m.events.length = 0;
    const warm = await m.request("/v2/library/alpine/manifests/3.20", { accept: INDEX_ACCEPT });
    expect(warm.status).toBe(200);
    expect(m.mirrorEvents()[0]).toMatchObject({
      kind: "manifest",
      outcome: "stale",
      upstreamStatus: 503,
    });
    // Per-request tokens: the token request is what meets the outage.
    expect(m.requestEvents().map((e) => `${e.kind} ${e.status}`)).toEqual(["token 503"]);
    const layer = platforms[0]?.layers[0] as Descriptor;
    expect((await m.request(`/v2/library/alpine/blobs/${layer.digest}`)).status).toBe(200);
    expect(m.mirrorEvents().at(-1)?.outcome).toBe("hit");

    const coldTag = await m.request("/v2/library/busybox/manifests/latest");
    expect(coldTag.status).toBe(404);
    expect(JSON.parse(coldTag.body.toString()).errors[0].code).toBe("MANIFEST_UNKNOWN");
    const coldBlob = await m.request(`/v2/library/busybox/blobs/sha256:${"1".repeat(64)}`);
    expect(coldBlob.status).toBe(500);
    expect(m.mirrorEvents().at(-1)).toMatchObject({ outcome: "error", upstreamStatus: 503 });
  });

  it("network failure: 2.8 serves the cached tag stale; harbor serves stale only on a rate limit", async () => {
    const d = setup({ flavour: "distribution-2.8" });
    await d.pullManifests("library/alpine", "3.20");
    d.link.down = true;
    const warm = await d.request("/v2/library/alpine/manifests/3.20", { accept: INDEX_ACCEPT });
    expect(warm.status).toBe(200);
    expect(d.mirrorEvents().at(-1)?.outcome).toBe("stale");
    expect(d.requestEvents().at(-1)).toMatchObject({ status: 0, network: "refused" });

    const h = setup({ flavour: "harbor" });
    await h.pullManifests("library/alpine", "3.20");
    h.link.down = true;
    const refused = await h.request("/v2/library/alpine/manifests/3.20", { accept: INDEX_ACCEPT });
    expect(refused.status).toBe(502);
    expect(JSON.parse(refused.body.toString()).errors[0].code).toBe("UNKNOWN");
    expect(h.mirrorEvents().at(-1)).toMatchObject({ outcome: "error", upstreamStatus: 0 });
  });
});

describe("mirror model: upstream auth", () => {
  it("with credentials, upstream pulls count against the account; only the ping stays anonymous", async () => {
    const m = setup({ credentials: { user: ALICE.name, password: ALICE.password } });
    await m.pull("library/alpine", "3.20");
    const stats = m.registry.stats.snapshot();
    const alice = stats.byIdentity.alice;
    expect(alice?.type).toBe("account");
    expect(alice?.byKind.token?.GET?.["200"]).toBeGreaterThanOrEqual(1);
    expect(alice?.byKind.manifest?.GET?.["200"]).toBe(3);
    expect(alice?.byKind.blob?.GET?.["200"]).toBeGreaterThanOrEqual(2);
    const anonymous = stats.byIdentity[MIRROR_IP];
    expect(Object.keys(anonymous?.byKind ?? {})).toEqual(["ping"]);
    const identities = new Set(m.requestEvents().map((e) => `${e.kind}:${e.identity}`));
    expect(identities.has(`ping:${MIRROR_IP}`)).toBe(true);
    expect(identities.has("manifest:alice")).toBe(true);
  });

  it("harbor keeps its token until expires_in passes in simulated time", async () => {
    const sim = new VirtualSim(1, 10_000_000);
    const m = setup({ flavour: "harbor", sim });
    const work = (async () => {
      await m.request("/v2/library/alpine/manifests/3.20", { accept: INDEX_ACCEPT });
      await m.request("/v2/library/alpine/manifests/3.20", { accept: INDEX_ACCEPT });
      expect(m.registry.stats.count("token", "GET")).toBe(1);
      await sim.sleep(301_000); // the fake registry's tokens say expires_in 300
      await m.request("/v2/library/alpine/manifests/3.20", { accept: INDEX_ACCEPT });
    })();
    await sim.run();
    await work;
    expect(m.registry.stats.count("token", "GET")).toBe(2);
    // Harbor answers the 401 challenge: one unauthenticated HEAD per token fetched.
    expect(m.registry.stats.count("manifest", "HEAD", 401)).toBe(2);
  });
});
