// Several origin registries against the real client (issue 18): containerd with a
// pull-through mirror configured for one registry (hosts.toml) pulls another
// registry's image straight from that registry, never through the mirror; the
// model (designRoutes + PullClient) sends the same requests to the same places.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ctrFetchArgs } from "../../check-mirror/containerd.ts";
import { catalogFileSchema, draftsFrom } from "../../fake-registry/catalog/file.ts";
import type { RegistryRequest } from "../../fake-registry/core/types.ts";
import { createHttpServer } from "../../fake-registry/http/server.ts";
import { createRegistry } from "../../fake-registry/index.ts";
import type { Handled, Registry } from "../../fake-registry/registry/registry.ts";
import { ContentStore } from "../../simulator/client/content-store.ts";
import { PullClient } from "../../simulator/client/pull-client.ts";
import { RUNTIMES } from "../../simulator/client/runtimes.ts";
import { VirtualSim } from "../../simulator/engine/sim.ts";
import { InProcessTransport } from "../../simulator/engine/transport.ts";
import { startProcessMirror } from "../../simulator/mirror/backends.ts";
import { designRoutes, MIRROR_EGRESS } from "../../simulator/mirror/for-design.ts";
import { MirrorModel } from "../../simulator/mirror/model.ts";
import { type ImageRef, parseReference } from "../../vocabulary/oci/reference.ts";
import { requestKey } from "../helpers/calibration.ts";
import { type PrivateContainerd, startPrivateContainerd } from "../helpers/containerd.ts";
import { checkTools } from "../helpers/tools.ts";

const TOOLS = checkTools("docker-registry", "containerd", "ctr");
const NODE = "127.0.0.2";
const API = { image: "ghcr.io/acme/api:1.4", repository: "acme/api" };
const NGINX = "library/nginx:1.25";

/** What one registry saw: requests by key (requestKey: who, kind, method, status) and repositories asked for. */
interface Seen {
  counts: Record<string, number>;
  repositories: Set<string>;
}

/** A registry's core behind a counting tap; every request answered as from `ip` (mirror or node). */
function tapped(registry: Registry, ip: string, seen: Seen) {
  return {
    async handle(req: RegistryRequest, _client: { ip: string }): Promise<Handled> {
      const handled = await registry.handle(req, { ip });
      const key = requestKey(handled, req.method, req.path);
      seen.counts[key] = (seen.counts[key] ?? 0) + 1;
      const repo = /^\/v2\/(.+)\/(?:manifests|blobs)\//.exec(req.path)?.[1];
      if (repo) seen.repositories.add(repo);
      return handled;
    },
  };
}

const fresh = (): Seen => ({ counts: {}, repositories: new Set() });

/** Docker Hub's stand-in (the built-in catalog) and ghcr.io's (acme/api:1.4 only). */
function registries() {
  const ghcr = draftsFrom(
    catalogFileSchema.parse({ images: [{ name: API.repository, tags: ["1.4"] }] }),
  );
  return {
    hub: createRegistry({}),
    ghcr: createRegistry({ images: ghcr.images, defaults: ghcr.defaults }),
  };
}

