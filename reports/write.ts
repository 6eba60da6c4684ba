import { readFileSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { SimEvent } from "../simulator/engine/events.ts";
import type { Scenario } from "../simulator/scenario/schema.ts";
import { analyze } from "./analysis.ts";
import type { Analysis } from "./analysis-types.ts";
import { renderHtml } from "./html.ts";
import { renderJunit } from "./junit.ts";
import { renderMarkdown } from "./markdown.ts";
import { buildReport, type Report } from "./summary.ts";

export const FORMATS = ["json", "md", "html", "junit"] as const;
export type FileFormat = (typeof FORMATS)[number];

export const FILE_OF: Record<FileFormat, string> = {
  json: "report.json",
  md: "report.md",
  html: "report.html",
  junit: "junit.xml",
};

/** Writes a file whole or not at all. */
export function writeAtomic(file: string, text: string): void {
  writeFileSync(`${file}.tmp`, text);
  renameSync(`${file}.tmp`, file);
}

/** Writes the chosen report files of a run into its directory; returns the analysis and the file names. */
export function writeRunReports(
  dir: string,
  report: Report,
  analysis: Analysis,
  formats: readonly FileFormat[] = FORMATS,
): string[] {
  const render: Record<FileFormat, () => string> = {
    json: () => `${JSON.stringify(report, null, 2)}\n`,
    md: () => renderMarkdown(analysis),
    html: () => renderHtml(analysis),
    junit: () => renderJunit(analysis),
  };
  for (const f of formats) writeAtomic(join(dir, FILE_OF[f]), render[f]());
  return formats.map((f) => FILE_OF[f]);
}

/** Reads a run back: its scenario (as run), its events and the meta of its report.json. */
export function readRun(
  dir: string,
  scenarioOf: (text: string, file: string) => Scenario,
): { scenario: Scenario; events: SimEvent[]; report: Report; analysis: Analysis } {
  const scenarioFile = join(dir, "scenario.yaml");
  const scenario = scenarioOf(readFileSync(scenarioFile, "utf8"), scenarioFile);
  const events: SimEvent[] = [];
  const text = readFileSync(join(dir, "events.jsonl"), "utf8");
  let line = 0;
  for (const row of text.split("\n")) {
    line++;
    if (!row.trim()) continue;
    try {
      events.push(JSON.parse(row) as SimEvent);
    } catch {
      throw new Error(`${join(dir, "events.jsonl")}:${line}: not a JSON event`);
    }
  }
  const old = JSON.parse(readFileSync(join(dir, "report.json"), "utf8")) as Report;
  // The report is a pure function of the events and the scenario: rebuild it rather than trust the file.
  const report = buildReport(scenario, events, {
    mode: old.mode,
    seed: old.seed,
    interrupted: old.interrupted,
    designs: old.designs.map((d) => d.name),
    ...(old.timeScale ? { timeScale: old.timeScale } : {}),
    ...(old.target ? { target: old.target } : {}),
  });
  return { scenario, events, report, analysis: analyze(scenario, events, report) };
}
