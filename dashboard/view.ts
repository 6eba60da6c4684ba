/**
 * What the live console shows, folded from the run's event stream: the run's
 * own fold (reports/fold.ts, the one report.json comes from) finished on
 * demand for verdicts, first breaks, backoff, headroom, mirror and findings,
 * plus the few things only a live view wants (requests and refusals per
 * simulated second by layer, the layer that last said no to each identity).
 */
import type { Mark } from "../reports/analysis-types.ts";
import { findingText } from "../reports/findings-text.ts";
import type { RunFold } from "../reports/fold.ts";
import type { Scenario } from "../simulator/scenario/schema.ts";
import { isOriginHost, type SimEvent } from "../vocabulary/events.ts";

/** The layers a request's answer is counted under on the console's chart. */
export const RATE_LAYERS = [
  "ok",
  "quota",
  "token-quota",
  "abuse",
  "edge",
  "fault",
  "other",
] as const;
export type RateLayer = (typeof RATE_LAYERS)[number];

/** Points on each design's chart at most: the run's length in buckets of whole seconds. */
const MAX_POINTS = 240;
/** Identities listed, the lowest headroom first. */
const MAX_IDENTITIES = 16;
/** Findings and marks listed, the newest last. */
const MAX_LOG = 200;

export interface DesignView {
  name: string;
  /** This design's simulated seconds (the newest event's). */
  t: number;
  paused: boolean;
  verdict: "holds" | "breaks" | "incomplete";
  firstBreak: { t: number; reason: string; layer: string; image: string; actor: string } | null;
  pulls: { ok: number; failed: number; cached: number };
  units: { total: number; started: number; failed: number; waiting: number; inBackoff: number };
  peakInBackoff: number;
  retryWaves: number;
  mirror: { servedBy: string; hitRatio: number } | null;
  /** Live runs: timer lag and near-instant request p99, simulated seconds, over the last second or (ended) the whole run. */
  clock: {
    lagP99SimSeconds: number | null;
    requestP99SimSeconds: number | null;
    over: "last second" | "whole run";
  } | null;
  /** Requests per simulated second to the origin registry, by layer, per bucket. */
  rates: Rates;
}

/** Requests per simulated second by layer, one number a bucket (`t`: the buckets' starts). */
export type Rates = { bucketSeconds: number; t: number[] } & Record<RateLayer, number[]>;

/** What the console server shows: a run (LiveView) or a registry alone (registry-view.ts). */
export interface Watched {
  snapshot(): Snapshot;
  end(ended: NonNullable<Snapshot["ended"]>): void;
}

export interface IdentityView {
  design: string;
  identity: string;
  limit: number;
  windowSeconds: number;
  remaining: number;
  refused: number;
  /** The layer of the last refusal this identity got, if any. */
  refusedBy: string | null;
}

export interface Snapshot {
  scenario: { name: string; description: string; durationSeconds: number };
  mode: "live" | "virtual";
  timeScale: number | null;
  running: boolean;
  /** True until the run's clocks start (measuring the machine, starting mirrors, making images). */
  settingUp?: boolean;
  designs: DesignView[];
  identities: IdentityView[];
  findings: Array<{ id: string; design: string; severity: string; code: string; text: string }>;
  marks: Mark[];
  /** A registry alone (registry serve --dashboard): what it answered; no designs. */
  registry?: {
    /** Registry seconds since it started. */
    t: number;
    paused: boolean;
    totals: Record<RateLayer, number>;
    rates: Rates;
  };
  /** Set when the run has ended. */
  ended?: { interrupted: boolean; reports: string[]; out: string };
}

interface DesignRates {
  t: number;
  clock?: NonNullable<DesignView["clock"]>;
  counts: Map<number, Record<RateLayer, number>>;
  refusedBy: Map<string, string>;
}

export class LiveView implements Watched {
  private readonly scenario: Scenario;
  private fold: RunFold | undefined;
  private readonly meta: { mode: "live" | "virtual"; seed: number };
  private readonly bucketSeconds: number;
  private readonly rates = new Map<string, DesignRates>();
  private timeScale: number | null = null;
  private paused: (design: string) => boolean = () => false;
  private ended: Snapshot["ended"];
  private begun = false;

  constructor(
    scenario: Scenario,
    names: string[],
    meta: { mode: "live" | "virtual"; seed: number },
  ) {
    this.scenario = scenario;
    this.meta = meta;
    const seconds = scenario.duration / 1000;
    this.bucketSeconds = Math.max(1, Math.ceil(seconds / MAX_POINTS));
    for (const name of names)
      this.rates.set(name, { t: 0, counts: new Map(), refusedBy: new Map() });
  }

  /** The run's fold (harness onFold), once the run has begun. */
  attach(fold: RunFold): void {
    this.fold = fold;
  }

  /** The run's clocks have started (the first design's controls arrived). */
  begin(): void {
    this.begun = true;
  }

  /** Where the console learns whether a design's clock is paused. */
  pausedBy(fn: (design: string) => boolean): void {
    this.paused = fn;
  }

  /** One event of the run (the fold itself is fed by the harness). */
  add(e: SimEvent): void {
    const r = this.rates.get(e.design);
    if (!r) return;
    if (e.t > r.t) r.t = e.t;
    if (e.type === "clock") {
      this.timeScale = e.timeScale;
      // The last second's measurement (the report's own comes with the design's end).
      if (e.phase === "sample" && (e.lag || e.request))
        r.clock = {
          lagP99SimSeconds: e.lag?.p99 ?? null,
          requestP99SimSeconds: e.request?.p99 ?? null,
          over: "last second",
        };
      return;
    }
    if (e.type !== "request" || !isOriginHost(e.host)) return;
    const bucket = Math.floor(e.t / this.bucketSeconds);
    let counts = r.counts.get(bucket);
    if (!counts) {
      counts = zeroCounts();
      r.counts.set(bucket, counts);
    }
    const layer = layerOf(e.status, e.refusal);
    counts[layer]++;
    if (e.refusal) r.refusedBy.set(e.identity, e.refusal);
  }

