import { spread } from "../pacing.ts";
import type { StepModule } from "../stage.ts";

/** The autoscaler adds `nodes` nodes with cold stores, spread over `over`. */
export const scaleUp: StepModule<"scale-up"> = {
  type: "scale-up",
  async run(step, index, ctx) {
    await spread(ctx.sim, step.nodes, step.over, () => ctx.startPods(ctx.stage.newNode(index)));
  },
};
