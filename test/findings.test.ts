// Findings as causal chains (issue 13), from virtual runs of small scenarios and the user's fleet.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { XMLParser } from "fast-xml-parser";
import { beforeAll, describe, expect, it } from "vitest";
import { runScenario } from "../harness/run.ts";
import type { Analysis, RunReport } from "../reports/analysis-types.ts";
import { appliedFixes } from "../reports/findings.ts";
import { findingText } from "../reports/findings-text.ts";
import { foldEvents } from "../reports/fold.ts";
import { renderHtml } from "../reports/html.ts";
import { renderJunit } from "../reports/junit.ts";
import { renderMarkdown } from "../reports/markdown.ts";
import { renderTerminalSummary } from "../reports/terminal.ts";
import { formatSeconds } from "../reports/time.ts";
import { loadScenario, parseScenario } from "../simulator/scenario/load.ts";
import type { Scenario } from "../simulator/scenario/schema.ts";
import { podsOf } from "../simulator/workload/steps/rollout.ts";
import type { SimEvent } from "../vocabulary/events.ts";

const USER_FLEET = join(import.meta.dirname, "fixtures", "user-fleet.yaml");

function codesOf(a: Analysis, design: string): string[] {
  return a.findings.filter((f) => f.design === design).map((f) => f.code);
}

/** No finding tells a design to adopt what it already does. */
function expectNoAppliedFix(scenario: Scenario, a: Analysis): void {
  for (const f of a.findings) {
    const design = scenario.designs.find((d) => d.name === f.design);
    if (!design) throw new Error(`finding for an unknown design ${f.design}`);
    expect(appliedFixes(design).has(f.fix.code), `${f.id}: fix ${f.fix.code}`).toBe(false);
  }
}

