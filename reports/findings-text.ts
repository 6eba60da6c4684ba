import type { Analysis, EventRef, Finding } from "./analysis-types.ts";

/** "events #12, #40" or "": where an evidence line's events are in events.jsonl (1-based lines). */
export function eventsText(events: EventRef[]): string {
  return events.length === 0 ? "" : ` (events.jsonl ${events.map((e) => `#${e.seq}`).join(", ")})`;
}

/**
 * A finding in words, the same for every renderer (terminal, Markdown, HTML,
 * JUnit): its headline with the code, the evidence lines, what it did, the fix
 * with its code, and what it follows from.
 */
export function findingText(f: Finding): {
  headline: string;
  evidence: string[];
  consequence: string;
  fix: string;
  after: string | null;
} {
  return {
    headline: `[${f.code}] ${f.cause}`,
    evidence: f.evidence.map((e) => `${e.text}${eventsText(e.events)}`),
    consequence: f.consequence,
    fix: `${f.fix.text} [${f.fix.code}]`,
    after: f.causedBy.length > 0 ? f.causedBy.join(", ") : null,
  };
}

/** Each design's causal chain as one line: "mirror: a -> b -> c". */
export function chainLines(analysis: Analysis): string[] {
  return analysis.chains.map((c) => `${c.design}: ${c.text}`);
}

/** "; ghcr.io ghcr, quay.io quay": the scenario's other registries and their presets, for a report's header ("" without any). */
export function registriesText(scenario: Pick<Analysis["scenario"], "registries">): string {
  const list = scenario.registries ?? [];
  return list.length > 0 ? `; ${list.map((r) => `${r.host} ${r.preset}`).join(", ")}` : "";
}
