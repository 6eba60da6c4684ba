import { waves } from "../pacing.ts";
import type { StepModule } from "../stage.ts";

/** `nodes` running nodes are replaced by new, cold ones, in the design's rollout waves. */
export const nodeChurn: StepModule<"node-churn"> = {
  type: "node-churn",
  async run(step, index, ctx) {
    const { stage } = ctx;
    const alive = stage.nodes.filter((n) => stage.isAlive(n)).slice(0, step.nodes);
    await waves(ctx.sim, ctx.design.rollout, alive, step.over, async (old) => {
      stage.remove(old);
      await ctx.startPods(stage.newNode(index), old);
    });
  },
};