describe("the user's fleet: 150 containerd nodes, 30 dockerd CI jobs, 2 NAT addresses", () => {
  const scenario = loadScenario(USER_FLEET);
  let report: RunReport;
  let analysis: Analysis;
  let events: SimEvent[];
  beforeAll(async () => {
    ({ report, analysis, events } = await runScenario(scenario, { mode: "virtual" }));
  }, 120_000);

  it("follows the mirror design's chain: mirror account exhausted -> fallback -> NAT exhausted -> backoff waves", () => {
    const chain = analysis.chains.find((c) => c.design === "mirror");
    const codes = chain?.links.map((id) => analysis.findings.find((f) => f.id === id)?.code);
    expect(codes?.slice(0, 3)).toEqual([
      "mirror-upstream-quota-exhausted",
      "mirror-fallback",
      "quota-exhausted",
    ]);
    expect(chain?.text).toMatch(
      /^mirror account mirror-bot exhausted -> nodes fell back to the registry -> NAT .* exhausted/,
    );
    const fallback = analysis.findings.find((f) => f.id === "mirror/mirror-fallback");
    expect(fallback?.causedBy).toEqual(["mirror/mirror-upstream-quota-exhausted"]);
    expect(fallback?.cause).toMatch(/^150 nodes of 150 went around the mirror/);
  });

  it("says the CI runners bypassed the mirror (dockerd, never configured), never the runtime-mismatch story", () => {
    const bypass = analysis.findings.find(
      (f) => f.design === "mirror" && f.code === "mirror-bypassed",
    );
    expect(bypass?.cause).toMatch(
      /^30 CI jobs \(dockerd\) pulled straight from the registry: the mirror is configured for containerd only/,
    );
    expect(bypass?.fix.code).toBe("configure-mirror");
    expect(bypass?.fix.text).toContain("dockerd");
    // Only the mirror design has a mirror; nobody is told the containerd nodes run something else.
    for (const f of analysis.findings)
      expect(`${f.cause} ${f.consequence}`).not.toMatch(
        /configured for containerd but the nodes run containerd/,
      );
    expect(codesOf(analysis, "anonymous")).not.toContain("mirror-bypassed");
  });

  it("tells no design to adopt what it already has", () => {
    expectNoAppliedFix(scenario, analysis);
    expect(
      analysis.findings.filter((f) => f.design === "mirror").map((f) => f.fix.code),
    ).not.toContain("add-mirror");
    expect(
      analysis.findings.filter((f) => f.design === "pinned-prepulled").map((f) => f.fix.code),
    ).not.toContain("pre-pull");
    // The pre-pull design is told why pre-pulling did nothing here.
    expect(codesOf(analysis, "pinned-prepulled")).toContain("pre-pull-idle");
  });

  it("quotes the headroom table's times, and its evidence points at the events it names", () => {
    for (const f of analysis.findings.filter((x) => x.code === "quota-exhausted")) {
      const d = analysis.designs.find((x) => x.name === f.design);
      const id = /\((\S+)\)\.$/.exec(f.cause)?.[1];
      const series = d?.headroom.find((h) => h.identity === id);
      expect(series?.firstRefusedAt, f.id).not.toBeNull();
      expect(f.cause).toContain(`first 429 at ${formatSeconds(series?.firstRefusedAt as number)}`);
      expect(f.cause).toContain(`0 left at ${formatSeconds(series?.exhaustedAt as number)}`);
    }
    const refs = analysis.findings.flatMap((f) => f.evidence.flatMap((e) => e.events));
    expect(refs.length).toBeGreaterThan(10);
    for (const r of refs) {
      const e = events[r.seq - 1];
      expect(e?.t, `#${r.seq}`).toBe(r.t);
      expect(e?.design).toBe(r.design);
    }
    // The first 429 reference of a quota finding is a 429.
    const quota = analysis.findings.find((f) => f.id === "anonymous/quota-exhausted");
    const refused = quota?.evidence[0]?.events[1];
    expect(events[(refused?.seq ?? 0) - 1]).toMatchObject({ type: "request", status: 429 });
  });

  it("writes the findings into report.json and shows the same ones in Markdown, HTML, JUnit and the terminal", () => {
    expect(report.findings).toEqual(analysis.findings);
    expect(report.chains.length).toBeGreaterThan(0);
    const md = renderMarkdown(analysis);
    const html = renderHtml(analysis);
    const junit = renderJunit(analysis);
    const terminal = renderTerminalSummary(analysis, "/tmp/out", {
      color: false,
      maxFindings: 100,
    });
    const flat = (s: string) => s.replace(/\s+/g, " ");
    const esc = (s: string) =>
      s
        .replaceAll("&", "&amp;")
        .replaceAll("<", "&lt;")
        .replaceAll(">", "&gt;")
        .replaceAll('"', "&quot;");
    const suites = new XMLParser({ ignoreAttributes: false }).parse(junit).testsuites
      .testsuite as Array<{
      "@_name": string;
      "system-out"?: string;
    }>;
    for (const f of analysis.findings) {
      const t = findingText(f);
      expect(md).toContain(t.headline.replaceAll("<", "&lt;"));
      expect(flat(terminal)).toContain(flat(`${f.design}: ${t.headline}`));
      expect(html).toContain(esc(f.cause).replaceAll("'", "&#39;").slice(0, 60));
      const out = suites.find((s) => s["@_name"] === `${analysis.scenario.name}.${f.design}`)?.[
        "system-out"
      ];
      expect(out).toContain(t.headline);
    }
    for (const c of analysis.chains) {
      expect(md).toContain(c.text);
      expect(flat(terminal)).toContain(flat(c.text));
    }
  });
});

