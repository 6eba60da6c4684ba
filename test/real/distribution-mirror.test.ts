// A CNCF distribution pull-through cache ("registry mirror") in front of the fake
// registry: once a tag is cached, a pull through the mirror costs the upstream only a
// manifest HEAD (which Docker Hub does not count against the pull limit), never a
// manifest GET. With proxy credentials its upstream traffic counts against the account.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RunningRegistry } from "../../fake-registry/index.ts";
import { verifyDirCopy } from "../helpers/digests.ts";
import { type Mirror, startDistributionMirror } from "../helpers/mirror.ts";
import { ALICE, startRegistry } from "../helpers/registry.ts";
import { skopeoCopy } from "../helpers/skopeo.ts";
import { checkTools } from "../helpers/tools.ts";

const tools = checkTools("docker-registry", "skopeo");

describe("distribution pull-through mirror in front of the fake registry", () => {
  let running: RunningRegistry;
  let work: string;
  const mirrors: Mirror[] = [];

  beforeAll(async () => {
    running = await startRegistry({ accounts: [ALICE] });
    work = mkdtempSync(join(tmpdir(), "pullstorm-mirror-"));
  });

  afterAll(async () => {
    await Promise.all(mirrors.map((m) => m.stop()));
    await running?.close();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  async function startMirror(name: string, credentials?: { username: string; password: string }) {
    const mirror = await startDistributionMirror(
      running.url,
      join(work, `mirror-${name}`),
      credentials,
    );
    mirrors.push(mirror);
    return mirror;
  }

  /** Copies library/nginx:1.25 through `mirror` into work/`name`, counting upstream from zero. */
  async function copyThrough(mirror: Mirror, name: string, all = true) {
    running.registry.stats.reset();
    const dest = join(work, name);
    const result = await skopeoCopy(mirror.host, "library/nginx:1.25", dest, {
      all,
      timeoutMs: 30_000,
    });
    expect(result.status, result.stderr).toBe(0);
    return { verified: verifyDirCopy(dest), stats: running.registry.stats.snapshot() };
  }

  let anonymousMirror: Mirror | undefined;

  it("proxies library/nginx:1.25 on a cold cache, every digest verifies", async (ctx) => {
    if (!tools.available) return ctx.skip(tools.reason);
    anonymousMirror = await startMirror("anonymous");
    const { verified, stats } = await copyThrough(anonymousMirror, "one");
    // 2 platform manifests + 2 configs + at least 2 layers each (the index is manifest.json)
    expect(verified).toBeGreaterThanOrEqual(8);
    // The mirror pings /v2/, is challenged and fetches an anonymous token.
    expect(stats.byKind.ping?.GET?.["401"]).toBeGreaterThanOrEqual(1);
    expect(stats.byKind.token?.GET?.["200"]).toBeGreaterThanOrEqual(1);
    // Cold cache: the tag is fetched upstream, and both platform manifests by digest.
    expect(stats.byKind.manifest?.GET?.["200"]).toBeGreaterThanOrEqual(3);
    expect(stats.byKind.blob?.GET?.["200"]).toBeGreaterThanOrEqual(4);
  });

  it("serves the cached tag again after only a manifest HEAD upstream (no manifest GET)", async (ctx) => {
    if (!tools.available) return ctx.skip(tools.reason);
    if (!anonymousMirror) throw new Error("the cold-cache test did not start the mirror");
    const { verified, stats } = await copyThrough(anonymousMirror, "two");
    expect(verified).toBeGreaterThanOrEqual(8);
    expect(stats.byKind.manifest?.HEAD?.["200"]).toBeGreaterThanOrEqual(1);
    expect(stats.byKind.manifest?.GET).toBeUndefined();
    expect(running.registry.stats.count("manifest", "GET")).toBe(0);
  });

  it("with proxy credentials, the mirror's upstream pulls count against the account", async (ctx) => {
    if (!tools.available) return ctx.skip(tools.reason);
    const mirror = await startMirror("alice", {
      username: ALICE.name,
      password: ALICE.password,
    });
    const { verified, stats } = await copyThrough(mirror, "alice", false);
    expect(verified).toBeGreaterThanOrEqual(3);
    const alice = stats.byIdentity.alice;
    expect(alice?.type).toBe("account");
    // distribution sends the credentials as HTTP Basic on GET /token.
    expect(alice?.byKind.token?.GET?.["200"]).toBeGreaterThanOrEqual(1);
    expect(alice?.byKind.manifest?.GET?.["200"]).toBeGreaterThanOrEqual(1);
    expect(alice?.byKind.blob?.GET?.["200"]).toBeGreaterThanOrEqual(2);
    // Only the unauthenticated /v2/ ping stays anonymous.
    const anonymous = stats.byIdentity["127.0.0.1"];
    expect(anonymous?.byKind.manifest).toBeUndefined();
    expect(anonymous?.byKind.blob).toBeUndefined();
  });
});
