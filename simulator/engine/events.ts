import type { EndpointKind } from "../../fake-registry/core/types.ts";

/** Every request a client model makes, as one line of events.jsonl. */
export interface RequestEvent {
  type: "request";
  /** Simulated seconds since the scenario started. */
  t: number;
  design: string;
  actor: string;
  identity: string;
  egressIp: string;
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

export type SimEvent = RequestEvent | PullEvent | StartEvent | MirrorEvent;

export type EventSink = (event: SimEvent) => void;
