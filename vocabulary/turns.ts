/**
 * Work that waits for the next turn of the event loop (a token signed here
 * answers there, as the thread-pool job it replaced did). Counted, so the
 * virtual scheduler (simulator/engine/sim.ts) moves simulated time on only
 * once no such turn is still owed: time never passes under a request that is
 * merely waiting for its turn, however many turns it takes.
 */
let pending = 0;

/** Resolves on the next turn of the event loop. */
export function nextTurn(): Promise<void> {
  pending++;
  return new Promise((resolve) =>
    setImmediate(() => {
      pending--;
      resolve();
    }),
  );
}

/** How many `nextTurn` waits have not yet resolved. */
export function pendingTurns(): number {
  return pending;
}
