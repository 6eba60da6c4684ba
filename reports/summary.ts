import * as hdr from "hdr-histogram-js";
import type { Expectation, Scenario } from "../simulator/scenario/schema.ts";
import { isOriginHost, type MirrorDescription, type SimEvent } from "../vocabulary/events.ts";
import { clockChecks, type ReportClock } from "./clock.ts";
import { breakDetail, EarliestBreak, isBreak } from "./first-break.ts";
import { formatSeconds as clockText } from "./time.ts";

export interface Percentiles {
  p50: number;
  p95: number;
  p99: number;
  max: number;
  count: number;
}

/**
 * holds: no break over the whole scenario; breaks: a failed pull or a unit that
 * never started; incomplete: the run was interrupted (SIGINT) before the end
 * with no break before the interrupt, so whether it holds is not known.
 */
export type Verdict = "holds" | "breaks" | "incomplete";

export interface DesignSummary {
  name: string;
  verdict: Verdict;
  /** The run was interrupted at this simulated second, before the scenario's end (absent: it ran to the end). */
  interruptedAtSeconds?: number;
  firstBreakSeconds: number | null;
  /** What broke first, in the words of the layer that said no. */
  firstBreak: {
    actor: string;
    identity: string;
    image: string;
    reason: string;
    status?: number;
  } | null;
  pulls: { total: number; ok: number; failed: number; cached: number };
  upstream: {
    /** Pulls the registry's pull limit charged (its decision, `pullstorm-pulls`): an index GET and its platform manifest GET are one. */
    pulls: number;
    /** Requests, not pulls. */
    manifestGet: number;
    manifestHead: number;
    blobGet: number;
    token: number;
    status: Record<string, number>;
  };
  units: { pods: number; jobs: number; desktops: number; started: number; failed: number };
  podStartSeconds: Percentiles | null;
  jobSeconds: Percentiles | null;
  desktopSeconds: Percentiles | null;
  /**
   * Which mirror served (backend process | container | external | model, program,
   * version, why the model when it fell back) and, for the model, its decisions.
   */
  mirror?: MirrorDescription & {
    hits?: number;
    misses?: number;
    revalidated?: number;
    stale?: number;
    errors?: number;
  };
}

export interface ExpectationResult {
  design: string;
  check: string;
  /** false when it failed, and when it was skipped (see `skipped`: neither passed nor failed). */
  passed: boolean;
  actual: number | string | null;
  /**
   * Why it was not decided: the run was interrupted before the design's end and
   * the check cannot be known from part of the run. A skipped check is neither
   * passed nor failed.
   */
  skipped?: string;
}

/** Whether an expectation failed: not passed, and not skipped. */
export function failed(e: ExpectationResult): boolean {
  return !e.passed && e.skipped === undefined;
}

function percentiles(values: number[]): Percentiles | null {
  if (values.length === 0) return null;
  // Milliseconds in an HDR histogram (3 significant digits), reported in seconds.
  const h = hdr.build({
    lowestDiscernibleValue: 1,
    highestTrackableValue: 30 * 86_400_000,
    numberOfSignificantValueDigits: 3,
  });
  for (const v of values) h.recordValue(Math.max(1, Math.round(v * 1000)));
  const at = (p: number) => Math.round(h.getValueAtPercentile(p)) / 1000;
  const result = {
    p50: at(50),
    p95: at(95),
    p99: at(99),
    max: Math.round(h.maxValue) / 1000,
    count: values.length,
  };
  h.destroy();
  return result;
}

/**
 * One design's numbers, folded one event at a time: a run feeds it as events
 * happen, so a large run need not keep its events to build the report.
 */
export class DesignSummarizer {
  readonly name: string;
  private readonly pulls = { total: 0, ok: 0, failed: 0, cached: 0 };
  private readonly upstream: DesignSummary["upstream"] = {
    pulls: 0,
    manifestGet: 0,
    manifestHead: 0,
    blobGet: 0,
    token: 0,
    status: {},
  };
  private readonly starts: Record<"pod" | "job" | "desktop", number[]> = {
    pod: [],
    job: [],
    desktop: [],
  };
  private readonly units = { pods: 0, jobs: 0, desktops: 0, started: 0, failed: 0 };
  private described: MirrorDescription = { backend: "model" };
  private readonly mirror = { hits: 0, misses: 0, revalidated: 0, stale: 0, errors: 0 };
  private sawMirror = false;
  private readonly firstBreak = new EarliestBreak(breakDetail);
  private interruptedAt: number | null = null;

