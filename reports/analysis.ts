import { PRESETS } from "../fake-registry/policy/presets.ts";
import { type Design, mirrorRuntimes, type Scenario } from "../simulator/scenario/schema.ts";
import { parseDuration } from "../vocabulary/config/units.ts";
import type { PullEvent, RequestEvent, SimEvent } from "../vocabulary/events.ts";
import type {
  Analysis,
  BreakLayer,
  DesignAnalysis,
  FaultWindow,
  Finding,
  FirstBreak,
  HeadroomSeries,
  HeavyHitter,
  MirrorEffectiveness,
  TimelineBucket,
} from "./analysis-types.ts";
import { type BreakEvent, breakDetail, EarliestBreak } from "./first-break.ts";
import type { DesignSummary, Report } from "./summary.ts";
import { formatSeconds } from "./time.ts";

const UPSTREAM = "registry";

/** The layer behind a failed request: the registry's own word when it gave one, else the status. */
export function layerOf(req: RequestEvent | undefined, pull: PullEvent): BreakLayer {
  if (pull.reason === "qps") return "client-qps";
  if (req?.refusal) {
    const byRefusal: Record<string, BreakLayer> = {
      quota: "registry-quota",
      "token-quota": "token-service",
      "login-lockout": "login-lockout",
      abuse: "abuse-limit",
      edge: "edge",
      ban: "edge",
      "misleading-denied": "misleading-denied",
      fault: "fault",
    };
    const layer = byRefusal[req.refusal];
    if (layer) return req.host === UPSTREAM || req.actor !== "mirror" ? layer : "mirror";
  }
  if (pull.host && pull.host !== UPSTREAM) return "mirror";
  if (req?.network) return "network";
  if (req?.kind === "token" && req.status === 429) return "token-service";
  const status = req?.status ?? pull.status ?? 0;
  if (status === 429)
    return req?.code === "HAP429"
      ? "abuse-limit"
      : req?.code === "html"
        ? "edge"
        : "registry-quota";
  if (status === 403 && req?.code === "DENIED") return "misleading-denied";
  if (status === 401 || status === 403) return "auth";
  if (status === 404) return "not-found";
  if (status >= 500 || status === 0) return "fault";
  return "fault";
}

function bucketSizeFor(durationSeconds: number): number {
  const steps = [1, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600];
  return steps.find((s) => durationSeconds / s <= 120) ?? 3600;
}

/** A rough price of a design's knobs: accounts, egress addresses, a mirror, pre-pulls, pacing. */
export function designCost(d: Design): number {
  let cost = { anonymous: 0, "shared-account": 1, "account-per-actor": 2 }[d.auth];
  if (d.plan !== "free" && d.auth !== "anonymous") cost += 1;
  if (d.egressIps > 1) cost += 1 + Math.log10(d.egressIps) / 2;
  if (d.mirror?.enabled) cost += 2 + (d.mirror.upstreamAuth ? 0.5 : 0);
  if (d.prePull) cost += 0.5;
  if (d.pin === "digest") cost += 0.25;
  if (d.rollout.waveInterval > 0) cost += 0.25;
  return Math.round(cost * 100) / 100;
}

function faultWindows(scenario: Scenario): FaultWindow[] {
  return scenario.faults.flatMap((raw, i): FaultWindow[] => {
    const spec = raw as {
      id?: string;
      type?: string;
      schedule?: { start?: string | number; duration?: string | number };
      scope?: unknown;
    };
    const start = spec.schedule?.start !== undefined ? parseDuration(spec.schedule.start) : 0;
    const duration =
      spec.schedule?.duration !== undefined ? parseDuration(spec.schedule.duration) : undefined;
    if (typeof start !== "number" || (duration !== undefined && typeof duration !== "number"))
      return [];
    return [
      {
        id: spec.id ?? `f${i + 1}`,
        type: spec.type ?? "fault",
        start: start / 1000,
        end: duration === undefined ? null : (start + duration) / 1000,
        ...(spec.scope ? { scope: spec.scope } : {}),
      },
    ];
  });
}

