import type { Scenario } from "../simulator/scenario/schema.ts";
import type { SimEvent } from "../vocabulary/events.ts";
import { analysisOf, type DesignAnalyzer, designAnalyzers } from "./analysis.ts";
import type { Analysis } from "./analysis-types.ts";
import { ClockFold } from "./clock.ts";
import { DesignSummarizer, type Report, type ReportMeta, reportOf } from "./summary.ts";

/**
 * The one fold of a run's event stream: report.json's summaries and the
 * analysis, built event by event (one summarizer and one analyzer per design),
 * whichever engine emitted the events and whether they arrive live or are read
 * back from events.jsonl. Nothing is kept but the folds' own state.
 */
export class RunFold {
  private readonly scenario: Scenario;
  private readonly names: string[];
  private readonly summarizers: DesignSummarizer[];
  private readonly analyzers: DesignAnalyzer[];
  private readonly byDesign: Map<string, { summary: DesignSummarizer; analysis: DesignAnalyzer }>;
  private readonly clock: ClockFold;
  private readonly interrupted = new Set<string>();

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
    const fold = this.byDesign.get(e.design);
    if (!fold) return;
    if (e.type === "clock") {
      this.clock.add(e);
      return;
    }
    if (this.interrupted.has(e.design)) return;
    if (e.type === "interrupt") {
      this.interrupted.add(e.design);
      fold.summary.add(e);
      return;
    }
    fold.summary.add(e);
    fold.analysis.add(e);
  }

  /** report.json and the analysis, once every event is in. */
  finish(meta: Omit<ReportMeta, "designs">): { report: Report; analysis: Analysis } {
    const report = reportOf(
      this.scenario,
      this.summarizers.map((s) => s.result()),
      { ...meta, designs: this.names },
      this.clock.finish(meta),
    );
    return { report, analysis: analysisOf(this.scenario, this.analyzers, report) };
  }
}

/** The fold of events already at hand (tests, the package API). */
export function foldEvents(
  scenario: Scenario,
  events: Iterable<SimEvent>,
  meta: ReportMeta,
): { report: Report; analysis: Analysis } {
  const fold = new RunFold(scenario, meta.designs);
  for (const e of events) fold.add(e);
  return fold.finish(meta);
}
