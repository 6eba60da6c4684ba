import { plural } from "../vocabulary/text.ts";
import type { Analysis, DesignAnalysis } from "./analysis-types.ts";
import { clockText } from "./clock.ts";
import { chainLines, findingText, registriesText } from "./findings-text.ts";
import { MARK_ACTION_TEXT, markRows } from "./marks.ts";
import { failed, p95StartOf } from "./summary.ts";
import {
  actualText,
  describeBreak,
  formatDuration,
  rankFindings,
  resultText,
  verdictText,
} from "./terminal.ts";

/** A table cell: one line, `|` escaped so it cannot open a column. */
export function cell(value: unknown): string {
  const text = value === null || value === undefined ? "" : String(value);
  return noHtml(text.replace(/\\/g, "\\\\")).replace(/\|/g, "\\|").replace(/\r?\n/g, " ");
}

/** `<word`, `</`, `<!`, `<?` would open raw HTML (and vanish when rendered); `<=` stays readable. */
function noHtml(text: string): string {
  return text.replace(/<(?=[A-Za-z/!?])/g, "&lt;");
}

/** Running text from the scenario or the findings. */
function prose(text: string): string {
  return noHtml(text.trim());
}

function table(header: string[], rows: unknown[][], align?: Array<"l" | "r">): string[] {
  const sep = header.map((_, i) => (align?.[i] === "r" ? "---:" : "---"));
  return [
    `| ${header.map(cell).join(" | ")} |`,
    `| ${sep.join(" | ")} |`,
    ...rows.map((r) => `| ${r.map(cell).join(" | ")} |`),
  ];
}

function percent(share: number | null | undefined): string {
  if (share === null || share === undefined || !Number.isFinite(share)) return "-";
  return `${Math.round(share * 1000) / 10}%`;
}

function ratio(n: number | null | undefined, digits = 2): string {
  if (n === null || n === undefined || !Number.isFinite(n)) return "-";
  return String(Math.round(n * 10 ** digits) / 10 ** digits);
}

function scope(value: unknown): string {
  if (value === undefined || value === null) return "everything";
  if (typeof value === "string") return value;
  return JSON.stringify(value);
}

function designLabel(analysis: Analysis, d: DesignAnalysis): string {
  return analysis.cheapestHolding === d.name ? `**${d.name}** (cheapest that holds)` : d.name;
}

/** Identities shown per design in the headroom table (the lowest); the rest share one row. */
const HEADROOM_ROWS = 5;