/** 429s counted as they happen in buckets of max(5 s, duration / 600); `waves` finds the synchronised peaks. */
class RetryWaves {
  private readonly size: number;
  private readonly buckets: number[];
  private count = 0;

  constructor(duration: number) {
    this.size = Math.max(5, duration / 600);
    this.buckets = new Array(Math.ceil(duration / this.size) + 1).fill(0) as number[];
  }

  add(t: number): void {
    const { buckets } = this;
    const i = Math.min(buckets.length - 1, Math.floor(t / this.size));
    buckets[i] = (buckets[i] ?? 0) + 1;
    this.count++;
  }

  waves(): number {
    const { buckets } = this;
    if (this.count === 0) return 0;
    const peak = Math.max(...buckets);
    const floor = Math.max(5, 0.3 * peak);
    let waves = 0;
    for (let i = 0; i < buckets.length; i++) {
      const v = buckets[i] as number;
      if (
        v >= floor &&
        v >= (buckets[i - 1] ?? 0) &&
        v > (buckets[i + 1] ?? 0) &&
        (buckets[i - 1] ?? 0) < v
      )
        waves++;
    }
    return waves;
  }
}

/**
 * One design's analysis, folded one event at a time (a run feeds it as events
 * happen); `finish` turns it into the design's analysis once the report's
 * summary is known.
 */
/** A timeline bucket starting at `t` with nothing counted yet. */
export function emptyBucket(t: number): TimelineBucket {
  return {
    t,
    requests: 0,
    upstreamRequests: 0,
    status429: 0,
    pullsOk: 0,
    pullsFailed: 0,
    waiting: 0,
    inBackoff: 0,
  };
}

/** Which mirror counter a mirror event's outcome adds to. */
const MIRROR_COUNTER = {
  hit: "hits",
  miss: "misses",
  revalidated: "revalidated",
  stale: "stale",
  error: "errors",
} as const;

export class DesignAnalyzer {
  readonly design: Design;
  private readonly duration: number;
  private readonly bucketSeconds: number;
  private readonly timeline: TimelineBucket[];
  private readonly lastError = new Map<string, RequestEvent>();
  private readonly firstFailureByActor = new Map<string, number>();
  private readonly headroom = new Map<string, HeadroomSeries>();
  private readonly upstreamByIdentity = new Map<string, number>();
  /** Start events as columns: when, how long since created, whether started, whose. */
  private readonly starts = {
    t: [] as number[],
    seconds: [] as number[],
    ok: [] as boolean[],
    actor: [] as string[],
  };
  private readonly retryWaves: RetryWaves;
  private readonly firstBreak = new EarliestBreak<FirstBreak>((e) => {
    const { actor, identity, image, reason, ...status } = breakDetail(e);
    const layer = e.type === "pull" ? layerOf(this.lastError.get(e.actor), e) : "not-started";
    return { t: e.t, actor, identity, image, layer, reason, ...status };
  });
  private clientRequests = 0;
  private upstreamTotal = 0;
  private successfulPulls = 0;
  private mirrorClientRequests = 0;
  private mirrorClientGets = 0;
  private mirrorUpstreamGets = 0;
  private readonly mirror = { hits: 0, misses: 0, revalidated: 0, stale: 0, errors: 0 };
  private upstreamFailing = false;
  private readonly duringFailure = { stale: 0, errors: 0 };

  constructor(scenario: Scenario, design: Design) {
    this.design = design;
    this.duration = scenario.duration / 1000;
    const bucketSeconds = bucketSizeFor(this.duration);
    this.bucketSeconds = bucketSeconds;
    this.retryWaves = new RetryWaves(this.duration);
    this.timeline = Array.from({ length: Math.ceil(this.duration / bucketSeconds) }, (_, i) =>
      emptyBucket(i * bucketSeconds),
    );
  }

  private at(t: number): TimelineBucket {
    const { timeline } = this;
    return timeline[
      Math.max(0, Math.min(timeline.length - 1, Math.floor(t / this.bucketSeconds)))
    ] as TimelineBucket;
  }

