// Pulls counted as Docker Hub defines them (issue 12): "up to two GET requests
// on registry manifest URLs", one pull for each different architecture, HEADs
// free. Driven in-process on a manual clock, each client from its own
// 127.0.0.x address, reading ratelimit-remaining as a client would.
import { describe, expect, it } from "vitest";
import { OPEN_MAX, PullMemory } from "../fake-registry/policy/pull-memory.ts";
import { inProcessRegistry } from "./helpers/inprocess.ts";

const NGINX = "/v2/library/nginx/manifests/1.25";
const SINGLE = "/v2/ratelimitpreview/test/manifests/latest";
const INDEX_TYPES =
  "application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json";

type Registry = ReturnType<typeof inProcessRegistry>;

/** A client at one address: its token, and manifest requests that return ratelimit-remaining. */
async function client(r: Registry, ip: string) {
  const tokens = new Map<string, string>();
  const tokenFor = async (repo: string) => {
    let t = tokens.get(repo);
    if (!t) {
      t = await r.token(repo, { ip });
      tokens.set(repo, t);
    }
    return t;
  };
  const request = async (method: "GET" | "HEAD", path: string) => {
    const repo = /^\/v2\/(.+)\/manifests\//.exec(path)?.[1] as string;
    const res = await r.call(method, path, {
      ip,
      token: await tokenFor(repo),
      headers: { accept: INDEX_TYPES },
    });
    expect(res.status).toBe(200);
    return {
      remaining: Number.parseInt(res.headers["ratelimit-remaining"] ?? "NaN", 10),
      text: res.text,
      source: res.headers["docker-ratelimit-source"],
    };
  };
  /** The digests of the index's platform manifests, by architecture. */
  const platforms = (indexText: string): Record<string, string> =>
    Object.fromEntries(
      (
        JSON.parse(indexText) as {
          manifests: Array<{ digest: string; platform: { architecture: string } }>;
        }
      ).manifests.map((m) => [m.platform.architecture, m.digest]),
    );
  return { request, platforms };
}

const manifest = (digest: string) => `/v2/library/nginx/manifests/${digest}`;

describe("a pull as Docker Hub counts it (dockerhub-2020)", () => {
  it("an index GET and the amd64 manifest GET are one pull; the arm64 manifest GET one more", async () => {
    const r = inProcessRegistry();
    const me = await client(r, "127.0.0.21");
    const before = await me.request("HEAD", NGINX);
    expect(before.remaining).toBe(100);
    expect(before.source).toBe("127.0.0.21");
    const index = await me.request("GET", NGINX);
    const arch = me.platforms(index.text);
    const amd64 = await me.request("GET", manifest(arch.amd64 as string));
    expect(before.remaining - amd64.remaining).toBe(1);
    expect(index.remaining).toBe(99);
    const arm64 = await me.request("GET", manifest(arch.arm64 as string));
    expect(amd64.remaining - arm64.remaining).toBe(1);
    const stats = r.registry.stats.snapshot();
    expect(stats.pulls).toBe(2);
    expect(stats.byIdentity["127.0.0.21"]?.pulls).toBe(2);
    expect(
      await r.registry.metrics.registry.getSingleMetricAsString("pullstorm_pulls_total"),
    ).toMatch(/pullstorm_pulls_total 2$/m);
  });

  it("a single-arch image's manifest GET is one pull; HEADs of index, platform and single-arch manifests none", async () => {
    const r = inProcessRegistry();
    const me = await client(r, "127.0.0.22");
    const single = await me.request("GET", SINGLE);
    expect(single.remaining).toBe(99);
    expect((await me.request("HEAD", SINGLE)).remaining).toBe(99);
    expect((await me.request("HEAD", NGINX)).remaining).toBe(99);
    const index = await me.request("GET", NGINX);
    expect(index.remaining).toBe(98);
    const arch = me.platforms(index.text);
    expect((await me.request("HEAD", manifest(arch.amd64 as string))).remaining).toBe(98);
    expect((await me.request("HEAD", manifest(arch.arm64 as string))).remaining).toBe(98);
    // The HEADs did not use up the index's pull: the platform GET still joins it.
    expect((await me.request("GET", manifest(arch.amd64 as string))).remaining).toBe(98);
    expect((await me.request("GET", SINGLE)).remaining).toBe(97);
  });

  it("a platform manifest GET long after its index, or the same one again, is a pull of its own", async () => {
    const r = inProcessRegistry();
    const me = await client(r, "127.0.0.23");
    const index = await me.request("GET", NGINX);
    const amd64 = manifest(me.platforms(index.text).amd64 as string);
    expect(index.remaining).toBe(99);
    expect((await me.request("GET", amd64)).remaining).toBe(99);
    // A pull is at most two GETs: the same platform manifest again is another pull.
    expect((await me.request("GET", amd64)).remaining).toBe(98);
    const again = await me.request("GET", NGINX);
    expect(again.remaining).toBe(97);
    await me.request("GET", NGINX);
    r.clock.advance(6 * 60_000); // past the default 5 minutes (and the token's 300 s)
    const later = await client(r, "127.0.0.23");
    expect((await later.request("GET", amd64)).remaining).toBe(95);
  });

  it("another identity's index GET does not make mine free", async () => {
    const r = inProcessRegistry();
    const other = await client(r, "127.0.0.24");
    const me = await client(r, "127.0.0.25");
    const index = await other.request("GET", NGINX);
    expect(index.remaining).toBe(99);
    const amd64 = manifest(other.platforms(index.text).amd64 as string);
    expect((await me.request("GET", amd64)).remaining).toBe(99);
    // ... and did not spend the other's open pull.
    expect((await other.request("GET", amd64)).remaining).toBe(99);
  });

  it("two clients behind one address each fetch index then platform: two pulls, however interleaved", async () => {
    const r = inProcessRegistry();
    const a = await client(r, "127.0.0.26");
    const b = await client(r, "127.0.0.26");
    const ia = await a.request("GET", NGINX);
    await b.request("GET", NGINX);
    const amd64 = manifest(a.platforms(ia.text).amd64 as string);
    await a.request("GET", amd64);
    expect((await b.request("GET", amd64)).remaining).toBe(98);
  });

  it("counts the same way for accounts, per account whatever the address", async () => {
    const r = inProcessRegistry({ accounts: [{ name: "alice", password: "pw", plan: "free" }] });
    const t = await r.token("library/nginx", { basic: "alice:pw", ip: "127.0.0.27" });
    const get = async (path: string, ip: string) => {
      const res = await r.call("GET", path, { ip, token: t, headers: { accept: INDEX_TYPES } });
      return { remaining: res.headers["ratelimit-remaining"], text: res.text };
    };
    const index = await get(NGINX, "127.0.0.27");
    expect(index.remaining).toBe("199;w=21600");
    const digest = (JSON.parse(index.text) as { manifests: Array<{ digest: string }> }).manifests[0]
      ?.digest as string;
    // The same account from another address joins the pull its index GET opened.
    expect((await get(manifest(digest), "127.0.0.28")).remaining).toBe("199;w=21600");
  });

  it("a policy can set the window a platform GET joins its index's pull in", async () => {
    const r = inProcessRegistry({
      policy: {
        rules: [
          {
            name: "pulls",
            counts: [
              { kind: "manifest", method: "GET", as: "docker-pull", within: "10s" },
              { kind: "manifest", method: "HEAD", cost: 0 },
            ],
            limits: { anonymous: { limit: 10, window: "1h" } },
            headers: true,
            refusal: { type: "oci", anonymous: "no", account: "no" },
          },
        ],
      },
    });
    const me = await client(r, "127.0.0.29");
    const index = await me.request("GET", NGINX);
    const arch = me.platforms(index.text);
    r.clock.advance(11_000);
    expect((await me.request("GET", manifest(arch.amd64 as string))).remaining).toBe(8);
    await me.request("GET", NGINX);
    r.clock.advance(9_000);
    expect((await me.request("GET", manifest(arch.arm64 as string))).remaining).toBe(7);
  });
});