  constructor(name: string) {
    this.name = name;
  }

  /** Takes one event (another design's are ignored). */
  add(e: SimEvent): void {
    if (e.design !== this.name) return;
    if (isBreak(e)) this.firstBreak.offer(e);
    switch (e.type) {
      case "interrupt":
        this.interruptedAt ??= e.t;
        break;
      case "request": {
        // Upstream: every origin registry (Docker Hub and the scenario's other registries).
        if (!isOriginHost(e.host)) break;
        const { upstream } = this;
        const status = String(e.status);
        upstream.status[status] = (upstream.status[status] ?? 0) + 1;
        if (e.pulls) upstream.pulls += e.pulls;
        if (e.kind === "manifest" && e.method === "GET") upstream.manifestGet++;
        else if (e.kind === "manifest" && e.method === "HEAD") upstream.manifestHead++;
        else if (e.kind === "blob" && e.method === "GET") upstream.blobGet++;
        else if (e.kind === "token") upstream.token++;
        break;
      }
      case "pull":
        this.pulls.total++;
        this.pulls[e.outcome === "ok" ? "ok" : e.outcome === "cached" ? "cached" : "failed"]++;
        break;
      case "start":
        this.units[e.what === "pod" ? "pods" : e.what === "job" ? "jobs" : "desktops"]++;
        if (e.ok) {
          this.units.started++;
          this.starts[e.what].push(e.seconds);
        } else {
          this.units.failed++;
        }
        break;
      case "setup":
        if (e.mirror) {
          this.sawMirror = true;
          this.described = e.mirror;
        }
        break;
      case "mirror": {
        const { mirror } = this;
        this.sawMirror = true;
        if (e.outcome === "hit") mirror.hits++;
        else if (e.outcome === "miss") mirror.misses++;
        else if (e.outcome === "revalidated") mirror.revalidated++;
        else if (e.outcome === "stale") mirror.stale++;
        else mirror.errors++;
        break;
      }
    }
  }

  result(): DesignSummary {
    const { pulls, units, starts, described } = this;
    // Pods and desktops retry: a failed pull followed by a start still counts as a break (ErrImagePull happened).
    // Interrupted (the fold drops what follows the interrupt): a break before it stands, else nobody knows yet.
    const verdict: Verdict =
      pulls.failed > 0 || units.failed > 0
        ? "breaks"
        : this.interruptedAt !== null
          ? "incomplete"
          : "holds";
    return {
      name: this.name,
      verdict,
      ...(this.interruptedAt !== null ? { interruptedAtSeconds: this.interruptedAt } : {}),
      firstBreakSeconds: this.firstBreak.t,
      firstBreak: this.firstBreak.value,
      pulls,
      upstream: this.upstream,
      units,
      podStartSeconds: percentiles(starts.pod),
      jobSeconds: percentiles(starts.job),
      desktopSeconds: percentiles(starts.desktop),
      // The model's decisions; a real mirror is a black box (its upstream traffic is in `upstream`).
      ...(this.sawMirror
        ? {
            mirror: described.backend === "model" ? { ...described, ...this.mirror } : described,
          }
        : {}),
    };
  }
}

/** The highest p95 of whatever started (pods, jobs, desktops), seconds: the one "p95 start" of every report. */
export function p95StartOf(d: DesignSummary): number | null {
  const all = [d.podStartSeconds, d.jobSeconds, d.desktopSeconds].filter(
    (p): p is Percentiles => p !== null,
  );
  return all.length === 0 ? null : Math.max(...all.map((p) => p.p95));
}

/**
 * An expectation of a design the run interrupted: decided only where part of
 * the run decides it, skipped (with the reason) where the rest could change
 * it. A break before the interrupt decides the verdict (`breaks` passes,
 * `holds` fails); failed pulls and upstream 429s only grow, so a maximum
 * already passed fails; everything else waits for a full run.
 */