  /** Takes one event (another design's are ignored). */
  add(e: SimEvent): void {
    if (e.design !== this.design.name) return;
    if (e.type === "request") {
      const b = this.at(e.t);
      b.requests++;
      if (e.actor !== "mirror") this.clientRequests++;
      if (e.host === "mirror") this.mirrorClientRequests++;
      const isGet = e.method === "GET" && (e.kind === "manifest" || e.kind === "blob");
      if (isGet && e.host === "mirror" && e.actor !== "mirror") this.mirrorClientGets++;
      if (isGet && e.host === UPSTREAM && e.actor === "mirror") this.mirrorUpstreamGets++;
      if (e.status === 429) {
        b.status429++;
        this.retryWaves.add(e.t);
      }
      if (e.host === UPSTREAM) {
        b.upstreamRequests++;
        this.upstreamTotal++;
        this.upstreamByIdentity.set(e.identity, (this.upstreamByIdentity.get(e.identity) ?? 0) + 1);
        if (e.actor === "mirror")
          this.upstreamFailing = e.status >= 500 || e.status === 429 || e.network !== undefined;
      }
      if (e.status >= 400 || e.network) this.lastError.set(e.actor, e);
      if (e.rateLimit) {
        const id = e.rateLimit.source ?? e.identity;
        let series = this.headroom.get(id);
        if (!series) {
          series = {
            identity: id,
            limit: e.rateLimit.limit,
            windowSeconds: e.rateLimit.windowSeconds,
            points: [],
            minRemaining: e.rateLimit.remaining,
            exhaustedAt: null,
          };
          this.headroom.set(id, series);
        }
        series.points.push([e.t, e.rateLimit.remaining]);
        series.minRemaining = Math.min(series.minRemaining, e.rateLimit.remaining);
        if (e.rateLimit.remaining === 0 && series.exhaustedAt === null) series.exhaustedAt = e.t;
      }
    } else if (e.type === "pull") {
      const b = this.at(e.t);
      if (e.outcome === "failed") {
        b.pullsFailed++;
        if (!this.firstFailureByActor.has(e.actor)) this.firstFailureByActor.set(e.actor, e.t);
        this.firstBreak.offer(e as BreakEvent);
      } else {
        b.pullsOk++;
        this.successfulPulls++;
      }
    } else if (e.type === "start") {
      const { starts } = this;
      starts.t.push(e.t);
      starts.seconds.push(e.seconds);
      starts.ok.push(e.ok);
      starts.actor.push(e.actor);
      if (!e.ok) this.firstBreak.offer(e as BreakEvent);
    } else if (e.type === "mirror") {
      this.mirror[MIRROR_COUNTER[e.outcome]]++;
      if (this.upstreamFailing && (e.outcome === "stale" || e.outcome === "error"))
        this.duringFailure[e.outcome === "stale" ? "stale" : "errors"]++;
    }
  }

