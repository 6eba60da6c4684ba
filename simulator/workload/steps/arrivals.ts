import { spread } from "../pacing.ts";
import type { StepModule } from "../stage.ts";

/** `desktops` developers arrive over `over` and pull `images` (Monday morning). */
export const arrivals: StepModule<"arrivals"> = {
  type: "arrivals",
  async run(step, index, ctx) {
    const refs = await Promise.all(step.images.map((i) => ctx.refOf(i, ctx.sim.now())));
    const arriving: Promise<void>[] = [];
    await spread(ctx.sim, step.desktops, step.over, () => {
      arriving.push(ctx.stage.arrive(refs, index));
    });
    await Promise.all(arriving);
  },
};
