/**
 * The scenario's load factor: the fleet and every workload step scaled
 * together (nodes, CI runners and jobs, desktops), and the quick breakpoint
 * over it that a near miss gets ("breaks at x1.3 of this load"). Virtual runs:
 * deterministic, seconds each.
 *
 * Minimal version written for issue 13's near misses; the breakpoint command's
 * `--vary load` (another change) is meant to share `scaleLoad`.
 */
import type { LoadBreak } from "../reports/analysis-types.ts";
import { RunFold } from "../reports/fold.ts";
import { playScenario } from "../simulator/run.ts";
import type { Scenario } from "../simulator/scenario/schema.ts";

/** A count scaled by `factor`, rounded, and never scaled to 0 from something. */
function scaled(n: number, factor: number): number {
  return n === 0 ? 0 : Math.max(1, Math.round(n * factor));
}

/** The scenario with its fleet and every workload step's count multiplied by `factor` (x1 = as written). */
export function scaleLoad(scenario: Scenario, factor: number): Scenario {
  const copy = structuredClone(scenario);
  copy.fleet.nodes = scaled(copy.fleet.nodes, factor);
  copy.fleet.ciRunners = scaled(copy.fleet.ciRunners, factor);
  copy.fleet.desktops = scaled(copy.fleet.desktops, factor);
  copy.workload = copy.workload.map((w) => {
    if ("nodes" in w) return { ...w, nodes: scaled(w.nodes, factor) };
    if ("jobs" in w) return { ...w, jobs: scaled(w.jobs, factor) };
    if ("desktops" in w) return { ...w, desktops: scaled(w.desktops, factor) };
    return w;
  });
  return copy;
}

/** One design's verdict and first-break layer at a load factor (a virtual run). */
async function verdictAt(
  scenario: Scenario,
  design: string,
  factor: number,
  seed: number,
): Promise<{ holds: boolean; layer: string | null }> {
  const s = scaleLoad(scenario, factor);
  const fold = new RunFold(s, [design]);
  const meta = await playScenario(s, {
    mode: "virtual",
    seed,
    designs: [design],
    onEvent: (e) => fold.add(e),
  });
  const { analysis } = fold.finish(meta, { loadBreaks: {} });
  const d = analysis.designs[0];
  return { holds: d?.summary.verdict === "holds", layer: d?.firstBreak?.layer ?? null };
}

/**
 * The smallest load factor (to 0.1) at which a design that holds at x1 breaks,
 * by doubling up to `max` then bisecting: at most about seven virtual runs.
 */
export async function findBreakingLoad(
  scenario: Scenario,
  design: string,
  options: { max?: number; seed?: number } = {},
): Promise<LoadBreak> {
  const max = options.max ?? 4;
  const seed = options.seed ?? scenario.seed;
  let lo = 1;
  let found: number | null = null;
  let layer: string | null = null;
  for (let f = 2; f <= max; f = Math.min(max, f * 2)) {
    const v = await verdictAt(scenario, design, f, seed);
    if (!v.holds) {
      found = f;
      layer = v.layer;
      break;
    }
    lo = f;
    if (f === max) break;
  }
  if (found === null) return { holdsAt: lo, breaksAt: null, maxTried: max, layer: null };
  let hi = found;
  while (Math.round((hi - lo) * 10) > 1) {
    const mid: number = Math.round(((lo + hi) / 2) * 10) / 10;
    const v = await verdictAt(scenario, design, mid, seed);
    if (v.holds) lo = mid;
    else {
      hi = mid;
      layer = v.layer;
    }
  }
  return { holdsAt: lo, breaksAt: hi, maxTried: max, layer };
}
