// The live console's parts in-process (issue 16): the view folds the run's own
// fold without changing it, marks reach report.json, report.md and report.html,
// the live clock pauses and resumes, the console's controls refuse callers
// without the token, and the Grafana dashboard names only metrics that exist.
// The page itself, in Chromium during a live run: test/real/dashboard.test.ts.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parseListen } from "../cli/run.ts";
import { RunnerMetrics } from "../dashboard/metrics.ts";
import { type RunningDashboard, startDashboard } from "../dashboard/server.ts";
import { LiveView } from "../dashboard/view.ts";
import { ScaledClock } from "../fake-registry/core/clock.ts";
import { RegistryMetrics } from "../fake-registry/core/metrics.ts";
import { runScenario } from "../harness/run.ts";
import { foldEvents, RunFold } from "../reports/fold.ts";
import { renderHtml } from "../reports/html.ts";
import { renderMarkdown } from "../reports/markdown.ts";
import { reportJsonText } from "../reports/write.ts";
import { LiveSim } from "../simulator/engine/sim.ts";
import { loadScenario } from "../simulator/scenario/load.ts";
import type { SimEvent } from "../vocabulary/events.ts";

const MINI = join(import.meta.dirname, "fixtures", "mini-churn.yaml");
const GRAFANA = join(
  import.meta.dirname,
  "..",
  "docs",
  "examples",
  "grafana",
  "pullstorm-game-day.json",
);
const META = { mode: "virtual" as const, seed: 1, interrupted: false };

describe("the console's view of a run", () => {
  it("finishes the run's fold as often as it likes without moving a byte of report.json", async () => {
    const scenario = loadScenario(MINI);
    const { events, report } = await runScenario(scenario, { mode: "virtual" });
    const names = report.designs.map((d) => d.name);
    const fold = new RunFold(scenario, names);
    const view = new LiveView(scenario, names, { mode: "virtual", seed: report.seed });
    view.attach(fold);
    expect(view.snapshot().settingUp).toBe(true);
    view.begin();
    let snapshots = 0;
    let breaks = 0;
    events.forEach((e, i) => {
      fold.add(e);
      view.add(e);
      if (i % 50 === 0) {
        const s = view.snapshot();
        snapshots++;
        if (s.designs.some((d) => d.verdict === "breaks")) breaks++;
      }
    });
    expect(snapshots).toBeGreaterThan(10);
    // The story breaks part-way: later snapshots say so, earlier ones did not.
    expect(breaks).toBeGreaterThan(0);
    expect(breaks).toBeLessThan(snapshots);
    const meta = { ...META, seed: report.seed, designs: names };
    const again = fold.finish(meta).report;
    const fresh = foldEvents(scenario, events, meta).report;
    expect(reportJsonText(again)).toBe(reportJsonText(fresh));

    const last = view.snapshot();
    const nat = last.designs.find((d) => d.name === "anonymous-nat");
    expect(nat?.verdict).toBe("breaks");
    expect(nat?.firstBreak?.layer).toBeDefined();
    // Requests per simulated second by layer: the quota's refusals are on the chart.
    expect(nat?.rates.quota.some((n) => n > 0)).toBe(true);
    expect(nat?.rates.t.length).toBe(nat?.rates.quota.length);
    // The identities closest to their limit first, with the layer that refused them.
    const [lowest] = last.identities;
    expect(lowest?.remaining).toBe(0);
    expect(lowest?.refusedBy).toBe("quota");
    expect(last.findings.length).toBeGreaterThan(0);
  });

  it("marks land in report.json, report.md and report.html; a run without marks has no `marks` key", async () => {
    const scenario = loadScenario(MINI);
    const { events, report } = await runScenario(scenario, { mode: "virtual" });
    const names = report.designs.map((d) => d.name);
    const meta = { ...META, seed: report.seed, designs: names };
    expect(reportJsonText(report)).not.toContain('"marks"');
    const marked: SimEvent[] = [...events];
    // One copy per design, as the live engine emits them, a moment apart.
    for (const [i, design] of names.entries())
      marked.splice(200 + i, 0, {
        type: "mark",
        t: 120 + i * 0.01,
        design,
        action: "fault",
        text: "error-burst status=503 (from the console) | <b>",
      });
    marked.push({ type: "mark", t: 600, design: "authenticated", action: "note", text: "paged" });
    const { report: withMarks, analysis } = foldEvents(scenario, marked, meta);
    expect(withMarks.marks?.length).toBe(4);
    // Marks change nothing else.
    const { marks: _marks, ...rest } = withMarks;
    expect(reportJsonText(rest as typeof report)).toBe(reportJsonText(report));
    const md = renderMarkdown(analysis);
    expect(md).toContain("## Game-day marks");
    expect(md).toContain(
      "| 2m | fault injected | anonymous-nat, split-egress, authenticated | error-burst status=503 (from the console) \\| &lt;b> |",
    );
    expect(md).toContain("| 10m | note | authenticated | paged |");
    const html = renderHtml(analysis);
    expect(html).toContain('<h4 id="marks">Game-day marks</h4>');
    expect(html).toContain("error-burst status=503 (from the console) | &lt;b&gt;");
    expect(renderMarkdown(foldEvents(scenario, events, meta).analysis)).not.toContain("Game-day");
  });
});

