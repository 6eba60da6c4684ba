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

/**
 * Calls `fn` in this turn of the event loop once the microtask queue is
 * empty: Node runs process.nextTick callbacks when it is, and a callback
 * queued from a microtask waits for every microtask queued before and after
 * it (one queued from another nextTick callback would not: it runs first).
 */
function afterMicrotasks(fn: () => void): void {
  queueMicrotask(() => process.nextTick(fn));
}

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
  /** Timers woken so far: after every TURN_EVERY-th, a whole turn of the event loop. */
  private woken = 0;
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
    await new Promise<void>((finished) => this.advance(finished));
    this.done = true;
    // Wake every sleeper so actors can see `stopped` and finish.
    for (let t = this.timers.pop(); t; t = this.timers.pop()) t.resolve();
    await new Promise<void>((finished) => this.advance(finished, false));
  }

  /** Interrupts `run()` at the current simulated time (SIGINT). */
  stop(): void {
    this.aborted = true;
  }

  /**
   * The scheduler, as callbacks (no promise or async frame per timer): waits
   * until every tracked request is asleep, then wakes the next timer and goes
   * round again once the microtask queue is empty (`afterMicrotasks`): the
   * woken work has run to its next sleep, with no turn of the event loop
   * needed when nothing else is due (the common case). While a request waits
   * for a turn (a token's), it takes turns. Every TURN_EVERY timers it takes
   * one anyway, so the process still hears a signal (SIGINT stops a run) and
   * a worker's messages; where a turn falls changes nothing simulated.
   * `timers` false: only wait, wake nothing.
   */
  private advance(finished: () => void, timers = true): void {
    const step = (): void => {
      if (this.inflight > this.trackedSleepers || pendingTurns() > 0) {
        setImmediate(step);
        return;
      }
      const next = timers && !this.aborted ? this.timers.pop() : undefined;
      if (next && next.at <= this.endMs) {
        this.current = next.at;
        next.resolve();
        if (++this.woken % TURN_EVERY === 0) setImmediate(step);
        else afterMicrotasks(step);
        return;
      }
      if (next) this.current = this.endMs;
      finished();
    };
    // First let whatever is under way reach its sleep.
    afterMicrotasks(step);
  }
}

/**
 * Real time, sped up: simulated ms pass `scale` times faster than wall ms. The
 * clock starts at construction, or, with `anchored`, stands at 0 until `anchor()`
 * (the k6 export's registry waits for the script's start).
 */
/** A live sleep: its wall due time (moved on by a pause) and its timer while armed. */
interface LiveTimer {
  resolve: () => void;
  due: number;
  measured: boolean;
  timer: NodeJS.Timeout | undefined;
}

export class LiveSim implements Sim {
  private start: number | undefined;
  private readonly scale: number;
  private readonly timers = new Set<LiveTimer>();
  private done = false;
  /** Wall time (performance.now()) the clock was paused at; undefined while it runs. */
  private pausedAt: number | undefined;
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

  get paused(): boolean {
    return this.pausedAt !== undefined;
  }

  /** Wall time as the clock sees it: frozen at the pause while paused. */
  private wall(): number {
    return this.pausedAt ?? performance.now();
  }

  now(): number {
    return this.start === undefined ? 0 : (this.wall() - this.start) * this.scale;
  }

  /**
   * Stops simulated time (a game day's facilitator): now() stands still and no
   * sleep ends until resume(); requests already on the wire still finish.
   */
  pause(): void {
    if (this.done || this.pausedAt !== undefined) return;
    this.pausedAt = performance.now();
    for (const entry of this.timers) clearTimeout(entry.timer);
  }

  /** Simulated time runs on from where it stood: every pending sleep is due as much later as the pause lasted. */
  resume(): void {
    const at = this.pausedAt;
    if (at === undefined) return;
    this.pausedAt = undefined;
    const paused = performance.now() - at;
    if (this.start !== undefined) this.start += paused;
    for (const entry of this.timers) {
      entry.due += paused;
      this.arm(entry);
    }
  }

  /** `unmeasured`: the run's own end, not a client's wait (its lateness is not the clock meter's). */
  sleep(ms: number, options: { unmeasured?: boolean } = {}): Promise<void> {
    if (this.done) return Promise.resolve();
    return new Promise((resolve) => {
      const entry: LiveTimer = {
        resolve,
        due: this.wall() + Math.max(0, ms / this.scale),
        measured: !options.unmeasured,
        timer: undefined,
      };
      this.timers.add(entry);
      if (this.pausedAt === undefined) this.arm(entry);
    });
  }

  private arm(entry: LiveTimer): void {
    entry.timer = setTimeout(
      () => {
        this.timers.delete(entry);
        if (entry.measured) this.onLag?.(Math.max(0, performance.now() - entry.due));
        entry.resolve();
      },
      Math.max(0, entry.due - performance.now()),
    );
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
    this.pausedAt = undefined;
    for (const entry of this.timers) {
      clearTimeout(entry.timer);
      entry.resolve();
    }
    this.timers.clear();
  }
}
