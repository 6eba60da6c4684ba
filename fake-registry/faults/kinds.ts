import { bandwidth } from "./bandwidth.ts";
import { errorBurst } from "./error-burst.ts";
import { hang } from "./hang.ts";
import { latency } from "./latency.ts";
import { outage } from "./outage.ts";
import { reset } from "./reset.ts";
import type { FaultType } from "./types.ts";

/** Every fault type by name. A new fault is one module plus one line here. */
export const FAULT_TYPES: readonly FaultType[] = [
  latency,
  bandwidth,
  reset,
  hang,
  errorBurst,
  outage,
];
