// The client model's pull protocol against the registry core, in simulated time.
import { describe, expect, it } from "vitest";
import { ManualClock } from "../fake-registry/core/clock.ts";
import { FaultSet } from "../fake-registry/faults/index.ts";
import { createRegistry } from "../fake-registry/index.ts";
import { parsePolicyDocument } from "../fake-registry/policy/file.ts";
import type { Policy } from "../fake-registry/policy/types.ts";
import type { Registry } from "../fake-registry/registry/registry.ts";
import { ContentStore } from "../simulator/client/content-store.ts";
import { PullClient } from "../simulator/client/pull-client.ts";
import { RUNTIMES } from "../simulator/client/runtimes.ts";
import { tokenRequest } from "../simulator/client/wire.ts";
import { VirtualSim } from "../simulator/engine/sim.ts";
import { InProcessTransport } from "../simulator/engine/transport.ts";
import type { SimEvent } from "../vocabulary/events.ts";
import { defaultPullPolicy, type ImageRef, parseReference } from "../vocabulary/oci/reference.ts";

function setup(runtime: keyof typeof RUNTIMES, policyDoc?: unknown) {
  const policy = policyDoc
    ? (parsePolicyDocument(policyDoc, "dockerhub-2020") as Policy)
    : undefined;
  const registry = createRegistry({ clock: new ManualClock(), ...(policy ? { policy } : {}) });
  const sim = new VirtualSim(1, 3_600_000);
  const events: SimEvent[] = [];
  const store = new ContentStore();
  const client = new PullClient({
    actor: "node-1",
    design: "d",
    runtime: RUNTIMES[runtime],
    hosts: [{ host: "registry", role: "upstream" }],
    egressIp: "127.0.0.2",
    transport: new InProcessTransport({ registry }),
    sim,
    store,
    emit: (e) => events.push(e),
  });
  return { registry, client, store, events, sim };
}

const ref = (text: string) => parseReference(text) as ImageRef;

describe("reference parsing and pull policy defaults", () => {
  it("normalises Docker Hub names and picks kubelet's default policy", () => {
    expect(parseReference("nginx")).toEqual({ repository: "library/nginx", tag: "latest" });
    expect(parseReference("docker.io/library/redis:7")).toEqual({
      repository: "library/redis",
      tag: "7",
    });
    expect(defaultPullPolicy(ref("nginx"))).toBe("Always");
    expect(defaultPullPolicy(ref("nginx:1.25"))).toBe("IfNotPresent");
    expect(defaultPullPolicy(ref(`nginx@sha256:${"a".repeat(64)}`))).toBe("IfNotPresent");
    expect(parseReference("Bad Name")).toHaveProperty("error");
  });
});

