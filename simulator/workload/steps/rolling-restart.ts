import { waves } from "../pacing.ts";
import type { StepModule } from "../stage.ts";

/** Every running node with pods of `image` restarts them, in the design's rollout waves. */
export const rollingRestart: StepModule<"rolling-restart"> = {
  type: "rolling-restart",
  async run(step, _index, ctx) {
    const { stage } = ctx;
    const ref = await ctx.refOf(step.image, ctx.sim.now());
    await waves(
      ctx.sim,
      ctx.design.rollout,
      stage.nodes.filter((n) => stage.isAlive(n) && ctx.podsOn(n, step.image) > 0),
      step.over,
      (n) => stage.restart(n, step.image, ref, ctx.podsOn(n, step.image)),
    );
  },
};
