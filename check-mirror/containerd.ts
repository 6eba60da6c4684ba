/**
 * A private containerd for driving the real resolver and fetcher with `ctr`:
 * its own root, state and socket under a directory, no CRI, content isolated
 * per namespace, nothing outside the directory touched.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { stringify } from "smol-toml";
import {
  type CommandResult,
  type Managed,
  runCommand,
  startProcess,
  waitFor,
} from "../simulator/util/processes.ts";

/** A config for a private containerd under `dir`: no CRI, nothing outside `dir`, isolated content. */
export function privateContainerdConfig(dir: string): string {
  const at = (name: string) => join(dir, name);
  return stringify({
    version: 2,
    root: at("root"),
    state: at("state"),
    // CRI wants CNI, cgroups and more; a content fetch needs none of it.
    disabled_plugins: ["io.containerd.grpc.v1.cri"],
    grpc: { address: at("containerd.sock") },
    ttrpc: { address: at("containerd.sock.ttrpc") },
    plugins: {
      // The default would create /opt/containerd on the host.
      "io.containerd.internal.v1.opt": { path: at("opt") },
      // Without this a blob fetched in one namespace appears in every other one.
      "io.containerd.metadata.v1.bolt": { content_sharing_policy: "isolated" },
    },
  });
}

export interface PrivateContainerd {
  daemon: Managed;
  socket: string;
  /** Runs `ctr` against this daemon in a namespace (never blocks the event loop). */
  ctr(
    namespace: string,
    args: string[],
    timeoutMs?: number,
    signal?: AbortSignal,
  ): Promise<CommandResult>;
}

/**
 * `ctr content fetch` of one linux/amd64 image over plain HTTP, with a
 * certs.d-style hosts directory: how a node's containerd pulls in the
 * calibration and fleet runs.
 */
export function ctrFetchArgs(hostsDir: string, reference: string): string[] {
  return [
    "content",
    "fetch",
    "--plain-http",
    "--hosts-dir",
    hostsDir,
    "--platform",
    "linux/amd64",
    reference,
  ];
}

/** Environment for ctr and containerd: no proxies, no inherited registry settings. */
export function cleanEnv(home?: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { PATH: process.env.PATH ?? "/usr/sbin:/usr/bin:/sbin:/bin" };
  if (home) env.HOME = home;
  return env;
}

/** Starts containerd with a private root, state and socket under `dir` and waits until it answers (bounded). */
export async function startPrivateContainerd(
  dir: string,
  options: { startTimeoutMs?: number } = {},
): Promise<PrivateContainerd> {
  mkdirSync(join(dir, "root"), { recursive: true });
  mkdirSync(join(dir, "state"), { recursive: true });
  const config = join(dir, "config.toml");
  writeFileSync(config, privateContainerdConfig(dir));
  const socket = join(dir, "containerd.sock");
  const daemon = startProcess("containerd", ["--config", config, "--log-level", "warn"], {
    env: cleanEnv(dir),
  });
  let spawnError: Error | undefined;
  daemon.child.on("error", (error) => {
    spawnError = error;
  });
  try {
    await waitFor(
      async () => {
        if (spawnError) throw spawnError;
        if (daemon.child.exitCode !== null) throw new Error("containerd exited");
        return (
          (await runCommand("ctr", ["--address", socket, "version"], { timeoutMs: 5_000 }))
            .status === 0
        );
      },
      options.startTimeoutMs ?? 20_000,
      () =>
        `containerd did not answer on ${socket}${spawnError ? ` (${spawnError.message})` : ""}:\n${daemon.output().slice(-2_000)}`,
    );
  } catch (error) {
    await daemon.stop("SIGTERM");
    throw error;
  }
  return {
    daemon,
    socket,
    ctr: (namespace, args, timeoutMs = 30_000, signal) =>
      runCommand("ctr", ["--address", socket, "--namespace", namespace, ...args], {
        timeoutMs,
        env: cleanEnv(dir),
        ...(signal ? { signal } : {}),
      }),
  };
}
