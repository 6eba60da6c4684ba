// Live runs in tests: a run either kept up with its scaled clock, or, on a
// machine too busy for it, said so loudly. Never a pass on a distorted clock,
// and never an excuse on a machine that was not overloaded.
import { availableParallelism, loadavg } from "node:os";
import { expect } from "vitest";

/**
 * Why this machine cannot be expected to keep a live clock (more than two
 * runnable processes per core over the last minute or the last five, which
 * covers a run of a minute or more: the load may have passed by its end), or
 * undefined.
 */
export function overloaded(): string | undefined {
  const [one = 0, five = 0] = loadavg();
  const load = Math.max(one, five);
  const cores = availableParallelism();
  return load > 2 * cores
    ? `machine overloaded (load average ${one.toFixed(1)} over 1 min, ${five.toFixed(1)} over 5 min, on ${cores} cores)`
    : undefined;
}

export interface ClockedReport {
  clock: { keptUp: boolean; timeScale?: number };
  designs: Array<{ name: string }>;
  expectations: Array<{ check: string; passed: boolean }>;
}

/**
 * True when the run kept up. Otherwise asserts that the machine was
 * overloaded and that every design carries a failed "the clock kept up" check
 * (and, given the CLI's output, the warning), and returns false.
 */
export function keptUpOrSaidSo(report: ClockedReport, output?: string): boolean {
  const checks = report.expectations.filter((e) => e.check === "the clock kept up");
  expect(checks.length, output).toBe(report.designs.length);
  if (report.clock.keptUp) return true;
  const busy = overloaded();
  expect(
    busy,
    `the clock fell behind on a machine that was not overloaded\n${output ?? ""}`,
  ).toBeDefined();
  expect(checks.some((e) => !e.passed)).toBe(true);
  if (output !== undefined) expect(output).toContain("THE CLOCK FELL BEHIND");
  console.warn(`${busy}: the live run fell behind and said so`);
  return false;
}
