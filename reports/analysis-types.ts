import type { MarkAction } from "../vocabulary/events.ts";
import type { ReportClock } from "./clock.ts";
import type { DesignSummary, ExpectationResult, Percentiles, Report } from "./summary.ts";

/** Which layer said no (issue 5's vocabulary). */
export type BreakLayer =
  | "registry-quota"
  | "token-service"
  | "login-lockout"
  | "abuse-limit"
  | "edge"
  | "misleading-denied"
  | "mirror"
  | "fault"
  | "network"
  | "client-qps"
  | "auth"
  | "not-found"
  | "not-started";

export interface FirstBreak {
  /** Simulated seconds since the scenario started. */
  t: number;
  actor: string;
  identity: string;
  image: string;
  layer: BreakLayer;
  /** The reason as the client saw it (quota, abuse-limit, server-503, ...). */
  reason: string;
  status?: number;
}

/** One time bucket of a design's timeline. */
export interface TimelineBucket {
  /** Bucket start, simulated seconds. */
  t: number;
  requests: number;
  /** Requests that reached the origin registry. */
  upstreamRequests: number;
  status429: number;
  pullsOk: number;
  pullsFailed: number;
  /** Units (pods, jobs, desktops) created but not yet started at the bucket's end. */
  waiting: number;
  /** Units whose last pull failed and are waiting to retry (pods in ImagePullBackOff). */
  inBackoff: number;
}

export interface HeadroomSeries {
  /** Client IP, IPv6 /64 or account, as the registry counted it (docker-ratelimit-source). */
  identity: string;
  limit: number;
  windowSeconds: number;
  /** [simulated seconds, remaining] at each counted response that carried RateLimit headers. */
  points: Array<[number, number]>;
  minRemaining: number;
  /** When `minRemaining` was first seen. */
  minAt: number;
  /** The first answer that said 0 remaining (the last admitted pull, or a refusal). */
  exhaustedAt: number | null;
  /** The first 429 this quota gave this identity: when pulls started failing. */
  firstRefusedAt: number | null;
  /** 429s this quota gave this identity. */
  refused: number;
}

export interface HeavyHitter {
  identity: string;
  upstreamRequests: number;
  /** Share of all upstream requests of this design, 0..1. */
  share: number;
}

export interface MirrorEffectiveness {
  /** What served: process (docker-registry), container, external or the model. */
  backend: "process" | "container" | "external" | "model";
  /** In words: "docker-registry 2.8.2 (process)", "model distribution-2.8 (docker-registry is not installed)". */
  servedBy: string;
  clientRequests: number;
  /** The model's decisions; null (unknown) for a real mirror, whose decisions are not observable. */
  hits: number | null;
  misses: number | null;
  revalidated: number | null;
  stale: number | null;
  errors: number | null;
  /**
   * The model: (hits + revalidated + stale) / mirror decisions. A real mirror does
   * not say, so: 1 - upstream GETs / client GETs (the share of GETs it answered alone).
   */
  hitRatio: number;
  hitRatioFrom: "decisions" | "offload";
  /** Pulls the upstream registry charged (its decision, not manifest GETs) per successful client pull. */
  upstreamCountedPerPull: number;
  /** What the mirror did while the upstream failed: stale answers and errors (null: unknown, a real mirror). */
  duringUpstreamFailure: { stale: number | null; errors: number | null };
}

export interface DesignAnalysis {
  name: string;
  summary: DesignSummary;
  firstBreak: FirstBreak | null;
  timeline: TimelineBucket[];
  bucketSeconds: number;
  blastRadius: {
    units: number;
    peakWaiting: number;
    peakWaitingShare: number;
    peakAt: number | null;
    peakInBackoff: number;
  };
  /**
   * Retry amplification: pull attempts beyond the first per image and actor,
   * per pulled image and actor (0: no retries). Null when nothing was pulled.
   */
  retryAmplification: number | null;
  /** Client requests (all hosts) per successful pull: the cost of a pull, retries or not. */
  requestsPerPull: number | null;
  /** Bursts of retries landing together (kubelet's synchronised backoff). */
  retryWaves: number;
  headroom: HeadroomSeries[];
  heavyHitters: HeavyHitter[];
  mirror: MirrorEffectiveness | null;
  /** Every start latency (pods, jobs, desktops), seconds, for the CDF. */
  startLatency: Percentiles | null;
  startCdf: Array<[number, number]>;
  /** A rough cost rank of the design's knobs (lower is cheaper): accounts, egress IPs, a mirror, pre-pulls. */
  cost: number;
  /** The highest share of any observed limit this design used (from RateLimit headers), or null. */
  peakUse: PeakUse | null;
  /** Holds, but `peakUse` passed the near-miss threshold. */
  nearMiss: NearMiss | null;
}

/** The highest use of one limit: which identity, how much of it, when. */
export interface PeakUse {
  identity: string;
  limit: number;
  windowSeconds: number;
  minRemaining: number;
  /** (limit - minRemaining) / limit, 0..1. */
  share: number;
  at: number;
}

/** A design that holds with little to spare, and how much more load breaks it. */
export interface NearMiss extends PeakUse {
  threshold: number;
  /** The quick breakpoint over the scenario's load factor (virtual), when it was worked out. */
  load: LoadBreak | null;
}

