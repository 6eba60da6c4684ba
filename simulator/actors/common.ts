import type { EventSink } from "../../vocabulary/events.ts";
import { formatReference, type ImageRef } from "../../vocabulary/oci/reference.ts";
import type { Puller, PullResult } from "../client/pull-client.ts";
import type { Sim } from "../engine/sim.ts";
import { jitter, type StartTiming } from "../engine/timing.ts";

/** What every actor needs from the run: time, events, and a way to get a pull client for an identity. */
export interface ActorContext {
  sim: Sim;
  design: string;
  emit: EventSink;
  /** How long starts wait (engine/timing.ts); none when absent. */
  starts?: StartTiming;
  /** A pull client for an actor: its egress address and credentials are the design's. */
  client(options: ClientRequest): Puller;
}

export interface ClientRequest {
  actor: string;
  /** Index used to pick the egress address and the per-actor account. */
  index: number;
  runtime: "containerd" | "dockerd" | "cri-o";
  store: import("../client/content-store.ts").ContentStore;
}

/** Egress address number i (of a design's pool): 127.0.0.0/8, never .0 or .255 in the last octet. */
export function egressAddress(i: number): string {
  const n = i % 60_000;
  return `127.1.${Math.floor(n / 250)}.${(n % 250) + 2}`;
}

/** Pulls one image and records the outcome as a pull event: every actor pulls this way. */
export async function pullAndRecord(
  ctx: ActorContext,
  client: Puller,
  actor: string,
  ref: ImageRef,
): Promise<PullResult> {
  const started = ctx.sim.now();
  const result = await client.pull(ref);
  ctx.emit({
    type: "pull",
    t: ctx.sim.now() / 1000,
    design: ctx.design,
    actor,
    identity: client.identity(ref),
    image: formatReference(ref),
    outcome: result.ok ? (result.cached ? "cached" : "ok") : "failed",
    ...(result.ok ? {} : { reason: result.reason, status: result.status, host: result.host }),
    durationSeconds: (ctx.sim.now() - started) / 1000,
    requests: result.requests,
  });
  return result;
}

/** A start's delay drawn from the run's seeded random: uniform within `maxMs` (nothing drawn when 0). */
export function startDelay(ctx: ActorContext, which: keyof StartTiming): number {
  return jitter(() => ctx.sim.random(), ctx.starts?.[which] ?? 0);
}
