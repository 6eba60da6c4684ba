/**
 * The live console for a registry alone (`pullstorm registry serve
 * --dashboard`): no scenario, no fleet, so no verdicts; what the registry
 * answered, as it answers. Every answer the served registry gives passes
 * through `handler()` (the registry's own `handle`, observed afterwards):
 * answers per second by the layer that refused them, and per identity the
 * quota headroom its RateLimit headers said last and who refused it. Bounded:
 * a sliding window of the last MAX_POINTS seconds, at most MAX_TRACKED
 * identities (least recently seen dropped).
 */
import { LRUCache } from "lru-cache";
import type { Clock } from "../fake-registry/core/clock.ts";
import type { RegistryRequest } from "../fake-registry/core/types.ts";
import type { Handled } from "../fake-registry/registry/registry.ts";
import type { Mark } from "../reports/analysis-types.ts";
import type { LiveDesignControl } from "../simulator/run.ts";
import { type MarkAction, rateLimitOf } from "../vocabulary/events.ts";
import {
  layerOf,
  type RateLayer,
  ratesOf,
  type Snapshot,
  type Watched,
  zeroCounts,
} from "./view.ts";

/** Seconds (buckets) on the chart. */
const MAX_POINTS = 240;
const MAX_TRACKED = 10_000;
const MAX_IDENTITIES = 16;
const MAX_MARKS = 200;

export const REGISTRY_CARD = "registry";

interface Tracked {
  limit: number;
  windowSeconds: number;
  remaining: number;
  refused: number;
  refusedBy: string | null;
}

export class RegistryView implements Watched {
  private readonly clock: Clock & { scale?: number; pause?(): void; resume?(): void };
  private readonly name: string;
  private readonly bucketSeconds: number;
  private readonly counts = new Map<number, Record<RateLayer, number>>();
  private readonly totals: Record<RateLayer, number> = zeroCounts();
  private readonly identities = new LRUCache<string, Tracked>({ max: MAX_TRACKED });
  private readonly marks: Mark[] = [];
  private pausedFlag = false;
  private ended: Snapshot["ended"];

  constructor(clock: Clock & { scale?: number }, name = "registry serve") {
    this.clock = clock;
    this.name = name;
    // About one wall second a bucket.
    this.bucketSeconds = Math.max(1, Math.round(clock.scale ?? 1));
  }

  /** Registry seconds since start. */
  private now(): number {
    return (this.clock.now() - this.clock.startedAt) / 1000;
  }

  /** One answer of the registry. */
  observe(handled: Partial<Handled> & Pick<Handled, "response">): void {
    const layer = layerOf(handled.response.status, handled.refusal?.reason);
    this.totals[layer]++;
    const bucket = Math.floor(this.now() / this.bucketSeconds);
    let counts = this.counts.get(bucket);
    if (!counts) {
      counts = zeroCounts();
      this.counts.set(bucket, counts);
      // The window slides: older seconds are dropped as new ones begin.
      for (const b of this.counts.keys()) if (b <= bucket - MAX_POINTS) this.counts.delete(b);
    }
    counts[layer]++;
    const key = handled.identity?.key;
    if (!key) return;
    const seen = rateLimitOf(handled.response.headers);
    const known = this.identities.get(key);
    if (!seen && !known && !handled.refusal) return;
    const next: Tracked = known ?? {
      limit: seen?.limit ?? 0,
      windowSeconds: seen?.windowSeconds ?? 0,
      remaining: seen?.remaining ?? 0,
      refused: 0,
      refusedBy: null,
    };
    if (seen) {
      next.limit = seen.limit;
      next.windowSeconds = seen.windowSeconds;
      next.remaining = seen.remaining;
    }
    if (handled.refusal) {
      next.refused++;
      next.refusedBy = handled.refusal.reason;
    }
    this.identities.set(key, next);
  }

  /** The registry's handler, observed: what the served registry answers passes through here. */
  handler(inner: { handle(req: RegistryRequest, client: { ip: string }): Promise<Handled> }): {
    handle(req: RegistryRequest, client: { ip: string }): Promise<Handled>;
  } {
    return {
      handle: async (req, client) => {
        const handled = await inner.handle(req, client);
        this.observe(handled);
        return handled;
      },
    };
  }

  /** The console's controls for this registry (faults and policy through its control API at `url`). */
  control(url: string, log: (mark: Mark) => void): LiveDesignControl {
    const clock = this.clock;
    const pausable = typeof clock.pause === "function" && (clock.scale ?? 1) !== 1;
    const view = this;
    return {
      design: REGISTRY_CARD,
      registryUrl: url,
      now: () => view.now(),
      get paused() {
        return view.pausedFlag;
      },
      ended: false,
      pausable,
      pause: () => {
        if (!pausable || view.pausedFlag) return;
        clock.pause?.();
        view.pausedFlag = true;
      },
      resume: () => {
        if (!view.pausedFlag) return;
        clock.resume?.();
        view.pausedFlag = false;
      },
      mark: (action: MarkAction, text: string) => {
        const mark: Mark = {
          t: Math.round(view.now() * 1000) / 1000,
          design: REGISTRY_CARD,
          action,
          text,
        };
        view.marks.push(mark);
        if (view.marks.length > MAX_MARKS) view.marks.shift();
        log(mark);
      },
    };
  }

  end(ended: NonNullable<Snapshot["ended"]>): void {
    this.ended = ended;
  }

  snapshot(): Snapshot {
    const t = this.now();
    const last = Math.floor(t / this.bucketSeconds);
    const first = Math.max(0, last - MAX_POINTS + 1);
    const rates = ratesOf(this.counts, this.bucketSeconds, first, last);
    const identities = [...this.identities.entries()]
      .filter(([, v]) => v.limit > 0 || v.refused > 0)
      .map(([identity, v]) => ({ design: REGISTRY_CARD, identity, ...v }))
      .sort(
        (a, b) =>
          (a.limit ? a.remaining / a.limit : 1) - (b.limit ? b.remaining / b.limit : 1) ||
          b.refused - a.refused,
      )
      .slice(0, MAX_IDENTITIES);
    return {
      scenario: { name: this.name, description: "", durationSeconds: 0 },
      mode: "live",
      timeScale: this.clock.scale ?? 1,
      running: this.ended === undefined,
      designs: [],
      registry: {
        t: Math.round(t * 10) / 10,
        paused: this.pausedFlag,
        totals: { ...this.totals },
        rates,
      },
      identities,
      findings: [],
      marks: [...this.marks],
      ...(this.ended ? { ended: this.ended } : {}),
    };
  }
}
