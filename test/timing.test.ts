// The model of time (simulator/engine/timing.ts, network.ts): links, transfer time, start jitter,
// and the scheduler's accounting of coalesced waits (VirtualSim.wait).
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { createRegistry } from "../fake-registry/index.ts";
import { runScenario } from "../harness/run.ts";
import { shaped } from "../simulator/engine/network.ts";
import { VirtualSim } from "../simulator/engine/sim.ts";
import {
  INSTANT,
  type Link,
  linkEffects,
  NETWORK_DEFAULTS,
  networkModel,
  requestMs,
} from "../simulator/engine/timing.ts";
import { InProcessTransport, isNetworkError } from "../simulator/engine/transport.ts";
import { parseScenario } from "../simulator/scenario/load.ts";
import { parseBandwidth } from "../vocabulary/config/units.ts";
import type { SimEvent } from "../vocabulary/events.ts";
import { nextTurn, pendingTurns } from "../vocabulary/turns.ts";

const MINI = readFileSync(join(import.meta.dirname, "fixtures", "mini-churn.yaml"), "utf8");

function mini(extra = "", designs?: string): ReturnType<typeof parseScenario> {
  let text = MINI.replace("designs:\n", `${extra}designs:\n`);
  if (designs) text = text.replace(/designs:\n[\s\S]*$/, `designs:\n${designs}`);
  return parseScenario(text, "mini.yaml");
}

describe("link arithmetic", () => {
  it("reads bandwidths as NICs are sold (bits) and as bytes", () => {
    expect(parseBandwidth("10Gbit/s")).toBe(1.25e9);
    expect(parseBandwidth("5Gbps")).toBe(625e6);
    expect(parseBandwidth("100Mbit/s")).toBe(12.5e6);
    expect(parseBandwidth("200MB/s")).toBe(200e6);
    expect(parseBandwidth("1MiB/s")).toBe(1024 * 1024);
    expect(parseBandwidth(1000)).toBe(1000);
    expect(parseBandwidth("fast")).toHaveProperty("error");
    expect(parseBandwidth(0)).toHaveProperty("error");
  });

  it("a request takes round trip + service + body / rate; live divides the wait and multiplies the rate by the scale", () => {
    const link: Link = { rttMs: 50, serviceMs: 10, bytesPerSecond: 1_000_000 };
    expect(requestMs(link, 0)).toBe(60);
    expect(requestMs(link, 250_000)).toBe(310);
    expect(linkEffects(link)).toEqual({ delayMs: 60, bytesPerSecond: 1_000_000 });
    expect(linkEffects(link, 120)).toEqual({ delayMs: 0.5, bytesPerSecond: 120_000_000 });
    expect(linkEffects(INSTANT.upstream)).toBeUndefined();
  });

  it("defaults: the origin 50 ms away at 5 Gbit/s per flow, the mirror 1 ms; the client's NIC caps a link", () => {
    const n = networkModel(mini());
    expect(n.upstream).toEqual(NETWORK_DEFAULTS.upstream);
    expect(n.mirror).toEqual(NETWORK_DEFAULTS.mirror);
    expect(n.starts.podJitterMs).toBe(1000);
    const slow = networkModel(
      mini("network:\n  node: { bandwidth: 100Mbit/s }\n  upstream: { rtt: 120ms }\n"),
    );
    expect(slow.upstream).toEqual({ rttMs: 120, serviceMs: 10, bytesPerSecond: 12.5e6 });
    // the mirror's own fetches are not capped by the nodes' NICs
    expect(slow.mirrorUpstream.bytesPerSecond).toBe(NETWORK_DEFAULTS.upstream.bytesPerSecond);
    expect(networkModel(mini("network: { enabled: false }\n"))).toEqual(INSTANT);
  });

  it("live, a fault's effects are scaled like the link's (simulated time on a wall-time socket)", async () => {
    const fault = { delayMs: 2000, hangMs: 6000, bytesPerSecond: 1000, hang: true };
    const server = {
      handle: async () => ({ response: { status: 200, headers: {}, effects: fault } }),
    };
    const link: Link = { rttMs: 60, serviceMs: 0, bytesPerSecond: 0 };
    const live = await shaped(server, () => link, 120).handle(
      { method: "GET", path: "/v2/", query: new URLSearchParams(), headers: {} },
      { ip: "127.0.0.2" },
    );
    expect(live.response.effects).toEqual({
      delayMs: 2000 / 120 + 0.5,
      hangMs: 50,
      bytesPerSecond: 120_000,
      hang: true,
    });
    // no link, still scaled; at x1 (virtual) untouched
    const bare = await shaped(server, () => INSTANT.upstream, 120).handle(
      { method: "GET", path: "/v2/", query: new URLSearchParams(), headers: {} },
      { ip: "127.0.0.2" },
    );
    expect(bare.response.effects?.delayMs).toBeCloseTo(2000 / 120, 6);
    const virtual = await shaped(server, () => INSTANT.upstream).handle(
      { method: "GET", path: "/v2/", query: new URLSearchParams(), headers: {} },
      { ip: "127.0.0.2" },
    );
    expect(virtual.response.effects).toEqual(fault);
  });

  it("names a bad network value and where it is", () => {
    expect(() => mini("network:\n  upstream: { bandwidth: lots }\n")).toThrow(
      /network\.upstream\.bandwidth.*not a bandwidth/s,
    );
  });
});

