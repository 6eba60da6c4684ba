import type { GateEffect } from "./types.ts";

/** However long a fault asks, a hung connection is closed after this (wall ms). */
export const HANG_LIMIT_MS = 60 * 60 * 1000;

/**
 * Never answer. The connection is held until the client gives up (its
 * timeout), or until `hangMs` (`closeAfter`) passes: then it is closed
 * unanswered, as a proxy's idle timeout would, and the client sees the
 * connection end (node: ECONNRESET "socket hang up"; Go: EOF). Live and
 * virtual alike: whichever comes first, the client's timeout or the close.
 */
export const hang: GateEffect = {
  name: "hang",
  async live(effects, exchange) {
    if (!effects.hang) return true;
    exchange.takeOver();
    const { socket } = exchange;
    // The server's forceCloseConnections destroys this socket on close(), so a hang never holds up shutdown.
    const timer = setTimeout(() => socket.destroy(), closeAfter(effects.hangMs));
    timer.unref();
    socket.once("close", () => {
      clearTimeout(timer);
      exchange.unanswered("hang");
    });
    return false;
  },
  async virtual(effects, exchange) {
    if (!effects.hang) return undefined;
    if (await exchange.idle(closeAfter(effects.hangMs))) {
      return { error: "reset", message: "socket hang up" };
    }
    return { error: "timeout", message: "no answer (hang)" };
  },
};

function closeAfter(hangMs: number | undefined): number {
  return Math.min(hangMs ?? HANG_LIMIT_MS, HANG_LIMIT_MS);
}
