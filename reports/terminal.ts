import type { Report } from "./summary.ts";

/** The summary printed after every run: one line per design, the expectations, and where it broke. */
export function renderTerminalSummary(report: Report, out: string): string {
  const lines: string[] = [];
  lines.push(
    `${report.scenario} (${report.mode}, seed ${report.seed})${report.interrupted ? "  INTERRUPTED" : ""}`,
  );
  lines.push("");
  lines.push(
    `  ${"design".padEnd(28)} ${"verdict".padEnd(8)} ${"first break".padEnd(12)} ${"pulls ok/failed".padEnd(16)} ${"upstream GET/HEAD/429".padEnd(22)} p95 start`,
  );
  for (const d of report.designs) {
    const p95 = [d.podStartSeconds, d.jobSeconds, d.desktopSeconds]
      .filter((p) => p !== null)
      .map((p) => p?.p95 ?? 0);
    // Percentiles cover what started; say so when some never did.
    const start =
      d.units.failed > 0
        ? `${d.units.failed} never started`
        : p95.length
          ? `${Math.max(...p95)}s`
          : "-";
    lines.push(
      `  ${d.name.padEnd(28)} ${d.verdict.padEnd(8)} ${(d.firstBreakSeconds === null ? "-" : `${Math.round(d.firstBreakSeconds)}s`).padEnd(12)} ${`${d.pulls.ok + d.pulls.cached}/${d.pulls.failed}`.padEnd(16)} ${`${d.upstream.manifestGet}/${d.upstream.manifestHead}/${d.upstream.status["429"] ?? 0}`.padEnd(22)} ${start}`,
    );
  }
  const broken = report.designs.filter((d) => d.firstBreak);
  if (broken.length > 0) {
    lines.push("");
    for (const d of broken) {
      const b = d.firstBreak;
      if (!b) continue;
      lines.push(
        `  ${d.name}: first break at ${Math.round(d.firstBreakSeconds ?? 0)}s: ${b.actor}${b.identity ? ` (${b.identity})` : ""}${b.image ? ` pulling ${b.image}` : ""}: ${b.reason}${b.status ? ` (${b.status})` : ""}`,
      );
    }
  }
  if (report.expectations.length > 0) {
    lines.push("");
    for (const e of report.expectations)
      lines.push(`  ${e.passed ? "PASS" : "FAIL"}  ${e.design}: ${e.check} (actual ${e.actual})`);
  }
  lines.push("");
  lines.push(`  events and report.json in ${out}`);
  return `${lines.join("\n")}\n`;
}
