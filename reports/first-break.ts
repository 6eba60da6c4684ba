import type { PullEvent, SimEvent, StartEvent } from "../vocabulary/events.ts";

/**
 * The one definition of a break: a pull that failed (ErrImagePull happened, even
 * if a retry later started the unit), or a unit that never started. The first
 * break is the earliest such event of a design; report.json's summary and the
 * analysis both take it from here.
 */
export type BreakEvent = (PullEvent & { outcome: "failed" }) | (StartEvent & { ok: false });

export function isBreak(e: SimEvent): e is BreakEvent {
  return (e.type === "pull" && e.outcome === "failed") || (e.type === "start" && !e.ok);
}

/** Who broke and why, in the words of the layer that said no. */
export interface BreakDetail {
  actor: string;
  identity: string;
  image: string;
  reason: string;
  status?: number;
}

export function breakDetail(e: BreakEvent): BreakDetail {
  if (e.type === "start")
    return { actor: e.actor, identity: "", image: "", reason: `${e.what} not started` };
  return {
    actor: e.actor,
    identity: e.identity,
    image: e.image,
    reason: e.reason ?? "unknown",
    ...(e.status !== undefined ? { status: e.status } : {}),
  };
}

/** Keeps the earliest break offered (the first of equal times). */
export class EarliestBreak<T> {
  t: number | null = null;
  value: T | null = null;
  private readonly make: (e: BreakEvent) => T;

  /** `make` describes a break when it is the earliest so far (called as it is offered). */
  constructor(make: (e: BreakEvent) => T) {
    this.make = make;
  }

  offer(e: BreakEvent): void {
    if (this.t === null || e.t < this.t) {
      this.t = e.t;
      this.value = this.make(e);
    }
  }
}
