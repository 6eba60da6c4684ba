import type { StepModule } from "../stage.ts";

/** Image garbage collection on every node: unused images leave the stores. */
export const prune: StepModule<"prune"> = {
  type: "prune",
  async run(_step, _index, ctx) {
    for (const n of ctx.stage.nodes) ctx.stage.prune(n);
  },
};
