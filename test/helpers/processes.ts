// The product's process helpers, shared with the tests (and bench/lib/servers.ts), plus
// the pullstorm CLI run as users run it.
import type { SpawnOptions } from "node:child_process";
import { join } from "node:path";
import { type CommandResult, runCommand, startProcess } from "../../simulator/util/processes.ts";

export * from "../../simulator/util/processes.ts";

/** bin/pullstorm.js of this checkout. */
export const BIN = join(import.meta.dirname, "..", "..", "bin", "pullstorm.js");

/** `pullstorm ARGS...` with this Node, run to completion. */
export function pullstorm(
  args: string[],
  options: SpawnOptions & { timeoutMs?: number } = {},
): Promise<CommandResult> {
  return runCommand(process.execPath, [BIN, ...args], options);
}

/** `pullstorm ARGS...` started in the background (a server, or a run to interrupt). */
export function startPullstorm(args: string[], options: SpawnOptions = {}) {
  return startProcess(process.execPath, [BIN, ...args], options);
}
