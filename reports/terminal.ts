import { createColors } from "picocolors";
import { plural, wrap } from "../vocabulary/text.ts";
import type { Analysis, DesignAnalysis, FirstBreak } from "./analysis-types.ts";
import { clockText } from "./clock.ts";
import { chainLines, findingText, registriesText } from "./findings-text.ts";
import { type ExpectationResult, failed, p95StartOf } from "./summary.ts";
import { formatSeconds } from "./time.ts";

/** Seconds as a person reads them (2m10s, 2h, 0.4s); "-" for none. */
export function formatDuration(seconds: number | null | undefined): string {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds)) return "-";
  if (seconds < 0) return `-${formatDuration(-seconds)}`;
  // Sub-0.1 s latencies (a warm mirror, virtual time) would all round to "0s".
  if (seconds > 0 && seconds < 0.1) return `${Math.max(1, Math.round(seconds * 1000))}ms`;
  return formatSeconds(seconds);
}

/** "node-17 (127.1.0.2) pulling library/nginx:1.25: registry-quota 429" */
export function describeBreak(b: FirstBreak): string {
  const who = `${b.actor}${b.identity ? ` (${b.identity})` : ""}${b.image ? ` pulling ${b.image}` : ""}`;
  const layer = `${b.layer}${b.status ? ` ${b.status}` : ""}`;
  // The client's own words when they say more than the layer's name does.
  const reason = b.reason && !b.layer.includes(b.reason) ? ` (${b.reason})` : "";
  return `${who}: ${layer}${reason}`;
}

/**
 * "holds", "breaks", "holds, near miss (88 %)" (of a limit), or "incomplete
 * (no break before the interrupt at 12m)".
 */
export function verdictText(d: DesignAnalysis): string {
  const s = d.summary;
  if (s.verdict === "incomplete")
    return `incomplete (no break before the interrupt at ${formatDuration(s.interruptedAtSeconds ?? 0)})`;
  return d.nearMiss ? `holds, near miss (${Math.round(d.nearMiss.share * 100)} %)` : s.verdict;
}

/** "p95 start" cell: percentiles cover what started, so say when some never did. */
export function startCell(d: DesignAnalysis): string {
  const p95 = p95StartOf(d.summary);
  const base = p95 === null ? "-" : formatDuration(p95);
  return d.summary.units.failed > 0 ? `${base} (${d.summary.units.failed} never started)` : base;
}

/** PASS, FAIL or SKIP: a skipped expectation (interrupted run) is neither passed nor failed. */
export function resultText(e: ExpectationResult): "PASS" | "FAIL" | "SKIP" {
  return e.skipped !== undefined ? "SKIP" : e.passed ? "PASS" : "FAIL";
}

export function actualText(actual: ExpectationResult["actual"]): string {
  return actual === null ? "none" : String(actual);
}

const severityRank = { critical: 0, warning: 1, info: 2 } as const;

/** Findings, most severe first; stable within a severity. */
export function rankFindings(findings: Analysis["findings"]): Analysis["findings"] {
  return findings
    .map((f, i) => ({ f, i }))
    .sort((a, b) => severityRank[a.f.severity] - severityRank[b.f.severity] || a.i - b.i)
    .map((x) => x.f);
}

export interface TerminalOptions {
  color: boolean;
  /** Files written to `out`, named in the last line (default: events.jsonl and report.json). */
  files?: string[];
  /** Findings shown (default 5); the rest are counted. */
  maxFindings?: number;
}

/** Findings are wrapped to this many columns (fixed, so the output does not depend on the terminal). */
const WIDTH = 100;

function pad(text: string, width: number, paint: (s: string) => string = (s) => s): string {
  return paint(text) + " ".repeat(Math.max(0, width - text.length));
}

