import { clockTolerance, clockVerdict } from "../simulator/clock.ts";
import type { Scenario } from "../simulator/scenario/schema.ts";
import type { ClockEvent, ClockStats, SimEvent } from "../vocabulary/events.ts";

/** One design's clock, as its engine measured it. */
export interface DesignClock {
  design: string;
  keptUp: boolean;
  lagP99SimSeconds: number | null;
  requestP99SimSeconds: number | null;
  lag: ClockStats | null;
  request: ClockStats | null;
  /** The worst second of the run (highest p99 of either measurement), simulated seconds. */
  worstSecond: {
    t: number;
    lagP99SimSeconds: number | null;
    requestP99SimSeconds: number | null;
  } | null;
  /** What exceeded the tolerance. */
  why: string[];
}

/**
 * report.json's `clock`: how far a live run fell behind its scaled clock and
 * whether that could change the result. Virtual runs have no lag.
 */
export type ReportClock =
  | { mode: "virtual"; keptUp: true }
  | {
      mode: "live";
      timeScale: number;
      /** "given" (--time-scale N) or "auto" (calibrated on this machine). */
      chosenBy: "given" | "auto" | "unknown";
      /** Why this scale, in words. */
      reason: string;
      keptUp: boolean;
      /** Worst over the designs: p99 of how late timers fired, simulated seconds. */
      lagP99SimSeconds: number | null;
      /** Worst over the designs: p99 of near-instant requests (pings, tokens, manifests at the registry), simulated seconds. */
      requestP99SimSeconds: number | null;
      /** The lag allowed, simulated seconds, and the rule that gives it. */
      toleranceSimSeconds: number;
      rule: string;
      calibration?: ClockEvent["calibration"];
      designs: DesignClock[];
    };

/** The check added to every design's expectations in live runs. */
export const CLOCK_CHECK = "the clock kept up";

interface Folding {
  end: ClockEvent | null;
  worst: DesignClock["worstSecond"];
}

const worstOf = (a: number | null | undefined, b: number | null | undefined): number | null =>
  a === null || a === undefined ? (b ?? null) : b === null || b === undefined ? a : Math.max(a, b);

/** Folds the clock events of a run, one event at a time. */
export class ClockFold {
  private readonly scenario: Scenario;
  private readonly designs: Map<string, Folding>;
  private scale: ClockEvent | null = null;

  constructor(scenario: Scenario, designs: string[]) {
    this.scenario = scenario;
    this.designs = new Map(designs.map((d) => [d, { end: null, worst: null }]));
  }

  add(e: SimEvent): void {
    if (e.type !== "clock") return;
    const fold = this.designs.get(e.design);
    if (!fold) return;
    if (e.phase === "scale") this.scale ??= e;
    else if (e.phase === "end") fold.end = e;
    else {
      const worstNow = worstOf(e.lag?.p99, e.request?.p99);
      const worstBefore = fold.worst
        ? worstOf(fold.worst.lagP99SimSeconds, fold.worst.requestP99SimSeconds)
        : null;
      if (worstNow !== null && (worstBefore === null || worstNow > worstBefore))
        fold.worst = {
          t: e.t,
          lagP99SimSeconds: e.lag?.p99 ?? null,
          requestP99SimSeconds: e.request?.p99 ?? null,
        };
    }
  }

  finish(meta: { mode: "live" | "virtual"; timeScale?: number }): ReportClock {
    if (meta.mode === "virtual") return { mode: "virtual", keptUp: true };
    const tolerance = clockTolerance(this.scenario);
    const designs: DesignClock[] = [...this.designs].map(([design, fold]) => {
      const lag = fold.end?.lag ?? null;
      const request = fold.end?.request ?? null;
      const verdict = fold.end
        ? clockVerdict({ lag, request }, tolerance)
        : {
            keptUp: false,
            why: ["no clock measurement in the events (an older run, or it never started)"],
          };
      return {
        design,
        keptUp: verdict.keptUp,
        lagP99SimSeconds: lag?.p99 ?? null,
        requestP99SimSeconds: request?.p99 ?? null,
        lag,
        request,
        worstSecond: fold.worst,
        why: verdict.why,
      };
    });
    const scale = this.scale;
    return {
      mode: "live",
      timeScale: scale?.timeScale ?? meta.timeScale ?? 1,
      chosenBy: scale?.chosenBy ?? "unknown",
      reason: scale?.reason ?? "not recorded",
      keptUp: designs.every((d) => d.keptUp),
      lagP99SimSeconds: designs.reduce<number | null>(
        (m, d) => worstOf(m, d.lagP99SimSeconds),
        null,
      ),
      requestP99SimSeconds: designs.reduce<number | null>(
        (m, d) => worstOf(m, d.requestP99SimSeconds),
        null,
      ),
      toleranceSimSeconds: tolerance.simSeconds,
      rule: tolerance.rule,
      ...(scale?.calibration ? { calibration: scale.calibration } : {}),
      designs,
    };
  }
}

/** Live runs: one "the clock kept up" check per design, failed when its clock fell behind. */
export function clockChecks(
  clock: ReportClock,
): Array<{ design: string; check: string; passed: boolean; actual: string }> {
  if (clock.mode === "virtual") return [];
  return clock.designs.map((d) => ({
    design: d.design,
    check: CLOCK_CHECK,
    passed: d.keptUp,
    actual: d.keptUp
      ? `lag p99 ${d.lagP99SimSeconds ?? 0} s, requests p99 ${d.requestP99SimSeconds ?? 0} s (<= ${clock.toleranceSimSeconds} s)`
      : d.why.join("; "),
  }));
}

/** The clock in words for every report: a headline and detail lines (null: virtual, nothing to say). */
export function clockText(
  clock: ReportClock,
): { keptUp: boolean; headline: string; details: string[] } | null {
  if (clock.mode === "virtual") return null;
  const scale = `x${Math.round(clock.timeScale * 10) / 10}`;
  const measured = `timer lag p99 ${clock.lagP99SimSeconds ?? "-"} s, near-instant requests p99 ${clock.requestP99SimSeconds ?? "-"} s simulated`;
  const details = [
    `time ${scale}: ${clock.reason}`,
    `allowed lag ${clock.toleranceSimSeconds} s simulated: ${clock.rule}`,
  ];
  for (const d of clock.designs) if (!d.keptUp) details.push(`${d.design}: ${d.why.join("; ")}`);
  if (clock.keptUp)
    return {
      keptUp: true,
      headline: `the clock kept up at ${scale}: ${measured} (within ${clock.toleranceSimSeconds} s)`,
      details,
    };
  return {
    keptUp: false,
    headline: `THE CLOCK FELL BEHIND at ${scale}: ${measured}, more than the ${clock.toleranceSimSeconds} s the scenario tolerates. This run is distorted: its verdicts and timings cannot be trusted. Rerun with --time-scale auto, a lower --time-scale, or --virtual.`,
    details,
  };
}
