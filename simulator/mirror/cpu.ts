import type { Sim } from "../engine/sim.ts";

/** A mirror server's processors: how many, and the processor time one client request needs. */
export interface MirrorCapacity {
  cores: number;
  /** Processor time per client request, everything the mirror does for it included (simulated ms; 0: unlimited). */
  cpuPerRequestMs: number;
}

/** A server that takes every request the instant it arrives (`network: { enabled: false }`, tests of behaviour). */
export const UNLIMITED: MirrorCapacity = { cores: 1, cpuPerRequestMs: 0 };

/**
 * A server's processors in simulated time. Every client request needs
 * `cpuPerRequestMs` of one of `cores` processors before the mirror acts on it
 * (looks in its cache, goes upstream), first come first served. When requests
 * arrive faster than the cores take them they queue, so what they find (a warm
 * cache or a miss already upstream) is what is there when a core gets to them,
 * as on the real server (docs/mirror-model.md, "Capacity").
 */
export class Processors {
  private readonly freeAt: number[];
  private readonly sim: Sim;
  private readonly cpuMs: number;

  constructor(sim: Sim, capacity: MirrorCapacity) {
    if (!Number.isInteger(capacity.cores) || capacity.cores < 1)
      throw new Error(`a mirror needs a whole number of cores, at least 1 (got ${capacity.cores})`);
    if (!(capacity.cpuPerRequestMs >= 0))
      throw new Error(`cpu per request must be 0 or more ms (got ${capacity.cpuPerRequestMs})`);
    this.sim = sim;
    this.cpuMs = capacity.cpuPerRequestMs;
    this.freeAt = Array.from({ length: capacity.cores }, () => 0);
  }

  /** Waits for a core (the one free first; the lowest-numbered on a tie) and uses it for one request. */
  async use(): Promise<void> {
    if (this.cpuMs === 0) return;
    const now = this.sim.now();
    let core = 0;
    for (let i = 1; i < this.freeAt.length; i++)
      if ((this.freeAt[i] as number) < (this.freeAt[core] as number)) core = i;
    const done = Math.max(now, this.freeAt[core] as number) + this.cpuMs;
    this.freeAt[core] = done;
    await this.sim.sleep(done - now);
  }
}
