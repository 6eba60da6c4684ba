import { mulberry32 } from "../../vocabulary/random.ts";
import type { Sim } from "../engine/sim.ts";

/**
 * The simulator's clock in a k6 VU: simulated ms are the wall ms since the
 * scenario's t=0 (setup()'s, shared with the registry through the sync
 * endpoint) times the plan's time scale; sleeps are timers shortened by it and
 * end at the scenario's end, where every sleeper wakes (as LiveSim's stop()).
 * Nothing here is k6's: the timer function and the wall clock come in, so Node
 * can run it too.
 */
export class ScaledWallSim implements Sim {
  readonly random: () => number;
  private readonly t0: number;
  private readonly scale: number;
  private readonly endMs: number;
  private readonly setTimer: (fn: () => void, ms: number) => unknown;
  private readonly wallNow: () => number;

  constructor(options: {
    /** Wall ms (epoch) of simulated t=0. */
    t0: number;
    /** Simulated ms per wall ms. */
    scale: number;
    endMs: number;
    seed: number;
    setTimeout: (fn: () => void, ms: number) => unknown;
    wallNow?: () => number;
  }) {
    this.t0 = options.t0;
    this.scale = options.scale;
    this.endMs = options.endMs;
    this.random = mulberry32(options.seed);
    this.setTimer = options.setTimeout;
    this.wallNow = options.wallNow ?? Date.now;
  }

  get stopped(): boolean {
    return this.now() >= this.endMs;
  }

  now(): number {
    return Math.max(0, (this.wallNow() - this.t0) * this.scale);
  }

  sleep(ms: number): Promise<void> {
    const wallMs = Math.max(0, Math.min(ms, this.endMs - this.now())) / this.scale;
    return new Promise((resolve) => {
      this.setTimer(resolve, wallMs);
    });
  }

  track<T>(work: Promise<T>): Promise<T> {
    return work;
  }

  trackCall<T>(fn: () => Promise<T>): Promise<T> {
    return fn();
  }

  wait<T>(work: Promise<T>): Promise<T> {
    return work;
  }
}