/** Where a design breaks as the whole load (fleet and every workload step) is scaled. */
export interface LoadBreak {
  /** The largest factor tried at which it held (1 = this run's load). */
  holdsAt: number | null;
  /** The smallest factor tried at which it broke; null: it held at every factor tried, up to `maxTried`. */
  breaksAt: number | null;
  maxTried: number;
  /** The first break's layer at `breaksAt`. */
  layer: string | null;
}

/** Stable codes of findings (docs/reports.md). */
export type FindingCode =
  | "quota-exhausted"
  | "mirror-upstream-quota-exhausted"
  | "mirror-fallback"
  | "mirror-bypassed"
  | "token-service-throttled"
  | "login-lockout"
  | "abuse-limit"
  | "misleading-denied"
  | "upstream-failure"
  | "client-qps"
  | "retry-storm"
  | "floating-tags"
  | "tag-moved-stale-pods"
  | "near-miss"
  | "pre-pull-idle"
  | "stale-served"
  | "cheapest-holding";

/** Stable codes of fixes (docs/reports.md). */
export type FixCode =
  | "authenticate"
  | "account-per-actor"
  | "add-mirror"
  | "mirror-upstream-auth"
  | "mirror-upstream-capacity"
  | "configure-mirror"
  | "split-egress"
  | "pre-pull"
  | "pin-digest"
  | "pace-rollout"
  | "cap-ci-concurrency"
  | "cache-tokens"
  | "fix-credentials"
  | "slow-down"
  | "warm-mirror"
  | "raise-qps"
  | "stop-retry-storm"
  | "roll-out-new-reference"
  | "keep-headroom"
  | "adopt-design"
  | "alert-on-stale";

/**
 * One event a finding rests on: `seq` is its position in the run's event
 * stream, 1-based (the line of events.jsonl), with the (t, design, actor,
 * kind) key to find it by eye.
 */
export interface EventRef {
  seq: number;
  t: number;
  design: string;
  actor: string;
  /** "request manifest GET 429", "pull failed", "start pod", "mirror error". */
  kind: string;
}

/** A fact behind a finding, in words with its numbers, and the events it comes from (bounded: the first few). */
export interface Evidence {
  text: string;
  events: EventRef[];
}

export interface Finding {
  /** Unique within the run: design/code[/identity]. */
  id: string;
  code: FindingCode;
  design: string;
  severity: "critical" | "warning" | "info";
  /** A few words for the chain: "mirror account mirror-bot exhausted". */
  title: string;
  /** What happened, one sentence, with numbers from the run. */
  cause: string;
  evidence: Evidence[];
  /** What it did to the fleet. */
  consequence: string;
  /** What to change: never something the design already does. */
  fix: { code: FixCode; text: string };
  /** The findings this one follows from (ids): the causal chain across layers. */
  causedBy: string[];
}

/** One design's causal chain, root first: "mirror account exhausted -> fallback -> NAT exhausted -> ImagePullBackOff waves". */
export interface FindingChain {
  design: string;
  /** Finding ids, root first. */
  links: string[];
  text: string;
}

/** A holding design in the cheapest-design ranking, or why it was left out. */
export interface HoldingRank {
  design: string;
  cost: number;
  /** 1 = cheapest among those that hold with their expectations met; null when skipped. */
  rank: number | null;
  nearMiss: boolean;
  /** Why it is not ranked although it held (its expectations failed, ...). */
  skipped: string | null;
}

export interface FaultWindow {
  id: string;
  type: string;
  /** Simulated seconds. */
  start: number;
  end: number | null;
  scope?: unknown;
}

export interface Analysis {
  scenario: {
    name: string;
    description: string;
    durationSeconds: number;
    mode: "live" | "virtual";
    seed: number;
    interrupted: boolean;
    /** Docker Hub's policy preset. */
    preset: string;
    /** The scenario's other origin registries and their presets (absent: none). */
    registries?: Array<{ host: string; preset: string }>;
  };
  faults: FaultWindow[];
  /** report.json's clock: whether a live run kept up with its scaled clock. */
  clock: ReportClock;
  designs: DesignAnalysis[];
  expectations: ExpectationResult[];
  /** The cheapest design (by `cost`) whose verdict is holds and whose expectations pass. */
  cheapestHolding: string | null;
  /** Every design that held, cheapest first: ranked, or skipped with the reason. */
  holding: HoldingRank[];
  /** The share of a limit past which a holding design is a near miss (0.8 by default). */
  nearMissThreshold: number;
  findings: Finding[];
  chains: FindingChain[];
  /** Moments marked during a live run from the dashboard (report.json's `marks`); empty when none. */
  marks: Mark[];
}

/**
 * report.json: the summaries and expectations (summary.ts), with the
 * analysis' findings, causal chains, the ranking of holding designs and each
 * near miss (with its load breakpoint, which re-renders keep: it comes from
 * re-runs, not from the events).
 */
export interface RunReport extends Report {
  designs: Array<DesignSummary & { nearMiss?: NearMiss }>;
  nearMissThreshold: number;
  cheapestHolding: string | null;
  holding: HoldingRank[];
  chains: FindingChain[];
  findings: Finding[];
  /** Moments marked during a live run from the dashboard (notes, faults, pauses), in order; absent when none. */
  marks?: Mark[];
}

/** A marked moment as the reports list it: one per design (each design's own simulated time). */
export interface Mark {
  /** Simulated seconds, on this design's clock. */
  t: number;
  design: string;
  action: MarkAction;
  text: string;
}
