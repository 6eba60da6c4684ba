import type { EndpointKind, Identity, RegistryResponse } from "../core/types.ts";

/**
 * What the transport must do beyond sending the response: the Fastify adapter
 * carries these out on the socket; the simulator's virtual mode models them.
 */
export interface TransportEffects {
  /** Wait this long (wall ms) before answering. */
  delayMs?: number;
  /** Send the body no faster than this (per connection). */
  bytesPerSecond?: number;
  /** Reset the connection instead of answering (after any delay). */
  reset?: boolean;
  /** Never answer: hold the connection until the client gives up (bounded by the server). */
  hang?: boolean;
}

/** The request as faults see it: already classified and identified. */
export interface FaultContext {
  kind: EndpointKind;
  method: string;
  repository?: string;
  identity: Identity;
  /** Registry time (ms since epoch). */
  now: number;
  /** Registry time since start-up (ms): schedules are measured on this. */
  elapsedMs: number;
}

/** A fault's verdict for one request: answer instead of the registry, and/or transport effects. */
export interface FaultOutcome {
  response?: RegistryResponse;
  effects?: TransportEffects;
}
