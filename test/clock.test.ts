// The clock that knows when it lags: the meter, LiveSim's lag, the keptUp rule,
// --time-scale auto's choice, and how the reports fold and show it.
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { foldEvents } from "../reports/fold.ts";
import { renderJunit } from "../reports/junit.ts";
import { renderMarkdown } from "../reports/markdown.ts";
import { renderTerminalSummary } from "../reports/terminal.ts";
import {
  autoTimeScale,
  clockTolerance,
  clockVerdict,
  loadWindowSeconds,
} from "../simulator/clock.ts";
import { chooseTimeScale } from "../simulator/engine/calibrate.ts";
import { ClockMeter } from "../simulator/engine/clock-meter.ts";
import { LiveSim } from "../simulator/engine/sim.ts";
import { loadScenario } from "../simulator/scenario/load.ts";
import type { ClockEvent, SimEvent } from "../vocabulary/events.ts";

const MINI = join(import.meta.dirname, "fixtures", "mini-churn.yaml");
const ROOT = join(import.meta.dirname, "..");
const NODE_CHURN = join(ROOT, "scenarios", "node-churn.yaml");

function busy(ms: number): void {
  const until = performance.now() + ms;
  while (performance.now() < until) {
    // the event loop is blocked, as on a machine that cannot keep up
  }
}

describe("measuring lag", () => {
  it("the meter reports wall milliseconds as simulated seconds (wall x scale)", () => {
    const meter = new ClockMeter(120);
    for (let i = 0; i < 99; i++) meter.lag(1);
    meter.lag(50);
    meter.request(10);
    const total = meter.total();
    expect(total.lag?.count).toBe(100);
    expect(total.lag?.p50).toBeCloseTo(0.12, 2);
    expect(total.lag?.max).toBeCloseTo(6, 1);
    expect(total.request?.p99).toBeCloseTo(1.2, 1);
    // An interval starts afresh; the total keeps everything.
    expect(meter.interval().lag?.count).toBe(100);
    expect(meter.interval().lag).toBeNull();
    meter.lag(2);
    expect(meter.total().lag?.count).toBe(101);
    meter.close();
  });

  it("LiveSim reports how late a sleep fired when the event loop is blocked", async () => {
    const lags: number[] = [];
    const sim = new LiveSim(1, 1000, { onLag: (ms) => lags.push(ms) });
    const slept = sim.sleep(5_000); // 5 wall ms
    busy(60);
    await slept;
    expect(lags).toHaveLength(1);
    expect(lags[0]).toBeGreaterThan(40);
    sim.stop();
  });
});

describe("the keptUp rule", () => {
  it("tolerates 10% of the shortest timing that matters", () => {
    const churn = clockTolerance(loadScenario(join(ROOT, "scenarios", "node-churn.yaml")));
    expect(churn.simSeconds).toBe(1);
    expect(churn.basis?.what).toMatch(/kubelet/);
    const token = clockTolerance(loadScenario(join(ROOT, "scenarios", "token-throttle.yaml")));
    expect(token.simSeconds).toBe(0.1);
    expect(token.rule).toMatch(/token-service window/);
  });

  it("fails when timer lag or near-instant requests exceed the tolerance", () => {
    const tol = clockTolerance(loadScenario(MINI));
    const stats = (p99: number) => ({ count: 10, p50: p99 / 2, p99, max: p99 });
    expect(clockVerdict({ lag: stats(0.5), request: stats(0.9) }, tol).keptUp).toBe(true);
    expect(clockVerdict({ lag: stats(1.5), request: stats(0.1) }, tol)).toMatchObject({
      keptUp: false,
      why: [expect.stringMatching(/timers fired 1.5 s late/)],
    });
    expect(clockVerdict({ lag: null, request: stats(3) }, tol).keptUp).toBe(false);
  });

  it("auto picks the largest scale that keeps up with a margin, at most the default", () => {
    const tol = clockTolerance(loadScenario(MINI)); // 1 s
    // 1 ms wall: 1 s / (2 x 1 ms) = x500 fits; capped at 30.
    expect(autoTimeScale({ lagP99Ms: 1, requestP99Ms: 1 }, tol, 30)).toEqual({
      timeScale: 30,
      limitedBy: "cap",
    });
    // 25 ms wall: x20 fits.
    expect(autoTimeScale({ lagP99Ms: 5, requestP99Ms: 25 }, tol, 120)).toEqual({
      timeScale: 20,
      limitedBy: "machine",
    });
    expect(autoTimeScale({ lagP99Ms: 900, requestP99Ms: 5 }, tol, 120).timeScale).toBe(1);
    // Two significant digits, exactly: x7.15 fits, x7.1 is chosen (not 7.1000000000000005).
    expect(autoTimeScale({ lagP99Ms: 5, requestP99Ms: 69.93 }, tol, 120).timeScale).toBe(7.1);
    const chosen = chooseTimeScale(
      { seconds: 1.5, lagP99WallMs: 5, requestP99WallMs: 25, requests: 100, msPerRequest: 0.1 },
      tol,
      120,
    );
    expect(chosen.timeScale).toBe(20);
    expect(chosen.reason).toMatch(/x20 is the largest scale .*\(the default x120 would not\)/);
  });

  it("auto keeps the scenario's busiest moment under a quarter of the process", () => {
    const tol = clockTolerance(loadScenario(MINI)); // 1 s
    // 10 requests per simulated second at 0.5 ms each: 0.5% of a core per unit of scale,
    // so x50 fills 25%; latency alone would allow x250 (capped at 120).
    const load = { peakRequestsPerSimSecond: 10, msPerRequest: 0.5 };
    expect(autoTimeScale({ lagP99Ms: 1, requestP99Ms: 2 }, tol, 120, load)).toEqual({
      timeScale: 50,
      limitedBy: "load",
    });
    // A quiet scenario is limited by latency or the cap, not by load.
    const quiet = { peakRequestsPerSimSecond: 0.1, msPerRequest: 0.5 };
    expect(autoTimeScale({ lagP99Ms: 1, requestP99Ms: 2 }, tol, 120, quiet).limitedBy).toBe("cap");
    const chosen = chooseTimeScale(
      {
        seconds: 1.5,
        lagP99WallMs: 1,
        requestP99WallMs: 2,
        requests: 100,
        msPerRequest: 0.5,
        peakRequestsPerSimSecond: 10,
      },
      tol,
      120,
    );
    expect(chosen.timeScale).toBe(50);
    expect(chosen.reason).toMatch(/x50 keeps the busiest minute under 25%/);
    expect(chosen.reason).toMatch(/10 requests per simulated second/);
    const windowed = chooseTimeScale(
      {
        seconds: 1.5,
        lagP99WallMs: 1,
        requestP99WallMs: 2,
        requests: 100,
        msPerRequest: 0.5,
        peakRequestsPerSimSecond: 10,
        peakWindowSeconds: 10,
      },
      tol,
      120,
    );
    expect(windowed.reason).toMatch(/x50 keeps the busiest 10 s under 25%/);
  });

  it("sizes for the busiest stretch as long as the shortest timing that matters (1 s to a minute)", () => {
    const basis = (seconds: number | null) => ({
      simSeconds: 1,
      basis: seconds === null ? null : { what: "x", seconds },
      rule: "",
    });
    expect(loadWindowSeconds(basis(10))).toBe(10);
    expect(loadWindowSeconds(basis(0.2))).toBe(1);
    expect(loadWindowSeconds(basis(3600))).toBe(60);
    expect(loadWindowSeconds(basis(null))).toBe(60);
    // node-churn: kubelet's first image pull back-off, 10 s.
    expect(loadWindowSeconds(clockTolerance(loadScenario(NODE_CHURN)))).toBe(10);
  });
});

