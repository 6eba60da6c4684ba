import { type StartedMirror, startProcessMirror } from "../../simulator/mirror/backends.ts";

export type Mirror = StartedMirror;

/**
 * Starts CNCF distribution (`docker-registry serve`) as a pull-through cache of
 * `upstream`, storing under `dir`, through the product's process backend, and
 * waits until it answers. Stop it with `mirror.stop()`.
 */
export function startDistributionMirror(
  upstream: string,
  dir: string,
  credentials?: { username: string; password: string },
): Promise<Mirror> {
  return startProcessMirror({
    upstream,
    storageDir: dir,
    ...(credentials ? { credentials } : {}),
  });
}
