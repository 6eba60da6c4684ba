import * as hdr from "hdr-histogram-js";
import type { ClockStats } from "../../vocabulary/events.ts";

/** Wall milliseconds, kept in microseconds (2 significant digits), up to 10 minutes. */
function histogram(): hdr.Histogram {
  return hdr.build({
    lowestDiscernibleValue: 1,
    highestTrackableValue: 600_000_000,
    numberOfSignificantValueDigits: 2,
  });
}

/** A histogram's numbers as simulated seconds (wall x scale), null when empty. */
function statsOf(h: hdr.Histogram, scale: number): ClockStats | null {
  if (h.totalCount === 0) return null;
  const sim = (us: number) => Math.round((us / 1_000_000) * scale * 1000) / 1000;
  return {
    count: h.totalCount,
    p50: sim(h.getValueAtPercentile(50)),
    p99: sim(h.getValueAtPercentile(99)),
    max: sim(h.maxValue),
  };
}

/**
 * How far a live run falls behind its scaled clock: how late timers fire and
 * how long near-instant requests take, in wall milliseconds, reported in
 * simulated seconds (wall x time scale), for the last interval and the whole run.
 */
export class ClockMeter {
  readonly scale: number;
  private readonly lagAll = histogram();
  private readonly requestAll = histogram();
  private lagNow = histogram();
  private requestNow = histogram();
  private closed = false;

  constructor(scale: number) {
    this.scale = scale;
  }

  /** A timer fired `wallMs` after it was due. */
  lag(wallMs: number): void {
    if (this.closed) return;
    const us = Math.max(1, Math.round(wallMs * 1000));
    this.lagAll.recordValue(us);
    this.lagNow.recordValue(us);
  }

  /** A near-instant request took `wallMs`. */
  request(wallMs: number): void {
    if (this.closed) return;
    const us = Math.max(1, Math.round(wallMs * 1000));
    this.requestAll.recordValue(us);
    this.requestNow.recordValue(us);
  }

  /** The interval since the last call, and starts a new one. */
  interval(): { lag: ClockStats | null; request: ClockStats | null } {
    const out = {
      lag: statsOf(this.lagNow, this.scale),
      request: statsOf(this.requestNow, this.scale),
    };
    this.lagNow.reset();
    this.requestNow.reset();
    return out;
  }

  /** The whole run so far. */
  total(): { lag: ClockStats | null; request: ClockStats | null } {
    return { lag: statsOf(this.lagAll, this.scale), request: statsOf(this.requestAll, this.scale) };
  }

  /** Frees the histograms (the meter records nothing after). */
  close(): void {
    this.closed = true;
    for (const h of [this.lagAll, this.requestAll, this.lagNow, this.requestNow]) h.destroy();
  }
}

/**
 * Measures timer lag on its own: a timer every `everyMs` wall milliseconds
 * reports how late it fired (so lag is seen while actors are idle too).
 */
export function lagProbe(onLag: (wallMs: number) => void, everyMs = 50): { stop(): void } {
  let due = performance.now() + everyMs;
  let timer: NodeJS.Timeout | undefined;
  const tick = () => {
    const now = performance.now();
    onLag(Math.max(0, now - due));
    due = now + everyMs;
    timer = setTimeout(tick, everyMs);
  };
  timer = setTimeout(tick, everyMs);
  return { stop: () => clearTimeout(timer) };
}