  /** The design's analysis, with its summary from report.json. */
  finish(report: Report): DesignAnalysis {
    const { design, duration, bucketSeconds, timeline, starts, mirror } = this;
    const summary = report.designs.find((d) => d.name === design.name);
    if (!summary) throw new Error(`no summary for design ${design.name}`);
    const units = starts.t.length;
    // Waiting units: from creation (t - seconds) until started or the end; in backoff once their actor failed a pull.
    let peakWaiting = 0;
    let peakAt: number | null = null;
    let peakInBackoff = 0;
    for (let s = 0; s < units; s++) {
      const t = starts.t[s] as number;
      const created = t - (starts.seconds[s] as number);
      const end = starts.ok[s] ? t : duration;
      const failedAt = this.firstFailureByActor.get(starts.actor[s] as string);
      for (
        let i = Math.floor(created / bucketSeconds);
        i < timeline.length && i * bucketSeconds < end;
        i++
      ) {
        const b = timeline[i];
        if (!b || (i + 1) * bucketSeconds <= created) continue;
        b.waiting++;
        if (failedAt !== undefined && failedAt < (i + 1) * bucketSeconds && failedAt >= created)
          b.inBackoff++;
      }
    }
    for (const b of timeline) {
      if (b.waiting > peakWaiting) {
        peakWaiting = b.waiting;
        peakAt = b.t;
      }
      peakInBackoff = Math.max(peakInBackoff, b.inBackoff);
    }
    const latencies: number[] = [];
    for (let s = 0; s < units; s++) if (starts.ok[s]) latencies.push(starts.seconds[s] as number);
    latencies.sort((a, b) => a - b);
    const cdfStep = Math.max(1, Math.floor(latencies.length / 100));
    const startCdf: Array<[number, number]> = [];
    for (let i = 0; i < latencies.length; i += cdfStep)
      startCdf.push([latencies[i] as number, (i + 1) / latencies.length]);
    if (latencies.length > 0) startCdf.push([latencies.at(-1) as number, 1]);
    const p = [summary.podStartSeconds, summary.jobSeconds, summary.desktopSeconds].filter(
      (x) => x !== null,
    );
    const { upstreamTotal, successfulPulls, mirrorClientGets, mirrorUpstreamGets } = this;
    const heavyHitters: HeavyHitter[] = [...this.upstreamByIdentity]
      .sort((a, b) => b[1] - a[1])
      .slice(0, 5)
      .map(([identity, n]) => ({
        identity,
        upstreamRequests: n,
        share: upstreamTotal ? Math.round((n / upstreamTotal) * 1000) / 1000 : 0,
      }));
    const decisions =
      mirror.hits + mirror.misses + mirror.revalidated + mirror.stale + mirror.errors;
    const mirrorEff: MirrorEffectiveness | null = design.mirror?.enabled
      ? {
          backend: summary.mirror?.backend ?? "model",
          servedBy: servedBy(summary.mirror),
          clientRequests: this.mirrorClientRequests,
          ...mirror,
          ...(summary.mirror && summary.mirror.backend !== "model"
            ? {
                hitRatio: mirrorClientGets
                  ? Math.round(Math.max(0, 1 - mirrorUpstreamGets / mirrorClientGets) * 1000) / 1000
                  : 0,
                hitRatioFrom: "offload" as const,
              }
            : {
                hitRatio: decisions
                  ? Math.round(
                      ((mirror.hits + mirror.revalidated + mirror.stale) / decisions) * 1000,
                    ) / 1000
                  : 0,
                hitRatioFrom: "decisions" as const,
              }),
          upstreamCountedPerPull: successfulPulls
            ? Math.round(((summary.upstream.pulls ?? 0) / successfulPulls) * 100) / 100
            : 0,
          duringUpstreamFailure: this.duringFailure,
        }
      : null;
    return {
      name: design.name,
      summary,
      firstBreak: this.firstBreak.value,
      timeline,
      bucketSeconds,
      blastRadius: {
        units,
        peakWaiting,
        peakWaitingShare: units ? Math.round((peakWaiting / units) * 1000) / 1000 : 0,
        peakAt,
        peakInBackoff,
      },
      retryAmplification: successfulPulls
        ? Math.round((this.clientRequests / successfulPulls) * 100) / 100
        : null,
      retryWaves: this.retryWaves.waves(),
      headroom: [...this.headroom.values()]
        .sort((a, b) => a.minRemaining - b.minRemaining)
        .slice(0, 20),
      heavyHitters,
      mirror: mirrorEff,
      startLatency:
        p.length === 0 ? null : (p.sort((a, b) => (b?.count ?? 0) - (a?.count ?? 0))[0] ?? null),
      startCdf,
      cost: designCost(design),
    };
  }
}

