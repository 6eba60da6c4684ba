/** Registry time. Live runs use the wall clock; tests and simulations set time themselves. */
export interface Clock {
  /** Milliseconds since the Unix epoch, in registry time. */
  now(): number;
  /** Registry time at start-up: tag moves and windows are measured from here. */
  readonly startedAt: number;
}

export class SystemClock implements Clock {
  readonly startedAt = Date.now();
  now(): number {
    return Date.now();
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
  advance(ms: number): void {
    if (ms < 0) throw new RangeError("a clock cannot go backwards");
    this.current += ms;
  }
  set(ms: number): void {
    if (ms < this.current) throw new RangeError("a clock cannot go backwards");
    this.current = ms;
  }
}
