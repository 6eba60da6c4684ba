import { accessSync, constants } from "node:fs";
import { delimiter, join } from "node:path";

/** The k6 release pullstorm builds and tests against (scripts/install-k6.sh). */
export const K6_VERSION = "v1.8.1";

/** Where scripts/install-k6.sh puts k6: the project's git-ignored tools directory. */
export const PROJECT_K6 = join(import.meta.dirname, "..", "..", "tools", "bin", "k6");

export const INSTALL_HINT = `build it with scripts/install-k6.sh (go install go.k6.io/k6@${K6_VERSION} into tools/bin)`;

function executable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** The k6 to run: PULLSTORM_K6, else tools/bin/k6, else `k6` on the PATH. */
export function findK6(env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (env.PULLSTORM_K6) return executable(env.PULLSTORM_K6) ? env.PULLSTORM_K6 : undefined;
  if (executable(PROJECT_K6)) return PROJECT_K6;
  for (const dir of (env.PATH ?? "").split(delimiter)) {
    const candidate = join(dir, "k6");
    if (dir && executable(candidate)) return candidate;
  }
  return undefined;
}
