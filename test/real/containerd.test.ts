// containerd (the runtime under Kubernetes) pulls from the fake registry through the
// Docker token flow: anonymously with GET /token, and with credentials through the
// OAuth2 password grant (POST /token), so its pulls count against the account. Without
// --all-platforms it fetches only the host platform's image of a multi-arch index.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RunningRegistry } from "../../fake-registry/index.ts";
import { type PrivateContainerd, startPrivateContainerd } from "../helpers/containerd.ts";
import { ALICE, startRegistry } from "../helpers/registry.ts";
import { checkTools } from "../helpers/tools.ts";

const tools = checkTools("ctr", "containerd");

/** The platform `ctr content fetch` picks without --platform / --all-platforms. */
const HOST_ARCH = process.arch === "arm64" ? "arm64" : "amd64";

describe("containerd (ctr content fetch) against the fake registry", () => {
  let running: RunningRegistry;
  let work: string;
  let containerd: PrivateContainerd | undefined;

  function ctr(namespace: string, args: string[]) {
    if (!containerd) throw new Error("containerd is not running");
    return containerd.ctr(namespace, args);
  }

  beforeAll(async () => {
    running = await startRegistry({ accounts: [ALICE] });
    work = mkdtempSync(join(tmpdir(), "pullstorm-containerd-"));
    if (!tools.available) return;
    containerd = await startPrivateContainerd(work);
  });

  afterAll(async () => {
    await containerd?.daemon.stop("SIGTERM");
    await running?.close();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  async function hostBuild() {
    const build = await running.registry.catalog.resolveTag("library/nginx", "1.25", 0);
    if (!build) throw new Error("library/nginx:1.25 is not in the catalog");
    const host = build.platforms.find((p) => p.platform.architecture === HOST_ARCH);
    const other = build.platforms.find((p) => p.platform.architecture !== HOST_ARCH);
    if (!host || !other) throw new Error("library/nginx:1.25 is not amd64 + arm64");
    return { build, host, other };
  }

  it("fetches library/nginx:1.25 anonymously through the token flow", async (ctx) => {
    if (!tools.available) return ctx.skip(tools.reason);
    running.registry.stats.reset();
    const host = running.url.replace("http://", "");
    const fetched = await ctr("pullstorm", [
      "content",
      "fetch",
      "--plain-http",
      `${host}/library/nginx:1.25`,
    ]);
    expect(fetched.status, fetched.stdout + fetched.stderr).toBe(0);

    const stats = running.registry.stats.snapshot();
    const { build, host: image, other } = await hostBuild();
    // Anonymous tokens come from GET /token; POST is only used with credentials.
    expect(stats.byKind.token?.GET?.["200"]).toBeGreaterThanOrEqual(1);
    expect(stats.byKind.token?.POST).toBeUndefined();
    // The first request has no token and is challenged.
    expect(stats.byKind.manifest?.HEAD?.["401"]).toBeGreaterThanOrEqual(1);
    // The tag is resolved with HEAD, then index and host manifest are fetched by digest.
    expect(stats.byKind.manifest?.HEAD?.["200"]).toBeGreaterThanOrEqual(1);
    expect(stats.byKind.manifest?.GET?.["200"]).toBeGreaterThanOrEqual(2);
    // config + layers of the host platform only
    expect(stats.byKind.blob?.GET?.["200"]).toBe(image.layers.length + 1);
    expect(Object.keys(stats.byIdentity)).toEqual(["127.0.0.1"]);

    const listed = await ctr("pullstorm", ["content", "ls", "--quiet"]);
    expect(listed.status, listed.stderr).toBe(0);
    const digests = listed.stdout.split("\n").filter(Boolean);
    expect(digests).toContain(build.index?.docker.digest);
    expect(digests).toContain(image.manifests.docker.digest);
    expect(digests).toContain(image.config.digest);
    for (const layer of image.layers) expect(digests).toContain(layer.digest);
    // Without --all-platforms, nothing of the other platform is downloaded.
    expect(digests).not.toContain(other.config.digest);
    for (const layer of other.layers) expect(digests).not.toContain(layer.digest);
  });

  it("with --user, fetches through the OAuth2 password grant and counts against the account", async (ctx) => {
    if (!tools.available) return ctx.skip(tools.reason);
    running.registry.stats.reset();
    const host = running.url.replace("http://", "");
    const fetched = await ctr("pullstorm-alice", [
      "content",
      "fetch",
      "--plain-http",
      "--user",
      `${ALICE.name}:${ALICE.password}`,
      `${host}/library/nginx:1.25`,
    ]);
    expect(fetched.status, fetched.stdout + fetched.stderr).toBe(0);

    const { host: image } = await hostBuild();
    const stats = running.registry.stats.snapshot();
    const alice = stats.byIdentity.alice;
    expect(alice?.type).toBe("account");
    // containerd with credentials asks for its token with POST grant_type=password.
    expect(alice?.byKind.token?.POST?.["200"]).toBeGreaterThanOrEqual(1);
    expect(alice?.byKind.manifest?.HEAD?.["200"]).toBeGreaterThanOrEqual(1);
    expect(alice?.byKind.manifest?.GET?.["200"]).toBeGreaterThanOrEqual(2);
    expect(alice?.byKind.blob?.GET?.["200"]).toBe(image.layers.length + 1);
    // What stays anonymous are only the challenges that precede each token.
    const anonymous = stats.byIdentity["127.0.0.1"];
    for (const [kind, byMethod] of Object.entries(anonymous?.byKind ?? {})) {
      for (const [method, byStatus] of Object.entries(byMethod)) {
        expect(Object.keys(byStatus), `${kind} ${method}`).toEqual(["401"]);
      }
    }
  });
});
