import { ociError } from "../core/errors.ts";
import type { RegistryResponse } from "../core/types.ts";

/** The answer for a repository the catalog does not hold. */
export function unknownName(name: string): RegistryResponse {
  return ociError("NAME_UNKNOWN", "repository name not known to registry", { detail: { name } });
}
