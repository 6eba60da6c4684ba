import { spread } from "../pacing.ts";
import type { StepModule } from "../stage.ts";

/** `jobs` CI jobs are queued for the runners, at once or spread over `over`. */
export const ciFanOut: StepModule<"ci-fan-out"> = {
  type: "ci-fan-out",
  async run(step, index, ctx) {
    const refs = await Promise.all(step.images.map((i) => ctx.refOf(i, ctx.sim.now())));
    if (step.over > 0)
      await spread(ctx.sim, step.jobs, step.over, () => ctx.stage.enqueueJobs(1, refs, index));
    else ctx.stage.enqueueJobs(step.jobs, refs, index);
  },
};