describe("pull client", () => {
  it("containerd: token, HEAD resolve, index, platform manifest, config and layers; a re-pull costs one counted HEAD", async () => {
    const { client, registry, store } = setup("containerd");
    const first = await client.pull(ref("library/nginx:1.25"));
    expect(first.ok).toBe(true);
    expect(registry.stats.count("manifest", "HEAD", 200)).toBe(1);
    expect(registry.stats.count("manifest", "GET", 200)).toBe(2); // index + amd64 manifest
    expect(registry.stats.count("blob", "GET", 200)).toBeGreaterThanOrEqual(3);
    // The resolver and the fetcher each build their own authorizer: a challenge and a token each (as real ctr).
    expect(registry.stats.count("token", "GET", 200)).toBe(2);
    expect(registry.stats.count("manifest", "HEAD", 401)).toBe(1);
    expect(registry.stats.count("manifest", "GET", 401)).toBe(1);
    expect(store.hasImage("library/nginx:1.25")).toBe(true);
    const blobsBefore = registry.stats.count("blob", "GET");
    // A new pull, a new resolver: challenged, a token, then the one HEAD that counts.
    const again = await client.pull(ref("library/nginx:1.25"));
    expect(again).toMatchObject({ ok: true, cached: true, requests: 3 });
    expect(registry.stats.count("manifest", "HEAD", 200)).toBe(2);
    expect(registry.stats.count("manifest", "GET", 200)).toBe(2);
    expect(registry.stats.count("blob", "GET")).toBe(blobsBefore);
  });

  it("cri-o (containers/image): GET /v2/ first, a token from its challenge, then requests with it", async () => {
    const { client, registry } = setup("cri-o");
    expect((await client.pull(ref("library/nginx:1.25"))).ok).toBe(true);
    expect(registry.stats.count("ping", "GET", 401)).toBe(1);
    expect(registry.stats.count("token", "GET", 200)).toBe(1);
    expect(registry.stats.count("manifest", "GET", 401)).toBe(0);
    expect(registry.stats.count("manifest", "GET", 200)).toBe(2); // by tag (the index) + amd64 manifest
    // A ping answered with anything but 200/401 ends the host, after a v1 ping.
    registry.faults = new FaultSet({ seed: 1 });
    (registry.faults as FaultSet).add({ type: "outage" });
    const down = await client.pull(ref("library/alpine:3.20"));
    expect(down).toMatchObject({ ok: false, status: 503 });
    expect(registry.stats.count("ping", "GET", 503)).toBe(1);
    expect(registry.stats.count("other", "GET", 404)).toBe(1);
    expect(registry.stats.count("manifest", "GET", 503)).toBe(0);
  });

  it("with a mirror: containerd tries every request on the mirror first, containers/image picks a host by the manifest", async () => {
    for (const runtime of ["containerd", "cri-o"] as const) {
      const { registry, events, sim, store } = setup(runtime);
      // A mirror that has the manifests but answers 500 for every blob.
      const mirror = {
        handle: async (req: Parameters<Registry["handle"]>[0]) => {
          if (req.path.includes("/blobs/"))
            return { response: { status: 500, headers: {}, body: "broken" } };
          const { response } = await registry.handle(req, { ip: "127.0.0.9" });
          return { response };
        },
      };
      const client = new PullClient({
        actor: "node-1",
        design: "d",
        runtime: RUNTIMES[runtime],
        hosts: [
          { host: "mirror", role: "mirror" },
          { host: "registry", role: "upstream" },
        ],
        egressIp: "127.0.0.2",
        transport: new InProcessTransport({ registry, mirror }),
        sim,
        store,
        emit: (e) => events.push(e),
      });
      const res = await client.pull(ref("library/alpine:3.20"));
      const direct = events.filter(
        (e) => e.type === "request" && e.host === "registry" && e.kind === "manifest",
      );
      if (runtime === "containerd") {
        // Each failed blob goes to the registry; the manifests stay with the mirror.
        expect(res.ok, runtime).toBe(true);
        expect(direct, runtime).toEqual([]);
      } else {
        // The mirror answered the manifest, so it is the source: a blob failure fails the pull.
        expect(res, runtime).toMatchObject({ ok: false, status: 500, host: "mirror" });
        expect(events.some((e) => e.type === "request" && e.host === "registry")).toBe(false);
      }
    }
  });

  it("shares layers between images in one store: a second image on the same base skips the base layer", async () => {
    const { client, registry } = setup("containerd");
    await client.pull(ref("library/nginx:1.25"));
    const before = registry.stats.count("blob", "GET");
    const build = await registry.catalog.resolveTag("library/redis", "7", 0);
    const redisBlobs = (build?.platforms[0]?.layers.length ?? 0) + 1;
    await client.pull(ref("library/redis:7"));
    expect(registry.stats.count("blob", "GET") - before).toBe(redisBlobs - 1);
  });

  it("dockerd resolves with GET; containerd retries a 429 at once up to 6 responses", async () => {
    // A multi-arch pull is two manifest GETs (the index and the platform manifest), one pull.
    const d = setup("dockerd", { limits: { pulls: { anonymous: { limit: 1, window: "6h" } } } });
    const res = await d.client.pull(ref("library/alpine:3.20"));
    expect(res.ok).toBe(true);
    expect(d.registry.stats.count("manifest", "HEAD")).toBe(0);
    const refused = await d.client.pull(ref("library/redis:7"));
    expect(refused).toMatchObject({
      ok: false,
      reason: "quota",
      status: 429,
      code: "TOOMANYREQUESTS",
    });
    expect(d.registry.stats.count("manifest", "GET", 429)).toBe(1); // dockerd does not retry 429

    const c = setup("containerd", { limits: { pulls: { anonymous: { limit: 1, window: "6h" } } } });
    expect((await c.client.pull(ref("library/alpine:3.20"))).ok).toBe(true); // HEAD free, 2 GETs, 1 pull
    // HEAD free; the fetcher's index GET is challenged, then refused: 6 responses, the 401 among them.
    const r = await c.client.pull(ref("library/redis:7"));
    expect(r).toMatchObject({ ok: false, reason: "quota" });
    expect(c.registry.stats.count("manifest", "GET", 429)).toBe(5);
  });

  it("pulls by digest: containerd still resolves the digest with HEAD, cri-o GETs it", async () => {
    for (const [runtime, heads] of [
      ["containerd", 1],
      ["cri-o", 0],
    ] as const) {
      const { client, registry } = setup(runtime);
      const build = await registry.catalog.resolveTag("library/busybox", "latest", 0);
      const digest = build?.index?.docker.digest as string;
      const res = await client.pull(ref(`library/busybox@${digest}`));
      expect(res, runtime).toMatchObject({ ok: true, digest });
      expect(registry.stats.count("manifest", "HEAD", 200), runtime).toBe(heads);
      expect(registry.stats.count("manifest", "GET", 200), runtime).toBe(2); // index + amd64 manifest
    }
  });

  it("records every request as an event with kind, status and identity", async () => {
    const { client, events } = setup("containerd");
    await client.pull(ref("library/alpine:3.20"));
    const requests = events.filter((e) => e.type === "request");
    expect(requests[0]).toMatchObject({
      type: "request",
      kind: "manifest",
      method: "HEAD",
      status: 401,
      identity: "127.0.0.2",
    });
    expect(
      requests.some((e) => e.type === "request" && e.kind === "token" && e.status === 200),
    ).toBe(true);
  });
});

