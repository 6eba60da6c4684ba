/**
 * Breaking points: the smallest load (a factor on the whole scenario, or one
 * number in it) at which a design stops holding. Used by `pullstorm
 * breakpoint` and by the near-miss findings ("breaks at x1.3 of this load").
 * Each try folds its own events: no findings, no near misses of its own.
 */
import type { LoadBreak } from "../reports/analysis-types.ts";
import { RunFold } from "../reports/fold.ts";
import { playScenario } from "../simulator/run.ts";
import type { Scenario } from "../simulator/scenario/schema.ts";

/** One run of the search: the value (a count, or a load factor), its verdict and what broke. */
export interface BreakpointTry {
  value: number;
  verdict: "holds" | "breaks";
  firstBreakSeconds: number | null;
  reason: string | null;
  /** The layer that said no first (reports' BreakLayer: registry-quota, abuse, not-started, ...). */
  layer: string | null;
  /** Live tries: false when the machine fell behind the scaled clock (that try's verdict is distorted). */
  clockKeptUp?: boolean;
}

export interface BreakpointResult {
  /** "load" (the load factor) or the dotted path of the number varied. */
  vary: string;
  holdsAt: number | null;
  breaksAt: number | null;
  /** The first break's layer at `breaksAt` (null when nothing broke in range). */
  layer: string | null;
  /** Every value tried, in order, and the verdict. */
  tries: BreakpointTry[];
}

/** `--vary load`: scale the fleet and every workload step together (scaleLoad). */
export const LOAD = "load";

/** The number at a dotted path ("fleet.nodes", "workload.0.jobs"), or an error naming the path. */
export function valueAt(scenario: Scenario, path: string): number | { error: string } {
  let node: unknown = scenario;
  for (const part of path.split(".")) {
    if (node === null || typeof node !== "object" || !(part in (node as Record<string, unknown>)))
      return { error: `--vary ${path}: the scenario has nothing at "${part}"` };
    node = (node as Record<string, unknown>)[part];
  }
  return typeof node === "number" && Number.isInteger(node)
    ? node
    : { error: `--vary ${path}: not a whole number` };
}

function withValue(scenario: Scenario, path: string, value: number): Scenario {
  const copy = structuredClone(scenario);
  const parts = path.split(".");
  let node = copy as unknown as Record<string, unknown>;
  for (const part of parts.slice(0, -1)) node = node[part] as Record<string, unknown>;
  node[parts.at(-1) as string] = value;
  return copy;
}

/** A count times the factor: rounded to the nearest whole, never below 1 unless it was 0. */
function scaled(count: number, factor: number): number {
  return count === 0 ? 0 : Math.max(1, Math.round(count * factor));
}

/**
 * The scenario at `factor` times its load: the fleet (nodes, CI runners,
 * desktops, each replicated workload's replicas) and every count of every workload step (nodes churned or added,
 * jobs fanned out, desktops arriving) are multiplied together, each rounded to
 * the nearest whole and kept at least 1 (a 0 stays 0). The same rounding
 * everywhere keeps a step's count within the fleet's (an arrival's desktops
 * never exceed fleet.desktops). Times, images, designs and the policy are
 * unchanged: what varies is how many ask, not how they ask.
 */
export function scaleLoad(scenario: Scenario, factor: number): Scenario {
  if (!(factor > 0) || !Number.isFinite(factor))
    throw new RangeError(`load factor must be a positive number, not ${factor}`);
  const copy = structuredClone(scenario);
  copy.fleet.nodes = scaled(copy.fleet.nodes, factor);
  copy.fleet.ciRunners = scaled(copy.fleet.ciRunners, factor);
  copy.fleet.desktops = scaled(copy.fleet.desktops, factor);
  copy.fleet.pods = copy.fleet.pods.map((p) =>
    typeof p === "string" ? p : { ...p, replicas: scaled(p.replicas, factor) },
  );
  for (const step of copy.workload) {
    if ("nodes" in step) step.nodes = scaled(step.nodes, factor);
    if ("jobs" in step) step.jobs = scaled(step.jobs, factor);
    if ("desktops" in step) step.desktops = scaled(step.desktops, factor);
  }
  return copy;
}

interface SearchOptions {
  design: string;
  live?: boolean;
  timeScale?: number;
  /** The run's seed (default the scenario's). */
  seed?: number;
}

