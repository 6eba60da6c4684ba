/**
 * When a live run's scaled clock is trustworthy: the rule both the engine (to
 * pick a time scale with `--time-scale auto`) and the reports (to decide
 * `clock.keptUp`) apply. docs/simulator.md ("Does the clock keep up?") explains it.
 */
import type { ClockStats } from "../vocabulary/events.ts";
import { KUBELET } from "./actors/kubelet.ts";
import { RUNTIMES } from "./client/runtimes.ts";
import { scenarioPolicy } from "./registry-setup.ts";
import type { Scenario } from "./scenario/schema.ts";

/** A time the scenario's outcome depends on. */
export interface ClockTiming {
  what: string;
  seconds: number;
}

/** The lag allowed is this share of the shortest timing that matters. */
export const CLOCK_TOLERANCE_SHARE = 0.1;
/** Nor more than this many simulated seconds, however long the timings are. */
export const CLOCK_TOLERANCE_MAX_SECONDS = 30;
/** `--time-scale auto` aims this many times under the tolerance (a calibration sees less load than the run). */
export const AUTO_SCALE_MARGIN = 2;
/**
 * `--time-scale auto` keeps the scenario's busiest stretch (`loadWindowSeconds`)
 * under this share of one core: requests arrive in bursts, and a busier event
 * loop queues them (measured: node-churn at 75% of a core over its busiest
 * minute lagged 3 s simulated at x120, at 25% (x39) it lagged 1.1-1.6 s in CI
 * beside other tests; over its busiest 10 s at 25% (x13) it keeps up).
 */
export const AUTO_LOAD_SHARE = 0.25;
/** The busiest stretch is measured over the shortest timing that matters, within these bounds (seconds). */
export const LOAD_WINDOW_BOUNDS: readonly [number, number] = [1, 60];

/**
 * How long a stretch of the scenario's busiest traffic `--time-scale auto`
 * sizes for, in simulated seconds: the shortest timing that matters (a burst
 * longer than that is what moves outcomes), within LOAD_WINDOW_BOUNDS.
 */
export function loadWindowSeconds(tolerance: ClockTolerance): number {
  const [min, max] = LOAD_WINDOW_BOUNDS;
  return Math.min(max, Math.max(min, tolerance.basis?.seconds ?? max));
}

/** The times the scenario's outcome depends on: back-offs, retries, quota refills, wave intervals. */
export function clockTimings(scenario: Scenario): ClockTiming[] {
  const out: ClockTiming[] = [];
  const add = (what: string, ms: number) => {
    if (ms > 0 && Number.isFinite(ms)) out.push({ what, seconds: ms / 1000 });
  };
  const kubelet =
    scenario.fleet.nodes > 0 ||
    scenario.workload.some((w) => w.type === "scale-up" || w.type === "node-churn");
  if (kubelet) {
    add("kubelet image pull back-off (first wait)", KUBELET.backoffInitialMs);
    add("kubelet pod resync", KUBELET.resyncMs);
  }
  const runtimes = new Set<keyof typeof RUNTIMES>();
  if (kubelet) runtimes.add(scenario.fleet.runtime);
  if (scenario.fleet.ciRunners > 0 || scenario.workload.some((w) => w.type === "ci-fan-out"))
    runtimes.add(scenario.fleet.ciRuntime);
  if (scenario.workload.some((w) => w.type === "arrivals")) runtimes.add("dockerd");
  for (const r of runtimes) {
    const b = RUNTIMES[r].backoff429;
    if (b) add(`${r} 429 back-off (first wait)`, b.firstMs);
  }
  // The quota: the windows of the limits the designs meet (a rate limit is a short window),
  // bans, lockouts and fixed Retry-After.
  const policy = scenarioPolicy(scenario);
  const plans = new Set<string>();
  for (const d of scenario.designs) {
    plans.add(d.auth === "anonymous" ? "anonymous" : d.plan);
    if (d.mirror?.enabled && d.mirror.upstreamAuth) plans.add(d.plan);
    if (d.mirror?.enabled && !d.mirror.upstreamAuth) plans.add("anonymous");
  }
  for (const rule of policy.rules) {
    for (const plan of plans) {
      const limit = rule.limits[plan] ?? rule.limits.default;
      if (!limit || limit === "unlimited") continue;
      add(
        `${rule.name} window (${plan}: ${limit.limit} per ${limit.windowMs / 1000} s)`,
        limit.windowMs,
      );
    }
    if (rule.retryAfterSeconds) add(`${rule.name} Retry-After`, rule.retryAfterSeconds * 1000);
    if (rule.ban) add(`${rule.name} ban`, rule.ban.forMs);
  }
  if (policy.lockout) add("login lockout", policy.lockout.lockMs);
  for (const d of scenario.designs)
    if (d.rollout.waveInterval > 0) add(`${d.name} wave interval`, d.rollout.waveInterval);
  return out;
}