function partialChecks(e: Expectation, d: DesignSummary, at: number): ExpectationResult[] {
  const why =
    d.verdict === "breaks"
      ? `interrupted at ${clockText(at)}: the rest of the run could change it`
      : `incomplete: no break before the interrupt at ${clockText(at)}`;
  const skip = (check: string): ExpectationResult => ({
    design: d.name,
    check,
    passed: false,
    actual: null,
    skipped: why,
  });
  const out: ExpectationResult[] = [];
  if (e.verdict !== undefined)
    out.push(
      d.verdict === "breaks"
        ? {
            design: d.name,
            check: `verdict == ${e.verdict}`,
            passed: e.verdict === "breaks",
            actual: d.verdict,
          }
        : skip(`verdict == ${e.verdict}`),
    );
  const atMost = (check: string, max: number | undefined, actual: number) => {
    if (max === undefined) return;
    out.push(actual > max ? { design: d.name, check, passed: false, actual } : skip(check));
  };
  atMost(`failed pulls <= ${e.maxFailedPulls}`, e.maxFailedPulls, d.pulls.failed);
  if (e.maxP95StartSeconds !== undefined) out.push(skip(`p95 start <= ${e.maxP95StartSeconds} s`));
  atMost(`upstream 429s <= ${e.maxUpstream429}`, e.maxUpstream429, d.upstream.status["429"] ?? 0);
  if (e.minUnitsStarted !== undefined) out.push(skip(`share started >= ${e.minUnitsStarted}`));
  return out;
}

/** Each expectation of the scenario checked against its design's summary. */
export function checkExpectations(
  expectations: Expectation[],
  designs: DesignSummary[],
): ExpectationResult[] {
  const results: ExpectationResult[] = [];
  for (const e of expectations) {
    const d = designs.find((x) => x.name === e.design);
    if (!d) continue;
    if (d.interruptedAtSeconds !== undefined) {
      results.push(...partialChecks(e, d, d.interruptedAtSeconds));
      continue;
    }
    if (e.verdict !== undefined)
      results.push({
        design: d.name,
        check: `verdict == ${e.verdict}`,
        passed: d.verdict === e.verdict,
        actual: d.verdict,
      });
    if (e.maxFailedPulls !== undefined)
      results.push({
        design: d.name,
        check: `failed pulls <= ${e.maxFailedPulls}`,
        passed: d.pulls.failed <= e.maxFailedPulls,
        actual: d.pulls.failed,
      });
    if (e.maxP95StartSeconds !== undefined) {
      const p95 = p95StartOf(d);
      results.push({
        design: d.name,
        check: `p95 start <= ${e.maxP95StartSeconds} s`,
        passed: p95 !== null && p95 <= e.maxP95StartSeconds,
        actual: p95,
      });
    }
    if (e.maxUpstream429 !== undefined) {
      const n = d.upstream.status["429"] ?? 0;
      results.push({
        design: d.name,
        check: `upstream 429s <= ${e.maxUpstream429}`,
        passed: n <= e.maxUpstream429,
        actual: n,
      });
    }
    if (e.minUnitsStarted !== undefined) {
      const total = d.units.pods + d.units.jobs + d.units.desktops;
      const share = total === 0 ? 1 : d.units.started / total;
      results.push({
        design: d.name,
        check: `share started >= ${e.minUnitsStarted}`,
        passed: share >= e.minUnitsStarted,
        actual: Math.round(share * 1000) / 1000,
      });
    }
  }
  return results;
}

export interface Report {
  scenario: string;
  mode: "live" | "virtual";
  seed: number;
  interrupted: boolean;
  durationSeconds: number;
  timeScale?: number;
  target?: string;
  /** How far a live run fell behind its scaled clock, and whether that could change the result (reports/clock.ts). */
  clock: ReportClock;
  designs: DesignSummary[];
  expectations: ExpectationResult[];
}

export interface ReportMeta {
  mode: "live" | "virtual";
  seed: number;
  interrupted: boolean;
  designs: string[];
  timeScale?: number;
  target?: string;
}

/** report.json from designs already summarized (one per `meta.designs`, in that order). */
export function reportOf(
  scenario: Scenario,
  designs: DesignSummary[],
  meta: ReportMeta,
  clock: ReportClock = meta.mode === "virtual"
    ? { mode: "virtual", keptUp: true }
    : {
        mode: "live",
        timeScale: meta.timeScale ?? 1,
        chosenBy: "unknown",
        reason: "not measured",
        keptUp: false,
        lagP99SimSeconds: null,
        requestP99SimSeconds: null,
        toleranceSimSeconds: 0,
        rule: "not measured",
        designs: [],
      },
): Report {
  return {
    scenario: scenario.name,
    mode: meta.mode,
    seed: meta.seed,
    interrupted: meta.interrupted,
    durationSeconds: scenario.duration / 1000,
    ...(meta.timeScale ? { timeScale: meta.timeScale } : {}),
    ...(meta.target ? { target: meta.target } : {}),
    clock,
    designs,
    expectations: [
      ...checkExpectations(
        scenario.expectations.filter((e) => meta.designs.includes(e.design)),
        designs,
      ),
      ...clockChecks(clock),
    ],
  };
}
