/**
 * A run as users ask for it: an engine plays the scenario and emits events, and
 * the reports fold that stream as it flows (one summarizer and one analyzer per
 * design), so report.json and the analysis come out the same way for every
 * engine, without keeping the events unless asked.
 */
import { analysisOf, designAnalyzers } from "../reports/analysis.ts";
import type { Analysis } from "../reports/analysis-types.ts";
import { DesignSummarizer, type Report, reportOf } from "../reports/summary.ts";
import { playScenario, type RunOptions } from "../simulator/run.ts";
import type { Scenario } from "../simulator/scenario/schema.ts";
import type { SimEvent } from "../vocabulary/events.ts";

export interface HarnessOptions extends RunOptions {
  /**
   * Keep every event and return them (default true). The report and the
   * analysis are folded as events happen either way; large runs pass false so
   * memory does not grow with the event count.
   */
  keepEvents?: boolean;
}

export async function runScenario(
  scenario: Scenario,
  options: HarnessOptions,
): Promise<{ report: Report; events: SimEvent[]; analysis: Analysis }> {
  const names = scenario.designs
    .filter((d) => !options.designs || options.designs.includes(d.name))
    .map((d) => d.name);
  const keep = options.keepEvents !== false;
  const events: SimEvent[] = [];
  const summarizers = names.map((d) => new DesignSummarizer(d));
  const analyzers = designAnalyzers(scenario, names);
  const folds = new Map(
    names.map((name, i) => [name, { summary: summarizers[i], analysis: analyzers[i] }] as const),
  );
  let folding = true;
  const meta = await playScenario(scenario, {
    ...options,
    onEvent: (e) => {
      if (keep) events.push(e);
      const fold = folding ? folds.get(e.design) : undefined;
      if (fold) {
        fold.summary?.add(e);
        fold.analysis?.add(e);
      }
      options.onEvent?.(e);
    },
  });
  // Stragglers after this point (live requests still in flight) reach onEvent only.
  folding = false;
  const report = reportOf(
    scenario,
    summarizers.map((s) => s.result()),
    meta,
  );
  return { report, events, analysis: analysisOf(scenario, analyzers, report) };
}