describe("time on the wire, virtual", () => {
  it("a blob GET takes round trip, service and transfer in simulated time, as the link says", async () => {
    const registry = createRegistry({ auth: false });
    const sim = new VirtualSim(1, 3_600_000);
    const link: Link = { rttMs: 40, serviceMs: 5, bytesPerSecond: 100_000 };
    const transport = new InProcessTransport({ registry: shaped(registry, () => link) }, sim);
    const times: Record<string, number> = {};
    let size = 0;
    const work = sim.trackCall(async () => {
      const index = await transport.send(
        {
          host: "registry",
          method: "GET",
          path: "/v2/library/alpine/manifests/3.20",
          headers: { accept: "application/vnd.docker.distribution.manifest.v2+json" },
        },
        "127.1.0.2",
      );
      times.manifest = sim.now();
      if (isNetworkError(index)) throw new Error(index.message);
      expect(index.status).toBe(200);
      times.manifestBytes = index.body.length;
      const manifest = JSON.parse(index.body.toString("utf8")) as {
        layers: Array<{ digest: string; size: number }>;
      };
      const layer = manifest.layers[0] as { digest: string; size: number };
      const start = sim.now();
      const blob = await transport.send(
        {
          host: "registry",
          method: "GET",
          path: `/v2/library/alpine/blobs/${layer.digest}`,
          headers: {},
        },
        "127.1.0.2",
      );
      if (isNetworkError(blob)) throw new Error(blob.message);
      // the size the manifest declares is the size served
      expect(blob.body.length).toBe(layer.size);
      size = layer.size;
      times.blob = sim.now() - start;
    });
    await sim.run();
    await work;
    expect(times.manifest).toBeCloseTo(45 + ((times.manifestBytes ?? 0) / 100_000) * 1000, 6);
    expect(times.blob).toBeCloseTo(45 + (size / 100_000) * 1000, 6);
  });
});

describe("the virtual scheduler", () => {
  it("moves time on only when no request still owes a turn of the event loop, however many it takes", async () => {
    // One request forks: one branch sleeps (so the request counts as asleep),
    // the other waits three turns (a token signed, then checked) before it reads the clock.
    const sim = new VirtualSim(1, 10_000);
    let seen: number | undefined;
    const work = sim.trackCall(async () => {
      await Promise.all([
        sim.sleep(100),
        (async () => {
          for (let i = 0; i < 3; i++) await nextTurn();
          seen = sim.now();
        })(),
      ]);
    });
    // An actor whose timer (at 50 ms) is the next thing due.
    const actor = (async () => {
      await sim.sleep(50);
    })();
    await sim.run();
    await Promise.all([work, actor]);
    expect(seen).toBe(0);
    expect(pendingTurns()).toBe(0);
  });

  it("runs timers without a turn of the event loop each, yet never starves it: 10,000 sleeps take 1-400 turns, not 20,000", async () => {
    const sim = new VirtualSim(1, 1e9);
    let turns = 0;
    let turnsWhileRunning = 0;
    const actor = sim.trackCall(async () => {
      for (let i = 0; i < 10_000; i++) await sim.sleep(1);
    });
    // Counts the turns the run takes; one taken before the last timer shows that a signal
    // (SIGINT) or a worker's message is heard during a long run.
    const counter = (async () => {
      while (!sim.stopped) {
        await new Promise<void>((r) => setImmediate(r));
        turns++;
        if (sim.now() < 10_000) turnsWhileRunning++;
      }
    })();
    await sim.run();
    await Promise.all([actor, counter]);
    expect(sim.now()).toBe(10_000);
    expect(turns).toBeLessThan(400);
    expect(turnsWhileRunning).toBeGreaterThan(1);
  });
});

