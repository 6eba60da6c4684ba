import type { Sim } from "../engine/sim.ts";
import type { Design } from "../scenario/schema.ts";

/**
 * Runs `act` over items in waves: with the design's pacing (waveInterval > 0),
 * maxSurge items per wave; otherwise waves of maxSurge spread evenly over the
 * step's `over` (one item at a time when maxSurge is unset).
 */
export async function waves<T>(
  sim: Sim,
  rollout: Design["rollout"],
  items: T[],
  over: number,
  act: (item: T) => Promise<void> | void,
): Promise<void> {
  const paced = rollout.waveInterval > 0;
  const unset = rollout.maxSurge >= 1_000_000;
  const perWave = unset && !paced && over > 0 ? 1 : rollout.maxSurge;
  const surge = Math.max(1, Math.min(perWave, items.length));
  const count = Math.ceil(items.length / surge);
  const interval = paced ? rollout.waveInterval : count > 0 ? over / count : 0;
  for (let i = 0; i < items.length && !sim.stopped; i += surge) {
    if (i > 0) await sim.sleep(interval);
    for (const item of items.slice(i, i + surge)) await act(item);
  }
}

/** Runs `act` n times, evenly spread over `over` ms (all at once when over is 0). */
export async function spread(
  sim: Sim,
  n: number,
  over: number,
  act: (i: number) => Promise<void> | void,
): Promise<void> {
  for (let i = 0; i < n && !sim.stopped; i++) {
    if (i > 0 && over > 0) await sim.sleep(over / n);
    await act(i);
  }
}
