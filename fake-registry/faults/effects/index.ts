/**
 * Fault transport effects, one module each with its live executor (on the
 * Node socket) and its virtual executor (in simulated time) side by side. The
 * HTTP adapter and the simulator's in-process transport only dispatch here, in
 * the one order both follow: delay, then reset or hang, then the body paced.
 */
import type { Readable } from "node:stream";
import type { TransportEffects } from "../../core/types.ts";
import { bandwidth } from "./bandwidth.ts";
import { delay } from "./delay.ts";
import { hang } from "./hang.ts";
import { reset } from "./reset.ts";
import type {
  BodyEffect,
  GateEffect,
  LiveExchange,
  NetworkFailure,
  VirtualExchange,
} from "./types.ts";

export { HANG_LIMIT_MS } from "./hang.ts";

/** Before any byte of the answer, in order: a reset or hang comes after the delay. */
export const GATE_EFFECTS: readonly GateEffect[] = [delay, reset, hang];
export const BODY_EFFECTS: readonly BodyEffect[] = [bandwidth];

/** Live: runs the gates; true when the answer should be sent, false when a gate ended the request. */
export async function openLive(
  effects: TransportEffects,
  exchange: LiveExchange,
): Promise<boolean> {
  for (const gate of GATE_EFFECTS) if (!(await gate.live(effects, exchange))) return false;
  return true;
}

/** Live: the body as the effects want it sent (a paced stream), or undefined to send it as it is. */
export function liveBody(effects: TransportEffects, body: Buffer): Readable | undefined {
  for (const effect of BODY_EFFECTS) {
    const stream = effect.live(effects, body);
    if (stream) return stream;
  }
  return undefined;
}

/** Virtual: runs the gates; what the client saw instead of an answer, or undefined to answer. */
export async function openVirtual(
  effects: TransportEffects,
  exchange: VirtualExchange,
): Promise<NetworkFailure | undefined> {
  for (const gate of GATE_EFFECTS) {
    const failure = await gate.virtual(effects, exchange);
    if (failure) return failure;
  }
  return undefined;
}

/** Virtual: how long (ms) a body of `size` bytes takes under the effects, or undefined when none applies. */
export function virtualTransferMs(effects: TransportEffects, size: number): number | undefined {
  for (const effect of BODY_EFFECTS) {
    const ms = effect.virtual(effects, size);
    if (ms !== undefined) return ms;
  }
  return undefined;
}
