// What the wrk benchmarks (registry-throughput, blob-throughput) share: their load
// flags, the fake registry they start (an account, quotas that never bite, tokens that
// outlive the run), and warm-up then rounds interleaved across the contenders.
import { join } from "node:path";
import { type FakeRegistryOptions, ROOT, type Server, startFakeRegistry } from "./servers.ts";
import { runWrk, type WrkResult } from "./wrk.ts";

/** The account the benchmarks pull as. */
export const BENCH_USER = "bench";
export const BENCH_PASSWORD = "bench";
export const BENCH_CREDENTIALS = `${BENCH_USER}:${BENCH_PASSWORD}`;

/** The load flags, with a benchmark's own defaults (parseArgs options). */
export function loadFlags(defaults: {
  seconds: string;
  connections: string;
  threads: string;
  serverCpus: string;
  wrkCpus: string;
}) {
  return {
    seconds: { type: "string", default: defaults.seconds },
    rounds: { type: "string", default: "3" },
    warmup: { type: "string", default: "3" },
    connections: { type: "string", default: defaults.connections },
    threads: { type: "string", default: defaults.threads },
    "server-cpus": { type: "string", default: defaults.serverCpus },
    "wrk-cpus": { type: "string", default: defaults.wrkCpus },
  } as const;
}

export interface Load {
  seconds: number;
  rounds: number;
  warmup: number;
  connections: number;
  threads: number;
  /** taskset CPU lists, when pinned. */
  serverCpus: string | undefined;
  wrkCpus: string | undefined;
}

/** The parsed load flags. */
export function loadOf(flags: Record<keyof ReturnType<typeof loadFlags>, string>): Load {
  return {
    seconds: Number(flags.seconds),
    rounds: Number(flags.rounds),
    warmup: Number(flags.warmup),
    connections: Number(flags.connections),
    threads: Number(flags.threads),
    serverCpus: flags["server-cpus"] || undefined,
    wrkCpus: flags["wrk-cpus"] || undefined,
  };
}

/** The load as a result file records it. */
export function loadSetup(load: Load) {
  return {
    wrk: {
      threads: load.threads,
      connections: load.connections,
      seconds: load.seconds,
      rounds: load.rounds,
      warmupSeconds: load.warmup,
    },
    cpus: { servers: load.serverCpus ?? "any", wrk: load.wrkCpus ?? "any" },
  };
}

/** `--log-level LEVEL` aside, the fake registry's flags in every wrk benchmark. */
export const BENCH_REGISTRY_FLAGS = `--user ${BENCH_CREDENTIALS}:pro --policy bench/fixtures/policy-unreached.yaml --token-lifetime 86400`;

/** The fake registry with the bench account, quotas of 1e9 and day-long tokens. */
export function startBenchRegistry(
  load: Load,
  options: Omit<FakeRegistryOptions, "cpus"> & { logLevel?: string } = {},
): Promise<Server> {
  const { logLevel = "warn", args = [], ...rest } = options;
  return startFakeRegistry({
    ...rest,
    ...(load.serverCpus ? { cpus: load.serverCpus } : {}),
    args: [
      "--user",
      `${BENCH_CREDENTIALS}:pro`,
      "--policy",
      join(ROOT, "bench/fixtures/policy-unreached.yaml"),
      "--token-lifetime",
      "86400",
      "--log-level",
      logLevel,
      ...args,
    ],
  });
}

/** One server under load, and its timed runs. */
export interface Contender<K extends string = string> {
  key: K;
  label: string;
  server: Server;
  url: string;
  runs: WrkResult[];
}

/** wrk against a contender with the benchmark's load, for `seconds`. */
export function wrkFor<C extends Contender>(
  load: Load,
  headersOf: (c: C) => Record<string, string>,
  options: { timeoutSeconds?: number } = {},
): (c: C, seconds: number) => Promise<WrkResult> {
  return (c, seconds) =>
    runWrk({
      url: c.url,
      connections: load.connections,
      threads: load.threads,
      seconds,
      headers: headersOf(c),
      serverPid: c.server.pid,
      ...(options.timeoutSeconds ? { timeoutSeconds: options.timeoutSeconds } : {}),
      ...(load.wrkCpus ? { cpus: load.wrkCpus } : {}),
    });
}

/**
 * A warm-up run for each contender, then `load.rounds` rounds, each contender in
 * turn, so drifting load on a shared machine hits all of them. `measure` makes a
 * timed run (wrk, maybe with counters read around it); `line` says how it went.
 */
export async function runRounds<C extends Contender>(
  contenders: C[],
  load: Load,
  wrk: (c: C, seconds: number) => Promise<WrkResult>,
  line: (c: C, run: WrkResult) => string,
  measure: (c: C, seconds: number) => Promise<WrkResult> = wrk,
): Promise<void> {
  for (const c of contenders) await wrk(c, load.warmup);
  for (let r = 0; r < load.rounds; r++) {
    for (const c of contenders) {
      const run = await measure(c, load.seconds);
      c.runs.push(run);
      process.stderr.write(`  round ${r + 1} ${c.label}: ${line(c, run)}\n`);
    }
  }
}

/** Stops the servers (last started first) and removes the scratch directory. */
export async function cleanUp(servers: Server[], tmp: { cleanup(): void }): Promise<void> {
  for (const s of servers.reverse()) await s.stop().catch(() => {});
  tmp.cleanup();
}
