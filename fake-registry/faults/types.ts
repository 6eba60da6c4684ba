import type { z } from "zod";
import type { EndpointKind, Identity, RegistryResponse, TransportEffects } from "../core/types.ts";

export type { TransportEffects } from "../core/types.ts";

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

/**
 * One fault, built from a validated spec: a tiny type behind one interface, as
 * toxiproxy's toxics are. The fault set has already checked scope, schedule and
 * probability when `apply` is called.
 */
export interface Fault {
  /** True when the fault answers instead of the registry (error-burst, outage). */
  readonly answers: boolean;
  /** The outcome for one request; undefined: nothing to do this time. */
  apply(ctx: FaultContext, random: () => number): FaultOutcome | undefined;
  /** True once the fault has nothing left to inject (an error burst that has sent its count). */
  spent?(): boolean;
}

/** One kind of fault: its name, its own parameters (a zod object) and how to build it. */
export interface FaultType<P extends z.ZodObject = z.ZodObject> {
  readonly type: string;
  /** One line for docs and error messages. */
  readonly summary: string;
  /** Parameters besides the common id, type, probability, scope and schedule. */
  readonly params: P;
  create(params: z.output<P>): Fault;
}

/** Identity for type inference in fault modules: `export const latency = defineFault({...})`. */
export function defineFault<P extends z.ZodObject>(type: FaultType<P>): FaultType<P> {
  return type;
}

/** Which requests a fault applies to; an absent field matches everything. */
export interface FaultScope {
  kinds?: EndpointKind[];
  /** Repository names; `*` matches any run of characters (`library/*`). */
  repositories?: string[];
  /** Identity keys (account name or client IP); an IP also matches accounts calling from it. */
  identities?: string[];
}

/** A normalized fault spec without its id: defaults filled in, schedule written as "90s"/"10m". */
export interface FaultSpecFields {
  type: string;
  probability: number;
  scope?: FaultScope;
  /** Registry time since start-up: active from `start` for `duration` (absent: for good). */
  schedule?: { start: string; duration?: string };
  /** The type's own parameters (ms, jitterMs, bytesPerSecond, status, count, ...). */
  [param: string]: unknown;
}

/** A fault spec as stored and listed. */
export interface FaultSpec extends FaultSpecFields {
  id: string;
}

/** A listed fault: its spec plus whether it is active now and what it has done. */
export type FaultView = FaultSpec & {
  /** In its schedule window now (and, for a burst, not yet spent). */
  active: boolean;
  /** Requests in scope while the schedule was open. */
  matched: number;
  /** Requests the fault acted on (past the probability draw). */
  injected: number;
};
