import type { ServerResponse } from "node:http";
import type { Socket } from "node:net";
import type { Readable } from "node:stream";
import type { TransportEffects } from "../../core/types.ts";

/** What a client sees instead of an answer: the connection reset (or closed), or its own timeout. */
export interface NetworkFailure {
  error: "reset" | "timeout";
  message: string;
}

/** One request on a real connection, as a live executor may act on it. */
export interface LiveExchange {
  readonly res: ServerResponse;
  readonly socket: Socket;
  /** Takes the reply away from the HTTP framework: nothing else writes to the socket after this. */
  takeOver(): void;
  /** Logs a request left unanswered (no response hook fires for it). */
  unanswered(outcome: "reset" | "hang" | "client gone"): void;
}

/** One in-process request in simulated time, as a virtual executor may act on it. */
export interface VirtualExchange {
  /**
   * Lets `ms` pass with nothing sent to the client. False when the client's
   * timeout (which counts from the request, across every silent wait) ran out
   * first: then exactly the rest of it has passed.
   */
  idle(ms: number): Promise<boolean>;
}

/**
 * An effect that decides whether and when the answer starts (delay, reset,
 * hang): the live and the virtual executor side by side, so they cannot drift.
 */
export interface GateEffect {
  readonly name: string;
  /** Live: true to go on answering; false when the request has been ended here. */
  live(effects: TransportEffects, exchange: LiveExchange): Promise<boolean>;
  /** Virtual: what the client saw instead of an answer, or undefined to go on. */
  virtual(
    effects: TransportEffects,
    exchange: VirtualExchange,
  ): Promise<NetworkFailure | undefined>;
}

/** An effect on how the body flows (bandwidth): live a stream, virtual a transfer time. */
export interface BodyEffect {
  readonly name: string;
  /** Live: the body as a stream to send instead of the bytes, or undefined to send them as they are. */
  live(effects: TransportEffects, body: Buffer): Readable | undefined;
  /** Virtual: how long (ms) the body of `size` bytes takes, or undefined when this effect is not in force. */
  virtual(effects: TransportEffects, size: number): number | undefined;
}