/** Diagnosis -> fix, in the playbook's words, from what the analysis found. */
function findingsFor(
  scenario: Scenario,
  design: Design,
  a: DesignAnalysis,
  preset: string,
): Finding[] {
  const out: Finding[] = [];
  const b = a.firstBreak;
  const pullRule = PRESETS[preset]?.rules.find((r) => r.layer === "registry" && r.headers);
  const anonymousLimit = pullRule?.limits.anonymous;
  // What the limit counts, in the registry's own terms (Docker pulls, or manifest GETs).
  const unit = pullRule?.counts.some((c) => c.as === "docker-pull") ? "pulls" : "manifest GETs";
  const limitText =
    anonymousLimit && anonymousLimit !== "unlimited"
      ? `${anonymousLimit.limit} ${unit} per ${formatSeconds(anonymousLimit.windowMs / 1000)}`
      : "the anonymous quota";
  const actors =
    scenario.fleet.nodes > 0
      ? `${a.blastRadius.units > 0 ? "" : ""}nodes`
      : scenario.fleet.ciRunners > 0
        ? "CI jobs"
        : "clients";
  if (b && b.layer === "registry-quota") {
    if (design.auth === "anonymous" && design.egressIps === 1 && !design.mirror?.enabled) {
      out.push({
        design: design.name,
        severity: "critical",
        diagnosis: `all ${actors} egress through one IP; the anonymous quota of ${limitText} ran out ${formatSeconds(b.t)} in (${b.actor} pulling ${b.image})`,
        fix: "add an authenticated pull-through mirror or split egress; authenticate pulls",
      });
    } else if (design.auth === "shared-account") {
      out.push({
        design: design.name,
        severity: "critical",
        diagnosis: `one shared account carried every pull; its ${design.plan} quota ran out ${formatSeconds(b.t)} in`,
        fix: "give each job or node its own credentials, or put an authenticated mirror in front so the account is spent once per image",
      });
    } else if (design.auth === "anonymous") {
      out.push({
        design: design.name,
        severity: "critical",
        diagnosis: `anonymous pulls across ${design.egressIps} egress address(es) still ran out of the per-IP quota ${formatSeconds(b.t)} in`,
        fix: "authenticate pulls and cache them: a pull-through mirror makes a cold node's pull local",
      });
    } else {
      out.push({
        design: design.name,
        severity: "critical",
        diagnosis: `the registry quota ran out ${formatSeconds(b.t)} in for ${b.identity || b.actor}`,
        fix: "reduce pulls from the registry: pin digests with IfNotPresent, pre-pull, or cache behind a mirror",
      });
    }
  }
  if (b && (b.layer === "token-service" || b.layer === "login-lockout")) {
    out.push({
      design: design.name,
      severity: "critical",
      diagnosis: `the token service said no ${formatSeconds(b.t)} in (${b.layer === "login-lockout" ? "failed-login lockout" : "token requests throttled"})`,
      fix: "cache tokens for their lifetime, stop retrying logins with bad credentials, and let a mirror hold one token instead of every node",
    });
  }
  if (b && b.layer === "abuse-limit") {
    out.push({
      design: design.name,
      severity: "critical",
      diagnosis: `one address sent enough requests to trip the abuse limit ${formatSeconds(b.t)} in`,
      fix: "cap concurrency and retries, stagger the rollout, and spread egress",
    });
  }
  if (b && b.layer === "misleading-denied") {
    out.push({
      design: design.name,
      severity: "warning",
      diagnosis:
        'under load the registry answered DENIED "requested access to the resource is denied": throttling disguised as an auth error',
      fix: "look at RateLimit headers and the request rate before chasing credentials; slow down pulls",
    });
  }
  if (b && (b.layer === "fault" || b.layer === "network")) {
    out.push({
      design: design.name,
      severity: "critical",
      diagnosis: `pulls failed when the upstream failed (${b.reason}) ${formatSeconds(b.t)} in`,
      fix: "put a pull-through mirror with a warm cache in front: it serves cached tags while the upstream is down",
    });
  }
  if (b && b.layer === "client-qps") {
    out.push({
      design: design.name,
      severity: "warning",
      diagnosis: "kubelet's registryPullQPS (5/s, burst 10) failed pulls before they left the node",
      fix: "pace the rollout (maxSurge, waves) or raise registryPullQPS",
    });
  }
  if (design.mirror?.enabled && a.mirror && a.mirror.clientRequests === 0) {
    out.push({
      design: design.name,
      severity: "critical",
      diagnosis: `a mirror is configured for ${mirrorRuntimes(scenario, design.mirror).join(" and ")} but the nodes run ${scenario.fleet.runtime}: no pull ever reached it (${a.summary.upstream.manifestGet} manifest GETs went upstream)`,
      fix: `configure the mirror on the runtime in use (containerd: certs.d/<host>/hosts.toml); check with pullstorm check-mirror`,
    });
  }
  if (a.retryAmplification !== null && a.retryAmplification > 20 && a.summary.pulls.failed > 0) {
    out.push({
      design: design.name,
      severity: "warning",
      diagnosis: `retries amplified the load: ${a.retryAmplification} requests per successful pull${a.retryWaves > 1 ? `, in ${a.retryWaves} synchronised waves` : ""}`,
      fix: "stop the storm at its source: fewer cold pulls (mirror, pre-pull, IfNotPresent) rather than more retries",
    });
  }
  const floating = scenario.images.some(
    (i) => !i.ref.includes("@") && (i.ref.endsWith(":latest") || !i.ref.includes(":")),
  );
  if (
    a.summary.verdict === "breaks" &&
    design.pin === "tag" &&
    (design.pullPolicy === "Always" || floating)
  ) {
    out.push({
      design: design.name,
      severity: "warning",
      diagnosis: "floating tags re-resolve at every start (imagePullPolicy Always for :latest)",
      fix: "pin digests and use IfNotPresent; stop rebuilding identical tags",
    });
  }
  if (a.mirror && a.mirror.duringUpstreamFailure.stale > 0 && a.summary.verdict === "holds") {
    out.push({
      design: design.name,
      severity: "info",
      diagnosis: `while the upstream failed the mirror served ${a.mirror.duringUpstreamFailure.stale} cached answer(s)`,
      fix: "keep the mirror's cache warm for critical images",
    });
  }
  return out;
}

