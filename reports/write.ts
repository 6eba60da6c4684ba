import {
  closeSync,
  openSync,
  readFileSync,
  readSync,
  renameSync,
  rmSync,
  writeFileSync,
  writeSync,
} from "node:fs";
import { join } from "node:path";
import type { Scenario } from "../simulator/scenario/schema.ts";
import type { SimEvent } from "../vocabulary/events.ts";
import type { Analysis, LoadBreak, RunReport } from "./analysis-types.ts";
import { RunFold } from "./fold.ts";
import { renderHtml } from "./html.ts";
import { renderJunit } from "./junit.ts";
import { renderMarkdown } from "./markdown.ts";
import type { Report } from "./summary.ts";

export const FORMATS = ["json", "md", "html", "junit"] as const;
export type FileFormat = (typeof FORMATS)[number];

export const FILE_OF: Record<FileFormat, string> = {
  json: "report.json",
  md: "report.md",
  html: "report.html",
  junit: "junit.xml",
};

/** Writes a file whole or not at all: a temporary file beside it, renamed over it (removed on a failure). */
export function writeAtomic(file: string, text: string): void {
  const temporary = `${file}.tmp`;
  try {
    writeFileSync(temporary, text);
    renameSync(temporary, file);
  } catch (error) {
    rmSync(temporary, { force: true });
    throw error;
  }
}

/** report.json's text, byte for byte. */
export function reportJsonText(report: Report): string {
  return `${JSON.stringify(report, null, 2)}\n`;
}

/** Writes the chosen report files of a run into its directory; returns the analysis and the file names. */
export function writeRunReports(
  dir: string,
  report: Report,
  analysis: Analysis,
  formats: readonly FileFormat[] = FORMATS,
): string[] {
  const render: Record<FileFormat, () => string> = {
    json: () => reportJsonText(report),
    md: () => renderMarkdown(analysis),
    html: () => renderHtml(analysis),
    junit: () => renderJunit(analysis),
  };
  for (const f of formats) writeAtomic(join(dir, FILE_OF[f]), render[f]());
  return formats.map((f) => FILE_OF[f]);
}

/**
 * events.jsonl as a run produces it: one JSON line per event, encoded into a
 * buffer as it comes and written synchronously whenever the buffer is full,
 * so a fast virtual run neither pays for a write per event nor queues the
 * whole file in memory behind a stream, and no event's line outlives its
 * encoding (the lines of a megabyte no longer wait in an array for a join).
 */
export class EventLog {
  private fd: number | undefined;
  private readonly buffer: Buffer;
  private used = 0;

  constructor(file: string, options: { bufferBytes?: number } = {}) {
    this.fd = openSync(file, "w");
    this.buffer = Buffer.allocUnsafe(options.bufferBytes ?? 1 << 20);
  }

  /** Appends one event; ignored once closed (stragglers of a live run). */
  write(event: SimEvent): void {
    if (this.fd === undefined) return;
    const line = JSON.stringify(event);
    // UTF-8 takes at most 3 bytes per UTF-16 unit, and the newline one more.
    const most = line.length * 3 + 1;
    if (this.used + most > this.buffer.length) {
      this.flush();
      if (most > this.buffer.length) {
        writeAll(this.fd, Buffer.from(`${line}\n`));
        return;
      }
    }
    this.used += this.buffer.write(line, this.used);
    this.buffer[this.used++] = 0x0a;
  }

  private flush(): void {
    if (this.fd === undefined || this.used === 0) return;
    writeAll(this.fd, this.buffer.subarray(0, this.used));
    this.used = 0;
  }

  close(): void {
    this.flush();
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }
}

/** Writes every byte (a write may take fewer than it is given). */
function writeAll(fd: number, bytes: Buffer): void {
  for (let at = 0; at < bytes.length; ) at += writeSync(fd, bytes, at, bytes.length - at);
}

/** Each line of a text file, read in chunks (a large events.jsonl is never held whole). */
export function* linesOf(file: string, chunkBytes = 1 << 22): Generator<string> {
  const fd = openSync(file, "r");
  try {
    const buffer = Buffer.alloc(chunkBytes);
    const decoder = new TextDecoder("utf-8");
    let rest = "";
    for (;;) {
      const n = readSync(fd, buffer, 0, chunkBytes, null);
      const text = rest + decoder.decode(buffer.subarray(0, n), { stream: n > 0 });
      const rows = text.split("\n");
      rest = n > 0 ? (rows.pop() as string) : "";
      yield* rows;
      if (n === 0) break;
    }
  } finally {
    closeSync(fd);
  }
}

/** Reads a run back: its scenario (as run), and its report and analysis rebuilt from events.jsonl. */
export function readRun(
  dir: string,
  scenarioOf: (text: string, file: string) => Scenario,
): { scenario: Scenario; report: RunReport; analysis: Analysis } {
  const scenarioFile = join(dir, "scenario.yaml");
  const scenario = scenarioOf(readFileSync(scenarioFile, "utf8"), scenarioFile);
  const old = JSON.parse(readFileSync(join(dir, "report.json"), "utf8")) as Report &
    Partial<RunReport>;
  // The report is a pure function of the events and the scenario: rebuild it rather than trust the file.
  const fold = new RunFold(
    scenario,
    old.designs.map((d) => d.name),
  );
  const eventsFile = join(dir, "events.jsonl");
  let line = 0;
  for (const row of linesOf(eventsFile)) {
    line++;
    if (!row.trim()) continue;
    let event: SimEvent;
    try {
      event = JSON.parse(row) as SimEvent;
    } catch {
      throw new Error(`${eventsFile}:${line}: not a JSON event`);
    }
    fold.add(event);
  }
  // Load breakpoints come from re-runs, not from the events: kept from the run's report.json.
  const loadBreaks: Record<string, LoadBreak> = {};
  for (const d of (old as Partial<RunReport>).designs ?? [])
    if (d.nearMiss?.load) loadBreaks[d.name] = d.nearMiss.load;
  return {
    scenario,
    ...fold.finish(
      {
        mode: old.mode,
        seed: old.seed,
        interrupted: old.interrupted,
        ...(old.timeScale ? { timeScale: old.timeScale } : {}),
        ...(old.target ? { target: old.target } : {}),
      },
      {
        loadBreaks,
        ...(old.nearMissThreshold !== undefined
          ? { nearMissThreshold: old.nearMissThreshold }
          : {}),
      },
    ),
  };
}
