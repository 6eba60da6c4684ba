// Child processes and ports for the real programs pullstorm drives (docker-registry, ctr, skopeo, redis-server).
import { type ChildProcess, type SpawnOptions, spawn } from "node:child_process";
import { createServer } from "node:net";

/** A child process whose output is collected, and which is always stopped by `stop()`. */
export interface Managed {
  child: ChildProcess;
  output(): string;
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

export function startProcess(command: string, args: string[], options: SpawnOptions = {}): Managed {
  const child = spawn(command, args, { stdio: ["ignore", "pipe", "pipe"], ...options });
  let out = "";
  child.stdout?.on("data", (d: Buffer) => {
    out += d.toString();
  });
  child.stderr?.on("data", (d: Buffer) => {
    out += d.toString();
  });
  const exited = new Promise<number | null>((resolve) => {
    child.on("exit", (code) => resolve(code));
  });
  return {
    child,
    output: () => out,
    async stop(signal: NodeJS.Signals = "SIGTERM") {
      if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
      child.kill(signal);
      const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
      const code = await exited;
      clearTimeout(timer);
      return code;
    },
  };
}

/** Waits until `probe` resolves true, polling; throws with `describe()` after the deadline. */
export async function waitFor(
  probe: () => Promise<boolean> | boolean,
  timeoutMs: number,
  describe: () => string,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    try {
      if (await probe()) return;
    } catch {
      // not ready yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out after ${timeoutMs} ms: ${describe()}`);
}

export interface CommandResult {
  /** Exit code, or null when the command was killed (see `signal`). */
  status: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** It ran past `timeoutMs` and was stopped (SIGTERM, then SIGKILL). */
  timedOut: boolean;
}

/** After a timeout's SIGTERM, how long a command has to clean up (stop its own children) before SIGKILL. */
export const TERM_GRACE_MS = 5_000;

/**
 * Runs a command to completion without blocking the event loop (unlike
 * `spawnSync`, which would freeze a fake registry served by this same process).
 * After `timeoutMs` it gets SIGTERM, so that it can stop what it started (a
 * pullstorm run stops its docker-registry), then SIGKILL TERM_GRACE_MS later.
 */
export function runCommand(
  command: string,
  args: string[],
  options: SpawnOptions & { timeoutMs?: number; termGraceMs?: number } = {},
): Promise<CommandResult> {
  const { timeoutMs = 60_000, termGraceMs = TERM_GRACE_MS, ...spawnOptions } = options;
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ["ignore", "pipe", "pipe"], ...spawnOptions });
    let stdout = "";
    let stderr = "";
    child.stdout?.on("data", (d: Buffer) => {
      stdout += d.toString();
    });
    child.stderr?.on("data", (d: Buffer) => {
      stderr += d.toString();
    });
    let timedOut = false;
    let kill: NodeJS.Timeout | undefined;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill("SIGTERM");
      kill = setTimeout(() => child.kill("SIGKILL"), termGraceMs);
    }, timeoutMs);
    const done = () => {
      clearTimeout(timer);
      clearTimeout(kill);
    };
    child.on("error", (error) => {
      done();
      reject(error);
    });
    child.on("close", (status, signal) => {
      done();
      resolve({ status, signal, stdout, stderr, timedOut });
    });
  });
}

/** A TCP port on 127.0.0.1 that was free a moment ago (listen on port 0, then close). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address ? address.port : 0;
      server.close(() => (port ? resolve(port) : reject(new Error("no port assigned"))));
    });
  });
}

/**
 * Starts a program on `port`, or on a free loopback port: a free port can be taken by
 * another program between freePort() and the program's bind, and then `start` fails
 * with an error saying "address already in use" (the program's own words, in its
 * output, in the message); that is tried again with another free port (three tries).
 * A port that was given is tried once.
 */
export async function onFreePort<T>(
  port: number | undefined,
  start: (port: number) => Promise<T>,
): Promise<T> {
  const attempts = port === undefined ? 3 : 1;
  for (let attempt = 1; ; attempt++) {
    try {
      return await start(port ?? (await freePort()));
    } catch (error) {
      const lost = /address already in use/.test((error as Error)?.message ?? "");
      if (!lost || attempt >= attempts) throw error;
    }
  }
}
