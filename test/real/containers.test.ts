// The testcontainers helpers on a real container engine (Docker, or the podman
// Docker-API service scripts/containers.sh starts in CI): the mirror backend
// `container` (CNCF distribution in a container) and startFakeRegistryContainer()
// (pullstorm's own image), each with real pulls through it by skopeo, and gone
// from the engine once stopped.
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { request } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RunningRegistry } from "../../fake-registry/index.ts";
import { startFakeRegistryContainer } from "../../simulator/containers.ts";
import { MirrorStartError, startContainerMirror } from "../../simulator/mirror/backends.ts";
import { checkContainerEngine, imageFrom } from "../helpers/containers.ts";
import { runCommand } from "../helpers/processes.ts";
import { startRegistry } from "../helpers/registry.ts";
import { checkTools } from "../helpers/tools.ts";

const engine = await checkContainerEngine();
const skopeo = checkTools("skopeo");
const MIRROR_IMAGE = imageFrom("PULLSTORM_MIRROR_IMAGE", "registry:2");
const PULLSTORM_IMAGE = imageFrom("PULLSTORM_IMAGE", "pullstorm:local");

let work: string;
beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), "pullstorm-containers-"));
});
afterAll(() => rmSync(work, { recursive: true, force: true }));

let copies = 0;
function skopeoCopy(reference: string) {
  const dest = join(work, `copy-${++copies}`);
  return runCommand(
    "skopeo",
    [
      "--override-os",
      "linux",
      "--override-arch",
      "amd64",
      "copy",
      "--src-tls-verify=false",
      `docker://${reference}`,
      `dir:${dest}`,
    ],
    { timeoutMs: 60_000 },
  ).then((r) => ({ ...r, files: r.status === 0 ? readdirSync(dest) : [] }));
}

/** A manifest GET from a chosen loopback source address (a distinct client IP). */
function manifestFrom(
  base: string,
  localAddress: string,
): Promise<{ status: number; headers: Record<string, string | string[] | undefined> }> {
  const url = new URL(`${base}/v2/library/alpine/manifests/3.20`);
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: url.hostname,
        port: url.port,
        path: url.pathname,
        localAddress,
        agent: false,
        headers: { accept: "application/vnd.oci.image.index.v1+json" },
      },
      (res) => {
        res.resume();
        res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers }));
      },
    );
    req.setTimeout(10_000, () => req.destroy(new Error("timed out")));
    req.on("error", reject);
    req.end();
  });
}

/** How many containers the engine knows, running or not (testcontainers' own client). */
async function containerCount(): Promise<number> {
  const { getContainerRuntimeClient } = await import("testcontainers");
  const client = await getContainerRuntimeClient();
  return (await client.container.list()).length;
}

/** Whether the engine still knows the container (testcontainers' own client). */
async function containerExists(id: string): Promise<boolean> {
  const { getContainerRuntimeClient } = await import("testcontainers");
  const client = await getContainerRuntimeClient();
  return client.container
    .getById(id)
    .inspect()
    .then(
      () => true,
      () => false,
    );
}