/** The designs of a run that the report summarizes, each with an analyzer to feed events to. */
export function designAnalyzers(scenario: Scenario, designs: string[]): DesignAnalyzer[] {
  return scenario.designs
    .filter((d) => designs.includes(d.name))
    .map((d) => new DesignAnalyzer(scenario, d));
}

/** The analysis from analyzers that have seen every event of the run (see `designAnalyzers`). */
export function analysisOf(
  scenario: Scenario,
  analyzers: DesignAnalyzer[],
  report: Report,
): Analysis {
  const designs = analyzers.map((a) => a.design);
  const analyses = analyzers.map((a) => a.finish(report));
  const preset = scenario.registry.policy?.preset ?? scenario.registry.preset;
  const findings = designs.flatMap((d, i) =>
    findingsFor(scenario, d, analyses[i] as DesignAnalysis, preset),
  );
  const passing = (name: string) =>
    report.expectations.filter((e) => e.design === name).every((e) => e.passed);
  const holding = analyses
    .filter((a) => a.summary.verdict === "holds" && passing(a.name))
    .sort((x, y) => x.cost - y.cost);
  const cheapest = holding[0]?.name ?? null;
  if (cheapest) {
    const broken = analyses.filter((a) => a.summary.verdict === "breaks").map((a) => a.name);
    if (broken.length > 0)
      findings.push({
        design: cheapest,
        severity: "info",
        diagnosis: `${cheapest} is the cheapest design that holds (${broken.join(", ")} break)`,
        fix: `adopt ${cheapest}${scenario.designs.find((d) => d.name === cheapest)?.description ? `: ${scenario.designs.find((d) => d.name === cheapest)?.description}` : ""}`,
      });
  }
  return {
    scenario: {
      name: scenario.name,
      description: scenario.description,
      durationSeconds: scenario.duration / 1000,
      mode: report.mode,
      seed: report.seed,
      interrupted: report.interrupted,
      preset,
    },
    faults: faultWindows(scenario),
    clock: report.clock,
    designs: analyses,
    expectations: report.expectations,
    cheapestHolding: cheapest,
    findings,
  };
}

/** "docker-registry 2.8.2 (process)", "model distribution-2.8 (docker-registry is not installed)". */
export function servedBy(m: DesignSummary["mirror"]): string {
  if (!m) return "model";
  if (m.backend === "model")
    return `model${m.flavour ? ` ${String(m.flavour)}` : ""}${m.reason ? ` (${m.reason})` : ""}`;
  const what = [m.program, m.version].filter(Boolean).join(" ");
  return `${what || m.url || "mirror"} (${m.backend})`;
}
