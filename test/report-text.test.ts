import { XMLParser, XMLValidator } from "fast-xml-parser";
import { describe, expect, it } from "vitest";
import { findingText } from "../reports/findings-text.ts";
import { renderJunit } from "../reports/junit.ts";
import { renderMarkdown } from "../reports/markdown.ts";
import { formatDuration, renderTerminalSummary } from "../reports/terminal.ts";
import { wrap } from "../vocabulary/text.ts";
import { analysisSample } from "./fixtures/analysis-sample.ts";

const OUT = "pullstorm-results/node-churn-2026-01-01T00-00-00Z";
// biome-ignore lint/suspicious/noControlCharactersInRegex: ANSI escapes are what we look for
const ANSI = /\x1b\[[0-9;]*m/g;

/** An element's children as an array whatever their count. */
const ARRAYS = new Set(["testsuite", "testcase", "property", "failure"]);

function parseJunit(xml: string) {
  const validation = XMLValidator.validate(xml);
  expect(validation, JSON.stringify(validation)).toBe(true);
  const parser = new XMLParser({
    ignoreAttributes: false,
    attributeNamePrefix: "",
    isArray: (name) => ARRAYS.has(name),
  });
  return parser.parse(xml) as {
    testsuites: {
      tests: string;
      failures: string;
      testsuite: Array<{
        name: string;
        tests: string;
        failures: string;
        properties: { property: Array<{ name: string; value: string }> };
        testcase?: Array<{
          classname: string;
          name: string;
          failure?: Array<{ message: string; "#text": string }>;
        }>;
      }>;
    };
  };
}

/** Markdown table rows: lines starting with `|`, split on pipes that are not escaped. */
function tableCells(line: string): string[] {
  return line
    .slice(1, -1)
    .split(/(?<!\\)\|/)
    .map((c) => c.trim());
}

describe("formatDuration", () => {
  it("reads like a person writes it", () => {
    expect(formatDuration(130)).toBe("2m10s");
    expect(formatDuration(7200)).toBe("2h");
    expect(formatDuration(45)).toBe("45s");
    expect(formatDuration(0.004)).toBe("4ms");
    expect(formatDuration(null)).toBe("-");
  });

  it("wrap keeps words whole and lines within the width", () => {
    const lines = wrap("a bb ccc dddd eeeee ffffff", 10);
    expect(lines.join(" ")).toBe("a bb ccc dddd eeeee ffffff");
    for (const l of lines) expect(l.length).toBeLessThanOrEqual(10);
  });
});

describe("junit.xml", () => {
  it("is valid XML with one testcase per expectation and one failure per failed one", () => {
    const analysis = analysisSample();
    const doc = parseJunit(renderJunit(analysis));
    const suites = doc.testsuites.testsuite;
    const cases = suites.flatMap((s) => s.testcase ?? []);
    const failed = analysis.expectations.filter((e) => !e.passed);
    expect(failed.length).toBeGreaterThan(0);
    expect(cases).toHaveLength(analysis.expectations.length);
    expect(cases.filter((c) => c.failure)).toHaveLength(failed.length);
    expect(Number(doc.testsuites.tests)).toBe(analysis.expectations.length);
    expect(Number(doc.testsuites.failures)).toBe(failed.length);

    // One suite per design, each with its verdict and first break as properties.
    expect(suites.map((s) => s.name)).toEqual(analysis.designs.map((d) => `node-churn.${d.name}`));
    for (const d of analysis.designs) {
      const suite = suites.find((s) => s.name === `node-churn.${d.name}`);
      const props = Object.fromEntries(
        (suite?.properties.property ?? []).map((p) => [p.name, p.value]),
      );
      expect(props.verdict).toBe(d.summary.verdict);
      if (d.firstBreak) {
        expect(props.firstBreakLayer).toBe(d.firstBreak.layer);
        expect(props.firstBreak).toContain(d.firstBreak.actor);
      } else expect(props.firstBreak).toBe("none");
      const own = analysis.expectations.filter((e) => e.design === d.name);
      expect(Number(suite?.tests)).toBe(own.length);
      expect(Number(suite?.failures)).toBe(own.filter((e) => !e.passed).length);
      for (const c of suite?.testcase ?? []) expect(c.classname).toBe(`node-churn.${d.name}`);
    }

    // The failure says what was expected and what happened.
    for (const e of failed) {
      const c = cases.find((x) => x.classname === `node-churn.${e.design}` && x.name === e.check);
      const message = c?.failure?.[0]?.message ?? "";
      expect(message).toContain(e.check);
      expect(message).toContain(`actual ${e.actual}`);
    }
  });

  it("escapes what XML cannot hold as it is", () => {
    const analysis = analysisSample();
    const e = analysis.expectations.find((x) => !x.passed);
    if (!e) throw new Error("the fixture has a failing expectation");
    e.check = `p95 < 60 s & "quoted" <script>'x'</script>`;
    e.actual = "a]]>b \u001b[31mred\u0000";
    const first = analysis.designs[0]?.firstBreak;
    if (first) first.image = `evil"image<&>`;
    const xml = renderJunit(analysis);
    const doc = parseJunit(xml);
    const cases = doc.testsuites.testsuite.flatMap((s) => s.testcase ?? []);
    // The parser decodes the entities: the text comes back as it went in.
    const c = cases.find((x) => x.name === `p95 < 60 s & "quoted" <script>'x'</script>`);
    expect(c?.failure?.[0]?.message).toContain(`expected p95 < 60 s & "quoted" <script>`);
    expect(c?.failure?.[0]?.message).toContain("a]]>b");
    const props = doc.testsuites.testsuite[0]?.properties.property ?? [];
    expect(props.find((p) => p.name === "firstBreak")?.value).toContain(`evil"image<&>`);
    // No raw control characters: XML 1.0 cannot carry them at all.
    // biome-ignore lint/suspicious/noControlCharactersInRegex: that is the point
    expect(xml).not.toMatch(/[\u0000-\u0008\u000b\u000c\u000e-\u001f]/);
  });
});

describe("report.md", () => {
  it("matches the snapshot", () => {
    expect(renderMarkdown(analysisSample())).toMatchSnapshot();
  });

  it("has the game-day sections in order, names the cheapest holding design and the failed checks", () => {
    const analysis = analysisSample();
    const md = renderMarkdown(analysis);
    const sections = [...md.matchAll(/^## (.+)$/gm)].map((m) => m[1]);
    expect(sections).toEqual([
      "Hypothesis",
      "Steady state: design matrix",
      "Faults injected",
      "Blast radius",
      "Verdict",
      "Findings",
      "Action items",
      "Expectations",
      "Quota headroom",
      "Heavy hitters",
      "Mirror effectiveness",
    ]);
    expect(analysis.cheapestHolding).toBe("the-fix");
    expect(md).toContain("**Cheapest design that holds: the-fix.**");
    for (const e of analysis.expectations.filter((x) => !x.passed))
      expect(md).toContain(`| **FAIL** | ${e.design} | ${e.check} |`);
    // Every fix that is not merely informational is an action item.
    for (const f of analysis.findings.filter((x) => x.severity !== "info"))
      expect(md).toContain(`- [ ] ${findingText(f).fix}`);
    // Each fault window is a row of the timeline table, the open-ended one too.
    expect(md).toContain("| slow-blobs | latency | 49m | end of run |");
  });

  it("keeps every table's columns whole when a cell holds a pipe", () => {
    const analysis = analysisSample();
    const e = analysis.expectations[0];
    if (!e) throw new Error("the fixture has expectations");
    e.check = "verdict == holds | breaks";
    const d = analysis.designs[0];
    if (d) d.heavyHitters[0] = { identity: "a|b", upstreamRequests: 3, share: 1 };
    analysis.faults[0] = { id: "f|1", type: "outage", start: 0, end: 60, scope: "x|y" };
    const md = renderMarkdown(analysis);
    expect(md).toContain("verdict == holds \\| breaks");
    // Consecutive `|` lines are one table; every row has as many cells as its header.
    const tables: string[][] = [];
    let current: string[] | null = null;
    for (const line of md.split("\n")) {
      if (!line.startsWith("|")) current = null;
      else if (current) current.push(line);
      else {
        current = [line];
        tables.push(current);
      }
    }
    expect(tables).toHaveLength(7);
    for (const rows of tables) {
      const width = tableCells(rows[0] ?? "").length;
      for (const row of rows) expect(tableCells(row), row).toHaveLength(width);
    }
  });

  it("does not let a diagnosis open raw HTML", () => {
    const md = renderMarkdown(analysisSample());
    expect(md).toContain("&lt;until the next resync>");
    expect(md).not.toContain("<until");
    expect(md).toContain("failed pulls <= 0");
  });
});

describe("terminal summary", () => {
  it("matches the snapshot without colour, and has no escape codes", () => {
    const text = renderTerminalSummary(analysisSample(), OUT, { color: false });
    expect(text).not.toMatch(ANSI);
    expect(text).not.toContain("\u001b");
    expect(text).toMatchSnapshot();
  });

  it("matches the snapshot with colour, and says the same thing once the colour is stripped", () => {
    const plain = renderTerminalSummary(analysisSample(), OUT, { color: false });
    const colored = renderTerminalSummary(analysisSample(), OUT, { color: true });
    expect(colored).toMatch(ANSI);
    expect(colored.replace(ANSI, "")).toBe(plain);
    expect(colored).toMatchSnapshot();
  });

  it("marks the cheapest design that holds, the first breaks, the failures and the files", () => {
    const analysis = analysisSample();
    const text = renderTerminalSummary(analysis, OUT, { color: false });
    const row = text.split("\n").find((l) => /^ {2}\* /.test(l));
    expect(row).toMatch(/^ {2}\* the-fix +holds /);
    expect(text).toContain("cheapest design that holds: the-fix");
    expect(text).toContain(
      "anonymous-one-nat  at 26m37s node-a03 (203.0.113.10) pulling nginx:1.25: registry-quota 429",
    );
    expect(text).toContain("FAIL  account-per-node: verdict == holds (actual breaks)");
    expect(text).toContain("PASS  the-fix: verdict == holds");
    expect(text).toContain(`events.jsonl, report.json in ${OUT}`);
    // Most severe first.
    expect(text.indexOf("CRITICAL")).toBeLessThan(text.indexOf("WARNING"));
    expect(
      renderTerminalSummary(analysis, OUT, { color: false, files: ["report.md", "junit.xml"] }),
    ).toContain(`report.md, junit.xml in ${OUT}`);
  });

  it("caps the findings and says none holds when none does", () => {
    const analysis = analysisSample();
    const f = analysis.findings[0];
    if (!f) throw new Error("the fixture has findings");
    analysis.findings = Array.from({ length: 12 }, (_, i) => ({
      ...f,
      id: `${f.id}/${i}`,
      cause: `finding ${i}.`,
    }));
    analysis.cheapestHolding = null;
    const text = renderTerminalSummary(analysis, OUT, { color: false });
    expect(text).toContain("finding 7.");
    expect(text).not.toContain("finding 8.");
    expect(text).toContain("... and 4 more (report.md has them all)");
    expect(text).toContain("no design holds");
    expect(text.split("\n").some((l) => /^ {2}\* /.test(l))).toBe(false);
  });
});
