/**
 * A run as users ask for it: an engine plays the scenario and emits events, and
 * the reports fold that stream as it flows (reports/fold.ts), so report.json and
 * the analysis come out the same way for every engine, without keeping the
 * events unless asked.
 */
import type { Analysis, LoadBreak, RunReport } from "../reports/analysis-types.ts";
import { RunFold } from "../reports/fold.ts";
import type { RunOptions } from "../simulator/run.ts";
import type { Scenario } from "../simulator/scenario/schema.ts";
import type { SimEvent } from "../vocabulary/events.ts";
import { nearMissLoadBreak } from "./breakpoint.ts";
import { playDesigns } from "./parallel.ts";

export interface HarnessOptions extends RunOptions {
  /**
   * Keep every event and return them (default true). The report and the
   * analysis are folded as events happen either way; large runs pass false so
   * memory does not grow with the event count.
   */
  keepEvents?: boolean;
  /** Share of a limit past which a holding design is a near miss (default: the scenario's, 0.8). */
  nearMissThreshold?: number;
  /**
   * Work out where each near miss breaks as the load grows (virtual re-runs of
   * that design, `nearMissLoadBreak`); default true. Not after an interrupt.
   */
  loadBreakpoints?: boolean;
  /**
   * Virtual: how many designs play at once, on worker threads (harness/parallel.ts;
   * default 1, one after the other). The events and reports are the same either way.
   */
  jobs?: number;
  /** The run's fold, before the first event: a live console finishes it on demand (dashboard/view.ts). */
  onFold?: (fold: RunFold) => void;
}

export async function runScenario(
  scenario: Scenario,
  options: HarnessOptions,
): Promise<{ report: RunReport; events: SimEvent[]; analysis: Analysis }> {
  const names = scenario.designs
    .filter((d) => !options.designs || options.designs.includes(d.name))
    .map((d) => d.name);
  const keep = options.keepEvents !== false;
  const events: SimEvent[] = [];
  const fold = new RunFold(scenario, names);
  options.onFold?.(fold);
  let folding = true;
  const { onFold: _onFold, ...rest } = options;
  const { designs: _designs, ...meta } = await playDesigns(scenario, {
    ...rest,
    onEvent: (e) => {
      if (keep) events.push(e);
      if (folding) fold.add(e);
      options.onEvent?.(e);
    },
  });
  // Stragglers after this point (live requests still in flight) reach onEvent only.
  folding = false;
  const threshold =
    options.nearMissThreshold !== undefined ? { nearMissThreshold: options.nearMissThreshold } : {};
  const loadBreaks: Record<string, LoadBreak> = {};
  if (options.loadBreakpoints !== false && !meta.interrupted)
    for (const design of fold.nearMisses(threshold))
      loadBreaks[design] = await nearMissLoadBreak(scenario, design, { seed: meta.seed });
  return { ...fold.finish(meta, { ...threshold, loadBreaks }), events };
}
