import type { EventSink } from "../../vocabulary/events.ts";
import { CiFleet, type CiJob, Desktops, jobNotStarted, runJob } from "../actors/ci.ts";
import type { ActorContext } from "../actors/common.ts";
import { KubeletNode } from "../actors/kubelet.ts";
import type { ContentStore } from "../client/content-store.ts";
import { PullClient } from "../client/pull-client.ts";
import type { Sim } from "../engine/sim.ts";
import type { Transport } from "../engine/transport-types.ts";
import type { WarmEntry } from "../workload/stage.ts";
import type { K6Plan, NodeAction, NodeUnit, PlanGroup, When } from "./plan.ts";

/**
 * Plays a design's plan (./plan.ts) with the project's own actors
 * (simulator/actors) and pull client (simulator/client): one unit at a time in
 * the exported k6 script (a node, a CI job, a desktop arrival: ./k6-entry.ts),
 * or the whole plan at once in Node (playPlan; test/k6-bundle.test.ts runs it
 * from the bundle against the native engine). Pure code: bundled for k6 by
 * ./bundle.ts, which refuses any Node built-in on this import path. Whatever
 * differs between k6 and Node comes in through `PlayerEnv`.
 */

export interface PlayerEnv {
  sim: Sim;
  transport: Transport;
  emit: EventSink;
  /**
   * The source address of unit `index` as the registry will see it (default:
   * the design's pool, as the native engine assigns it). In k6 it is the VU's
   * `--local-ips` address, whatever the unit.
   */
  egressOf?: (index: number) => string;
}

export type NodesGroup = Extract<PlanGroup, { kind: "nodes" }>;
export type CiGroup = Extract<PlanGroup, { kind: "ci" }>;
export type ArrivalsGroup = Extract<PlanGroup, { kind: "arrivals" }>;

/** The actors' context for a plan: pull clients with the design's hosts, identities and runtimes. */
export function actorContext(plan: K6Plan, env: PlayerEnv): ActorContext {
  const { sim, transport, emit } = env;
  return {
    sim,
    design: plan.design,
    emit,
    ...(plan.starts ? { starts: plan.starts } : {}),
    client: ({ actor, index, runtime, store }) => {
      const user =
        plan.auth.mode === "anonymous"
          ? undefined
          : plan.auth.mode === "shared-account"
            ? "shared"
            : actor;
      return new PullClient({
        actor,
        design: plan.design,
        runtime: plan.runtimes[runtime],
        hosts: plan.routes[runtime],
        ...(user ? { credentials: { user, password: plan.auth.password } } : {}),
        egressIp:
          env.egressOf?.(index) ?? (plan.egressIps[index % plan.egressIps.length] as string),
        transport,
        sim,
        store,
        emit,
      });
    },
  };
}

export function seedWarm(store: ContentStore, entries: WarmEntry[]): void {
  for (const { ref, content } of entries) {
    for (const b of content.blobs) store.addBlob(b);
    store.setImage(ref, content.digest);
  }
}

async function sleepUntil(sim: Sim, atMs: number): Promise<void> {
  await sim.sleep(atMs - sim.now());
}

/** A node as the plan has it: kubelet over the node's runtime, its store warm or cold. */
export function newNode(plan: K6Plan, unit: NodeUnit, ctx: ActorContext): KubeletNode {
  const node = new KubeletNode(
    ctx,
    unit.name,
    unit.index,
    plan.nodeRuntime,
    plan.maxParallelImagePulls,
  );
  seedWarm(node.store, unit.warm);
  return node;
}

/** One of a node's actions, done now. */
export function applyNodeAction(node: KubeletNode, action: NodeAction): void {
  switch (action.op) {
    case "pods":
      for (const pod of action.pods) node.startPod(pod.image, pod.ref, pod.policy);
      return;
    case "restart":
      node.restartPods(action.image, action.ref, action.policy, action.pods);
      return;
    case "prune":
      node.store.prune();
      return;
    case "prepull":
      void node.prePull(action.ref);
      return;
    case "remove":
      node.remove();
      return;
  }
}

/**
 * A node's life (a k6 VU): created at its time (warm or cold), then its
 * actions at theirs. Resolves with the node once its last action is done (its
 * pods may still be pulling: `finish()` it at the end).
 */
export async function playNode(
  plan: K6Plan,
  unit: NodeUnit,
  ctx: ActorContext,
): Promise<KubeletNode> {
  const { sim } = ctx;
  await sleepUntil(sim, unit.createdAtMs);
  const node = newNode(plan, unit, ctx);
  for (const action of unit.actions) {
    await sleepUntil(sim, action.atMs);
    if (sim.stopped) break;
    applyNodeAction(node, action);
  }
  return node;
}