describe("the token request", () => {
  const challenge = {
    realm: "http://registry.test/token?foo=1",
    service: "registry.docker.io",
    scope: "repository:library/alpine:pull",
  };
  const ci = { user: "ci", password: "pw" };

  it("is what each client sends: containerd's service and scope; distribution's proxy its sorted query with the account", () => {
    expect(tokenRequest(challenge, undefined, ci, "client")).toEqual({
      path: "/token?service=registry.docker.io&scope=repository%3Alibrary%2Falpine%3Apull",
      headers: { authorization: `Basic ${Buffer.from("ci:pw").toString("base64")}` },
    });
    expect(
      tokenRequest({ ...challenge, scope: undefined }, "repository:x:pull", undefined, "proxy"),
    ).toEqual({
      path: "/token?foo=1&scope=repository%3Ax%3Apull&service=registry.docker.io",
      headers: {},
    });
    expect(tokenRequest(challenge, challenge.scope, ci, "proxy")?.path).toBe(
      "/token?account=ci&foo=1&scope=repository%3Alibrary%2Falpine%3Apull&service=registry.docker.io",
    );
  });

  it("is read once per challenge, scope and account (the same answer again), never another account's", () => {
    const a = tokenRequest(challenge, undefined, ci, "client");
    expect(tokenRequest({ ...challenge }, undefined, { ...ci }, "client")).toBe(a);
    const other = tokenRequest(challenge, undefined, { user: "ci", password: "other" }, "client");
    expect(other).not.toBe(a);
    expect(other?.headers.authorization).toBe(
      `Basic ${Buffer.from("ci:other").toString("base64")}`,
    );
    expect(tokenRequest(challenge, undefined, undefined, "client")?.headers).toEqual({});
    expect(tokenRequest(challenge, undefined, ci, "proxy")).not.toBe(a);
    expect(tokenRequest({ ...challenge, realm: "::bad" }, undefined, ci, "client")).toBeUndefined();
  });
});
