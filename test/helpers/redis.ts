// A private redis-server for one test file: loopback only, a free port, no
// persistence, its own temporary directory. Stop it in afterAll.
import { mkdtempSync, rmSync } from "node:fs";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort, type Managed, startProcess, waitFor } from "./processes.ts";

export interface PrivateRedis {
  url: string;
  port: number;
  /** SIGKILLs the server: Redis goes away mid-run, as a crash would. */
  kill(): Promise<void>;
  /** Starts it again on the same port, empty (no persistence). */
  restart(): Promise<void>;
  /** SIGSTOP / SIGCONT: a Redis that hangs with its connections open. */
  pause(): void;
  resume(): void;
  /** Sends one command (RESP, no client library) and returns the raw reply. */
  command(...args: string[]): Promise<string>;
  /** Stops the server and removes its directory. */
  stop(): Promise<void>;
  output(): string;
}

function encode(args: string[]): string {
  return `*${args.length}\r\n${args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join("")}`;
}

/** One RESP command on a fresh connection; resolves with the first complete reply line(s). */
export function redisCommand(port: number, args: string[], timeoutMs = 2_000): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: "127.0.0.1", port });
    let reply = "";
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`redis ${args[0]}: no reply within ${timeoutMs} ms`));
    }, timeoutMs);
    socket.on("data", (d: Buffer) => {
      reply += d.toString("latin1");
      if (complete(reply)) {
        clearTimeout(timer);
        socket.end();
        resolve(reply);
      }
    });
    socket.on("error", (e) => {
      clearTimeout(timer);
      reject(e);
    });
    socket.write(encode(args));
  });
}

/** Whether a RESP2 reply is complete (simple, error, integer, bulk, or a flat array of those). */
function complete(reply: string): boolean {
  let pos = 0;
  const one = (): boolean => {
    const end = reply.indexOf("\r\n", pos);
    if (end < 0) return false;
    const type = reply[pos];
    const head = reply.slice(pos + 1, end);
    pos = end + 2;
    if (type === "$") {
      const len = Number(head);
      if (len < 0) return true;
      if (reply.length < pos + len + 2) return false;
      pos += len + 2;
      return true;
    }
    if (type === "*") {
      const n = Number(head);
      for (let i = 0; i < n; i++) if (!one()) return false;
      return true;
    }
    return true;
  };
  return one();
}

export async function startPrivateRedis(): Promise<PrivateRedis> {
  const dir = mkdtempSync(join(tmpdir(), "pullstorm-redis-"));
  const port = await freePort();
  let proc: Managed | undefined;
  const launch = async () => {
    const started = startProcess("redis-server", [
      "--port",
      String(port),
      "--bind",
      "127.0.0.1",
      "--save",
      "",
      "--appendonly",
      "no",
      "--dir",
      dir,
      "--daemonize",
      "no",
      "--loglevel",
      "warning",
    ]);
    proc = started;
    await waitFor(
      async () => (await redisCommand(port, ["PING"], 500)).startsWith("+PONG"),
      10_000,
      () => `redis-server on ${port} did not answer PING:\n${started.output()}`,
    );
  };
  await launch();
  return {
    url: `redis://127.0.0.1:${port}/0`,
    port,
    async kill() {
      await proc?.stop("SIGKILL");
    },
    async restart() {
      await proc?.stop("SIGKILL");
      await launch();
    },
    pause: () => proc?.child.kill("SIGSTOP"),
    resume: () => proc?.child.kill("SIGCONT"),
    command: (...args: string[]) => redisCommand(port, args),
    async stop() {
      try {
        proc?.child.kill("SIGCONT");
        await proc?.stop("SIGTERM");
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
    output: () => proc?.output() ?? "",
  };
}

/**
 * The Redis a test file shares: PULLSTORM_TEST_REDIS_URL when set (CI may start
 * one; use a key prefix of your own), else a private one. Tests that kill Redis
 * must use startPrivateRedis instead.
 */
export async function sharedOrPrivateRedis(): Promise<{ url: string; stop(): Promise<void> }> {
  const shared = process.env.PULLSTORM_TEST_REDIS_URL;
  if (shared) return { url: shared, stop: async () => {} };
  return startPrivateRedis();
}
