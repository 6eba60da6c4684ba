import { createServer, type Server } from "node:http";
import type { Account } from "../../fake-registry/auth/users.ts";
import { ScaledClock } from "../../fake-registry/core/clock.ts";
import { serveRegistry } from "../../fake-registry/index.ts";
import type { Registry } from "../../fake-registry/registry/registry.ts";
import type { EventSink } from "../../vocabulary/events.ts";
import { registryLinks, shaped } from "../engine/network.ts";
import { LiveSim } from "../engine/sim.ts";
import { networkModel } from "../engine/timing.ts";
import { HttpTransport } from "../engine/transport.ts";
import { MIRROR_EGRESS, mirrorModelFor } from "../mirror/for-design.ts";
import { serveMirror } from "../mirror/serve.ts";
import { scenarioRegistry } from "../registry-setup.ts";
import type { Design, Scenario } from "../scenario/schema.ts";
import { type K6Plan, primeCatalog } from "./plan.ts";

/**
 * What a k6 script of one design pulls from: the embedded registry (or a
 * target) and, for mirror designs, the mirror model in front of it; built
 * like simulator/run.ts builds them for the native live engine (same
 * scenarioRegistry, same MirrorModel over HttpTransport, same mirror egress
 * address), except that their clocks stand still at t=0 until the script's
 * setup() asks the sync endpoint to start them, so registry time and the
 * VUs' simulated time share one origin.
 */

export interface DesignEndpoints {
  design: string;
  /** Base URLs for the script (PULLSTORM_REGISTRY, PULLSTORM_MIRROR). */
  hosts: { registry: string; mirror?: string };
  registry?: Registry;
  /** Starts registry and mirror time (once); returns the wall time (epoch ms) of t=0. */
  anchor(): number;
  /** Wall epoch ms of t=0, once anchored. */
  readonly t0: number | undefined;
  close(): Promise<void>;
}

export interface EndpointOptions {
  seed: number;
  timeScale: number;
  /** An external registry instead of the embedded one (already vetted by checkTarget). */
  target?: string;
  maxRps?: number;
  /** Mirror decisions and the mirror's upstream requests (they never pass through k6). */
  emit?: EventSink;
  /** Fixed ports (0 or unset: any free port). */
  registryPort?: number;
  mirrorPort?: number;
  host?: string;
}

export async function startEndpoints(
  scenario: Scenario,
  design: Design,
  plan: K6Plan,
  options: EndpointOptions,
): Promise<DesignEndpoints> {
  const host = options.host ?? "127.0.0.1";
  const closers: Array<() => Promise<void>> = [];
  const created = Date.now();
  let anchorWall: number | undefined;
  // Registry time stands still until anchored, then runs timeScale times faster than the wall.
  const clock = new ScaledClock(options.timeScale, () =>
    anchorWall === undefined ? created : created + (Date.now() - anchorWall),
  );
  const sim = new LiveSim(options.seed, options.timeScale, { anchored: true });
  // Time on the wire, as the native engines have it (engine/timing.ts).
  const network = networkModel(scenario);
  try {
    let registry: Registry | undefined;
    let registryUrl: string;
    if (options.target) registryUrl = options.target.replace(/\/+$/, "");
    else {
      registry = scenarioRegistry(scenario, clock, options.seed);
      for (const name of plan.accounts)
        registry.addAccount({ name, password: plan.auth.password, plan: plan.accountPlan });
      await primeCatalog(scenario, design, plan, registry.catalog);
      const served = await serveRegistry(registry, {
        host,
        port: options.registryPort ?? 0,
        handler: shaped(registry, registryLinks(network, MIRROR_EGRESS), options.timeScale),
      });
      closers.push(() => served.close());
      registryUrl = served.url;
    }
    let mirrorUrl: string | undefined;
    const mirror = design.mirror?.enabled ? design.mirror : undefined;
    if (mirror) {
      const mirrorAccount: Account | undefined = mirror.upstreamAuth
        ? { name: "mirror-bot", password: plan.auth.password, plan: design.plan }
        : undefined;
      if (mirrorAccount) registry?.addAccount(mirrorAccount);
      const model = mirrorModelFor(mirror, {
        design: design.name,
        transport: new HttpTransport(
          { registry: registryUrl },
          options.maxRps ? { maxRps: options.maxRps } : {},
        ),
        sim,
        account: mirrorAccount,
        timed: scenario.network.enabled,
        ...(options.emit ? { emit: options.emit } : {}),
      });
      const served = await serveMirror(
        shaped(model, () => network.mirror, options.timeScale),
        {
          host,
          port: options.mirrorPort ?? 0,
        },
      );
      closers.push(() => served.close());
      mirrorUrl = served.url;
    }
    return {
      design: design.name,
      hosts: { registry: registryUrl, ...(mirrorUrl ? { mirror: mirrorUrl } : {}) },
      ...(registry ? { registry } : {}),
      anchor() {
        if (anchorWall === undefined) {
          anchorWall = Date.now();
          sim.anchor();
        }
        return anchorWall;
      },
      get t0() {
        return anchorWall;
      },
      async close() {
        sim.stop();
        for (const close of closers.reverse()) await close();
      },
    };
  } catch (error) {
    for (const close of closers.reverse()) await close();
    throw error;
  }
}

export interface SyncServer {
  /** `${url}/start/<design>`: POST starts the design's clocks and answers t=0 (epoch ms). */
  url: string;
  urlFor(design: string): string;
  close(): Promise<void>;
}

/**
 * The endpoint the scripts' setup() calls to start the clocks: the first call
 * for a design anchors it, later ones (other k6 instances of a distributed
 * run) get the same t=0.
 */
export async function startSyncServer(
  endpoints: DesignEndpoints[],
  listen: { host?: string; port?: number } = {},
): Promise<SyncServer> {
  const byName = new Map(endpoints.map((e) => [e.design, e]));
  const server: Server = createServer((req, res) => {
    const m = /^\/start\/([a-z0-9-]+)$/.exec(req.url ?? "");
    const target = m ? byName.get(m[1] as string) : undefined;
    if (req.method !== "POST" || !target) {
      res.writeHead(404, { "content-type": "text/plain" }).end("POST /start/<design>\n");
      return;
    }
    res.writeHead(200, { "content-type": "text/plain" }).end(String(target.anchor()));
  });
  const host = listen.host ?? "127.0.0.1";
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(listen.port ?? 0, host, () => resolve());
  });
  const address = server.address();
  const port = typeof address === "object" && address ? address.port : 0;
  const url = `http://${host}:${port}`;
  return {
    url,
    urlFor: (design) => `${url}/start/${design}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