export interface ClockTolerance {
  /** Lag p99 and near-instant request p99 above this (simulated seconds) distort the run. */
  simSeconds: number;
  /** The shortest timing that matters, which the tolerance is a share of. */
  basis: ClockTiming | null;
  /** The rule in words. */
  rule: string;
}

/** How much lag the scenario tolerates: 10 % of its shortest timing that matters, at most 30 s. */
export function clockTolerance(scenario: Scenario): ClockTolerance {
  const timings = clockTimings(scenario);
  const basis = timings.reduce<ClockTiming | null>(
    (min, t) => (min === null || t.seconds < min.seconds ? t : min),
    null,
  );
  const share = basis ? basis.seconds * CLOCK_TOLERANCE_SHARE : CLOCK_TOLERANCE_MAX_SECONDS;
  const simSeconds = Math.round(Math.min(share, CLOCK_TOLERANCE_MAX_SECONDS) * 1000) / 1000;
  const rule = basis
    ? `${Math.round(CLOCK_TOLERANCE_SHARE * 100)}% of the shortest timing that matters, ${basis.what} (${basis.seconds} s)${share > CLOCK_TOLERANCE_MAX_SECONDS ? `, at most ${CLOCK_TOLERANCE_MAX_SECONDS} s` : ""}`
    : `no timing in the scenario is shorter than ${CLOCK_TOLERANCE_MAX_SECONDS / CLOCK_TOLERANCE_SHARE} s`;
  return { simSeconds, basis, rule };
}

export interface ClockVerdict {
  keptUp: boolean;
  /** What exceeded the tolerance, in words (empty when it kept up). */
  why: string[];
}

/** The rule: timer lag p99 and near-instant request p99 (simulated seconds) within the tolerance. */
export function clockVerdict(
  measured: { lag: ClockStats | null; request: ClockStats | null },
  tolerance: ClockTolerance,
): ClockVerdict {
  const why: string[] = [];
  const tol = tolerance.simSeconds;
  if (measured.lag && measured.lag.p99 > tol)
    why.push(`timers fired ${measured.lag.p99} s late (p99 simulated) > ${tol} s`);
  if (measured.request && measured.request.p99 > tol)
    why.push(`near-instant requests took ${measured.request.p99} s (p99 simulated) > ${tol} s`);
  return { keptUp: why.length === 0, why };
}

/**
 * The largest time scale, at most `cap`, at which the calibrated wall p99s
 * (ms) stay `AUTO_SCALE_MARGIN` times under the tolerance and, given the
 * scenario's peak request rate and this machine's cost per request, the busiest
 * moment keeps the event loop under `AUTO_LOAD_SHARE` busy; never under 1.
 */
export function autoTimeScale(
  wall: { lagP99Ms: number; requestP99Ms: number },
  tolerance: ClockTolerance,
  cap: number,
  load?: { peakRequestsPerSimSecond: number; msPerRequest: number },
): { timeScale: number; limitedBy: "cap" | "machine" | "load" | "real-time" } {
  const worstSeconds = Math.max(wall.lagP99Ms, wall.requestP99Ms, 0.05) / 1000;
  const fitsLatency = tolerance.simSeconds / (AUTO_SCALE_MARGIN * worstSeconds);
  const busyPerSimSecond = load ? (load.peakRequestsPerSimSecond * load.msPerRequest) / 1000 : 0;
  const fitsLoad =
    busyPerSimSecond > 0 ? AUTO_LOAD_SHARE / busyPerSimSecond : Number.POSITIVE_INFINITY;
  const fits = Math.min(fitsLatency, fitsLoad);
  if (fits >= cap) return { timeScale: cap, limitedBy: "cap" };
  if (fits < 1) return { timeScale: 1, limitedBy: "real-time" };
  // A round number: two significant digits.
  const digits = 10 ** (Math.floor(Math.log10(fits)) - 1);
  return {
    // toPrecision: 71 x 0.1 is 7.1000000000000005 in floating point, and the summary said so.
    timeScale: Math.max(1, Number((Math.floor(fits / digits) * digits).toPrecision(2))),
    limitedBy: fitsLoad < fitsLatency ? "load" : "machine",
  };
}