/** The first manifest request each node's pods sent, simulated seconds. */
function firstAsks(events: SimEvent[]): number[] {
  const seen = new Map<string, number>();
  for (const e of events)
    if (
      e.type === "request" &&
      e.kind === "manifest" &&
      e.actor.startsWith("node-") &&
      !seen.has(e.actor)
    )
      seen.set(e.actor, e.t);
  return [...seen.values()];
}

const MIRRORED = (flavour: string) =>
  `  - name: mirror\n    mirror: { enabled: true, flavour: ${flavour}, upstreamAuth: true }\n    rollout: { maxSurge: 10 }\n`;

describe("starts and requests in virtual time", () => {
  it("pods start within the seeded jitter: the same seed gives the same events byte for byte, another seed other times", async () => {
    const scenario = mini("", MIRRORED("distribution-2.8"));
    const run = async (seed: number) =>
      (await runScenario(scenario, { mode: "virtual", seed })).events
        .map((e) => JSON.stringify(e))
        .join("\n");
    const a = await run(7);
    expect(await run(7)).toBe(a);
    expect(await run(8)).not.toBe(a);
    // the ten nodes of the one wave ask at ten different instants, within 1 s of the wave
    const asks = firstAsks(a.split("\n").map((l) => JSON.parse(l) as SimEvent));
    expect(asks).toHaveLength(10);
    expect(new Set(asks).size).toBe(10);
    expect(Math.max(...asks) - Math.min(...asks)).toBeLessThan(1.1);
    // without the network section's timing they are one tie
    const tied = await runScenario(
      mini("network: { enabled: false }\n", MIRRORED("distribution-2.8")),
      {
        mode: "virtual",
      },
    );
    expect(new Set(firstAsks(tied.events)).size).toBe(1);
  });

  it("a Harbor mirror with the link model on finishes, sharing its upstream fetches (singleflight) in simulated time", async () => {
    const scenario = mini(
      "network: { starts: { podJitter: 0s } }\n",
      MIRRORED("harbor") + MIRRORED("distribution-2.8").replace("name: mirror", "name: dist"),
    );
    const { report, events } = await runScenario(scenario, { mode: "virtual" });
    const harbor = report.designs.find((d) => d.name === "mirror");
    const dist = report.designs.find((d) => d.name === "dist");
    expect(harbor?.verdict).toBe("holds");
    expect(dist?.verdict).toBe("holds");
    expect(harbor?.podStartSeconds?.count).toBe(20);
    // ten nodes asking at once: Harbor sends one upstream GET per blob, distribution one or two per node
    const blobGets = (design: string) =>
      events.filter(
        (e) =>
          e.type === "request" &&
          e.design === design &&
          e.actor === "mirror" &&
          e.kind === "blob" &&
          e.method === "GET",
      ).length;
    expect(blobGets("mirror")).toBeLessThan(blobGets("dist"));
    // the pods waited for the shared fetch: at least two round trips to the origin (60 ms each)
    expect(harbor?.podStartSeconds?.p50).toBeGreaterThan(0.12);
  }, 30_000);

  it("concurrency at the mirror comes from time: later misses find the cache warm", async () => {
    // Ten nodes 0.5 s apart against an origin 50 ms away find the manifests cached; ten at once do not.
    const gets = async (scenario: ReturnType<typeof mini>) => {
      const { events } = await runScenario(scenario, { mode: "virtual" });
      return events.filter(
        (e) =>
          e.type === "request" &&
          e.actor === "mirror" &&
          e.kind === "manifest" &&
          e.method === "GET",
      ).length;
    };
    const spreadGets = await gets(
      parseScenario(
        MINI.replace("over: 5m }", "over: 5s }").replace(
          /designs:\n[\s\S]*$/,
          `network: { starts: { podJitter: 0s } }\ndesigns:\n${MIRRORED("distribution-2.8").replace("maxSurge: 10", "maxSurge: 1")}`,
        ),
        "spread.yaml",
      ),
    );
    const burst = await gets(
      mini("network: { starts: { podJitter: 0s } }\n", MIRRORED("distribution-2.8")),
    );
    expect(spreadGets).toBeLessThan(burst);
  }, 30_000);
});