describe("two registries, a mirror for one: containerd against the model", () => {
  let work: string;
  let containerd: PrivateContainerd | undefined;
  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), "pullstorm-two-registries-"));
    if (TOOLS.available) containerd = await startPrivateContainerd(join(work, "containerd"));
  });
  afterAll(async () => {
    await containerd?.daemon.stop("SIGTERM");
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it("ctr pulls ghcr.io's image from ghcr.io alone and Docker Hub's through the mirror; the model counts the same", async (ctx) => {
    if (!TOOLS.available) return ctx.skip(TOOLS.reason);
    // --- real: two fake registries on loopback, docker-registry 2.8 mirroring the first ---
    const real = registries();
    const hubFromMirror = fresh();
    const hubFromNode = fresh();
    const ghcrSeen = fresh();
    const servers = [
      createHttpServer(tapped(real.hub, MIRROR_EGRESS, hubFromMirror)),
      createHttpServer(tapped(real.hub, NODE, hubFromNode)),
      createHttpServer(tapped(real.ghcr, NODE, ghcrSeen)),
    ];
    const hosts: string[] = [];
    let mirror: Awaited<ReturnType<typeof startProcessMirror>> | undefined;
    try {
      for (const s of servers) {
        await s.listen({ host: "127.0.0.1", port: 0 });
        const address = s.server.address();
        if (typeof address !== "object" || !address) throw new Error("no address");
        hosts.push(`127.0.0.1:${address.port}`);
      }
      const [upstreamHost, hubHost, ghcrHost] = hosts as [string, string, string];
      mirror = await startProcessMirror({
        upstream: `http://${upstreamHost}`,
        storageDir: join(work, "mirror"),
      });
      // hosts.toml: Docker Hub's stand-in lists the mirror (the registry last, as containerd
      // appends it); ghcr.io's stand-in has no mirror.
      const hostsDir = join(work, "hosts.d");
      mkdirSync(join(hostsDir, hubHost), { recursive: true });
      writeFileSync(
        join(hostsDir, hubHost, "hosts.toml"),
        `server = "http://${hubHost}"\n\n[host."http://${mirror.host}"]\n  capabilities = ["pull", "resolve"]\n`,
      );
      mkdirSync(join(hostsDir, ghcrHost), { recursive: true });
      writeFileSync(join(hostsDir, ghcrHost, "hosts.toml"), `server = "http://${ghcrHost}"\n`);
      const ctr = (reference: string) =>
        (containerd as PrivateContainerd).ctr("node-a", ctrFetchArgs(hostsDir, reference));
      const apiPull = await ctr(`${ghcrHost}/${API.repository}:1.4`);
      expect(apiPull.status, apiPull.stderr).toBe(0);
      const nginxPull = await ctr(`${hubHost}/${NGINX}`);
      expect(nginxPull.status, nginxPull.stderr).toBe(0);
    } finally {
      await mirror?.stop();
      await Promise.all(servers.map((s) => s.close()));
    }
    // The mirror never asked for ghcr.io's image, nor did the node ask Docker Hub directly.
    expect(hubFromMirror.repositories).toEqual(new Set([NGINX.split(":")[0]]));
    expect(hubFromNode.counts).toEqual({});
    expect(ghcrSeen.repositories).toEqual(new Set([API.repository]));

    // --- the model: the same two pulls routed by designRoutes, in simulated time ---
    const model = registries();
    const mHubFromMirror = fresh();
    const mHubFromNode = fresh();
    const mGhcr = fresh();
    const sim = new VirtualSim(1, 3_600_000);
    const mirrorModel = new MirrorModel({
      upstream: {
        transport: new InProcessTransport(
          { registry: tapped(model.hub, MIRROR_EGRESS, mHubFromMirror) },
          sim,
        ),
        host: "registry",
        egressIp: MIRROR_EGRESS,
      },
      flavour: "distribution-2.8",
      sim,
    });
    const transport = new InProcessTransport(
      {
        registry: tapped(model.hub, NODE, mHubFromNode),
        "registry:ghcr.io": tapped(model.ghcr, NODE, mGhcr),
        mirror: mirrorModel,
      },
      sim,
    );
    const routes = designRoutes(
      { fleet: { runtime: "containerd" } as never },
      { mirror: { enabled: true } as never },
    );
    const store = new ContentStore();
    const pull = (text: string) => {
      const ref = parseReference(text) as ImageRef;
      return new PullClient({
        actor: "node-a",
        design: "two-registries",
        runtime: RUNTIMES.containerd,
        hosts: routes("containerd", ref),
        egressIp: NODE,
        transport,
        sim,
        store,
        emit: () => {},
      }).pull(ref);
    };
    const results: Array<{ ok: boolean }> = [];
    const done = (async () => {
      await mirrorModel.start();
      results.push(await pull(API.image));
      results.push(await pull(NGINX));
    })();
    await sim.run();
    await done;
    expect(results.map((r) => r.ok)).toEqual([true, true]);
    // Request for request at ghcr.io's stand-in, and none for it anywhere else: the real one wins.
    expect(mGhcr.counts).toEqual(ghcrSeen.counts);
    expect(mHubFromNode.counts).toEqual(hubFromNode.counts);
    expect(mHubFromMirror.repositories).toEqual(hubFromMirror.repositories);
  });
});
