import type { ReportClock } from "./clock.ts";
import type { DesignSummary, ExpectationResult, Percentiles } from "./summary.ts";

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
  exhaustedAt: number | null;
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
  hits: number;
  misses: number;
  revalidated: number;
  stale: number;
  errors: number;
  /**
   * The model: (hits + revalidated + stale) / mirror decisions. A real mirror does
   * not say, so: 1 - upstream GETs / client GETs (the share of GETs it answered alone).
   */
  hitRatio: number;
  hitRatioFrom: "decisions" | "offload";
  /** Pulls the upstream registry charged (its decision, not manifest GETs) per successful client pull. */
  upstreamCountedPerPull: number;
  /** What the mirror did while the upstream failed: stale answers and errors. */
  duringUpstreamFailure: { stale: number; errors: number };
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
  /** Requests (all hosts) per successful pull. */
  retryAmplification: number | null;
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
}

export interface Finding {
  design: string;
  severity: "critical" | "warning" | "info";
  /** What happened, with numbers from the run. */
  diagnosis: string;
  /** What to change, in the playbook's words. */
  fix: string;
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
    preset: string;
  };
  faults: FaultWindow[];
  /** report.json's clock: whether a live run kept up with its scaled clock. */
  clock: ReportClock;
  designs: DesignAnalysis[];
  expectations: ExpectationResult[];
  /** The cheapest design (by `cost`) whose verdict is holds and whose expectations pass. */
  cheapestHolding: string | null;
  findings: Finding[];
}
