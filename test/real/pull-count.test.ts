// Real clients' pulls of a multi-arch image cost one pull each, as Docker Hub
// counts them (issue 12): skopeo copy without --all (the index, then the host
// platform's manifest) and containerd's fetch (the tag resolved with HEAD, then
// the index and the host manifest by digest). Read from ratelimit-remaining on
// a HEAD (which costs nothing) before and after, and from /_pullstorm/stats.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RunningRegistry } from "../../fake-registry/index.ts";
import { type PrivateContainerd, startPrivateContainerd } from "../helpers/containerd.ts";
import { pullToken, startRegistry } from "../helpers/registry.ts";
import { skopeoCopy } from "../helpers/skopeo.ts";
import { checkTools } from "../helpers/tools.ts";

const skopeo = checkTools("skopeo");
const containerdTools = checkTools("ctr", "containerd");

describe("a real client's pull of a multi-arch image is one pull", () => {
  let running: RunningRegistry;
  let work: string;
  let containerd: PrivateContainerd | undefined;

  beforeAll(async () => {
    running = await startRegistry();
    work = mkdtempSync(join(tmpdir(), "pullstorm-pull-count-"));
    if (containerdTools.available) containerd = await startPrivateContainerd(work);
  });

  afterAll(async () => {
    await containerd?.daemon.stop("SIGTERM");
    await running?.close();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  /** ratelimit-remaining for 127.0.0.1, read with a HEAD (free) as a client would. */
  async function remaining(): Promise<number> {
    const token = await pullToken(running.url, "library/nginx");
    const res = await fetch(`${running.url}/v2/library/nginx/manifests/1.25`, {
      method: "HEAD",
      headers: { authorization: `Bearer ${token}` },
    });
    expect(res.status).toBe(200);
    return Number.parseInt(res.headers.get("ratelimit-remaining") ?? "NaN", 10);
  }

  async function statsPulls(): Promise<number> {
    const res = await fetch(`${running.url}/_pullstorm/stats`);
    const stats = (await res.json()) as { byIdentity: Record<string, { pulls: number }> };
    return stats.byIdentity["127.0.0.1"]?.pulls ?? 0;
  }

  it("skopeo copy library/nginx:1.25 (without --all)", async (ctx) => {
    if (!skopeo.available) return ctx.skip(skopeo.reason);
    const before = await remaining();
    const pullsBefore = await statsPulls();
    const manifestGets = running.registry.stats.count("manifest", "GET", 200);
    const copied = await skopeoCopy(
      running.url.replace("http://", ""),
      "library/nginx:1.25",
      join(work, "skopeo"),
      { all: false },
    );
    expect(copied.status, copied.stdout + copied.stderr).toBe(0);
    // Two manifest GETs (the index, then one platform manifest) ...
    expect(running.registry.stats.count("manifest", "GET", 200) - manifestGets).toBe(2);
    // ... and one pull.
    expect(before - (await remaining())).toBe(1);
    expect((await statsPulls()) - pullsBefore).toBe(1);
  });

  it("containerd (ctr content fetch) of library/nginx:1.25", async (ctx) => {
    if (!containerd) return ctx.skip(containerdTools.reason || "containerd not running");
    const before = await remaining();
    const pullsBefore = await statsPulls();
    const manifestGets = running.registry.stats.count("manifest", "GET", 200);
    const host = running.url.replace("http://", "");
    const fetched = await containerd.ctr("pullstorm", [
      "content",
      "fetch",
      "--plain-http",
      `${host}/library/nginx:1.25`,
    ]);
    expect(fetched.status, fetched.stdout + fetched.stderr).toBe(0);
    expect(running.registry.stats.count("manifest", "GET", 200) - manifestGets).toBe(2);
    expect(before - (await remaining())).toBe(1);
    expect((await statsPulls()) - pullsBefore).toBe(1);
  });

  it("containerd (ctr images pull, unpacked) of library/redis:7", async (ctx) => {
    if (!containerd) return ctx.skip(containerdTools.reason || "containerd not running");
    // Unpacking mounts snapshots: root only.
    if (process.getuid?.() !== 0) return ctx.skip("ctr images pull unpacks: needs root");
    const pullsBefore = await statsPulls();
    const host = running.url.replace("http://", "");
    const pulled = await containerd.ctr("pullstorm-images", [
      "images",
      "pull",
      "--plain-http",
      `${host}/library/redis:7`,
    ]);
    expect(pulled.status, pulled.stdout + pulled.stderr).toBe(0);
    expect((await statsPulls()) - pullsBefore).toBe(1);
  });
});
