// simulator/util/processes.ts runCommand's timeout: SIGTERM first, so a command
// can stop what it started (a pullstorm run its docker-registry), then SIGKILL.
// (5 s before the timeout: the child installs its handler first even on a busy machine.)
// And onFreePort: a port lost between freePort() and a program's bind, tried again.
import { createServer, type Server } from "node:net";
import { describe, expect, it } from "vitest";
import { onFreePort, runCommand } from "../simulator/util/processes.ts";

const node = (script: string) => [process.execPath, ["-e", script]] as const;

describe("runCommand's timeout", () => {
  it("a command that handles SIGTERM cleans up and exits; the result says it timed out", async () => {
    const [cmd, args] = node(
      "process.on('SIGTERM', () => { process.stdout.write('cleaned up'); process.exit(0); }); setInterval(() => {}, 1000);",
    );
    const r = await runCommand(cmd, [...args], { timeoutMs: 5_000, termGraceMs: 5_000 });
    expect(r.timedOut).toBe(true);
    expect(r.status).toBe(0);
    expect(r.stdout).toBe("cleaned up");
  });

  it("a command that ignores SIGTERM is killed after the grace", async () => {
    const [cmd, args] = node(
      "process.on('SIGTERM', () => {}); process.stdout.write('up'); setInterval(() => {}, 1000);",
    );
    const r = await runCommand(cmd, [...args], { timeoutMs: 5_000, termGraceMs: 300 });
    expect(r.timedOut).toBe(true);
    expect(r.signal).toBe("SIGKILL");
  });

  it("a command that finishes in time has not timed out", async () => {
    const [cmd, args] = node("process.stdout.write('done')");
    const r = await runCommand(cmd, [...args], { timeoutMs: 30_000 });
    expect(r).toMatchObject({ status: 0, signal: null, timedOut: false, stdout: "done" });
  });
});

/** Listens on 127.0.0.1:port as a program would; the error is Node's own ("listen EADDRINUSE: address already in use ..."). */
function listenOn(port: number): Promise<Server> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(port, "127.0.0.1", () => resolve(server));
  });
}
const close = (server: Server) => new Promise((r) => server.close(r));

describe("onFreePort: a program on a free port, the port lost in between tried again", () => {
  it("a given port another program holds is tried once, and the error says so", async () => {
    const holder = await listenOn(0);
    const port = (holder.address() as { port: number }).port;
    const tried: number[] = [];
    try {
      const error = await onFreePort(port, (p) => {
        tried.push(p);
        return listenOn(p);
      }).catch((e: unknown) => e);
      expect((error as Error).message).toMatch(/address already in use 127\.0\.0\.1:\d+/);
      expect(tried).toEqual([port]);
    } finally {
      await close(holder);
    }
  });

  it("without a port: a lost one is tried again with another free port, at most three times", async () => {
    const holder = await listenOn(0);
    const held = (holder.address() as { port: number }).port;
    const tried: number[] = [];
    try {
      // The first two tries meet the held port (as when another program took the free
      // port first), the third binds the free one it was given.
      const server = await onFreePort(undefined, (p) => {
        tried.push(p);
        return listenOn(tried.length < 3 ? held : p);
      });
      expect(tried).toHaveLength(3);
      expect((server.address() as { port: number }).port).toBe(tried[2]);
      await close(server);
      const lost = await onFreePort(undefined, () => listenOn(held)).catch((e: unknown) => e);
      expect((lost as Error).message).toContain("address already in use");
    } finally {
      await close(holder);
    }
  });

  it("any other failure is not tried again", async () => {
    let tries = 0;
    const error = await onFreePort(undefined, async () => {
      tries++;
      throw new Error("exited (1): bad config");
    }).catch((e: unknown) => e);
    expect((error as Error).message).toBe("exited (1): bad config");
    expect(tries).toBe(1);
  });
});
