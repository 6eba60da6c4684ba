/** Registry time. Live runs use the wall clock; tests and simulations set time themselves. */
export interface Clock {
  /** Milliseconds since the Unix epoch, in registry time. */
  now(): number;
  /** Registry time at start-up: tag moves and windows are measured from here. */
  readonly startedAt: number;
  /** Registry seconds per wall second (1 unless scaled). */
  readonly scale?: number;
  /**
   * The time tokens are issued and checked in. Real clients cache a token for
   * `expires_in` seconds of their own clock, so live registries use the wall
   * clock even when registry time is scaled; a manual clock uses its own time.
   */
  tokenNow(): number;
}

export class SystemClock implements Clock {
  readonly startedAt = Date.now();
  now(): number {
    return Date.now();
  }
  tokenNow(): number {
    return Date.now();
  }
}

/**
 * Wall time sped up: with scale 360 a 6 h window passes in 60 s. Registry time
 * starts at the wall time of creation and runs `scale` times faster; with
 * `anchored`, it stands still at the start until `anchor()` (a live run sets
 * every design up first, then starts their clocks together).
 */
export class ScaledClock implements Clock {
  readonly startedAt: number;
  readonly scale: number;
  private wallStart: number | undefined;
  private pausedAt: number | undefined;
  private readonly wallNow: () => number;
  constructor(
    scale: number,
    wallNow: () => number = Date.now,
    options: { anchored?: boolean } = {},
  ) {
    if (!(scale > 0) || !Number.isFinite(scale))
      throw new RangeError("time scale must be a positive number");
    this.scale = scale;
    this.wallNow = wallNow;
    this.startedAt = wallNow();
    if (!options.anchored) this.wallStart = this.startedAt;
  }
  /** Starts an anchored clock (once): registry time runs from `startedAt` on. */
  anchor(): void {
    this.wallStart ??= this.wallNow();
  }
  /** Registry time stands still (a paused game day) until resume(); tokens keep wall time. */
  pause(): void {
    this.pausedAt ??= this.wallNow();
  }
  /** Registry time runs on from where it stood. */
  resume(): void {
    if (this.pausedAt === undefined) return;
    if (this.wallStart !== undefined) this.wallStart += this.wallNow() - this.pausedAt;
    this.pausedAt = undefined;
  }
  now(): number {
    if (this.wallStart === undefined) return this.startedAt;
    return this.startedAt + ((this.pausedAt ?? this.wallNow()) - this.wallStart) * this.scale;
  }
  tokenNow(): number {
    return this.wallNow();
  }
}

/** A clock that only moves when told to: simulated time never sleeps. */
export class ManualClock implements Clock {
  readonly startedAt: number;
  private current: number;
  constructor(start = Date.UTC(2025, 0, 6, 8, 45)) {
    this.startedAt = start;
    this.current = start;
  }
  now(): number {
    return this.current;
  }
  tokenNow(): number {
    return this.current;
  }
  advance(ms: number): void {
    if (ms < 0) throw new RangeError("a clock cannot go backwards");
    this.current += ms;
  }
  set(ms: number): void {
    if (ms < this.current) throw new RangeError("a clock cannot go backwards");
    this.current = ms;
  }
}
