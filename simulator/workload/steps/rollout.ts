import { waves } from "../pacing.ts";
import type { StepModule } from "../stage.ts";

/** maxSurge / maxUnavailable as a pod count: "25%" of `replicas`, rounded up for surge and down for unavailable (Kubernetes). */
export function podsOf(value: number | string, replicas: number, round: "up" | "down"): number {
  if (typeof value === "number") return value;
  const share = (Number(value.slice(0, -1)) / 100) * replicas;
  return round === "up" ? Math.ceil(share) : Math.floor(share);
}

/**
 * A new tag or digest rolled out across a Deployment or a DaemonSet: one pod
 * of the image per running node, replaced in batches of maxSurge +
 * maxUnavailable pods, a batch every `interval` (the time a batch takes to
 * become ready). Pinned designs roll out the digest the tag names at the
 * rollout. Batches are paced by time, not by readiness: a batch whose pods fail
 * to pull does not hold the next one back (a real Deployment would stall).
 */
export const rollout: StepModule<"rollout"> = {
  type: "rollout",
  async run(step, _index, ctx) {
    const { stage } = ctx;
    const ref = await ctx.refOf(step.image, ctx.sim.now(), step.tag);
    const nodes = stage.nodes.filter((n) => stage.isAlive(n) && ctx.podsOn(n, step.image) > 0);
    const daemon = step.kind === "DaemonSet";
    const surge = podsOf(step.maxSurge ?? (daemon ? 0 : "25%"), nodes.length, "up");
    const unavailable = podsOf(step.maxUnavailable ?? (daemon ? 1 : "25%"), nodes.length, "down");
    const batch = Math.max(1, surge + unavailable);
    await waves(ctx.sim, { maxSurge: batch, waveInterval: step.interval }, nodes, 0, (n) =>
      stage.restart(n, step.image, ref, ctx.podsOn(n, step.image)),
    );
  },
};
