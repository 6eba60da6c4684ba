// An interrupted run (SIGINT) is incomplete, not broken: what broke before the
// interrupt keeps its break; the rest is "incomplete" and its expectations are
// skipped, neither passed nor failed, in report.json and every renderer.
import { XMLParser } from "fast-xml-parser";
import { describe, expect, it } from "vitest";
import { foldEvents } from "../reports/fold.ts";
import { renderHtml } from "../reports/html.ts";
import { renderJunit } from "../reports/junit.ts";
import { renderMarkdown } from "../reports/markdown.ts";
import { renderTerminalSummary } from "../reports/terminal.ts";
import { parseScenario } from "../simulator/scenario/load.ts";
import type { SimEvent } from "../vocabulary/events.ts";

const scenario = parseScenario(
  `name: partial
duration: 1h
images:
  - { name: web, ref: "library/nginx:1.25" }
fleet: { nodes: 2, pods: [web] }
workload:
  - { type: node-churn, at: 1m, nodes: 2 }
designs:
  - name: broke-early
  - name: would-hold
    auth: account-per-actor
expectations:
  - { design: broke-early, verdict: breaks }
  - { design: broke-early, verdict: holds, maxFailedPulls: 5, minUnitsStarted: 1 }
  - { design: would-hold, verdict: holds, maxFailedPulls: 0, maxUpstream429: 0, maxP95StartSeconds: 60 }
`,
  "partial.yaml",
);

const pull = (design: string, t: number, outcome: "ok" | "failed", reason?: string): SimEvent => ({
  type: "pull",
  t,
  design,
  actor: "node-3",
  identity: "127.1.0.1",
  image: "library/nginx:1.25",
  outcome,
  ...(reason ? { reason, status: 429 } : {}),
  durationSeconds: 1,
  requests: 2,
});
const start = (design: string, t: number, ok: boolean): SimEvent => ({
  type: "start",
  t,
  design,
  actor: "node-4",
  what: "pod",
  id: `${design}-pod-${t}`,
  ok,
  seconds: 5,
});

// Both designs stopped at 12m; what follows each interrupt (a pod left waiting, a
// pull cut off) is the engine stopping.
const events: SimEvent[] = [
  pull("broke-early", 100, "failed", "quota"),
  pull("broke-early", 110, "ok"),
  { type: "interrupt", t: 720, design: "broke-early" },
  start("broke-early", 720, false),
  pull("would-hold", 100, "ok"),
  start("would-hold", 105, true),
  { type: "interrupt", t: 720, design: "would-hold" },
  start("would-hold", 720, false),
  pull("would-hold", 721, "failed", "network"),
];

const meta = {
  mode: "virtual" as const,
  seed: 1,
  interrupted: true,
  designs: ["broke-early", "would-hold"],
};

describe("a partial run", () => {
  const { report, analysis } = foldEvents(scenario, events, meta);
  const [early, hold] = report.designs;

  it("keeps a break before the interrupt; the rest is incomplete, with when", () => {
    expect(early).toMatchObject({
      verdict: "breaks",
      firstBreakSeconds: 100,
      interruptedAtSeconds: 720,
    });
    expect(hold).toMatchObject({
      verdict: "incomplete",
      firstBreakSeconds: null,
      interruptedAtSeconds: 720,
      pulls: { total: 1, failed: 0 },
      units: { started: 1, failed: 0 },
    });
    expect(analysis.designs[1]?.firstBreak).toBeNull();
  });

  it("decides only what part of the run decides; skips the rest with the reason", () => {
    const of = (design: string) =>
      report.expectations
        .filter((e) => e.design === design)
        .map((e) => [e.check, e.skipped === undefined ? e.passed : "skipped"]);
    expect(of("broke-early")).toEqual([
      ["verdict == breaks", true],
      ["verdict == holds", false],
      ["failed pulls <= 5", "skipped"],
      ["share started >= 1", "skipped"],
    ]);
    expect(of("would-hold")).toEqual([
      ["verdict == holds", "skipped"],
      ["failed pulls <= 0", "skipped"],
      ["p95 start <= 60 s", "skipped"],
      ["upstream 429s <= 0", "skipped"],
    ]);
    const skipped = report.expectations.find((e) => e.design === "would-hold");
    expect(skipped?.skipped).toBe("incomplete: no break before the interrupt at 12m");
    // Skipped is never passed: nothing downstream can count it as a pass.
    expect(report.expectations.filter((e) => e.skipped !== undefined && e.passed)).toEqual([]);
  });

  it("a maximum already passed before the interrupt fails (failed pulls only grow)", () => {
    const more = [
      pull("broke-early", 101, "failed", "quota"),
      pull("broke-early", 102, "failed", "quota"),
    ];
    const strict = parseScenario(
      `name: partial
duration: 1h
images: [{ name: web, ref: "library/nginx:1.25" }]
fleet: { nodes: 2, pods: [web] }
workload: [{ type: node-churn, at: 1m, nodes: 2 }]
designs: [{ name: broke-early }]
expectations: [{ design: broke-early, maxFailedPulls: 2 }]
`,
      "strict.yaml",
    );
    const { report: r } = foldEvents(strict, [...more, ...events.slice(0, 3)], {
      ...meta,
      designs: ["broke-early"],
    });
    expect(r.expectations).toEqual([
      { design: "broke-early", check: "failed pulls <= 2", passed: false, actual: 3 },
    ]);
  });

  it("every renderer says incomplete and skipped, and fails nothing that was skipped", () => {
    const terminal = renderTerminalSummary(analysis, "out", { color: false });
    expect(terminal).toContain("incomplete (to 12m)");
    expect(terminal).toMatch(
      /SKIP {2}would-hold: verdict == holds \(incomplete: no break before the interrupt at 12m\)/,
    );
    expect(terminal).not.toMatch(/FAIL {2}would-hold/);
    expect(terminal).toContain("1 of 8 expectations failed, 6 skipped (interrupted)");

    const md = renderMarkdown(analysis);
    expect(md).toContain("- **would-hold** incomplete (no break before the interrupt at 12m)");
    expect(md).toMatch(
      /\| SKIP \| would-hold \| verdict == holds \| incomplete: no break before the interrupt at 12m \|/,
    );

    const html = renderHtml(analysis);
    expect(html).toContain('<span class="badge incomplete">incomplete</span>');
    expect(html).toContain("No break before the interrupt at");
    expect(html).toContain('<span class="badge skip">SKIP</span>');

    const junit = new XMLParser({ ignoreAttributes: false, attributeNamePrefix: "" }).parse(
      renderJunit(analysis),
    );
    const suites = junit.testsuites.testsuite as Array<{
      name: string;
      failures: string;
      skipped: string;
      testcase: Array<{ name: string; skipped?: { message: string }; failure?: unknown }>;
    }>;
    expect(junit.testsuites).toMatchObject({ failures: "1", skipped: "6" });
    const hold = suites.find((s) => s.name === "partial.would-hold");
    expect(hold).toMatchObject({ failures: "0", skipped: "4" });
    for (const tc of hold?.testcase ?? []) {
      expect(tc.failure).toBeUndefined();
      expect(tc.skipped?.message).toBe("incomplete: no break before the interrupt at 12m");
    }
  });
});