describe("pausing a live clock", () => {
  it("LiveSim: time stands still and no sleep ends while paused; the rest of a sleep runs after resume", async () => {
    const sim = new LiveSim(1, 1000);
    let woke = false;
    const sleeping = sim.sleep(400).then(() => {
      woke = true;
    }); // 0.4 wall s... at x1000: 0.4 ms
    sim.pause();
    const frozen = sim.now();
    await new Promise((r) => setTimeout(r, 50));
    expect(sim.paused).toBe(true);
    expect(sim.now()).toBe(frozen);
    expect(woke).toBe(false);
    // A sleep asked for while paused waits for the resume too.
    const late = sim.sleep(0);
    let lateWoke = false;
    void late.then(() => {
      lateWoke = true;
    });
    await new Promise((r) => setTimeout(r, 20));
    expect(lateWoke).toBe(false);
    sim.resume();
    await sleeping;
    await late;
    expect(woke).toBe(true);
    // Resumed from where it stood: the 70 wall ms paused (70 simulated s) never passed.
    expect(sim.now()).toBeLessThan(frozen + 40_000);
    sim.stop();
  });

  it("ScaledClock: registry time stands still while paused and runs on from there", () => {
    let wall = 1_000;
    const clock = new ScaledClock(60, () => wall);
    wall += 1_000;
    expect(clock.now() - clock.startedAt).toBe(60_000);
    clock.pause();
    wall += 5_000;
    expect(clock.now() - clock.startedAt).toBe(60_000);
    clock.resume();
    wall += 1_000;
    expect(clock.now() - clock.startedAt).toBe(120_000);
    expect(clock.tokenNow()).toBe(wall);
  });
});

describe("--dashboard [HOST:]PORT", () => {
  it("is loopback unless a host is named; anything else is an error naming the flag", () => {
    expect(parseListen("8080")).toEqual({ host: "127.0.0.1", port: 8080 });
    expect(parseListen("0")).toEqual({ host: "127.0.0.1", port: 0 });
    expect(parseListen("0.0.0.0:9000")).toEqual({ host: "0.0.0.0", port: 9000 });
    expect(parseListen("[::1]:7000")).toEqual({ host: "::1", port: 7000 });
    expect(parseListen("localhost:7000")).toEqual({ host: "localhost", port: 7000 });
    for (const bad of ["", "http://x:1", "1.2.3.4:", "host:70000", "a b:1", ":80"])
      expect(() => parseListen(bad), bad).toThrow(/--dashboard .*expected \[HOST:\]PORT/);
  });
});

