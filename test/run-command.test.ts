// simulator/util/processes.ts runCommand's timeout: SIGTERM first, so a command
// can stop what it started (a pullstorm run its docker-registry), then SIGKILL.
// (5 s before the timeout: the child installs its handler first even on a busy machine.)
import { describe, expect, it } from "vitest";
import { runCommand } from "../simulator/util/processes.ts";

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
