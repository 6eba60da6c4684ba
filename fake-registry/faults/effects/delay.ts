import type { ServerResponse } from "node:http";
import type { Socket } from "node:net";
import type { GateEffect } from "./types.ts";

/**
 * Answer late (latency faults, the policy's token latency). Live: wait,
 * letting the request go if the client leaves first. Virtual: the same wait in
 * simulated time; a wait as long as the client's timeout ends in it, as a
 * silent connection does.
 */
export const delay: GateEffect = {
  name: "delay",
  async live(effects, exchange) {
    if (!effects.delayMs || effects.delayMs <= 0) return true;
    if (await waitWhileConnected(exchange.res, exchange.socket, effects.delayMs)) return true;
    exchange.takeOver();
    exchange.unanswered("client gone");
    return false;
  },
  async virtual(effects, exchange) {
    if (!effects.delayMs || effects.delayMs <= 0) return undefined;
    if (await exchange.idle(effects.delayMs)) return undefined;
    return { error: "timeout", message: "no answer (timeout)" };
  },
};

/** Resolves true after `ms`, or false as soon as the connection closes (the client gave up). */
function waitWhileConnected(res: ServerResponse, socket: Socket, ms: number): Promise<boolean> {
  if (socket.destroyed) return Promise.resolve(false);
  return new Promise((resolve) => {
    const onClose = () => {
      clearTimeout(timer);
      resolve(false);
    };
    const timer = setTimeout(() => {
      res.removeListener("close", onClose);
      resolve(true);
    }, ms);
    res.once("close", onClose);
  });
}
