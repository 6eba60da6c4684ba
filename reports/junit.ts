import { create } from "xmlbuilder2";
import type { Analysis, DesignAnalysis } from "./analysis-types.ts";
import { CLOCK_CHECK, clockText } from "./clock.ts";
import { findingText } from "./findings-text.ts";
import { type ExpectationResult, failed } from "./summary.ts";
import { actualText, describeBreak, formatDuration, verdictText } from "./terminal.ts";

function firstBreakText(d: DesignAnalysis | undefined): string {
  if (!d) return "";
  if (d.firstBreak) return `at ${formatDuration(d.firstBreak.t)} ${describeBreak(d.firstBreak)}`;
  if (d.summary.firstBreakSeconds !== null)
    return `at ${formatDuration(d.summary.firstBreakSeconds)}`;
  return "none";
}

/**
 * junit.xml: one <testsuite> per design, one <testcase> per expectation of that design
 * (classname `scenario.design`, name the check), a <failure> with actual vs expected when
 * it failed, and the design's verdict and first break as <properties>.
 */
export function renderJunit(analysis: Analysis): string {
  const { scenario } = analysis;
  // Designs in the analysis' order, then any design only an expectation names.
  const names = [...analysis.designs.map((d) => d.name)];
  for (const e of analysis.expectations) if (!names.includes(e.design)) names.push(e.design);
  const byDesign = new Map<string, ExpectationResult[]>(names.map((n) => [n, []]));
  for (const e of analysis.expectations) byDesign.get(e.design)?.push(e);

  const failures = analysis.expectations.filter(failed).length;
  const skipped = analysis.expectations.filter((e) => e.skipped !== undefined).length;
  // Control characters cannot appear in XML 1.0 even escaped: replace them rather than emit a broken file.
  const doc = create({ version: "1.0", encoding: "UTF-8", invalidCharReplacement: "\uFFFD" });
  const root = doc.ele("testsuites", {
    name: `pullstorm ${scenario.name}`,
    tests: String(analysis.expectations.length),
    failures: String(failures),
    errors: "0",
    skipped: String(skipped),
  });

  for (const name of names) {
    const design = analysis.designs.find((d) => d.name === name);
    const cases = byDesign.get(name) ?? [];
    const suite = root.ele("testsuite", {
      name: `${scenario.name}.${name}`,
      tests: String(cases.length),
      failures: String(cases.filter(failed).length),
      errors: "0",
      skipped: String(cases.filter((e) => e.skipped !== undefined).length),
    });
    const props = suite.ele("properties");
    const prop = (n: string, v: string | number | boolean) =>
      props.ele("property", { name: n, value: String(v) });
    prop("scenario", scenario.name);
    prop("design", name);
    prop("mode", scenario.mode);
    prop("seed", scenario.seed);
    if (scenario.interrupted) prop("interrupted", true);
    if (analysis.clock.mode === "live") {
      prop("timeScale", analysis.clock.timeScale);
      prop("clockKeptUp", analysis.clock.designs.find((d) => d.design === name)?.keptUp ?? false);
    }
    if (design) {
      prop("verdict", design.summary.verdict);
      if (design.summary.interruptedAtSeconds !== undefined)
        prop("interruptedAtSeconds", design.summary.interruptedAtSeconds);
      prop("firstBreak", firstBreakText(design));
      const t = design.firstBreak?.t ?? design.summary.firstBreakSeconds;
      if (t !== null) prop("firstBreakSeconds", t);
      if (design.firstBreak) prop("firstBreakLayer", design.firstBreak.layer);
    }
    prop("cheapestHolding", analysis.cheapestHolding ?? "none");
    if (design?.nearMiss) {
      prop(
        "nearMiss",
        `${Math.round(design.nearMiss.share * 100)} % of ${design.nearMiss.identity}'s limit`,
      );
      if (design.nearMiss.load?.breaksAt != null)
        prop("breaksAtLoad", design.nearMiss.load.breaksAt);
    }
    const mine = analysis.findings.filter((f) => f.design === name);
    for (const [i, f] of mine.entries()) prop(`finding.${i + 1}`, `${f.severity} ${f.code}`);
    const chain = analysis.chains.find((c) => c.design === name);
    if (chain) prop("chain", chain.text);

    for (const e of cases) {
      const tc = suite.ele("testcase", { classname: `${scenario.name}.${name}`, name: e.check });
      // Interrupted: neither passed nor failed, with the reason.
      if (e.skipped !== undefined) tc.ele("skipped", { message: e.skipped });
      else if (!e.passed) {
        const message = `expected ${e.check}, actual ${actualText(e.actual)}`;
        const detail = [
          message,
          `design ${name}: ${design ? verdictText(design) : "not run"}`,
          `first break: ${firstBreakText(design) || "none"}`,
        ];
        const clock = e.check === CLOCK_CHECK ? clockText(analysis.clock) : null;
        if (clock) detail.push(clock.headline, ...clock.details);
        tc.ele("failure", { message, type: "ExpectationFailed" }).txt(detail.join("\n"));
      }
    }
    // The design's findings, in the words every report uses.
    if (mine.length > 0)
      suite.ele("system-out").txt(
        mine
          .map((f) => {
            const t = findingText(f);
            return [
              `${f.severity.toUpperCase()} ${t.headline}`,
              ...t.evidence.map((e) => `  evidence: ${e}`),
              `  so: ${t.consequence}`,
              ...(t.after ? [`  follows from: ${t.after}`] : []),
              `  fix: ${t.fix}`,
            ].join("\n");
          })
          .join("\n\n"),
      );
  }
  return doc.end({ prettyPrint: true });
}
