import type { Design, Scenario } from "../simulator/scenario/schema.ts";
import { parseDuration } from "../vocabulary/config/units.ts";
import {
  isOriginHost,
  ORIGIN_HOST,
  originOf,
  type PullEvent,
  type RequestEvent,
  type SimEvent,
} from "../vocabulary/events.ts";
import { formatReference, parseReference } from "../vocabulary/oci/reference.ts";
import type {
  Analysis,
  BreakLayer,
  DesignAnalysis,
  EventRef,
  FaultWindow,
  FirstBreak,
  HeadroomSeries,
  HeavyHitter,
  HoldingRank,
  LoadBreak,
  Mark,
  MirrorEffectiveness,
  PeakUse,
  TimelineBucket,
} from "./analysis-types.ts";
import {
  type ClientGroup,
  type DesignFacts,
  emptyRoute,
  eventRef,
  groupOf,
  mirrorRuntimesOf,
  type RefusalFact,
  runtimeOfGroup,
  type TagMoveFact,
} from "./facts.ts";
import { chainsOf, findingsFor } from "./findings.ts";
import { type BreakEvent, breakDetail, EarliestBreak } from "./first-break.ts";
import type { DesignSummary, Report } from "./summary.ts";

/** The layer each refusal reason (the registry's refusal header) belongs to. */
const REFUSAL_LAYERS: ReadonlyMap<string, BreakLayer> = new Map<string, BreakLayer>([
  ["quota", "registry-quota"],
  ["token-quota", "token-service"],
  ["login-lockout", "login-lockout"],
  ["abuse", "abuse-limit"],
  ["edge", "edge"],
  ["ban", "edge"],
  ["misleading-denied", "misleading-denied"],
  ["fault", "fault"],
]);

