import type { Sim } from "../engine/sim.ts";
import type { BlobStore, ManifestStore } from "./cache.ts";
import type { FlavourProfile } from "./flavours.ts";

/**
 * What one mirror's request handlers (./manifests.ts, ./blobs.ts, ./tags.ts)
 * share: the flavour, the clock, the caches and the requests in flight.
 * ./model.ts owns it.
 */
export interface MirrorState {
  readonly profile: FlavourProfile;
  readonly sim: Sim;
  readonly blobs: BlobStore;
  readonly manifests: ManifestStore;
  /** Slow storage: added to every read from the cache (simulated ms). */
  readonly storageLatencyMs: number;
  /** distribution's process-wide `inflight` map: digests being copied to storage. */
  readonly storing: Set<string>;
  /** Harbor's singleflight groups. */
  readonly flights: Map<string, Promise<unknown>>;
}

/** One read from the cache's storage. */
export async function readStorage(state: MirrorState): Promise<void> {
  if (state.storageLatencyMs > 0) await state.sim.sleep(state.storageLatencyMs);
}

/** Harbor shares one upstream request among concurrent identical ones; distribution does not. */
export function once<T>(state: MirrorState, key: string, work: () => Promise<T>): Promise<T> {
  if (!state.profile.dedupe) return work();
  const running = state.flights.get(key);
  if (running) return state.sim.wait(running as Promise<T>);
  const flight = work().finally(() => state.flights.delete(key));
  state.flights.set(key, flight);
  return flight;
}
