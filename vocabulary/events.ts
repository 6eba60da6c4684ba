/**
 * The event stream: what every engine emits and every report folds. One line of
 * events.jsonl per event. Imports nothing of the project's but the OCI vocabulary.
 */
import type { EndpointKind } from "./oci/endpoints.ts";

export type MirrorBackendKind = "process" | "container" | "external" | "model";

/** Which mirror served a design, as report.json records it. */
export interface MirrorDescription {
  backend: MirrorBackendKind;
  /** Where clients reach it. */
  url?: string;
  /** The program or image serving (docker-registry 2.8.2, registry:2, ...). */
  program?: string;
  version?: string;
  /** Why this backend and not the one asked for (e.g. the model when docker-registry is missing). */
  reason?: string;
  [key: string]: unknown;
}

/** The logical host of Docker Hub, the scenario's first origin registry, in requests and events. */
export const ORIGIN_HOST = "registry";

/** The logical host of an origin registry: "registry" for Docker Hub, "registry:ghcr.io" for another. */
export function originHost(registry?: string): string {
  return registry ? `${ORIGIN_HOST}:${registry}` : ORIGIN_HOST;
}

/** True for an origin registry's host (Docker Hub's or another's), false for a mirror. */
export function isOriginHost(host: string | undefined): boolean {
  return host === ORIGIN_HOST || (host?.startsWith(`${ORIGIN_HOST}:`) ?? false);
}

/** The origin registry a host is ("" for Docker Hub), undefined for a mirror. */
export function originOf(host: string | undefined): string | undefined {
  if (host === ORIGIN_HOST) return "";
  return isOriginHost(host) ? (host as string).slice(ORIGIN_HOST.length + 1) : undefined;
}

/** Every request a client model makes, as one line of events.jsonl. */
export interface RequestEvent {
  type: "request";
  /** Simulated seconds since the scenario started. */
  t: number;
  design: string;
  actor: string;
  identity: string;
  egressIp: string;
  /** Who answered: "mirror", the origin registry ("registry": Docker Hub), or another origin ("registry:ghcr.io"): originHost. */
  host: string;
  kind: EndpointKind;
  method: string;
  status: number;
  bytes: number;
  latencyMs: number;
  /** For failures below HTTP: reset, refused, timeout. */
  network?: string;
  /** The error code from an OCI body, or "HAP429"/"html" for other shapes. */
  code?: string;
  /** The registry's RateLimit headers on this answer, when it sent them. */
  rateLimit?: RateLimitSeen;
  /** The fake registry's `pullstorm-refusal` header: which layer refused (quota, token-quota, abuse, edge, ...). */
  refusal?: string;
  /** The fake registry's `pullstorm-pulls` header: pulls its pull limit charged this answer (absent: not counted). */
  pulls?: number;
}

export interface RateLimitSeen {
  limit: number;
  remaining: number;
  windowSeconds: number;
  /** docker-ratelimit-source: the IP, /64 or account the registry counted. */
  source?: string;
}

/** Reads `ratelimit-limit: 100;w=21600`, `ratelimit-remaining: 76;w=21600`, `docker-ratelimit-source`. */
export function rateLimitOf(headers: Record<string, string>): RateLimitSeen | undefined {
  const limit = /^(\d+);w=(\d+)/.exec(headers["ratelimit-limit"] ?? "");
  const remaining = /^(\d+)/.exec(headers["ratelimit-remaining"] ?? "");
  if (!limit || !remaining) return undefined;
  const source = headers["docker-ratelimit-source"];
  return {
    limit: Number(limit[1]),
    remaining: Number(remaining[1]),
    windowSeconds: Number(limit[2]),
    ...(source ? { source } : {}),
  };
}