describe("the container mirror backend (testcontainers)", () => {
  let upstream: RunningRegistry;
  beforeAll(async () => {
    upstream = await startRegistry();
  });
  afterAll(() => upstream?.close());

  it(`runs ${MIRROR_IMAGE} as a pull-through cache of the fake registry: skopeo pulls through it, the registry charges the mirror's own address once`, async (ctx) => {
    if (!engine.available) return ctx.skip(engine.reason);
    if (!skopeo.available) return ctx.skip(skopeo.reason);
    const mirror = await startContainerMirror({ upstream: upstream.url, image: MIRROR_IMAGE });
    let id = "";
    try {
      expect(mirror.describe).toMatchObject({ backend: "container", program: MIRROR_IMAGE });
      // Host networking for a loopback upstream: the mirror listens on the host's loopback.
      expect(mirror.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      id = mirror.containerId ?? "";
      expect(id).not.toBe("");
      const first = await skopeoCopy(`${mirror.host}/library/alpine:3.20`);
      expect(first.status, first.stderr).toBe(0);
      expect(first.files).toContain("manifest.json");
      const second = await skopeoCopy(`${mirror.host}/library/alpine:3.20`);
      expect(second.status, second.stderr).toBe(0);
      // The upstream saw the mirror (from 127.0.0.1, its address on the host network), and
      // charged it one pull for the two: the second came from the mirror's cache.
      const stats = upstream.registry.stats.snapshot();
      const keys = Object.keys(stats.byIdentity);
      expect(
        keys.some((k) => k.includes("127.0.0.1")),
        keys.join(", "),
      ).toBe(true);
      const pulls = Object.values(stats.byIdentity).reduce((n, s) => n + s.pulls, 0);
      expect(pulls).toBe(1);
      expect(mirror.output()).toMatch(/listening on/);
    } finally {
      await mirror.stop();
    }
    if (id) expect(await containerExists(id)).toBe(false);
  }, 180_000);

  it("an image the engine cannot find fails with a MirrorStartError naming it", async (ctx) => {
    if (!engine.available) return ctx.skip(engine.reason);
    // localhost/…: the engine asks only this machine's loopback for it.
    const error = await startContainerMirror({
      upstream: upstream.url,
      image: "localhost/pullstorm-no-such-image:0",
      startTimeoutMs: 30_000,
    }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(MirrorStartError);
    expect((error as MirrorStartError).backend).toBe("container");
    expect((error as Error).message).toContain("localhost/pullstorm-no-such-image:0");
  }, 120_000);

  it("on a port another registry holds: a MirrorStartError saying the container exited (address already in use), the other still serves, nothing left", async (ctx) => {
    if (!engine.available) return ctx.skip(engine.reason);
    // Under host networking the old wait took the other registry's /v2/ for the mirror's.
    const held = Number(new URL(upstream.url).port);
    const before = await containerCount();
    const error = await startContainerMirror({
      upstream: upstream.url,
      image: MIRROR_IMAGE,
      port: held,
      startTimeoutMs: 60_000,
    }).catch((e: unknown) => e);
    // (a start taken for a success is stopped, so that a failing test leaves nothing)
    if (!(error instanceof Error)) await (error as { stop(): Promise<void> }).stop();
    expect(error).toBeInstanceOf(MirrorStartError);
    expect((error as Error).message).toMatch(/exited before answering on 127\.0\.0\.1:\d+/);
    expect((error as Error).message).toContain("address already in use");
    expect([200, 401]).toContain((await fetch(`${upstream.url}/v2/`)).status);
    expect(await containerCount()).toBe(before);
  }, 120_000);

  it("with no engine at DOCKER_HOST, says so in testcontainers' words", async () => {
    // A child process: testcontainers keeps the engine it found for the process's life.
    const script = `
      import { startContainerMirror } from "./simulator/mirror/backends.ts";
      startContainerMirror({ upstream: "http://127.0.0.1:1" }).then(
        () => { console.log("started"); process.exit(1); },
        (e) => { console.log(e.name + " " + e.backend + ": " + e.message); process.exit(0); });`;
    const r = await runCommand(
      join(import.meta.dirname, "..", "..", "node_modules", ".bin", "node"),
      ["--input-type=module", "-e", script],
      {
        cwd: join(import.meta.dirname, "..", ".."),
        env: {
          ...Object.fromEntries(
            Object.entries(process.env).filter(([k]) => k !== "PULLSTORM_MIRROR_IMAGE"),
          ),
          DOCKER_HOST: `unix://${join(work, "no-engine.sock")}`,
        },
        timeoutMs: 60_000,
      },
    );
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toContain("MirrorStartError container: testcontainers cannot run registry:2");
    expect(r.stdout).toContain("Could not find a working container runtime strategy");
  }, 90_000);
});

describe("startFakeRegistryContainer: pullstorm's image as the registry", () => {
  it(`serves ${PULLSTORM_IMAGE} on the host's loopback, counts each client address on its own, and skopeo pulls from it`, async (ctx) => {
    if (!engine.available) return ctx.skip(engine.reason);
    if (!skopeo.available) return ctx.skip(skopeo.reason);
    // Anonymous and no token service: 100 manifest GETs per 6 h per address (dockerhub-2020).
    const registry = await startFakeRegistryContainer({
      image: PULLSTORM_IMAGE,
      args: ["--no-auth", "--preset", "dockerhub-2020", "--log-level", "warn"],
    });
    const id = registry.container.getId();
    try {
      expect(registry.network).toBe("host");
      const pulled = await skopeoCopy(`${registry.host}/library/alpine:3.20`);
      expect(pulled.status, pulled.stderr).toBe(0);
      expect(pulled.files).toContain("manifest.json");
      // 127.0.0.5 spends its quota (bounded: 101 requests at most) ...
      let last = { status: 0, headers: {} as Record<string, string | string[] | undefined> };
      let sent = 0;
      while (sent < 101) {
        last = await manifestFrom(registry.url, "127.0.0.5");
        sent++;
        if (last.status !== 200) break;
      }
      expect(last.status).toBe(429);
      expect(sent).toBe(101);
      expect(last.headers["ratelimit-remaining"] ?? last.headers["retry-after"]).toBeDefined();
      // ... and 127.0.0.6 still has its own: the container saw each address as it is.
      expect((await manifestFrom(registry.url, "127.0.0.6")).status).toBe(200);
    } finally {
      await registry.stop();
    }
    expect(await containerExists(id)).toBe(false);
  }, 180_000);

  it("on a port another program holds: an error saying it exited (address already in use), not the other program taken for it", async (ctx) => {
    if (!engine.available) return ctx.skip(engine.reason);
    const other = await startRegistry();
    try {
      const before = await containerCount();
      const error = await startFakeRegistryContainer({
        image: PULLSTORM_IMAGE,
        port: Number(new URL(other.url).port),
      }).catch((e: unknown) => e);
      if (!(error instanceof Error)) await (error as { stop(): Promise<void> }).stop();
      expect(error).toBeInstanceOf(Error);
      expect((error as Error).message).toMatch(
        /the fake registry \(.+\) exited before answering on 127\.0\.0\.1:\d+/,
      );
      expect((error as Error).message).toContain("address already in use");
      expect(await containerCount()).toBe(before);
    } finally {
      await other.close();
    }
  }, 120_000);
});
