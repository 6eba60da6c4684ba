import type { StepModule } from "../stage.ts";

/** A tag moves to a new build. The registry's catalog moves it at the step's time (registry-setup.ts); no client acts. */
export const tagMove: StepModule<"tag-move"> = {
  type: "tag-move",
  async run() {},
};
