import { z } from "zod";
import { millis } from "./params.ts";
import { defineFault } from "./types.ts";

/** Answer late: `ms` plus or minus a uniform jitter, never below zero. */
export const latency = defineFault({
  type: "latency",
  summary: "delay the answer by ms ± uniform jitterMs",
  params: z.object({ ms: millis, jitterMs: millis.default(0) }),
  create: ({ ms, jitterMs }) => ({
    answers: false,
    apply: (_ctx, random) => ({
      effects: { delayMs: Math.max(0, Math.round(ms + (random() * 2 - 1) * jitterMs)) },
    }),
  }),
});
