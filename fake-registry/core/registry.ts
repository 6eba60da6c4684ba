/**
 * Moved: the registry is fake-registry/registry/ (one file per concern). This
 * re-export keeps old import paths compiling until they point there; delete it
 * then, since it is the one import from core/ up to registry/.
 */
export {
  type Answer,
  type AuthOptions,
  type FaultLayer,
  type Handled,
  Registry,
  type RegistryOptions,
} from "../registry/registry.ts";