describe("the reports fold the clock", () => {
  const scenario = loadScenario(MINI);
  const names = scenario.designs.map((d) => d.name);
  const clockEvents = (p99: number): ClockEvent[] =>
    names.flatMap((design): ClockEvent[] => [
      {
        type: "clock",
        t: 0,
        design,
        phase: "scale",
        timeScale: 5000,
        chosenBy: "given",
        reason: "given (--time-scale 5000)",
      },
      {
        type: "clock",
        t: 5,
        design,
        phase: "sample",
        timeScale: 5000,
        lag: { count: 3, p50: p99, p99, max: p99 },
      },
      {
        type: "clock",
        t: 1800,
        design,
        phase: "end",
        timeScale: 5000,
        lag: { count: 30, p50: p99 / 2, p99, max: p99 },
        request: { count: 30, p50: 0.01, p99: 0.02, max: 0.05 },
      },
    ]);
  const meta = {
    mode: "live" as const,
    seed: 1,
    interrupted: false,
    designs: names,
    timeScale: 5000,
  };

  it("a clock that fell behind: keptUp false, a failed check per design, loud in every report", () => {
    const { report, analysis } = foldEvents(scenario, clockEvents(40) as SimEvent[], meta);
    expect(report.clock).toMatchObject({
      mode: "live",
      timeScale: 5000,
      chosenBy: "given",
      keptUp: false,
      lagP99SimSeconds: 40,
      requestP99SimSeconds: 0.02,
      toleranceSimSeconds: 1,
    });
    const checks = report.expectations.filter((e) => e.check === "the clock kept up");
    expect(checks).toHaveLength(names.length);
    expect(checks.every((c) => !c.passed)).toBe(true);
    expect(renderJunit(analysis)).toMatch(
      /<testcase classname="mini-churn.anonymous-nat" name="the clock kept up">\s*<failure/,
    );
    expect(renderTerminalSummary(analysis, "out", { color: false })).toContain(
      "THE CLOCK FELL BEHIND at x5000",
    );
    expect(renderMarkdown(analysis)).toContain("**Warning:** THE CLOCK FELL BEHIND");
    expect(analysis.cheapestHolding).toBeNull();
  });

  it("a clock that kept up passes its check", () => {
    const { report } = foldEvents(scenario, clockEvents(0.2) as SimEvent[], meta);
    expect(report.clock).toMatchObject({ keptUp: true, lagP99SimSeconds: 0.2 });
    expect(
      report.expectations.filter((e) => e.check === "the clock kept up").every((e) => e.passed),
    ).toBe(true);
  });

  it("a live run without clock events is not trusted; virtual runs have no lag", () => {
    expect(foldEvents(scenario, [], meta).report.clock.keptUp).toBe(false);
    const virtual = foldEvents(scenario, [], {
      ...meta,
      mode: "virtual",
      timeScale: undefined as never,
    });
    expect(virtual.report.clock).toEqual({ mode: "virtual", keptUp: true });
    expect(virtual.report.expectations.some((e) => e.check === "the clock kept up")).toBe(false);
  });
});
