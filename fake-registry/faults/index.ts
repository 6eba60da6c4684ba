/** The fault-injection layer: one module per fault type behind the `Fault` interface, gathered in a `FaultSet`. */

export { mulberry32 } from "../../vocabulary/random.ts";
export { type AddResult, FaultSet, type FaultSetOptions, mergeEffects } from "./fault-set.ts";
export { FAULT_TYPES } from "./kinds.ts";
export { type CompiledFault, type CompileResult, compileFault, ENDPOINT_KINDS } from "./spec.ts";
export type {
  Fault,
  FaultContext,
  FaultOutcome,
  FaultScope,
  FaultSpec,
  FaultSpecFields,
  FaultType,
  FaultView,
  TransportEffects,
} from "./types.ts";
export { defineFault } from "./types.ts";