/** The summary printed after every run: the design matrix, first breaks, top findings, expectations and where the files are. */
export function renderTerminalSummary(
  analysis: Analysis,
  out: string,
  options: TerminalOptions,
): string {
  const c = createColors(options.color);
  const { scenario } = analysis;
  const lines: string[] = [];
  lines.push(
    `${c.bold(scenario.name)} ${c.dim(`(${scenario.mode}, seed ${scenario.seed}, ${formatDuration(scenario.durationSeconds)} simulated${scenario.preset ? `, ${scenario.preset}` : ""}${registriesText(scenario)})`)}${scenario.interrupted ? `  ${c.yellow(c.bold("INTERRUPTED"))}` : ""}`,
  );

  // Live runs: did the clock keep up? Loud when it did not.
  const clock = clockText(analysis.clock);
  if (clock) {
    lines.push("");
    const [first = "", ...rest] = wrap(clock.headline, WIDTH - 4);
    const paint = clock.keptUp ? c.green : (s: string) => c.red(c.bold(s));
    lines.push(`  ${paint(first)}`);
    for (const l of rest) lines.push(`  ${paint(l)}`);
    for (const d of clock.details)
      for (const [i, l] of wrap(d, WIDTH - 8).entries())
        lines.push(c.dim(`    ${i ? "  " : ""}${l}`));
  }

  // The design matrix.
  const header = [
    "design",
    "verdict",
    "first break",
    "pulls ok/failed",
    "upstream GET/HEAD/429",
    "p95 start",
  ];
  const rows = analysis.designs.map((d) => {
    const s = d.summary;
    return {
      d,
      cells: [
        d.name,
        s.verdict === "incomplete"
          ? `incomplete (to ${formatDuration(s.interruptedAtSeconds ?? 0)})`
          : verdictText(d),
        d.firstBreak
          ? `${formatDuration(d.firstBreak.t)} ${d.firstBreak.layer}`
          : s.firstBreakSeconds !== null
            ? formatDuration(s.firstBreakSeconds)
            : "-",
        `${s.pulls.ok + s.pulls.cached}/${s.pulls.failed}`,
        `${s.upstream.manifestGet}/${s.upstream.manifestHead}/${s.upstream.status["429"] ?? 0}`,
        startCell(d),
      ],
    };
  });
  const widths = header.map((h, i) =>
    Math.max(h.length, ...rows.map((r) => r.cells[i]?.length ?? 0)),
  );
  const w = (i: number) => widths[i] ?? 0;
  lines.push("");
  lines.push(
    c.dim(`    ${header.map((h, i) => (i === header.length - 1 ? h : pad(h, w(i)))).join("  ")}`),
  );
  for (const { d, cells } of rows) {
    const cheapest = analysis.cheapestHolding === d.name;
    const marker = cheapest ? c.green("*") : " ";
    const paintVerdict =
      d.nearMiss || d.summary.verdict === "incomplete"
        ? c.yellow
        : d.summary.verdict === "holds"
          ? c.green
          : c.red;
    const text = cells.map((cell, i) => {
      if (i === 0) return pad(cell, w(i), cheapest ? c.bold : undefined);
      if (i === 1) return pad(cell, w(i), paintVerdict);
      if (i === 2 && d.firstBreak) return pad(cell, w(i), c.red);
      if (i === cells.length - 1) return cell;
      return pad(cell, w(i));
    });
    lines.push(`  ${marker} ${text.join("  ")}`);
  }
  lines.push("");
  lines.push(
    analysis.cheapestHolding
      ? `  ${c.green("*")} cheapest design that holds: ${c.bold(c.green(analysis.cheapestHolding))}`
      : analysis.designs.some((d) => d.summary.verdict === "incomplete")
        ? `  ${c.yellow("no design held to the end: the run was interrupted")}`
        : `  ${c.red("no design holds")}${analysis.holding.length > 0 ? " with its expectations met" : ""}`,
  );
  for (const h of analysis.holding)
    if (h.skipped !== null || h.nearMiss)
      for (const [i, l] of wrap(
        h.skipped !== null
          ? `${h.design} held but is not ranked: ${h.skipped}`
          : `${h.design} holds, near miss (rank ${h.rank})`,
        WIDTH - 8,
      ).entries())
        lines.push(c.dim(`    ${i ? "  " : ""}${l}`));

  // Which mirror served each mirror design: a real one, or the model (and why).
  const mirrored = analysis.designs.filter((d) => d.mirror !== null);
  if (mirrored.length > 0) {
    lines.push("");
    lines.push(c.bold("  Mirrors"));
    const nameWidth = Math.max(...mirrored.map((d) => d.name.length));
    for (const d of mirrored) {
      const m = d.mirror as NonNullable<typeof d.mirror>;
      const text = `${pad(d.name, nameWidth)}  ${m.servedBy}`;
      lines.push(`    ${m.backend === "model" ? c.yellow(text) : text}`);
    }
  }

  // First breaks.
  const broken = analysis.designs.filter((d) => d.firstBreak !== null);
  if (broken.length > 0) {
    lines.push("");
    lines.push(c.bold("  First breaks"));
    const nameWidth = Math.max(...broken.map((d) => d.name.length));
    for (const d of broken) {
      const b = d.firstBreak as FirstBreak;
      lines.push(`    ${pad(d.name, nameWidth)}  at ${formatDuration(b.t)} ${describeBreak(b)}`);
    }
  }

  // Causal chains, then the top findings.
  const chains = chainLines(analysis);
  if (chains.length > 0) {
    lines.push("");
    lines.push(c.bold("  Causal chains"));
    for (const chain of chains) {
      const [first = "", ...rest] = wrap(chain, WIDTH - 4);
      lines.push(`    ${first}`);
      for (const l of rest) lines.push(`      ${l}`);
    }
  }
  if (analysis.findings.length > 0) {
    const max = options.maxFindings ?? 8;
    const ranked = rankFindings(analysis.findings);
    lines.push("");
    lines.push(c.bold("  Findings"));
    for (const f of ranked.slice(0, max)) {
      const paint =
        f.severity === "critical" ? c.red : f.severity === "warning" ? c.yellow : c.cyan;
      const text = findingText(f);
      const [first = "", ...rest] = wrap(`${f.design}: ${text.headline}`, WIDTH - 14);
      lines.push(`    ${pad(f.severity.toUpperCase(), 8, paint)}  ${first}`);
      for (const l of rest) lines.push(`              ${l}`);
      for (const e of text.evidence)
        for (const [i, l] of wrap(e, WIDTH - 17).entries())
          lines.push(c.dim(`              ${i ? "  " : "· "}${l}`));
      for (const [i, l] of wrap(`so: ${text.consequence}`, WIDTH - 17).entries())
        lines.push(`              ${i ? "    " : ""}${l}`);
      const [fix = "", ...more] = wrap(text.fix, WIDTH - 17);
      lines.push(`              ${c.dim("->")} ${fix}`);
      for (const l of more) lines.push(`                 ${l}`);
    }
    if (ranked.length > max)
      lines.push(c.dim(`    ... and ${ranked.length - max} more (report.md has them all)`));
  }

  // Expectations.
  if (analysis.expectations.length > 0) {
    lines.push("");
    lines.push(c.bold("  Expectations"));
    for (const e of analysis.expectations) {
      const result = resultText(e);
      const paint =
        result === "PASS"
          ? c.green
          : result === "SKIP"
            ? c.yellow
            : (s: string) => c.red(c.bold(s));
      lines.push(
        `    ${paint(result)}  ${e.design}: ${e.check} (${e.skipped ?? `actual ${actualText(e.actual)}`})`,
      );
    }
    const failures = analysis.expectations.filter(failed).length;
    const skipped = analysis.expectations.filter((e) => e.skipped !== undefined).length;
    const total = plural(analysis.expectations.length, "expectation");
    const skipNote = skipped > 0 ? `, ${skipped} skipped (interrupted)` : "";
    lines.push(
      failures === 0
        ? (skipped > 0 ? c.yellow : c.green)(
            `    ${total} checked, ${skipped > 0 ? "none failed" : "all pass"}${skipNote}`,
          )
        : c.red(`    ${failures} of ${total} failed${skipNote}`),
    );
  }

  lines.push("");
  const files = options.files ?? ["events.jsonl", "report.json"];
  lines.push(`  ${files.join(", ")} in ${c.bold(out)}`);
  return `${lines.join("\n")}\n`;
}
