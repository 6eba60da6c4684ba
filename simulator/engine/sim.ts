import { AsyncLocalStorage } from "node:async_hooks";
import { mulberry32 } from "../../vocabulary/random.ts";
import { pendingTurns } from "../../vocabulary/turns.ts";

/**
 * Simulated time for actors. Actors are ordinary async code that `await
 * sim.sleep(ms)`: in virtual mode nothing sleeps (the scheduler jumps to the
 * next timer once every in-flight request has settled); in live mode sleeps are
 * real timers shortened by the time scale.
 */
export interface Sim {
  /** Milliseconds of simulated time since the scenario started. */
  now(): number;
  sleep(ms: number): Promise<void>;
  /** Deterministic random numbers in [0, 1) from the run's seed. */
  random(): number;
  /** Wraps a request so the virtual scheduler waits for it before moving time on. */
  track<T>(work: Promise<T>): Promise<T>;
  /** Like track, for work started here: sleeps inside it (slow storage, injected latency) let time move on. */
  trackCall<T>(fn: () => Promise<T>): Promise<T>;
  /**
   * Waits for work another request started (a Harbor singleflight, distribution's
   * ping lock). Virtual: the waiter counts as asleep until the work settles, so
   * the scheduler moves time on exactly when that work itself waits on a timer.
   */
  wait<T>(work: Promise<T>): Promise<T>;
  /** True once the scenario's end is reached: actors stop starting new work. */
  readonly stopped: boolean;
}

interface Timer {
  at: number;
  seq: number;
  resolve: () => void;
}

/** A binary heap of timers ordered by time, then by creation (stable, so runs are reproducible). */
class TimerHeap {
  private items: Timer[] = [];
  get size(): number {
    return this.items.length;
  }
  push(t: Timer): void {
    const a = this.items;
    a.push(t);
    let i = a.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (less(a[p] as Timer, t)) break;
      a[i] = a[p] as Timer;
      i = p;
    }
    a[i] = t;
  }
  pop(): Timer | undefined {
    const a = this.items;
    const top = a[0];
    const last = a.pop();
    if (a.length === 0 || !last) return top;
    // sift `last` down from the root
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let smallest = last;
      let at = -1;
      if (l < a.length && less(a[l] as Timer, smallest)) {
        smallest = a[l] as Timer;
        at = l;
      }
      if (r < a.length && less(a[r] as Timer, smallest)) {
        smallest = a[r] as Timer;
        at = r;
      }
      if (at < 0) break;
      a[i] = smallest;
      i = at;
    }
    a[i] = last;
    return top;
  }
}

function less(x: Timer, y: Timer): boolean {
  return x.at < y.at || (x.at === y.at && x.seq < y.seq);
}

/** Resolves on the next turn of the event loop, after whatever is due there (a token's turn). */
const settle = () => new Promise<void>((resolve) => setImmediate(resolve));

/**
 * Resolves, within this turn of the event loop, once every microtask queued
 * before and after it has run: Node runs process.nextTick callbacks only when
 * the microtask queue is empty. The simulator queues none of its own.
 */
const drained = () => new Promise<void>((resolve) => process.nextTick(resolve));

/** The scheduler takes a turn of the event loop at least once per this many timers. */
const TURN_EVERY = 64;

/** Discrete-event time: `run()` advances from timer to timer until `endMs` or until nothing is left. */
export class VirtualSim implements Sim {
  private current = 0;
  private seq = 0;
  private inflight = 0;
  /** Sleeps inside tracked work (a mirror's slow storage): that work is idle until the timer fires. */
  private trackedSleepers = 0;
  private readonly tracking = new AsyncLocalStorage<boolean>();
  private readonly timers = new TimerHeap();
  private done = false;
  private aborted = false;
  /** Quiesces so far: every TURN_EVERY-th takes a whole turn of the event loop. */
  private drains = 0;
  readonly random: () => number;
  private readonly endMs: number;

  constructor(seed: number, endMs: number) {
    this.random = mulberry32(seed);
    this.endMs = endMs;
  }

  get stopped(): boolean {
    return this.done;
  }

  now(): number {
    return this.current;
  }

  sleep(ms: number): Promise<void> {
    const inside = this.tracking.getStore() === true;
    if (inside) this.trackedSleepers++;
    return new Promise((resolve) => {
      this.timers.push({
        at: this.current + Math.max(0, ms),
        seq: this.seq++,
        resolve: inside
          ? () => {
              this.trackedSleepers--;
              resolve();
            }
          : resolve,
      });
    });
  }

