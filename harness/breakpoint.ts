import type { Scenario } from "../simulator/scenario/schema.ts";
import { runScenario } from "./run.ts";

export interface BreakpointResult {
  vary: string;
  holdsAt: number | null;
  breaksAt: number | null;
  /** Every value tried, in order, and the verdict. */
  tries: Array<{
    value: number;
    verdict: "holds" | "breaks";
    firstBreakSeconds: number | null;
    reason: string | null;
    /** Live tries: false when the machine fell behind the scaled clock (that try's verdict is distorted). */
    clockKeptUp?: boolean;
  }>;
}

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
  // Steps that act on "all the nodes" follow the fleet size when it is what varies.
  return copy;
}

/**
 * Binary search for the largest value of `vary` at which the design still
 * holds, assuming more load never helps. Each try is a full run (virtual by default).
 */
export async function findBreakpoint(
  scenario: Scenario,
  options: {
    design: string;
    vary: string;
    min: number;
    max: number;
    live?: boolean;
    timeScale?: number;
  },
): Promise<BreakpointResult> {
  const tries: BreakpointResult["tries"] = [];
  const verdict = async (value: number): Promise<boolean> => {
    const { report } = await runScenario(withValue(scenario, options.vary, value), {
      mode: options.live ? "live" : "virtual",
      designs: [options.design],
      ...(options.timeScale ? { timeScale: options.timeScale } : {}),
    });
    const d = report.designs[0];
    const holds = d?.verdict === "holds";
    tries.push({
      value,
      verdict: holds ? "holds" : "breaks",
      firstBreakSeconds: d?.firstBreakSeconds ?? null,
      reason: d?.firstBreak?.reason ?? null,
      ...(report.clock.mode === "live" ? { clockKeptUp: report.clock.keptUp } : {}),
    });
    return holds;
  };
  if (!(await verdict(options.min)))
    return { vary: options.vary, holdsAt: null, breaksAt: options.min, tries };
  if (await verdict(options.max))
    return { vary: options.vary, holdsAt: options.max, breaksAt: null, tries };
  let lo = options.min;
  let hi = options.max;
  while (hi - lo > 1) {
    const mid = Math.floor((lo + hi) / 2);
    if (await verdict(mid)) lo = mid;
    else hi = mid;
  }
  return { vary: options.vary, holdsAt: lo, breaksAt: hi, tries };
}