/** One full run (virtual unless live) of one design; its verdict and first break. */
async function tryOnce(
  scenario: Scenario,
  value: number,
  options: SearchOptions,
): Promise<BreakpointTry> {
  const fold = new RunFold(scenario, [options.design]);
  const { designs: _designs, ...meta } = await playScenario(scenario, {
    mode: options.live ? "live" : "virtual",
    designs: [options.design],
    ...(options.seed !== undefined ? { seed: options.seed } : {}),
    ...(options.timeScale ? { timeScale: options.timeScale } : {}),
    onEvent: (e) => fold.add(e),
  });
  const { report, analysis } = fold.finish(meta, { loadBreaks: {} });
  const d = report.designs[0];
  const a = analysis.designs[0];
  return {
    value,
    verdict: d?.verdict === "holds" ? "holds" : "breaks",
    firstBreakSeconds: d?.firstBreakSeconds ?? null,
    reason: d?.firstBreak?.reason ?? null,
    layer: a?.firstBreak?.layer ?? null,
    ...(report.clock.mode === "live" ? { clockKeptUp: report.clock.keptUp } : {}),
  };
}

/**
 * Binary search for the largest value of `vary` (a dotted path to one whole
 * number) at which the design still holds, assuming more load never helps.
 * Each try is a full run (virtual by default).
 */
export async function findBreakpoint(
  scenario: Scenario,
  options: SearchOptions & { vary: string; min: number; max: number },
): Promise<BreakpointResult> {
  const tries: BreakpointTry[] = [];
  const holds = async (value: number): Promise<boolean> => {
    const t = await tryOnce(withValue(scenario, options.vary, value), value, options);
    tries.push(t);
    return t.verdict === "holds";
  };
  const result = (holdsAt: number | null, breaksAt: number | null): BreakpointResult => ({
    vary: options.vary,
    holdsAt,
    breaksAt,
    layer: breaksAt === null ? null : (tries.find((t) => t.value === breaksAt)?.layer ?? null),
    tries,
  });
  if (!(await holds(options.min))) return result(null, options.min);
  if (await holds(options.max)) return result(options.max, null);
  let lo = options.min;
  let hi = options.max;
  while (hi - lo > 1) {
    const mid = Math.floor((lo + hi) / 2);
    if (await holds(mid)) lo = mid;
    else hi = mid;
  }
  return result(lo, hi);
}

/**
 * The load factor at which a design breaks: `scaleLoad` at x1 first, then
 * doubling (or halving) until the verdict changes, then bisection on a grid of
 * hundredths (x0.01 .. `max`), assuming more load never helps. `holdsAt` is the
 * largest factor tried that holds, `breaksAt` the smallest that breaks, at most
 * 0.01 apart (or null at the ends of [min, max]); `layer` is the first break's
 * layer at `breaksAt`. Each try is a full run of the one design (virtual by
 * default): about ten runs.
 */
export async function findBreakingLoad(
  scenario: Scenario,
  options: SearchOptions & { min?: number; max?: number },
): Promise<BreakpointResult> {
  // Factors as whole hundredths, so the search ends and the answers read well.
  const min = Math.max(1, Math.round((options.min ?? 1 / 16) * 100));
  const max = Math.max(min, Math.round((options.max ?? 16) * 100));
  const tries: BreakpointTry[] = [];
  const seen = new Map<number, boolean>();
  const holds = async (k: number): Promise<boolean> => {
    const known = seen.get(k);
    if (known !== undefined) return known;
    const t = await tryOnce(scaleLoad(scenario, k / 100), k / 100, options);
    tries.push(t);
    seen.set(k, t.verdict === "holds");
    return t.verdict === "holds";
  };
  const result = (lo: number | null, hi: number | null): BreakpointResult => ({
    vary: LOAD,
    holdsAt: lo === null ? null : lo / 100,
    breaksAt: hi === null ? null : hi / 100,
    layer: hi === null ? null : (tries.find((t) => t.value === hi / 100)?.layer ?? null),
    tries,
  });
  let lo: number;
  let hi: number;
  const start = Math.min(max, Math.max(min, 100));
  if (await holds(start)) {
    lo = start;
    hi = Math.min(max, start * 2);
    while (await holds(hi)) {
      if (hi === max) return result(max, null);
      lo = hi;
      hi = Math.min(max, hi * 2);
    }
  } else {
    hi = start;
    lo = Math.max(min, Math.floor(start / 2));
    while (!(await holds(lo))) {
      if (lo === min) return result(null, min);
      hi = lo;
      lo = Math.max(min, Math.floor(lo / 2));
    }
  }
  while (hi - lo > 1) {
    const mid = Math.floor((lo + hi) / 2);
    if (await holds(mid)) lo = mid;
    else hi = mid;
  }
  return result(lo, hi);
}

/**
 * A near miss's breaking load for the findings: `findBreakingLoad` from x1 up
 * to `max` (virtual, the run's seed).
 */
export async function nearMissLoadBreak(
  scenario: Scenario,
  design: string,
  options: { max?: number; seed?: number } = {},
): Promise<LoadBreak> {
  const max = options.max ?? 4;
  const r = await findBreakingLoad(scenario, {
    design,
    min: 1,
    max,
    ...(options.seed !== undefined ? { seed: options.seed } : {}),
  });
  return { holdsAt: r.holdsAt, breaksAt: r.breaksAt, maxTried: max, layer: r.layer };
}
