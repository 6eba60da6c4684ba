// wrk as the one load generator of the HTTP benchmarks: same binary, threads and connections for every server.
import { runCommand } from "../../simulator/util/processes.ts";
import { cpuSeconds, loadavg } from "./env.ts";
import { pinned } from "./servers.ts";

export interface WrkOptions {
  url: string;
  connections: number;
  threads: number;
  seconds: number;
  headers?: Record<string, string>;
  /** CPUs to pin wrk to (taskset list), e.g. "0". */
  cpus?: string;
  /** The server's pid: its CPU time over the run is measured too. */
  serverPid?: number;
  /** wrk's socket timeout, seconds (default 10). */
  timeoutSeconds?: number;
}

export interface WrkResult {
  requests: number;
  seconds: number;
  requestsPerSecond: number;
  bytesRead: number;
  bytesPerSecond: number;
  non2xx: number;
  socketErrors: { connect: number; read: number; write: number; timeout: number };
  latencyMs: { p50?: number; p90?: number; p99?: number; max?: number };
  /** Server CPU seconds (user + system) during the run, and per request in microseconds. */
  serverCpuSeconds?: number;
  serverCpuMicrosPerRequest?: number;
  /** /proc/loadavg (1, 5, 15 min) when the run ended. */
  loadavg: [number, number, number];
}

const UNITS: Record<string, number> = {
  B: 1,
  KB: 1024,
  MB: 1024 ** 2,
  GB: 1024 ** 3,
  TB: 1024 ** 4,
};

function bytes(value: string, unit: string): number {
  return Number(value) * (UNITS[unit] ?? 1);
}

function ms(value: string | undefined): number | undefined {
  if (!value) return undefined;
  const m = /^([\d.]+)(us|ms|s|m)$/.exec(value);
  if (!m) return undefined;
  const n = Number(m[1]);
  return m[2] === "us" ? n / 1000 : m[2] === "ms" ? n : m[2] === "s" ? n * 1000 : n * 60_000;
}

export function parseWrk(out: string): Omit<WrkResult, "loadavg"> {
  const total = /(\d+) requests in ([\d.]+)(us|ms|s|m), ([\d.]+)([KMGT]?B) read/.exec(out);
  if (!total) throw new Error(`unexpected wrk output:\n${out}`);
  const seconds = (ms(`${total[2]}${total[3]}`) ?? 0) / 1000;
  const requests = Number(total[1]);
  const bytesRead = bytes(total[4] as string, total[5] as string);
  const errors = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  const pct = (p: string) => ms(new RegExp(`^\\s+${p}%\\s+(\\S+)`, "m").exec(out)?.[1]);
  const max = /Latency\s+\S+\s+\S+\s+(\S+)/.exec(out)?.[1];
  return {
    requests,
    seconds,
    requestsPerSecond: requests / seconds,
    bytesRead,
    bytesPerSecond: bytesRead / seconds,
    non2xx: Number(/Non-2xx or 3xx responses: (\d+)/.exec(out)?.[1] ?? 0),
    socketErrors: {
      connect: Number(errors?.[1] ?? 0),
      read: Number(errors?.[2] ?? 0),
      write: Number(errors?.[3] ?? 0),
      timeout: Number(errors?.[4] ?? 0),
    },
    latencyMs: { p50: pct("50"), p90: pct("90"), p99: pct("99"), max: ms(max) },
  };
}

/** One wrk run (asynchronous: servers may live in this process). */
export async function runWrk(options: WrkOptions): Promise<WrkResult> {
  const args = [
    `-t${options.threads}`,
    `-c${options.connections}`,
    `-d${options.seconds}s`,
    `--timeout`,
    `${options.timeoutSeconds ?? 10}s`,
    "--latency",
  ];
  for (const [k, v] of Object.entries(options.headers ?? {})) args.push("-H", `${k}: ${v}`);
  args.push(options.url);
  const [command, full] = await pinned(options.cpus, "wrk", args);
  const cpuBefore = options.serverPid ? cpuSeconds(options.serverPid) : 0;
  const run = await runCommand(command, full, { timeoutMs: (options.seconds + 60) * 1000 });
  const cpuAfter = options.serverPid ? cpuSeconds(options.serverPid) : 0;
  if (run.status !== 0) throw new Error(`wrk failed (${run.status}): ${run.stderr || run.stdout}`);
  const parsed = parseWrk(run.stdout);
  const result: WrkResult = { ...parsed, loadavg: loadavg() };
  if (options.serverPid) {
    result.serverCpuSeconds = round(cpuAfter - cpuBefore, 2);
    result.serverCpuMicrosPerRequest =
      parsed.requests > 0 ? round(((cpuAfter - cpuBefore) * 1e6) / parsed.requests, 1) : undefined;
  }
  return result;
}

export function round(n: number, digits = 0): number {
  const f = 10 ** digits;
  return Math.round(n * f) / f;
}
