import { type CommandResult, runCommand } from "./processes.ts";

/**
 * `skopeo copy docker://HOST/REFERENCE dir:DEST` over plain HTTP, every
 * platform of an index unless `all` is false.
 */
export function skopeoCopy(
  host: string,
  reference: string,
  dest: string,
  options: { all?: boolean; timeoutMs?: number } = {},
): Promise<CommandResult> {
  return runCommand(
    "skopeo",
    [
      "copy",
      ...(options.all === false ? [] : ["--all"]),
      "--src-tls-verify=false",
      `docker://${host}/${reference}`,
      `dir:${dest}`,
    ],
    { timeoutMs: options.timeoutMs ?? 60_000 },
  );
}