describe("the console's server", () => {
  const TOKEN = "a-control-token-of-some-length";
  async function withServer(fn: (d: RunningDashboard) => Promise<void>) {
    const scenario = loadScenario(MINI);
    const names = scenario.designs.map((d) => d.name);
    const dashboard = await startDashboard({
      host: "127.0.0.1",
      port: 0,
      token: TOKEN,
      view: new LiveView(scenario, names, { mode: "live", seed: 1 }),
      metrics: new RunnerMetrics(names),
    });
    try {
      await fn(dashboard);
    } finally {
      await dashboard.close();
    }
  }

  it("serves a page that names no other origin, with a CSP that allows only its own blocks and connections", () =>
    withServer(async ({ url }) => {
      const response = await fetch(url);
      expect(response.status).toBe(200);
      const csp = response.headers.get("content-security-policy") ?? "";
      expect(csp).toContain("default-src 'none'");
      expect(csp).toContain("connect-src 'self'");
      const html = await response.text();
      expect(html).not.toMatch(/\b(src|href)="(https?:)?\/\//);
      expect(html).toContain("uPlot");
    }));

  it("refuses controls without the token, with a foreign Origin or a form body; takes them with it", () =>
    withServer(async ({ url, ended }) => {
      const post = (path: string, headers: Record<string, string>, body?: string) =>
        fetch(`${url}${path}`, { method: "POST", headers, ...(body ? { body } : {}) });
      const json = { "content-type": "application/json" };
      const note = JSON.stringify({ note: "hello" });
      expect((await post("api/mark", json, note)).status).toBe(403);
      expect(
        (await post("api/mark", { ...json, authorization: "Bearer wrong" }, note)).status,
      ).toBe(403);
      const auth = { authorization: `Bearer ${TOKEN}` };
      expect(
        (await post("api/mark", { ...json, ...auth, origin: "http://evil.example" }, note)).status,
      ).toBe(403);
      expect(
        (
          await post(
            "api/mark",
            { ...auth, "content-type": "application/x-www-form-urlencoded" },
            "note=x",
          )
        ).status,
      ).toBe(415);
      expect(
        (await post("api/mark", { ...json, ...auth }, JSON.stringify({ note: "" }))).status,
      ).toBe(400);
      expect((await post("api/mark", { ...json, ...auth }, note)).status).toBe(201);
      expect(
        (await post("api/faults", { ...json, ...auth }, JSON.stringify({ fault: "nope" }))).status,
      ).toBe(400);
      // Watching needs no token.
      expect((await fetch(`${url}metrics`)).status).toBe(200);
      // Reports are served only once the run has ended.
      expect((await fetch(`${url}reports/report.html`)).status).toBe(404);
      expect((await fetch(`${url}reports/..%2Fscenario.yaml`)).status).toBe(404);
      // Once the run has ended: its reports, and nothing else, from its directory.
      const dir = mkdtempSync(join(tmpdir(), "pullstorm-console-"));
      try {
        writeFileSync(join(dir, "report.html"), "<!doctype html><title>r</title>");
        writeFileSync(join(dir, "scenario.yaml"), "name: secret");
        ended({ interrupted: false, reports: ["report.html"], out: dir });
        expect((await fetch(`${url}reports/report.html`)).status).toBe(200);
        for (const name of ["constructor", "__proto__", "toString", "scenario.yaml", "..%2Fx"])
          expect((await fetch(`${url}reports/${name}`)).status, name).toBe(404);
        // Controls after the end: refused, saying why.
        expect((await post("api/mark", { ...json, ...auth }, note)).status).toBe(409);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    }));
});

describe("the Grafana dashboard (docs/examples/grafana)", () => {
  it("parses, and every query names metrics and labels the runner or the registry exports", async () => {
    const dashboard = JSON.parse(readFileSync(GRAFANA, "utf8")) as {
      panels: Array<{
        type: string;
        title: string;
        targets?: Array<{ expr: string; legendFormat?: string }>;
      }>;
    };
    // Every metric either exports, with the label names it was defined with.
    const defined = new Map<string, string[]>();
    for (const r of [new RunnerMetrics(["a"]).registry, new RegistryMetrics().registry])
      for (const m of r.getMetricsAsArray())
        defined.set(m.name, [...((m as unknown as { labelNames?: string[] }).labelNames ?? [])]);
    const queries = dashboard.panels.flatMap((p) =>
      (p.targets ?? []).map((t) => ({ ...t, panel: p.title })),
    );
    expect(queries.length).toBeGreaterThanOrEqual(10);
    const used = new Set<string>();
    for (const q of queries) {
      const names = q.expr.match(/pullstorm_[a-z_]+/g) ?? [];
      expect(names.length, q.panel).toBeGreaterThan(0);
      for (const name of names) {
        used.add(name);
        expect(defined.has(name), `${q.panel}: ${name} is no metric`).toBe(true);
      }
      // Grouped and legend labels are labels of the metric the query reads.
      const grouped = [
        ...(q.expr.match(/by \(([^)]*)\)/)?.[1]?.split(",") ?? []),
        ...[...(q.legendFormat ?? "").matchAll(/\{\{(\w+)\}\}/g)].map((m) => m[1] as string),
      ].map((l) => l.trim());
      const metricLabels = new Set(names.flatMap((n) => defined.get(n) ?? []));
      for (const l of grouped) expect(metricLabels.has(l), `${q.panel}: label ${l}`).toBe(true);
    }
    // Every runner metric is on the dashboard.
    for (const name of defined.keys())
      if (name.startsWith("pullstorm_runner_")) expect(used.has(name), name).toBe(true);
  });
});
