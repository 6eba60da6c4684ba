import type { Scenario } from "../simulator/scenario/schema.ts";
import type { SimEvent } from "../vocabulary/events.ts";
import {
  type AnalysisOptions,
  analysisOf,
  type DesignAnalyzer,
  designAnalyzers,
  isNearMiss,
  nearMissThresholdOf,
} from "./analysis.ts";
import type { Analysis, Mark, RunReport } from "./analysis-types.ts";
import { ClockFold } from "./clock.ts";
import { DesignSummarizer, type ReportMeta, reportOf } from "./summary.ts";

/** Marks kept per run (a facilitator's notes and control actions, one per design each). */
export const MAX_MARKS = 10_000;

/**
 * The one fold of a run's event stream: report.json's summaries and the
 * analysis, built event by event (one summarizer and one analyzer per design),
 * whichever engine emitted the events and whether they arrive live or are read
 * back from events.jsonl. Nothing is kept but the folds' own state (bounded by
 * the fleet, not by the number of events). Each event is numbered as it
 * arrives (1-based: its line in events.jsonl), for the findings' references.
 */
export class RunFold {
  private readonly scenario: Scenario;
  private readonly names: string[];
  private readonly summarizers: DesignSummarizer[];
  private readonly analyzers: DesignAnalyzer[];
  private readonly byDesign: Map<string, { summary: DesignSummarizer; analysis: DesignAnalyzer }>;
  private readonly clock: ClockFold;
  private seq = 0;
  private readonly interrupted = new Set<string>();
  /** Marked moments (mark events), in arrival order, at most MAX_MARKS. */
  private readonly marks: Mark[] = [];

  constructor(scenario: Scenario, designs: string[]) {
    this.scenario = scenario;
    this.names = designs;
    this.summarizers = designs.map((d) => new DesignSummarizer(d));
    this.analyzers = designAnalyzers(scenario, designs);
    this.clock = new ClockFold(scenario, designs);
    this.byDesign = new Map(
      this.analyzers.map((analysis) => [
        analysis.design.name,
        {
          summary: this.summarizers[designs.indexOf(analysis.design.name)] as DesignSummarizer,
          analysis,
        },
      ]),
    );
  }

  /**
   * Takes one event; other designs' are ignored. After a design's interrupt
   * (SIGINT) only its clock events count: units left waiting and requests cut
   * off are the engine stopping, not the design breaking.
   */
  add(e: SimEvent): void {
    const seq = ++this.seq;
    const fold = this.byDesign.get(e.design);
    if (!fold) return;
    if (e.type === "clock") {
      this.clock.add(e);
      return;
    }
    if (e.type === "mark") {
      // Kept after an interrupt too: a note taken while the run stops is still the game day's.
      if (this.marks.length < MAX_MARKS)
        this.marks.push({ t: e.t, design: e.design, action: e.action, text: e.text });
      return;
    }
    if (this.interrupted.has(e.design)) return;
    if (e.type === "interrupt") {
      this.interrupted.add(e.design);
      fold.summary.add(e);
      return;
    }
    fold.summary.add(e);
    fold.analysis.add(e, seq);
  }

  /**
   * The designs that hold so far with a limit used past the near-miss threshold
   * (before `finish`): the ones whose load breakpoint is worth working out.
   */
  nearMisses(options: Pick<AnalysisOptions, "nearMissThreshold"> = {}): string[] {
    const threshold = nearMissThresholdOf(this.scenario, options);
    return [...this.byDesign]
      .filter(([, f]) => isNearMiss(f.summary.result().verdict, f.analysis.peakUse(), threshold))
      .map(([name]) => name);
  }

  /** report.json and the analysis, once every event is in. */
  finish(
    meta: Omit<ReportMeta, "designs">,
    options: AnalysisOptions = {},
  ): { report: RunReport; analysis: Analysis } {
    const base = reportOf(
      this.scenario,
      this.summarizers.map((s) => s.result()),
      { ...meta, designs: this.names },
      this.clock.finish(meta),
    );
    const marks = [...this.marks];
    const analysis = analysisOf(this.scenario, this.analyzers, base, { ...options, marks });
    const report: RunReport = {
      ...base,
      designs: base.designs.map((d) => {
        const nearMiss = analysis.designs.find((a) => a.name === d.name)?.nearMiss;
        return nearMiss ? { ...d, nearMiss } : d;
      }),
      nearMissThreshold: analysis.nearMissThreshold,
      cheapestHolding: analysis.cheapestHolding,
      holding: analysis.holding,
      chains: analysis.chains,
      findings: analysis.findings,
      ...(marks.length > 0 ? { marks } : {}),
    };
    return { report, analysis };
  }
}

/** The fold of events already at hand (tests, the package API). */
export function foldEvents(
  scenario: Scenario,
  events: Iterable<SimEvent>,
  meta: ReportMeta,
  options: AnalysisOptions = {},
): { report: RunReport; analysis: Analysis } {
  const fold = new RunFold(scenario, meta.designs);
  for (const e of events) fold.add(e);
  return fold.finish(meta, options);
}
