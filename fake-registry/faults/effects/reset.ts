import type { GateEffect } from "./types.ts";

/**
 * Reset the connection instead of answering (after any delay). Live: a TCP
 * RST, so the client reads ECONNRESET ("connection reset by peer"). Virtual:
 * the same network error, at once.
 */
export const reset: GateEffect = {
  name: "reset",
  async live(effects, exchange) {
    if (!effects.reset) return true;
    exchange.takeOver();
    if (!exchange.socket.destroyed) exchange.socket.resetAndDestroy();
    exchange.unanswered("reset");
    return false;
  },
  async virtual(effects) {
    if (!effects.reset) return undefined;
    return { error: "reset", message: "connection reset by peer" };
  },
};