/** Every pull attempt's outcome. */
export interface PullEvent {
  type: "pull";
  t: number;
  design: string;
  actor: string;
  identity: string;
  image: string;
  outcome: "ok" | "failed" | "cached";
  /** The host whose answer ended the pull (mirror or registry). */
  host?: string;
  /** Why it failed, in the layer's words: quota, auth, not-found, network, qps, fault... */
  reason?: string;
  status?: number;
  durationSeconds: number;
  requests: number;
}

/** A unit of work reaching its goal: a pod started, a CI job done, a desktop pull done. */
export interface StartEvent {
  type: "start";
  t: number;
  design: string;
  actor: string;
  what: "pod" | "job" | "desktop";
  id: string;
  ok: boolean;
  /** Pods: the reference the pod runs, as the node's store keys it (library/nginx:1.25, or pinned by digest). */
  image?: string;
  /** From creation (pod scheduled, job queued, user arrived) to started. */
  seconds: number;
}

/** What a mirror did with one client request (hit, miss, stale...). */
export interface MirrorEvent {
  type: "mirror";
  t: number;
  design: string;
  kind: EndpointKind;
  outcome: "hit" | "miss" | "revalidated" | "stale" | "error";
  upstreamStatus?: number;
}

/** How a design was set up, emitted once at its start: which mirror served, for the report. */
export interface SetupEvent {
  type: "setup";
  t: number;
  design: string;
  mirror?: MirrorDescription;
}

/** Distribution of one clock measurement, in simulated seconds (wall seconds x time scale). */
export interface ClockStats {
  count: number;
  p50: number;
  p99: number;
  max: number;
}

/**
 * How well a live run's scaled clock kept up with the machine, per design.
 * `scale`: the time scale and how it was chosen (given, or `auto` from a
 * calibration of this machine), emitted once at the start. `sample`: the
 * measurements of the last wall second. `end`: the whole run's.
 * `lag` is how late timers (sleeps, back-offs, waves) fired; `request` is the
 * duration of requests that should be near-instant on loopback (pings, token
 * requests, manifest HEAD/GET at the embedded registry, outside fault windows).
 */
export interface ClockEvent {
  type: "clock";
  t: number;
  design: string;
  phase: "scale" | "sample" | "end";
  timeScale: number;
  /** scale: "given" (--time-scale N) or "auto" (calibrated). */
  chosenBy?: "given" | "auto";
  /** scale: why this scale, in words. */
  reason?: string;
  /** scale, auto: what the calibration measured (wall milliseconds, p99). */
  calibration?: {
    seconds: number;
    lagP99WallMs: number;
    requestP99WallMs: number;
    requests: number;
    /** Wall ms this process spends per request (client and registry sides) when it is saturated. */
    msPerRequest?: number;
    /** The scenario's busiest simulated minute (all designs, from a virtual run), requests per simulated second. */
    peakRequestsPerSimSecond?: number;
  };
  lag?: ClockStats;
  request?: ClockStats;
}

/**
 * The run was stopped (SIGINT) before the scenario's end, at `t`: what a design
 * did up to here is its record; what follows (units left waiting, requests cut
 * off) is the engine stopping, not the design breaking.
 */
export interface InterruptEvent {
  type: "interrupt";
  t: number;
  design: string;
}

/** What a game-day facilitator did or noted during a live run (the dashboard's controls). */
export type MarkAction = "note" | "fault" | "fault-cleared" | "policy" | "pause" | "resume";

/**
 * A moment marked during a live run, at this design's simulated time: a
 * facilitator's note, or a control action taken from the live console
 * (dashboard/). Every design gets its own copy (each has its own clock); the
 * reports' timeline lists them.
 */
export interface MarkEvent {
  type: "mark";
  t: number;
  design: string;
  action: MarkAction;
  text: string;
}

export type SimEvent =
  | RequestEvent
  | PullEvent
  | StartEvent
  | MirrorEvent
  | SetupEvent
  | ClockEvent
  | InterruptEvent
  | MarkEvent;

export type EventSink = (event: SimEvent) => void;