/** report.md: a game-day write-up of the run, to paste into a ticket. */
export function renderMarkdown(analysis: Analysis): string {
  const { scenario } = analysis;
  const md: string[] = [];
  const blank = () => md.push("");

  md.push(`# Game day: ${scenario.name}`);
  blank();
  md.push(
    `pullstorm, ${scenario.mode} run, seed ${scenario.seed}, ${formatDuration(scenario.durationSeconds)} simulated${scenario.preset ? `, registry preset \`${scenario.preset}\`` : ""}${registriesText(scenario)}, ${plural(analysis.designs.length, "design")}.`,
  );
  if (scenario.interrupted) {
    blank();
    md.push(
      "> **Interrupted:** the run was stopped before the end; the numbers below cover what was collected. A design with no break before the interrupt is *incomplete*, and its expectations are skipped, neither passed nor failed.",
    );
  }

  const clock = clockText(analysis.clock);
  if (clock) {
    blank();
    md.push(
      clock.keptUp
        ? `> **Clock:** ${prose(clock.headline)}`
        : `> **Warning:** ${prose(clock.headline)}`,
    );
    for (const d of clock.details) md.push(`> - ${prose(d)}`);
  }

  blank();
  md.push("## Hypothesis");
  blank();
  md.push(
    scenario.description.trim()
      ? prose(scenario.description)
      : "_The scenario has no description._",
  );

  blank();
  md.push("## Steady state: design matrix");
  blank();
  md.push(
    ...table(
      [
        "design",
        "verdict",
        "first break",
        "layer",
        "pulls ok",
        "pulls failed",
        "upstream pulls charged",
        "upstream manifest GET",
        "upstream manifest HEAD",
        "upstream 429",
        "p95 start",
        "units started",
      ],
      analysis.designs.map((d) => {
        const s = d.summary;
        const units = s.units.pods + s.units.jobs + s.units.desktops;
        const p95 = p95StartOf(s);
        return [
          designLabel(analysis, d),
          s.verdict,
          d.firstBreak ? formatDuration(d.firstBreak.t) : formatDuration(s.firstBreakSeconds),
          d.firstBreak?.layer ?? "-",
          s.pulls.ok + s.pulls.cached,
          s.pulls.failed,
          s.upstream.pulls ?? 0,
          s.upstream.manifestGet,
          s.upstream.manifestHead,
          s.upstream.status["429"] ?? 0,
          p95 === null ? "-" : formatDuration(p95),
          `${s.units.started}/${units}`,
        ];
      }),
      ["l", "l", "r", "l", "r", "r", "r", "r", "r", "r", "r", "r"],
    ),
  );

  blank();
  md.push("## Faults injected");
  blank();
  if (analysis.faults.length === 0)
    md.push("No faults were injected: the registry's throttling alone.");
  else
    md.push(
      ...table(
        ["fault", "type", "from", "to", "scope"],
        [...analysis.faults]
          .sort((a, b) => a.start - b.start)
          .map((f) => [
            f.id,
            f.type,
            formatDuration(f.start),
            f.end === null ? "end of run" : formatDuration(f.end),
            scope(f.scope),
          ]),
      ),
    );

  if (analysis.marks.length > 0) {
    blank();
    md.push("## Game-day marks");
    blank();
    md.push(
      "Marked from the live console during the run (notes and control actions), at simulated time:",
    );
    blank();
    md.push(
      ...table(
        ["at", "what", "designs", "note"],
        markRows(analysis.marks).map((m) => [
          formatDuration(m.t),
          MARK_ACTION_TEXT[m.action],
          m.designs.join(", "),
          m.text,
        ]),
      ),
    );
  }

  blank();
  md.push("## Blast radius");
  blank();
  md.push(
    ...table(
      [
        "design",
        "units",
        "peak waiting",
        "peak waiting share",
        "peak at",
        "peak pods in backoff",
        "retry amplification (retries per pull)",
        "requests per pull",
        "retry waves",
      ],
      analysis.designs.map((d) => [
        d.name,
        d.blastRadius.units,
        d.blastRadius.peakWaiting,
        percent(d.blastRadius.peakWaitingShare),
        formatDuration(d.blastRadius.peakAt),
        d.blastRadius.peakInBackoff,
        d.retryAmplification === null ? "-" : `${ratio(d.retryAmplification)} retries/pull`,
        d.requestsPerPull === null ? "-" : ratio(d.requestsPerPull),
        d.retryWaves,
      ]),
      ["l", "r", "r", "r", "r", "r", "r", "r", "r"],
    ),
  );

  blank();
  md.push("## Verdict");
  blank();
  for (const d of analysis.designs) {
    const b = d.firstBreak;
    md.push(
      `- **${d.name}** ${verdictText(d)}${b ? `: first break at ${formatDuration(b.t)}, ${describeBreak(b)}` : d.summary.firstBreakSeconds !== null ? `: first break at ${formatDuration(d.summary.firstBreakSeconds)}` : ""}`,
    );
  }
  blank();
  md.push(
    analysis.cheapestHolding
      ? `**Cheapest design that holds: ${analysis.cheapestHolding}.**`
      : "**No design holds** (or none that holds also meets its expectations).",
  );
  if (analysis.holding.length > 0) {
    blank();
    md.push("Designs that hold, cheapest first:");
    blank();
    for (const h of analysis.holding)
      md.push(
        h.skipped !== null
          ? `- ${h.design} (cost ${h.cost}): not ranked, ${prose(h.skipped)}`
          : `${h.rank}. ${h.design} (cost ${h.cost})${h.nearMiss ? ", holds, near miss" : ""}`,
      );
  }

  blank();
  md.push("## Findings");
  blank();
  const findings = rankFindings(analysis.findings);
  if (analysis.chains.length > 0) {
    md.push("Causal chains:");
    blank();
    for (const line of chainLines(analysis)) md.push(`- ${prose(line)}`);
    blank();
  }
  if (findings.length === 0) md.push("No findings.");
  for (const f of findings) {
    const text = findingText(f);
    md.push(`- **${f.severity}**, ${f.design}: ${prose(text.headline)}`);
    for (const e of text.evidence) md.push(`  - Evidence: ${prose(e)}`);
    md.push(`  - Consequence: ${prose(text.consequence)}`);
    if (text.after) md.push(`  - Follows from: ${prose(text.after)}`);
    md.push(`  - Fix: ${prose(text.fix)}`);
  }

  blank();
  md.push("## Action items");
  blank();
  const actions = new Map<string, string[]>();
  for (const f of findings) {
    if (f.severity === "info") continue;
    const fix = findingText(f).fix;
    const designs = actions.get(fix) ?? [];
    if (!designs.includes(f.design)) designs.push(f.design);
    actions.set(fix, designs);
  }
  if (actions.size === 0) md.push("None.");
  for (const [fix, designs] of actions) md.push(`- [ ] ${prose(fix)} (${designs.join(", ")})`);

  blank();
  md.push("## Expectations");
  blank();
  if (analysis.expectations.length === 0) md.push("The scenario states no expectations.");
  else {
    const failures = analysis.expectations.filter(failed).length;
    const skipped = analysis.expectations.filter((e) => e.skipped !== undefined).length;
    const total = plural(analysis.expectations.length, "expectation");
    const skipNote = skipped > 0 ? ` ${skipped} skipped: the run was interrupted.` : "";
    md.push(
      failures === 0
        ? skipped > 0
          ? `None of ${total} failed.${skipNote}`
          : `All ${total} pass.`
        : `${failures} of ${total} failed.${skipNote}`,
    );
    blank();
    md.push(
      ...table(
        ["result", "design", "check", "actual"],
        analysis.expectations.map((e) => [
          resultText(e) === "FAIL" ? "**FAIL**" : resultText(e),
          e.design,
          e.check,
          e.skipped ?? actualText(e.actual),
        ]),
      ),
    );
  }

  blank();
  md.push("## Quota headroom");
  blank();
  const headroomRows: unknown[][] = [];
  for (const d of analysis.designs) {
    const series = [...d.headroom].sort(
      (a, b) => a.minRemaining - b.minRemaining || a.identity.localeCompare(b.identity),
    );
    for (const h of series.slice(0, HEADROOM_ROWS))
      headroomRows.push([
        d.name,
        h.identity,
        `${h.limit} / ${formatDuration(h.windowSeconds)}`,
        h.minRemaining,
        h.exhaustedAt === null ? "never" : formatDuration(h.exhaustedAt),
        h.firstRefusedAt === null ? "none" : formatDuration(h.firstRefusedAt),
      ]);
    // The rest in one row: they had at least as much left as the last one shown.
    const rest = series.slice(HEADROOM_ROWS);
    if (rest.length > 0) {
      const limits = [
        ...new Set(rest.map((h) => `${h.limit} / ${formatDuration(h.windowSeconds)}`)),
      ];
      const exhausted = rest.filter((h) => h.exhaustedAt !== null).length;
      headroomRows.push([
        d.name,
        `${rest.length} more ${rest.length === 1 ? "identity" : "identities"}`,
        limits.join(", "),
        `>= ${Math.min(...rest.map((h) => h.minRemaining))}`,
        exhausted === 0 ? "never" : `${exhausted} exhausted`,
        `${rest.filter((h) => h.firstRefusedAt !== null).length} refused`,
      ]);
    }
  }
  if (headroomRows.length === 0) md.push("No answer carried RateLimit headers.");
  else
    md.push(
      ...table(
        ["design", "identity", "limit", "min remaining", "exhausted at", "first 429"],
        headroomRows,
        ["l", "l", "r", "r", "r", "r"],
      ),
    );

  blank();
  md.push("## Heavy hitters");
  blank();
  const hitters = analysis.designs.flatMap((d) =>
    d.heavyHitters.map((h) => [d.name, h.identity, h.upstreamRequests, percent(h.share)]),
  );
  if (hitters.length === 0) md.push("No upstream requests.");
  else
    md.push(
      ...table(["design", "identity", "upstream requests", "share"], hitters, ["l", "l", "r", "r"]),
    );

  blank();
  md.push("## Mirror effectiveness");
  blank();
  const mirrors = analysis.designs.filter((d) => d.mirror !== null);
  if (mirrors.length === 0) md.push("No design uses a mirror.");
  else
    md.push(
      ...table(
        [
          "design",
          "served by",
          "client requests",
          "hits",
          "misses",
          "revalidated",
          "stale",
          "errors",
          "hit ratio",
          "upstream pulls charged per client pull",
          "during upstream failure (stale / errors)",
        ],
        mirrors.map((d) => {
          const m = d.mirror as NonNullable<DesignAnalysis["mirror"]>;
          return [
            d.name,
            m.servedBy,
            m.clientRequests,
            m.hits ?? "unknown",
            m.misses ?? "unknown",
            m.revalidated ?? "unknown",
            m.stale ?? "unknown",
            m.errors ?? "unknown",
            percent(m.hitRatio),
            ratio(m.upstreamCountedPerPull),
            `${m.duringUpstreamFailure.stale ?? "unknown"} / ${m.duringUpstreamFailure.errors ?? "unknown"}`,
          ];
        }),
        ["l", "r", "r", "r", "r", "r", "r", "r", "r", "r"],
      ),
    );

  return `${md.join("\n")}\n`;
}
