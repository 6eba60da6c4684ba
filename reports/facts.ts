import { type Design, mirrorRuntimes, type Scenario } from "../simulator/scenario/schema.ts";
import type { SimEvent } from "../vocabulary/events.ts";
import type { BreakLayer, EventRef } from "./analysis-types.ts";

/**
 * What the findings rest on (reports/findings.ts), as the analysis folds it
 * (reports/analysis.ts): who pulls, through which host, what each layer
 * refused, with the first event of each.
 */
/** Who pulls: the kubelets of the nodes, CI jobs and their runners, desktops. */
export type ClientGroup = "nodes" | "ci" | "desktops";

/** The group of an actor by its name (node-N, job-N, runner-N, queue, desktop-N); "mirror" for the mirror's upstream side. */
export function groupOf(actor: string): ClientGroup | "mirror" | null {
  if (actor === "mirror") return "mirror";
  if (actor.startsWith("node-")) return "nodes";
  if (actor.startsWith("job-") || actor.startsWith("runner-") || actor === "queue") return "ci";
  if (actor.startsWith("desktop-")) return "desktops";
  return null;
}

/** The runtime a group pulls with. */
export function runtimeOfGroup(scenario: Scenario, group: ClientGroup): string {
  return group === "nodes"
    ? scenario.fleet.runtime
    : group === "ci"
      ? scenario.fleet.ciRuntime
      : "dockerd";
}

/** The runtimes a design's mirror is configured on (none without a mirror): the scenario's `mirrorRuntimes`. */
export function mirrorRuntimesOf(scenario: Scenario, design: Design): string[] {
  return design.mirror?.enabled ? mirrorRuntimes(scenario, design.mirror) : [];
}

/** The key of an event a finding rests on. */
export function eventRef(seq: number, e: SimEvent): EventRef {
  const kind =
    e.type === "request"
      ? `request ${e.host} ${e.kind} ${e.method} ${e.network ?? e.status}`
      : e.type === "pull"
        ? `pull ${e.outcome}`
        : e.type === "start"
          ? `start ${e.what}${e.ok ? "" : " failed"}`
          : e.type === "mirror"
            ? `mirror ${e.outcome}`
            : e.type;
  const actor = "actor" in e ? e.actor : e.type === "mirror" ? "mirror" : "";
  return { seq, t: e.t, design: e.design, actor, kind };
}

/** A refusal layer said no to one identity of one group (or the mirror): how often, and its first event. */
export interface RefusalFact {
  layer: BreakLayer;
  who: ClientGroup | "mirror";
  identity: string;
  count: number;
  first: EventRef;
  lastT: number;
}

/** Client requests of one group that went to the registry rather than the mirror. */
export interface RouteFact {
  actors: Set<string>;
  /** Who the registry counted them as (addresses or accounts). */
  identities: Set<string>;
  requests: number;
  /** Pulls the registry charged for them. */
  pulls: number;
  first: EventRef | null;
  /** For a fallback: what the mirror last answered each actor before its first request upstream. */
  why: Map<string, number>;
}

/** A tag that moved during the run, and pods that started on it afterwards without pulling it. */
export interface TagMoveFact {
  image: string;
  ref: string;
  movedAt: number;
  /** Pods created after the move that started on the tag. */
  started: number;
  /** ... without their node pulling the tag after the move: still on the old image. */
  stale: number;
  staleActors: Set<string>;
  first: EventRef | null;
  pulledAfter: Set<string>;
}

/**
 * What the findings rest on, folded one event at a time and bounded by the
 * fleet (per identity, per actor), never by the number of events: counts, the
 * first event of each kind, and sets of actors.
 */
export interface DesignFacts {
  refusals: RefusalFact[];
  /** Per rate-limited identity: its first 429 from the pull quota, and the first answer with 0 remaining. */
  firstRefused: Map<string, EventRef>;
  exhausted: Map<string, EventRef>;
  /** Per rate-limited identity: the answer that showed its lowest remaining. */
  lowest: Map<string, EventRef>;
  fallback: Record<ClientGroup, RouteFact>;
  bypass: Record<ClientGroup, RouteFact>;
  /** Client requests to the mirror per group. */
  mirrorRequests: Record<ClientGroup, number>;
  /** Actors seen per group, and the first event of each. */
  groups: Record<ClientGroup, { actors: Set<string>; first: EventRef | null }>;
  mirrorErrors: { count: number; byUpstreamStatus: Map<string, number>; first: EventRef | null };
  pullAttempts: number;
  pulledPairs: number;
  firstFailedPull: EventRef | null;
  failedPulls: Map<string, { count: number; first: EventRef }>;
  qps: { count: number; first: EventRef | null };
  tagMoves: TagMoveFact[];
  prePulls: number;
}

export const emptyRoute = (): RouteFact => ({
  actors: new Set(),
  identities: new Set(),
  requests: 0,
  pulls: 0,
  first: null,
  why: new Map(),
});
