import type { Sim } from "../engine/sim.ts";
import type { Design, Scenario, WorkloadStep } from "../scenario/schema.ts";
import { spread } from "./pacing.ts";
import { podsOfSlot, type Stage, type StepModule, type WorkloadContext } from "./stage.ts";
import { arrivals } from "./steps/arrivals.ts";
import { ciFanOut } from "./steps/ci-fan-out.ts";
import { nodeChurn } from "./steps/node-churn.ts";
import { prune } from "./steps/prune.ts";
import { rollingRestart } from "./steps/rolling-restart.ts";
import { rollout } from "./steps/rollout.ts";
import { scaleUp } from "./steps/scale-up.ts";
import { tagMove } from "./steps/tag-move.ts";

/** One module per workload step type. */
const STEPS: { [T in WorkloadStep["type"]]: StepModule<T> } = {
  "scale-up": scaleUp,
  "node-churn": nodeChurn,
  "rolling-restart": rollingRestart,
  rollout,
  prune,
  "tag-move": tagMove,
  "ci-fan-out": ciFanOut,
  arrivals,
};

/** With `prePull`, nodes pull a restart's image this long before it... */
export const PRE_PULL_LEAD_MS = 15 * 60_000;
/** ...spread over at most this long. */
export const PRE_PULL_SPREAD_MS = 10 * 60_000;

export interface WorkloadInput<N> {
  scenario: Scenario;
  design: Design;
  sim: Sim;
  stage: Stage<N>;
  refOf: WorkloadContext<N>["refOf"];
}

/**
 * The workload of one design, the one implementation every engine plays: the
 * fleet's pods, then each step at its time (a director per step, all running in
 * the design's simulated time), with pre-pulls ahead of rolling restarts when the
 * design has them. Resolves when every step is done.
 */
export function directWorkload<N>(input: WorkloadInput<N>): Promise<void>[] {
  const { scenario, design, sim, stage } = input;
  // Each node's place in the fleet at the start (its pods: podsOfSlot); a replacement
  // takes the place of the node it replaces, a node added later has none.
  const slots = new Map<N, number>();
  // The pods of a slot (podsOfSlot), worked out once per slot; key -1: a node added later.
  const bySlot = new Map<number, string[]>();
  const podsAt = (slot: number | undefined): string[] => {
    const key = slot ?? -1;
    let pods = bySlot.get(key);
    if (!pods) {
      pods = podsOfSlot(scenario, slot);
      bySlot.set(key, pods);
    }
    return pods;
  };
  stage.nodes.forEach((n, i) => {
    if (i < scenario.fleet.nodes) slots.set(n, i);
  });
  const ctx: WorkloadContext<N> = {
    scenario,
    design,
    sim,
    stage,
    refOf: input.refOf,
    async startPods(node, replacing) {
      const slot = replacing === undefined ? undefined : slots.get(replacing);
      if (slot !== undefined) slots.set(node, slot);
      for (const image of podsAt(slot))
        stage.startPod(node, image, await input.refOf(image, sim.now()));
    },
    podsOn(node, image) {
      return podsAt(slots.get(node)).filter((i) => i === image).length;
    },
  };
  return scenario.workload.map(async (step, index) => {
    if (design.prePull && (step.type === "rolling-restart" || step.type === "rollout"))
      await prePull(ctx, step.image, step.at, step.type === "rollout" ? step.tag : undefined);
    else await sim.sleep(step.at);
    if (!sim.stopped)
      await (STEPS[step.type] as StepModule<typeof step.type>).run(step as never, index, ctx);
  });
}

/** Pre-pull `image` (as of `at`) on every running node, ahead of a restart at `at`; returns at `at`. */
async function prePull<N>(
  ctx: WorkloadContext<N>,
  image: string,
  at: number,
  tag?: string,
): Promise<void> {
  const { sim, stage } = ctx;
  const start = Math.max(0, at - PRE_PULL_LEAD_MS);
  await sim.sleep(start);
  const ref = await ctx.refOf(image, at, tag);
  const alive = stage.nodes.filter((n) => stage.isAlive(n));
  const pulls: Promise<void>[] = [];
  await spread(sim, alive.length, Math.min(PRE_PULL_SPREAD_MS, at - start), (i) => {
    pulls.push(stage.prePull(alive[i] as N, ref));
  });
  await Promise.all(pulls);
  await sim.sleep(at - sim.now());
}