/** The layer behind a failed request: the registry's own word when it gave one, else the status. */
export function layerOf(req: RequestEvent | undefined, pull: PullEvent): BreakLayer {
  if (pull.reason === "qps") return "client-qps";
  if (req?.refusal) {
    const layer = REFUSAL_LAYERS.get(req.refusal);
    if (layer) return isOriginHost(req.host) || req.actor !== "mirror" ? layer : "mirror";
  }
  if (pull.host && !isOriginHost(pull.host)) return "mirror";
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

/** Where a refusal came from, in the layer's words. */
function refusalLayer(e: RequestEvent): BreakLayer | null {
  if (e.status !== 429 && e.status !== 403 && e.status !== 503) return null;
  // A fault is the scenario's doing, not a limit's.
  if (e.refusal) return e.refusal === "fault" ? null : (REFUSAL_LAYERS.get(e.refusal) ?? null);
  if (e.status !== 429) return e.status === 403 && e.code === "DENIED" ? "misleading-denied" : null;
  if (e.kind === "token") return "token-service";
  return e.code === "HAP429" ? "abuse-limit" : e.code === "html" ? "edge" : "registry-quota";
}

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
  /** Events of this design seen, for references when the caller gives no sequence number. */
  private seen = 0;
  private readonly refusals = new Map<string, RefusalFact>();
  /** Per actor of a mirror-configured group: the mirror's last failed answer. */
  private readonly lastMirrorFailure = new Map<string, string>();
  private readonly pairs = new Set<string>();
  private readonly configured: Record<ClientGroup, boolean>;
  readonly facts: DesignFacts;

  constructor(scenario: Scenario, design: Design) {
    this.design = design;
    this.duration = scenario.duration / 1000;
    const bucketSeconds = bucketSizeFor(this.duration);
    this.bucketSeconds = bucketSeconds;
    this.retryWaves = new RetryWaves(this.duration);
    this.timeline = Array.from({ length: Math.ceil(this.duration / bucketSeconds) }, (_, i) =>
      emptyBucket(i * bucketSeconds),
    );
    const runtimes = mirrorRuntimesOf(scenario, design);
    this.configured = {
      nodes: runtimes.includes(runtimeOfGroup(scenario, "nodes")),
      ci: runtimes.includes(runtimeOfGroup(scenario, "ci")),
      desktops: runtimes.includes(runtimeOfGroup(scenario, "desktops")),
    };
    const group = () => ({ actors: new Set<string>(), first: null });
    this.facts = {
      refusals: [],
      firstRefused: new Map(),
      exhausted: new Map(),
      lowest: new Map(),
      fallback: { nodes: emptyRoute(), ci: emptyRoute(), desktops: emptyRoute() },
      bypass: { nodes: emptyRoute(), ci: emptyRoute(), desktops: emptyRoute() },
      mirrorRequests: { nodes: 0, ci: 0, desktops: 0 },
      groups: { nodes: group(), ci: group(), desktops: group() },
      mirrorErrors: { count: 0, byUpstreamStatus: new Map(), first: null },
      pullAttempts: 0,
      pulledPairs: 0,
      firstFailedPull: null,
      failedPulls: new Map(),
      qps: { count: 0, first: null },
      tagMoves: tagMovesOf(scenario, design),
      prePulls: 0,
    };
  }

  private at(t: number): TimelineBucket {
    const { timeline } = this;
    return timeline[
      Math.max(0, Math.min(timeline.length - 1, Math.floor(t / this.bucketSeconds)))
    ] as TimelineBucket;
  }

  /**
   * Takes one event (another design's are ignored). `seq` is the event's
   * position in the run's stream (1-based, the line of events.jsonl), for the
   * findings' references; without it, the position among this design's events.
   */
  add(event: SimEvent, seq?: number): void {
    if (event.design !== this.design.name) return;
    const e = perRegistry(event);
    this.seen++;
    const ref = () => eventRef(seq ?? this.seen, e);
    const { facts } = this;
    if (e.type === "request") {
      const b = this.at(e.t);
      b.requests++;
      if (e.actor !== "mirror") this.clientRequests++;
      if (e.host === "mirror") this.mirrorClientRequests++;
      const isGet = e.method === "GET" && (e.kind === "manifest" || e.kind === "blob");
      if (isGet && e.host === "mirror" && e.actor !== "mirror") this.mirrorClientGets++;
      if (isGet && isOriginHost(e.host) && e.actor === "mirror") this.mirrorUpstreamGets++;
      if (e.status === 429) {
        b.status429++;
        this.retryWaves.add(e.t);
      }
      if (isOriginHost(e.host)) {
        b.upstreamRequests++;
        this.upstreamTotal++;
        this.upstreamByIdentity.set(e.identity, (this.upstreamByIdentity.get(e.identity) ?? 0) + 1);
        if (e.actor === "mirror")
          this.upstreamFailing = e.status >= 500 || e.status === 429 || e.network !== undefined;
      }
      if (e.status >= 400 || e.network) this.lastError.set(e.actor, e);
      const group = groupOf(e.actor);
      if (group && group !== "mirror") this.route(group, e, ref);
      const layer = refusalLayer(e);
      if (layer && group) {
        // Per-address layers count the address; the pull quota names whom it counted.
        const identity =
          layer === "abuse-limit" || layer === "edge"
            ? e.egressIp
            : (e.rateLimit?.source ?? e.identity);
        const key = `${layer}\u0000${group}\u0000${identity}`;
        const fact = this.refusals.get(key);
        if (fact) {
          fact.count++;
          fact.lastT = e.t;
        } else
          this.refusals.set(key, {
            layer,
            who: group,
            identity,
            count: 1,
            first: ref(),
            lastT: e.t,
          });
      }
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
            minAt: e.t,
            exhaustedAt: null,
            firstRefusedAt: null,
            refused: 0,
          };
          this.headroom.set(id, series);
          facts.lowest.set(id, ref());
        }
        series.points.push([e.t, e.rateLimit.remaining]);
        if (e.rateLimit.remaining < series.minRemaining) {
          series.minRemaining = e.rateLimit.remaining;
          series.minAt = e.t;
          facts.lowest.set(id, ref());
        }
        if (e.rateLimit.remaining === 0 && series.exhaustedAt === null) {
          series.exhaustedAt = e.t;
          facts.exhausted.set(id, ref());
        }
        if (e.status === 429 && layer === "registry-quota") {
          series.refused++;
          if (series.firstRefusedAt === null) {
            series.firstRefusedAt = e.t;
            facts.firstRefused.set(id, ref());
          }
        }
      }
    } else if (e.type === "pull") {
      const b = this.at(e.t);
      facts.pullAttempts++;
      const pair = `${e.actor}\u0000${e.image}`;
      if (!this.pairs.has(pair)) this.pairs.add(pair);
      if (e.actor.endsWith("/pre-pull")) facts.prePulls++;
      if (e.outcome !== "failed")
        for (const m of facts.tagMoves)
          if (e.image === m.ref && e.t >= m.movedAt) m.pulledAfter.add(e.actor);
      if (e.outcome === "failed") {
        b.pullsFailed++;
        if (!this.firstFailureByActor.has(e.actor)) this.firstFailureByActor.set(e.actor, e.t);
        this.firstBreak.offer(e as BreakEvent);
        if (!facts.firstFailedPull) facts.firstFailedPull = ref();
        const reason = e.reason ?? "unknown";
        const f = facts.failedPulls.get(reason);
        if (f) f.count++;
        else facts.failedPulls.set(reason, { count: 1, first: ref() });
        if (e.reason === "qps") {
          facts.qps.count++;
          facts.qps.first ??= ref();
        }
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
      if (e.ok && e.image)
        for (const m of facts.tagMoves) {
          if (e.image !== m.ref || e.t - e.seconds < m.movedAt) continue;
          m.started++;
          if (!m.pulledAfter.has(e.actor)) {
            m.stale++;
            m.staleActors.add(e.actor);
            m.first ??= ref();
          }
        }
    } else if (e.type === "mirror") {
      this.mirror[MIRROR_COUNTER[e.outcome]]++;
      if (this.upstreamFailing && (e.outcome === "stale" || e.outcome === "error"))
        this.duringFailure[e.outcome === "stale" ? "stale" : "errors"]++;
      if (e.outcome === "error") {
        const m = facts.mirrorErrors;
        m.count++;
        m.first ??= ref();
        const k = String(e.upstreamStatus ?? "no answer");
        m.byUpstreamStatus.set(k, (m.byUpstreamStatus.get(k) ?? 0) + 1);
      }
    }
  }

  /** A client request: which group, whether through the mirror, around it (fallback), or never configured for it (bypass). */
  private route(group: ClientGroup, e: RequestEvent, ref: () => EventRef): void {
    const { facts } = this;
    const g = facts.groups[group];
    if (!g.actors.has(e.actor)) {
      g.actors.add(e.actor);
      g.first ??= ref();
    }
    if (!this.design.mirror?.enabled) return;
    if (e.host === "mirror") {
      facts.mirrorRequests[group]++;
      if (e.status >= 400 || e.network)
        this.lastMirrorFailure.set(
          e.actor,
          e.network ?? `${e.status}${e.code ? ` ${e.code}` : ""}`,
        );
      return;
    }
    // The mirror fronts Docker Hub only: other registries' images are meant to go direct.
    if (e.host !== ORIGIN_HOST) return;
    const r = this.configured[group] ? facts.fallback[group] : facts.bypass[group];
    r.requests++;
    r.identities.add(e.rateLimit?.source ?? e.identity);
    if (e.pulls) r.pulls += e.pulls;
    r.first ??= ref();
    if (!r.actors.has(e.actor)) {
      r.actors.add(e.actor);
      if (this.configured[group]) {
        const why = this.lastMirrorFailure.get(e.actor) ?? "no failed mirror answer seen";
        r.why.set(why, (r.why.get(why) ?? 0) + 1);
      }
    }
  }

  /** The highest share of any limit seen in RateLimit headers (limit - lowest remaining), so far. */
  peakUse(): PeakUse | null {
    let peak: PeakUse | null = null;
    for (const h of this.headroom.values()) {
      const share =
        h.limit > 0 ? Math.round(((h.limit - h.minRemaining) / h.limit) * 1000) / 1000 : 0;
      if (!peak || share > peak.share)
        peak = {
          identity: h.identity,
          limit: h.limit,
          windowSeconds: h.windowSeconds,
          minRemaining: h.minRemaining,
          share,
          at: h.minAt,
        };
    }
    return peak;
  }

  /** The design's analysis, with its summary from report.json. */
  finish(report: Report): DesignAnalysis {
    const { design, duration, bucketSeconds, starts, mirror } = this;
    // Waiting and backoff are counted into a copy: finishing leaves the fold as it was, so a
    // live console may finish it again and again while events still arrive (dashboard/).
    const timeline = this.timeline.map((b) => ({ ...b }));
    this.facts.refusals = [...this.refusals.values()].sort((a, b) => a.first.seq - b.first.seq);
    this.facts.pulledPairs = this.pairs.size;
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
    // A real mirror's decisions are not observable: unknown, not 0.
    const real = summary.mirror !== undefined && summary.mirror.backend !== "model";
    const mirrorEff: MirrorEffectiveness | null = design.mirror?.enabled
      ? {
          backend: summary.mirror?.backend ?? "model",
          servedBy: servedBy(summary.mirror),
          clientRequests: this.mirrorClientRequests,
          ...(real
            ? { hits: null, misses: null, revalidated: null, stale: null, errors: null }
            : mirror),
          ...(real
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
          duringUpstreamFailure: real ? { stale: null, errors: null } : this.duringFailure,
        }
      : null;
    const { facts } = this;
    const series = [...this.headroom.values()];
    const peakUse = this.peakUse();
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
      retryAmplification: facts.pulledPairs
        ? Math.round(((facts.pullAttempts - facts.pulledPairs) / facts.pulledPairs) * 100) / 100
        : null,
      requestsPerPull: successfulPulls
        ? Math.round((this.clientRequests / successfulPulls) * 100) / 100
        : null,
      retryWaves: this.retryWaves.waves(),
      headroom: series.sort((a, b) => a.minRemaining - b.minRemaining).slice(0, 20),
      heavyHitters,
      mirror: mirrorEff,
      startLatency:
        p.length === 0 ? null : (p.sort((a, b) => (b?.count ?? 0) - (a?.count ?? 0))[0] ?? null),
      startCdf,
      cost: designCost(design),
      peakUse,
      nearMiss: null,
    };
  }
}

