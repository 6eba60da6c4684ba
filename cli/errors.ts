import { KubernetesInputError } from "../simulator/scenario/kubernetes.ts";
import { ConfigError } from "../vocabulary/config/yaml-file.ts";

/** A problem with what the user asked for: printed without a stack, exit code 2. */
export class UsageError extends Error {
  override name = "UsageError";
}

/** Problems with what the user asked for or gave (a scenario, kubectl output): exit 2, no stack; else 1. */
export function exitOnError(error: unknown): never {
  if (
    error instanceof ConfigError ||
    error instanceof UsageError ||
    error instanceof KubernetesInputError
  ) {
    process.stderr.write(`pullstorm: ${error.message}\n`);
    process.exit(2);
  }
  const message = error instanceof Error ? error.message : String(error);
  process.stderr.write(`pullstorm: ${message}\n`);
  process.exit(1);
}