describe("dockerhub-current: Docker Hub as documented today", () => {
  it("anonymous 100 / 6 h per address, personal 200 / 6 h, Pro without a pull limit and without RateLimit headers", async () => {
    const r = inProcessRegistry({
      policy: { preset: "dockerhub-current" },
      accounts: [
        { name: "pam", password: "pw", plan: "personal" },
        { name: "pat", password: "pw", plan: "pro" },
      ],
    });
    const me = await client(r, "127.0.0.30");
    const index = await me.request("GET", NGINX);
    expect(index.remaining).toBe(99);
    expect(
      (await me.request("GET", manifest(me.platforms(index.text).amd64 as string))).remaining,
    ).toBe(99);
    const pam = await r.token("library/nginx", { basic: "pam:pw" });
    const personal = await r.call("GET", NGINX, { token: pam, headers: { accept: INDEX_TYPES } });
    expect(personal.headers["ratelimit-limit"]).toBe("200;w=21600");
    const pat = await r.token("library/nginx", { basic: "pat:pw" });
    for (let i = 0; i < 300; i++) {
      const pro = await r.call("GET", NGINX, { token: pat, headers: { accept: INDEX_TYPES } });
      expect(pro.status).toBe(200);
      expect(pro.headers["ratelimit-limit"]).toBeUndefined();
      expect(pro.headers["ratelimit-remaining"]).toBeUndefined();
    }
    // Still counted as pulls, for stats: an unlimited plan is not an uncounted one.
    expect(r.registry.stats.snapshot().byIdentity.pat?.pulls).toBe(300);
  });
});

describe("the memory of recent index GETs", () => {
  it("is bounded: the least recently used subject and image is forgotten first", () => {
    const memory = new PullMemory(3);
    for (let i = 0; i < 10_000; i++) memory.opened(`ip:10.0.${i >> 8}.${i & 255}`, "img", i);
    expect(memory.size).toBe(3);
    expect(memory.join("ip:10.0.0.0", "img", 10_000, 60_000)).toBe(false);
    expect(memory.join("ip:10.0.39.15", "img", 10_000, 60_000)).toBe(true);
  });

  it("keeps a bounded number of open pulls per subject and image, and forgets expired ones", () => {
    const memory = new PullMemory();
    for (let i = 0; i < 2000; i++) memory.opened("ip:1.2.3.4", "img", i);
    let joined = 0;
    while (memory.join("ip:1.2.3.4", "img", 2000, 60_000)) joined++;
    expect(joined).toBe(OPEN_MAX);
    memory.opened("ip:1.2.3.4", "img", 0);
    expect(memory.join("ip:1.2.3.4", "img", 60_001, 60_000)).toBe(false);
    expect(memory.size).toBe(0);
  });

  it("is forgotten on reset", async () => {
    const r = inProcessRegistry();
    const me = await client(r, "127.0.0.31");
    const index = await me.request("GET", NGINX);
    expect(r.registry.enforcer.pullMemory.size).toBe(1);
    await r.registry.reset();
    expect(r.registry.enforcer.pullMemory.size).toBe(0);
    expect(
      (await me.request("GET", manifest(me.platforms(index.text).amd64 as string))).remaining,
    ).toBe(99);
  });
});