  async track<T>(work: Promise<T>): Promise<T> {
    // Work nested in tracked work (a mirror's upstream request) is already counted once.
    if (this.tracking.getStore() === true) return work;
    this.inflight++;
    try {
      return await work;
    } finally {
      this.inflight--;
    }
  }

  /**
   * A tracked request waiting on another's work is idle exactly as long as that
   * work is: it is counted among the sleepers until the work settles (the
   * work's own request is counted in flight, so time moves on only when it too
   * is asleep). Untracked callers (actors) need no counting.
   */
  async wait<T>(work: Promise<T>): Promise<T> {
    if (this.tracking.getStore() !== true) return work;
    this.trackedSleepers++;
    try {
      return await work;
    } finally {
      this.trackedSleepers--;
    }
  }

  /** Runs `fn` as tracked work: its sleeps are known to the scheduler. */
  trackCall<T>(fn: () => Promise<T>): Promise<T> {
    // Nested (a mirror's upstream request inside a client's): already tracked, counted once.
    if (this.tracking.getStore() === true) return fn();
    return this.track(this.tracking.run(true, fn));
  }

  /** Runs until simulated time reaches the end; returns when every actor is idle or the end has passed. */
  async run(): Promise<void> {
    await this.quiesce();
    for (;;) {
      if (this.aborted) break;
      const next = this.timers.pop();
      if (!next) break;
      if (next.at > this.endMs) {
        this.current = this.endMs;
        break;
      }
      this.current = next.at;
      next.resolve();
      await this.quiesce();
    }
    this.done = true;
    // Wake every sleeper so actors can see `stopped` and finish.
    for (let t = this.timers.pop(); t; t = this.timers.pop()) t.resolve();
    await this.quiesce();
  }

  /** Interrupts `run()` at the current simulated time (SIGINT). */
  stop(): void {
    this.aborted = true;
  }

  /**
   * Lets continuations run until every tracked request is asleep: the
   * microtasks first (no turn of the event loop needed when nothing else is
   * due, the common case: a timer wakes a request that goes on to its next
   * sleep), then turns of the loop while a request waits for one.
   */
  private async quiesce(): Promise<void> {
    // Every so often a whole turn, so the process still hears a signal (SIGINT
    // stops a run) and a worker's messages between timers; where the turn
    // falls changes nothing simulated.
    if (++this.drains % TURN_EVERY === 0) await settle();
    else await drained();
    while (this.inflight > this.trackedSleepers || pendingTurns() > 0) await settle();
  }
}

/**
 * Real time, sped up: simulated ms pass `scale` times faster than wall ms. The
 * clock starts at construction, or, with `anchored`, stands at 0 until `anchor()`
 * (the k6 export's registry waits for the script's start).
 */
export class LiveSim implements Sim {
  private start: number | undefined;
  private readonly scale: number;
  private readonly timers = new Set<{ timer: NodeJS.Timeout; resolve: () => void }>();
  private done = false;
  private readonly onLag: ((wallMs: number) => void) | undefined;
  readonly random: () => number;

  /** `onLag`: how late each sleep's timer fired, wall ms (the clock meter). */
  constructor(
    seed: number,
    scale: number,
    options: { anchored?: boolean; onLag?: (wallMs: number) => void } = {},
  ) {
    this.random = mulberry32(seed);
    this.scale = scale;
    this.onLag = options.onLag;
    if (!options.anchored) this.start = performance.now();
  }

  /** Starts an anchored clock (once). */
  anchor(perfNow = performance.now()): void {
    this.start ??= perfNow;
  }

  get stopped(): boolean {
    return this.done;
  }

  now(): number {
    return this.start === undefined ? 0 : (performance.now() - this.start) * this.scale;
  }

  sleep(ms: number): Promise<void> {
    if (this.done) return Promise.resolve();
    return new Promise((resolve) => {
      const wallMs = Math.max(0, ms / this.scale);
      const due = performance.now() + wallMs;
      const entry = {
        resolve,
        timer: setTimeout(() => {
          this.timers.delete(entry);
          this.onLag?.(Math.max(0, performance.now() - due));
          resolve();
        }, wallMs),
      };
      this.timers.add(entry);
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

  /** Ends the run: pending sleeps return at once. */
  stop(): void {
    this.done = true;
    for (const entry of this.timers) {
      clearTimeout(entry.timer);
      entry.resolve();
    }
    this.timers.clear();
  }
}