describe("the mirror's address trips the abuse limit (the preset's HAP429)", () => {
  it("roots the chain in the abuse limit and still sends nobody to add a mirror", async () => {
    const base = loadScenario(USER_FLEET);
    const { policy: _policy, ...registry } = base.registry;
    const scenario = { ...base, registry } as Scenario;
    const { analysis } = await runScenario(scenario, { mode: "virtual", designs: ["mirror"] });
    const chain = analysis.chains.find((c) => c.design === "mirror");
    const root = analysis.findings.find((f) => f.id === chain?.links[0]);
    expect(root?.code).toBe("abuse-limit");
    expect(root?.cause).toMatch(/^The mirror's upstream side \(127\.0\.0\.250\) tripped/);
    expect(chain?.text).toContain("-> nodes fell back to the registry -> NAT");
    expectNoAppliedFix(scenario, analysis);
  }, 60_000);
});

const NEAR = `
name: near
duration: 1h
images:
  - { name: web, ref: "library/nginx:1.25" }
  - { name: sidecar, ref: "library/redis:7" }
fleet: { nodes: 0, pods: [web, sidecar] }
workload:
  - { type: scale-up, at: 1m, nodes: 44, over: 5m }
designs:
  - name: one-nat
  - name: cheaper-but-slow
    description: the same, with an expectation it cannot meet
expectations:
  - { design: one-nat, verdict: holds }
  - { design: cheaper-but-slow, maxP95StartSeconds: 0 }
`;

describe("near misses", () => {
  it("flags a design that held with 12 of its 100 pulls left, and works out where it breaks", async () => {
    const scenario = parseScenario(NEAR, "near.yaml");
    const { analysis, report } = await runScenario(scenario, {
      mode: "virtual",
      designs: ["one-nat"],
    });
    const d = analysis.designs[0];
    expect(d?.summary.verdict).toBe("holds");
    expect(d?.nearMiss).toMatchObject({ identity: "127.1.0.2", limit: 100, minRemaining: 12 });
    // 44 nodes x 2 pulls = 88 of 100: x1.14 (50 nodes, 100 pulls) holds, x1.15 (51 nodes, 102) breaks.
    expect(d?.nearMiss?.load).toEqual({
      holdsAt: 1.14,
      breaksAt: 1.15,
      maxTried: 4,
      layer: "registry-quota",
    });
    const f = analysis.findings.find((x) => x.code === "near-miss");
    expect(f?.cause).toContain("Holds, near miss: 127.1.0.2 used 88 of its 100 pulls per 6h (88 %");
    expect(f?.cause).toContain("breaks at x1.15 of this load");
    expect(report.designs[0]?.nearMiss?.load?.breaksAt).toBe(1.15);
    expect(renderTerminalSummary(analysis, "/tmp/x", { color: false })).toContain(
      "holds, near miss (88 %)",
    );
    expect(renderMarkdown(analysis)).not.toContain("No findings.");
  }, 60_000);

  it("takes the threshold from the run: above the peak use, no near miss", async () => {
    const scenario = parseScenario(NEAR, "near.yaml");
    const { analysis } = await runScenario(scenario, {
      mode: "virtual",
      designs: ["one-nat"],
      nearMissThreshold: 0.9,
    });
    expect(analysis.designs[0]?.nearMiss).toBeNull();
    expect(analysis.nearMissThreshold).toBe(0.9);
  });

  it("ranks every holding design and says why one was skipped", async () => {
    const scenario = parseScenario(NEAR, "near.yaml");
    const { analysis } = await runScenario(scenario, { mode: "virtual", loadBreakpoints: false });
    expect(analysis.holding.map((h) => [h.design, h.rank])).toEqual([
      ["cheaper-but-slow", null],
      ["one-nat", 1],
    ]);
    expect(analysis.holding[0]?.skipped).toMatch(/^its expectations failed: p95 start <= 0 s/);
    expect(analysis.cheapestHolding).toBe("one-nat");
    const cheapest = analysis.findings.find((f) => f.code === "cheapest-holding");
    expect(cheapest?.evidence.map((e) => e.text).join("\n")).toContain(
      "cheaper-but-slow (cost 0) held but is not ranked: its expectations failed",
    );
    // Not worked out when asked not to.
    expect(analysis.designs.find((d) => d.name === "one-nat")?.nearMiss?.load).toBeNull();
  });
});

const STALE = `
name: stale
duration: 1h
images: [{ name: web, ref: "library/nginx:1.25" }]
fleet: { nodes: 10, pods: [web] }
workload:
  - { type: tag-move, at: 10m, image: web }
  - { type: rolling-restart, at: 20m, image: web, over: 5m }
designs:
  - name: if-not-present
    pullPolicy: IfNotPresent
  - name: always
    pullPolicy: Always
  - name: pinned
    pin: digest
`;

describe("tag moved under IfNotPresent", () => {
  it("tells the user that restarted pods stayed on the old image", async () => {
    const scenario = parseScenario(STALE, "stale.yaml");
    const { analysis } = await runScenario(scenario, { mode: "virtual" });
    for (const d of analysis.designs) expect(d.summary.verdict).toBe("holds");
    const f = analysis.findings.find((x) => x.code === "tag-moved-stale-pods");
    expect(f?.design).toBe("if-not-present");
    expect(f?.cause).toMatch(
      /^The tag library\/nginx:1\.25 moved at 10m, and 10 of the 10 pods started on it afterwards never pulled it/,
    );
    expect(f?.fix.code).toBe("pin-digest");
    // Always pulls the moved tag; a pinned design rolls out the new digest.
    expect(codesOf(analysis, "always")).not.toContain("tag-moved-stale-pods");
    expect(codesOf(analysis, "pinned")).not.toContain("tag-moved-stale-pods");
  });
});

const ROLLOUT = `
name: rollout
duration: 1h
images: [{ name: web, ref: "library/nginx:1.25" }]
fleet: { nodes: 8, pods: [web] }
workload:
  - { type: rollout, at: 10m, image: web, tag: latest, kind: DaemonSet, maxUnavailable: 2, interval: 1m }
designs:
  - name: by-tag
  - name: by-digest
    pin: digest
`;

describe("rollout step", () => {
  it("replaces a DaemonSet's pods in batches of maxUnavailable, a batch per interval, with the new tag or its digest", async () => {
    const scenario = parseScenario(ROLLOUT, "rollout.yaml");
    const { events } = await runScenario(scenario, { mode: "virtual" });
    const starts = events.filter(
      (e): e is Extract<SimEvent, { type: "start" }> => e.type === "start" && e.design === "by-tag",
    );
    // Each pod starts within its start jitter (1 s) of its batch.
    expect(starts.map((e) => Math.floor(e.t / 60) * 60)).toEqual([
      600, 600, 660, 660, 720, 720, 780, 780,
    ]);
    expect(new Set(starts.map((e) => e.image))).toEqual(new Set(["library/nginx:latest"]));
    const pinned = events.filter((e) => e.type === "start" && e.design === "by-digest");
    for (const e of pinned)
      expect((e as { image?: string }).image).toMatch(/^library\/nginx@sha256:/);
  });

  it("reads maxSurge and maxUnavailable as Kubernetes does", () => {
    expect(podsOf("25%", 10, "up")).toBe(3);
    expect(podsOf("25%", 10, "down")).toBe(2);
    expect(podsOf(4, 10, "up")).toBe(4);
    expect(() =>
      parseScenario(ROLLOUT.replace("maxUnavailable: 2", "maxUnavailable: lots"), "r.yaml"),
    ).toThrow(/maxUnavailable/);
  });
});

describe("a real mirror's decisions are unknown, not zero", () => {
  it("says unknown in the analysis and the Markdown", () => {
    const scenario = parseScenario(
      `
name: real-mirror
duration: 10m
images: [{ name: web, ref: "library/nginx:1.25" }]
fleet: { nodes: 1, pods: [web] }
workload: [{ type: node-churn, at: 1m, nodes: 1 }]
designs:
  - name: cached
    mirror: { enabled: true, backend: process }
`,
      "real-mirror.yaml",
    );
    const events: SimEvent[] = [
      {
        type: "setup",
        t: 0,
        design: "cached",
        mirror: { backend: "process", program: "docker-registry" },
      },
    ];
    const { analysis } = foldEvents(scenario, events, {
      mode: "live",
      seed: 1,
      interrupted: false,
      designs: ["cached"],
    });
    expect(analysis.designs[0]?.mirror).toMatchObject({ hits: null, misses: null, stale: null });
    expect(renderMarkdown(analysis)).toMatch(
      /\| cached \| docker-registry \(process\) \| 0 \| unknown \| unknown \|/,
    );
  });
});

it("docs/reports.md documents every finding and fix code", () => {
  const doc = readFileSync(join(import.meta.dirname, "..", "docs", "reports.md"), "utf8");
  const types = readFileSync(
    join(import.meta.dirname, "..", "reports", "analysis-types.ts"),
    "utf8",
  );
  const union = (name: string) =>
    [
      ...(new RegExp(`export type ${name} =([^;]+);`).exec(types)?.[1] ?? "").matchAll(
        /"([a-z-]+)"/g,
      ),
    ].map((m) => m[1] as string);
  const codes = [...union("FindingCode"), ...union("FixCode")];
  expect(codes.length).toBeGreaterThan(30);
  for (const c of codes) expect(doc, c).toContain(`\`${c}\``);
});