/** The tag-move steps of the scenario as the design's pods write the image (by tag; pinned designs never follow a tag). */
function tagMovesOf(scenario: Scenario, design: Design): TagMoveFact[] {
  if (design.pin === "digest") return [];
  return scenario.workload.flatMap((w): TagMoveFact[] => {
    if (w.type !== "tag-move") return [];
    const written = scenario.images.find((i) => i.name === w.image)?.ref;
    const parsed = written ? parseReference(written) : undefined;
    if (!parsed || "error" in parsed || !parsed.tag) return [];
    return [
      {
        image: w.image,
        ref: formatReference(parsed),
        movedAt: w.at / 1000,
        started: 0,
        stale: 0,
        staleActors: new Set(),
        first: null,
        pulledAfter: new Set(),
      },
    ];
  });
}

/** The designs of a run that the report summarizes, each with an analyzer to feed events to. */
export function designAnalyzers(scenario: Scenario, designs: string[]): DesignAnalyzer[] {
  return scenario.designs
    .filter((d) => designs.includes(d.name))
    .map((d) => new DesignAnalyzer(scenario, d));
}

/** What the fold adds that events do not hold: the near-miss threshold, and load breakpoints worked out by re-running. */
export interface AnalysisOptions {
  /** Share of a limit past which a holding design is a near miss (default: the scenario's, 0.8). */
  nearMissThreshold?: number;
  /** Per design: where it breaks as the load is scaled (harness/breakpoint.ts nearMissLoadBreak). */
  loadBreaks?: Record<string, LoadBreak>;
  /** Moments marked during a live run (reports/fold.ts collects them from mark events). */
  marks?: Mark[];
}

