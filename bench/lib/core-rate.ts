/**
 * The registry core's bare `Registry.handle()` rate on one virtual run's own
 * request mix: the yardstick of bench/virtual-scale.ts (issue 15). Every
 * simulated request that reaches the embedded registry goes through
 * `handle()` once; what the simulator does around it is overhead.
 *
 * 1. Plays the scenario's design in virtual time, in this process, with the
 *    engine's registry tap (RunOptions.registryTap): every `--every`-th
 *    request the core handles is kept, with its registry time, in order.
 * 2. Replays the sample through a fresh registry built as the run builds its
 *    own (scenarioRegistry: same policy, catalog, faults, token secret,
 *    accounts), its clock set to each request's time: first once untimed
 *    (JIT warm-up), then `--rounds` times, each on a fresh registry whose
 *    token cache already holds the sample's tokens (the run's registry signed
 *    them, so it never verified them the slow way: neither does the replay).
 *
 *   node bench/lib/core-rate.ts SCENARIO.yaml --design NAME [--every 10] [--rounds 3]
 *
 * Prints one JSON line: { coreHandleRate (requests per wall second, the best
 * round), rounds, sampled, handled, statuses }.
 */
import { parseArgs } from "node:util";
import { ManualClock } from "../../fake-registry/core/clock.ts";
import type { RegistryRequest } from "../../fake-registry/core/types.ts";
import type { Registry } from "../../fake-registry/registry/registry.ts";
import { SimClock, scenarioRegistry } from "../../simulator/registry-setup.ts";
import { playScenario } from "../../simulator/run.ts";
import { readScenario } from "../../simulator/scenario/load.ts";
import type { Scenario } from "../../simulator/scenario/schema.ts";

/** The secret both the sampled run and the replay sign with, so the run's tokens verify in the replay. */
const SECRET = "pullstorm-bench-core-rate";

interface Sampled {
  request: RegistryRequest;
  ip: string;
  nowMs: number;
}

export interface CoreRate {
  /** Registry.handle() calls per wall second on the sample (best round). */
  coreHandleRate: number;
  rounds: number[];
  sampled: number;
  /** Requests the core handled in the sampled run (every one, not only the sample). */
  handled: number;
  every: number;
  /** Status counts in the last round (the replay's mix of answers). */
  statuses: Record<string, number>;
}

/** Accounts the run created as actors appeared: every Basic user in the sample (the run's password and plan). */
function addAccounts(registry: Registry, sample: Sampled[], plan: string): void {
  const seen = new Set<string>();
  for (const { request } of sample) {
    const auth = request.headers.authorization;
    if (!auth?.startsWith("Basic ")) continue;
    const [name, password] = Buffer.from(auth.slice(6), "base64").toString().split(":");
    if (!name || password === undefined || seen.has(name)) continue;
    seen.add(name);
    registry.addAccount({ name, password, plan: plan as "free" });
  }
}

async function replay(
  scenario: Scenario,
  seed: number,
  plan: string,
  sample: Sampled[],
  warmTokens: boolean,
): Promise<{ seconds: number; statuses: Record<string, number> }> {
  const startedAt = new SimClock({ now: () => 0 } as never).startedAt;
  const clock = new ManualClock(startedAt);
  const registry = scenarioRegistry(scenario, clock, seed, SECRET);
  addAccounts(registry, sample, plan);
  if (warmTokens) {
    for (const { request, nowMs } of sample) {
      const auth = request.headers.authorization;
      if (auth?.startsWith("Bearer ")) await registry.signer?.verify(auth.slice(7), nowMs);
    }
  }
  const statuses: Record<string, number> = {};
  const started = performance.now();
  for (const { request, ip, nowMs } of sample) {
    if (nowMs > clock.now()) clock.set(nowMs);
    const { response } = await registry.handle(request, { ip });
    statuses[response.status] = (statuses[response.status] ?? 0) + 1;
  }
  return { seconds: (performance.now() - started) / 1000, statuses };
}

export async function measureCoreRate(
  file: string,
  design: string,
  options: { every?: number; rounds?: number } = {},
): Promise<CoreRate> {
  const every = Math.max(1, Math.floor(options.every ?? 10));
  const rounds = Math.max(1, Math.floor(options.rounds ?? 3));
  const { scenario } = readScenario(file);
  const chosen = scenario.designs.find((d) => d.name === design);
  if (!chosen) throw new Error(`${file}: no design ${design}`);
  const sample: Sampled[] = [];
  let handled = 0;
  await playScenario(scenario, {
    mode: "virtual",
    designs: [design],
    tokenSecret: SECRET,
    registryTap: (request, client, nowMs) => {
      if (handled++ % every !== 0) return;
      sample.push({
        request: {
          method: request.method,
          path: request.path,
          query: new URLSearchParams(request.query),
          headers: { ...request.headers },
          ...(request.body !== undefined ? { body: request.body } : {}),
        },
        ip: client.ip,
        nowMs,
      });
    },
  });
  const seed = scenario.seed;
  await replay(scenario, seed, chosen.plan, sample, true);
  const seconds: number[] = [];
  let statuses: Record<string, number> = {};
  for (let i = 0; i < rounds; i++) {
    const r = await replay(scenario, seed, chosen.plan, sample, true);
    seconds.push(r.seconds);
    statuses = r.statuses;
  }
  const rates = seconds.map((s) => Math.round(sample.length / s));
  return {
    coreHandleRate: Math.max(...rates),
    rounds: rates,
    sampled: sample.length,
    handled,
    every,
    statuses,
  };
}

if (import.meta.main) {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      design: { type: "string" },
      every: { type: "string", default: "10" },
      rounds: { type: "string", default: "3" },
    },
  });
  const file = positionals[0];
  if (!file || !values.design) {
    process.stderr.write("usage: node bench/lib/core-rate.ts SCENARIO.yaml --design NAME\n");
    process.exit(2);
  }
  const result = await measureCoreRate(file, values.design, {
    every: Number(values.every),
    rounds: Number(values.rounds),
  });
  process.stdout.write(`${JSON.stringify(result)}\n`);
}