function ciJob(group: CiGroup, i: number): CiJob | undefined {
  const job = group.jobs[i];
  return (
    job && { id: `job-${job.index + 1}`, index: job.index, images: group.refs, queuedAt: job.atMs }
  );
}

/**
 * The i-th job of a fan-out on one runner (a k6 VU of a shared-iterations
 * scenario): queued at its time, then run as the native fleet runs a job.
 */
export async function playJob(
  plan: K6Plan,
  group: CiGroup,
  i: number,
  ctx: ActorContext,
  runner: { name: string; store: ContentStore },
): Promise<void> {
  const job = ciJob(group, i);
  if (!job) return;
  await sleepUntil(ctx.sim, job.queuedAt);
  if (ctx.sim.stopped) {
    jobNotStarted(ctx, job);
    return;
  }
  await runJob(ctx, job, {
    ...runner,
    runtime: plan.ciRuntime,
    ephemeral: plan.ephemeralRunners,
  });
}

/** Desktops with the plan's warm cache (one per k6 VU, or one for the whole plan). */
export function desktopsFor(plan: K6Plan, ctx: ActorContext): Desktops {
  return new Desktops(ctx, (store) => seedWarm(store, plan.desktopWarm));
}

/** The i-th arrival of an arrivals step: at its time, a desktop pulls the step's images. */
export async function playArrival(
  group: ArrivalsGroup,
  i: number,
  ctx: ActorContext,
  desktops: Desktops,
): Promise<void> {
  const arrival = group.desktops[i];
  if (!arrival) return;
  await sleepUntil(ctx.sim, arrival.atMs);
  if (ctx.sim.stopped) return;
  await desktops.arriveAs(arrival.index, group.refs);
}

/**
 * The whole plan at once, on one clock (in Node: a VirtualSim, or real time):
 * every node's actions, the CI jobs queued at their times for one fleet of
 * runners (the plan's runners and concurrency, as the native engine has them),
 * every arrival. Played as one timeline in the director's order and turns:
 * what the director did in one turn happens together, and each turn waits for
 * the last one's work to settle, as in the native engine (a timer per unit
 * would let each run to quiescence alone; one turn for all at the same time
 * would interleave what the native engine runs one after the other). Call `finish()` once the clock has run out: pods not started, jobs
 * still queued and desktops still pulling are reported as the native engine
 * does at the end.
 */
export function playPlan(plan: K6Plan, env: PlayerEnv): { finish(): void } {
  const ctx = actorContext(plan, env);
  const { sim } = ctx;
  const nodes = new Map<NodeUnit, KubeletNode>();
  const fleet = new CiFleet(ctx, {
    runners: plan.ciRunners,
    runtime: plan.ciRuntime,
    ephemeral: plan.ephemeralRunners,
    ...(plan.ciConcurrency ? { concurrency: plan.ciConcurrency } : {}),
  });
  const desktops = desktopsFor(plan, ctx);
  const timeline: Array<When & { run(): void }> = [];
  for (const group of Object.values(plan.groups)) {
    if (group.kind === "nodes")
      for (const unit of group.nodes)
        for (const action of unit.actions)
          timeline.push({
            ...action,
            run() {
              const node = nodes.get(unit) ?? newNode(plan, unit, ctx);
              nodes.set(unit, node);
              applyNodeAction(node, action);
            },
          });
    else if (group.kind === "ci")
      // The fleet numbers jobs in the order they are queued, as the plan does.
      for (const job of group.jobs)
        timeline.push({ ...job, run: () => fleet.enqueue(1, group.refs) });
    else
      for (const arrival of group.desktops)
        timeline.push({ ...arrival, run: () => void desktops.arriveAs(arrival.index, group.refs) });
  }
  timeline.sort((a, b) => a.seq - b.seq);
  void (async () => {
    let turn: number | undefined;
    for (const entry of timeline) {
      // A new turn of the director waits for its time, even when that is now: what the
      // last turn started settles first, as it does before the simulator's next timer.
      if (entry.turn !== turn) await sleepUntil(sim, entry.atMs);
      turn = entry.turn;
      if (sim.stopped) return;
      entry.run();
    }
  })();
  return {
    finish() {
      const started = [...nodes.entries()].sort(([a], [b]) => a.index - b.index);
      for (const [, node] of started) node.finish();
      fleet.finish();
      desktops.finish();
    },
  };
}