/** The near-miss threshold of a run: the option, else the scenario's, else 0.8. */
export function nearMissThresholdOf(scenario: Scenario, options: AnalysisOptions = {}): number {
  return (
    options.nearMissThreshold ??
    (scenario as { nearMissThreshold?: number }).nearMissThreshold ??
    0.8
  );
}

/** Whether a design summary and its peak use make a near miss. */
export function isNearMiss(
  verdict: DesignSummary["verdict"],
  peakUse: PeakUse | null,
  threshold: number,
): boolean {
  return verdict === "holds" && peakUse !== null && peakUse.share >= threshold;
}

/** Every holding design, cheapest first: ranked when its expectations pass, else skipped with the reason. */
export function rankHolding(analyses: DesignAnalysis[], report: Report): HoldingRank[] {
  const holding = analyses
    .filter((a) => a.summary.verdict === "holds")
    .sort((x, y) => x.cost - y.cost || x.name.localeCompare(y.name));
  let rank = 0;
  return holding.map((a) => {
    const failed = report.expectations.filter((e) => e.design === a.name && !e.passed);
    const skipped =
      failed.length > 0
        ? `its expectations failed: ${failed.map((e) => `${e.check} (actual ${e.actual ?? "none"})`).join("; ")}`
        : null;
    return {
      design: a.name,
      cost: a.cost,
      rank: skipped ? null : ++rank,
      nearMiss: a.nearMiss !== null,
      skipped,
    };
  });
}

