import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { freePort, type Managed, startProcess, waitFor } from "./processes.ts";

export interface Mirror {
  /** host:port, for docker:// references */
  host: string;
  process: Managed;
}

/**
 * Starts CNCF distribution (`docker-registry serve`) as a pull-through cache of
 * `upstream`, storing under `dir`, and waits until it answers. Stop it with
 * `mirror.process.stop()`.
 */
export async function startDistributionMirror(
  upstream: string,
  dir: string,
  credentials?: { username: string; password: string },
): Promise<Mirror> {
  mkdirSync(join(dir, "storage"), { recursive: true });
  const port = await freePort();
  const lines = [
    "version: 0.1",
    "log:",
    "  level: info",
    "storage:",
    "  filesystem:",
    `    rootdirectory: ${JSON.stringify(join(dir, "storage"))}`,
    "  delete:",
    "    enabled: true",
    "http:",
    `  addr: 127.0.0.1:${port}`,
    "proxy:",
    `  remoteurl: ${JSON.stringify(upstream)}`,
  ];
  if (credentials) {
    lines.push(`  username: ${JSON.stringify(credentials.username)}`);
    lines.push(`  password: ${JSON.stringify(credentials.password)}`);
  }
  const config = join(dir, "config.yml");
  writeFileSync(config, `${lines.join("\n")}\n`);
  const proc = startProcess("docker-registry", ["serve", config]);
  const mirror = { host: `127.0.0.1:${port}`, process: proc };
  try {
    await waitFor(
      async () => {
        if (proc.child.exitCode !== null) throw new Error("docker-registry exited");
        const res = await fetch(`http://${mirror.host}/v2/`, {
          signal: AbortSignal.timeout(2_000),
        });
        return res.status === 200;
      },
      15_000,
      () => `docker-registry did not answer on ${mirror.host}:\n${proc.output()}`,
    );
  } catch (error) {
    await proc.stop();
    throw error;
  }
  return mirror;
}