  /** The run has ended: the page says so and links the reports. */
  end(ended: NonNullable<Snapshot["ended"]>): void {
    this.ended = ended;
  }

  snapshot(): Snapshot {
    const head = {
      scenario: {
        name: this.scenario.name,
        description: this.scenario.description,
        durationSeconds: this.scenario.duration / 1000,
      },
      mode: this.meta.mode,
      timeScale: this.timeScale,
      running: this.ended === undefined,
    };
    if (!this.fold || (!this.begun && this.ended === undefined))
      // Still setting up (measuring the machine, starting mirrors): nothing to show yet.
      return { ...head, settingUp: true, designs: [], identities: [], findings: [], marks: [] };
    const { report, analysis } = this.fold.finish({
      ...this.meta,
      interrupted: false,
      ...(this.timeScale ? { timeScale: this.timeScale } : {}),
    });
    const clocks =
      report.clock.mode === "live"
        ? new Map(report.clock.designs.map((d) => [d.design, d]))
        : new Map();
    const designs: DesignView[] = analysis.designs.map((d) => {
      const r = this.rates.get(d.name) as DesignRates;
      const now = Math.floor(r.t / d.bucketSeconds);
      const bucket = d.timeline[Math.min(d.timeline.length - 1, Math.max(0, now))];
      const clock = clocks.get(d.name);
      const s = d.summary;
      return {
        name: d.name,
        t: Math.round(r.t * 10) / 10,
        paused: this.paused(d.name),
        verdict: s.verdict,
        firstBreak: d.firstBreak
          ? {
              t: d.firstBreak.t,
              reason: d.firstBreak.reason,
              layer: d.firstBreak.layer,
              image: d.firstBreak.image,
              actor: d.firstBreak.actor,
            }
          : null,
        pulls: { ok: s.pulls.ok, failed: s.pulls.failed, cached: s.pulls.cached },
        units: {
          total: s.units.pods + s.units.jobs + s.units.desktops,
          started: s.units.started,
          failed: s.units.failed,
          waiting: bucket?.waiting ?? 0,
          inBackoff: bucket?.inBackoff ?? 0,
        },
        peakInBackoff: d.blastRadius.peakInBackoff,
        retryWaves: d.retryWaves,
        mirror: d.mirror ? { servedBy: d.mirror.servedBy, hitRatio: d.mirror.hitRatio } : null,
        // The whole run's once the design has ended, else the last second's.
        clock:
          clock && (clock.lag || clock.request)
            ? {
                lagP99SimSeconds: clock.lagP99SimSeconds,
                requestP99SimSeconds: clock.requestP99SimSeconds,
                over: "whole run" as const,
              }
            : (r.clock ?? null),
        rates: ratesOf(r.counts, this.bucketSeconds, 0, Math.floor(r.t / this.bucketSeconds)),
      };
    });
    const identities: IdentityView[] = analysis.designs
      .flatMap((d) => {
        const r = this.rates.get(d.name) as DesignRates;
        return d.headroom.map((h) => ({
          design: d.name,
          identity: h.identity,
          limit: h.limit,
          windowSeconds: h.windowSeconds,
          remaining: h.points.at(-1)?.[1] ?? h.limit,
          refused: h.refused,
          refusedBy: r.refusedBy.get(h.identity) ?? null,
        }));
      })
      .sort((a, b) => a.remaining / a.limit - b.remaining / b.limit || b.refused - a.refused)
      .slice(0, MAX_IDENTITIES);
    return {
      ...head,
      designs,
      identities,
      findings: analysis.findings.slice(-MAX_LOG).map((f) => ({
        id: f.id,
        design: f.design,
        severity: f.severity,
        code: f.code,
        text: findingText(f).headline,
      })),
      marks: analysis.marks.slice(-MAX_LOG),
      ...(this.ended ? { ended: this.ended } : {}),
    };
  }
}

/** Nothing counted yet, in every layer. */
export function zeroCounts(): Record<RateLayer, number> {
  return { ok: 0, quota: 0, "token-quota": 0, abuse: 0, edge: 0, fault: 0, other: 0 };
}

/** Answers per simulated second by layer for buckets `first..last` (counts per bucket, by bucket number). */
export function ratesOf(
  counts: ReadonlyMap<number, Record<RateLayer, number>>,
  bucketSeconds: number,
  first: number,
  last: number,
): Rates {
  const out = { bucketSeconds, t: [] as number[] } as Rates;
  for (const layer of RATE_LAYERS) out[layer] = [];
  for (let i = first; i <= last; i++) {
    out.t.push(i * bucketSeconds);
    const bucket = counts.get(i);
    for (const layer of RATE_LAYERS) out[layer].push(bucket ? bucket[layer] / bucketSeconds : 0);
  }
  return out;
}

/** The chart's layer of an answer: who refused it, else ok or another error. */
export function layerOf(status: number, refusal: string | undefined): RateLayer {
  if (refusal) {
    if (refusal === "quota" || refusal === "token-quota" || refusal === "abuse") return refusal;
    if (refusal === "edge" || refusal === "fault") return refusal;
    return "other";
  }
  // A 401 without a refusal is the token challenge every client meets first: answered as designed.
  return status < 400 || status === 401 ? "ok" : "other";
}
