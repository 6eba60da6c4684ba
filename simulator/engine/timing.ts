import type { TransportEffects } from "../../fake-registry/core/types.ts";

/**
 * The model of time a request and a start take, one implementation for every
 * engine (docs/simulator.md, "Time on the wire").
 *
 * A request to a host takes the link's round trip plus the server's service
 * time before the first byte of the answer, then its body at the link's rate:
 * the lower of the client's NIC and the server's per-connection rate. The
 * server acts on the request (counts a pull, fills a mirror's cache) when it
 * arrives; the time is spent on the answer's way back. Both are transport
 * effects on the answer (`linkEffects`), carried out by the fault effects'
 * executors (fake-registry/faults/effects/): virtually in simulated time by the
 * in-process transport, live on the real socket by the HTTP server (the delay
 * and the paced body, divided and multiplied by the time scale). Bandwidth is
 * per transfer: concurrent transfers do not share a link (no NIC or mirror
 * aggregate is modelled).
 */
export interface Link {
  /** Round trip between client and server, simulated ms. */
  rttMs: number;
  /** The server's time to answer (before the first byte), simulated ms. */
  serviceMs: number;
  /** Body bytes per simulated second (0: no limit). */
  bytesPerSecond: number;
}

/** How long pods wait between being created and asking for their image. */
export interface StartTiming {
  /** Each pod starts pulling uniformly within this long after it was created (simulated ms). */
  podJitterMs: number;
  /** Each new node's pods are created uniformly within this long after the node was (simulated ms). */
  nodeJitterMs: number;
}

export interface NetworkModel {
  /** Clients (nodes, CI runners, desktops) to the origin registry. */
  upstream: Link;
  /** Clients to the pull-through mirror. */
  mirror: Link;
  /** The mirror to the origin registry. */
  mirrorUpstream: Link;
  starts: StartTiming;
}

const GBIT = 1000 ** 3 / 8;

/**
 * Defaults, from real figures (sources in docs/simulator.md):
 * - rates: AWS EC2 limits one flow (a 5-tuple) to 5 Gbit/s outside a cluster
 *   placement group; a typical worker (m5.large) has "up to 10 Gbit/s" of NIC.
 * - upstream round trip 50 ms: a fleet in another cloud region than Docker Hub's
 *   registry (us-east-1 to us-west-2 measured about 55 ms).
 * - mirror round trip 1 ms: inside one region (AWS: single-digit ms between
 *   availability zones, under 1 ms inside one).
 * - pod start: kubelet's generic PLEG relists every 1 s; the Kubernetes pod
 *   startup SLO (without the image pull) is 5 s at p99.
 * Service times are assumptions (no published figure): 10 ms at the origin,
 * 1 ms at the mirror.
 */
export const NETWORK_DEFAULTS = {
  nodeBandwidth: 10 * GBIT,
  upstream: { rttMs: 50, serviceMs: 10, bytesPerSecond: 5 * GBIT },
  mirror: { rttMs: 1, serviceMs: 1, bytesPerSecond: 5 * GBIT },
  starts: { podJitterMs: 1000, nodeJitterMs: 0 },
} as const;

/** No time on the wire, no start jitter: requests are instantaneous (`network: { enabled: false }`). */
export const INSTANT: NetworkModel = {
  upstream: { rttMs: 0, serviceMs: 0, bytesPerSecond: 0 },
  mirror: { rttMs: 0, serviceMs: 0, bytesPerSecond: 0 },
  mirrorUpstream: { rttMs: 0, serviceMs: 0, bytesPerSecond: 0 },
  starts: { podJitterMs: 0, nodeJitterMs: 0 },
};

/** A scenario's `network:` section, parsed (ms, bytes per second). */
export interface NetworkSpec {
  enabled: boolean;
  node: { bandwidth: number };
  upstream: LinkSpec;
  mirror: LinkSpec;
  starts: { podJitter: number; nodeJitter: number };
}

interface LinkSpec {
  rtt: number;
  serviceTime: number;
  bandwidth: number;
}

/** The scenario's network (its `network:` section over the defaults). */
export function networkModel(scenario: { network: NetworkSpec }): NetworkModel {
  const n = scenario.network;
  if (!n.enabled) return INSTANT;
  const node = n.node.bandwidth;
  const link = (spec: LinkSpec, client: number): Link => ({
    rttMs: spec.rtt,
    serviceMs: spec.serviceTime,
    bytesPerSecond: Math.min(spec.bandwidth, client),
  });
  const upstream = link(n.upstream, node);
  return {
    upstream,
    mirror: link(n.mirror, node),
    // The mirror's own NIC is a server's: its upstream fetches run at the origin's rate.
    mirrorUpstream: link(n.upstream, n.mirror.bandwidth),
    starts: { podJitterMs: n.starts.podJitter, nodeJitterMs: n.starts.nodeJitter },
  };
}

/**
 * What a link adds to an answer: the wait before it (round trip and service)
 * and the body's rate. `scale` turns simulated time into wall time for live
 * runs (a simulated ms is 1/scale wall ms; a simulated byte-per-second is
 * scale wall bytes per second).
 */
export function linkEffects(link: Link, scale = 1): TransportEffects | undefined {
  const delay = link.rttMs + link.serviceMs;
  const effects: TransportEffects = {};
  if (delay > 0) effects.delayMs = delay / scale;
  if (link.bytesPerSecond > 0) effects.bytesPerSecond = link.bytesPerSecond * scale;
  return effects.delayMs === undefined && effects.bytesPerSecond === undefined
    ? undefined
    : effects;
}

/** How long (simulated ms) a request with a body of `bytes` takes on a link: the arithmetic `linkEffects` makes the executors carry out. */
export function requestMs(link: Link, bytes: number): number {
  const transfer = link.bytesPerSecond > 0 ? (bytes / link.bytesPerSecond) * 1000 : 0;
  return link.rttMs + link.serviceMs + transfer;
}

/** Uniform in [0, maxMs), from the run's seeded random: a start's jitter. */
export function jitter(random: () => number, maxMs: number): number {
  return maxMs > 0 ? random() * maxMs : 0;
}