/** The analysis from analyzers that have seen every event of the run (see `designAnalyzers`). */
export function analysisOf(
  scenario: Scenario,
  analyzers: DesignAnalyzer[],
  report: Report,
  options: AnalysisOptions = {},
): Analysis {
  const threshold = nearMissThresholdOf(scenario, options);
  const analyses = analyzers.map((a) => {
    const d = a.finish(report);
    if (isNearMiss(d.summary.verdict, d.peakUse, threshold) && d.peakUse)
      d.nearMiss = { ...d.peakUse, threshold, load: options.loadBreaks?.[d.name] ?? null };
    return d;
  });
  const preset = scenario.registry.policy?.preset ?? scenario.registry.preset;
  const holding = rankHolding(analyses, report);
  const cheapest = holding.find((h) => h.rank === 1)?.design ?? null;
  const findings = analyzers.flatMap((a, i) =>
    findingsFor({
      scenario,
      design: a.design,
      analysis: analyses[i] as DesignAnalysis,
      facts: a.facts,
      preset,
      analyses,
      holding,
      cheapest,
    }),
  );
  return {
    scenario: {
      name: scenario.name,
      description: scenario.description,
      durationSeconds: scenario.duration / 1000,
      mode: report.mode,
      seed: report.seed,
      interrupted: report.interrupted,
      preset,
      ...(scenario.registries.length > 0
        ? {
            registries: scenario.registries.map((r) => ({
              host: r.host,
              preset: r.policy?.preset ?? r.preset,
            })),
          }
        : {}),
    },
    faults: faultWindows(scenario),
    clock: report.clock,
    designs: analyses,
    expectations: report.expectations,
    cheapestHolding: cheapest,
    holding,
    nearMissThreshold: threshold,
    findings,
    chains: chainsOf(findings),
    marks: options.marks ?? [],
  };
}

/**
 * The event with its identity named per registry when the registry is not Docker Hub
 * ("127.1.0.2 at ghcr.io"): each origin keeps its own quotas, so the same address or
 * account is a separate identity at each (headroom, exhaustion and findings stay apart).
 */
export function perRegistry(e: SimEvent): SimEvent {
  if (e.type === "request") {
    const origin = originOf(e.host);
    if (!origin) return e;
    const at = (id: string) => `${id} at ${origin}`;
    return {
      ...e,
      identity: at(e.identity),
      egressIp: at(e.egressIp),
      ...(e.rateLimit
        ? {
            rateLimit: {
              ...e.rateLimit,
              ...(e.rateLimit.source ? { source: at(e.rateLimit.source) } : {}),
            },
          }
        : {}),
    };
  }
  if (e.type === "pull") {
    const ref = parseReference(e.image);
    return "error" in ref || !ref.registry
      ? e
      : { ...e, identity: `${e.identity} at ${ref.registry}` };
  }
  return e;
}

/** "docker-registry 2.8.2 (process)", "model distribution-2.8 (docker-registry is not installed)". */
export function servedBy(m: DesignSummary["mirror"]): string {
  if (!m) return "model";
  if (m.backend === "model")
    return `model${m.flavour ? ` ${String(m.flavour)}` : ""}${m.reason ? ` (${m.reason})` : ""}`;
  const what = [m.program, m.version].filter(Boolean).join(" ");
  return `${what || m.url || "mirror"} (${m.backend})`;
}
