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
 * 3. Weighs by the run's own answers. A sample sees fewer requests per
 *    quota window than the run, so it is refused less (in a storm the run's
 *    answers are mostly 429s; the replay's mostly 200s, which cost more). So
 *    every replayed request is timed and classed by endpoint and status, and
 *    the core's time for the run is the run's count of each class (from its
 *    request events to the registry) times the replay's mean time for that
 *    class (a class the replay never met: the mean of its endpoint, else of
 *    all). coreHandleRate = the run's core requests / that time.
 *
 *   node bench/lib/core-rate.ts SCENARIO.yaml --design NAME [--every 10] [--rounds 3]
 *
 * Prints one JSON line: { coreHandleRate (the best round), rounds, replayRate
 * (the sample's own rate, unweighted), sampled, handled, every, runMix,
 * unmatched (the run's requests whose class the replay never met) }.
 */
import { parseArgs } from "node:util";
import { ManualClock } from "../../fake-registry/core/clock.ts";
import type { RegistryRequest } from "../../fake-registry/core/types.ts";
import { kindOf } from "../../simulator/client/wire.ts";
import { contentOf, SIM_START, scenarioRegistry } from "../../simulator/registry-setup.ts";
import { playScenario } from "../../simulator/run.ts";
import { readScenario } from "../../simulator/scenario/load.ts";
import type { Scenario } from "../../simulator/scenario/schema.ts";
import { parseReference } from "../../vocabulary/oci/reference.ts";

/** The secret both the sampled run and the replay sign with, so the run's tokens verify in the replay. */
const SECRET = "pullstorm-bench-core-rate";

interface Sampled {
  request: RegistryRequest;
  ip: string;
  nowMs: number;
}

export interface CoreRate {
  /** Registry.handle() calls per wall second on the run's mix (best round). */
  coreHandleRate: number;
  rounds: number[];
  /** The sample's own rate, unweighted (its mix of answers, not the run's), best round. */
  replayRate: number;
  sampled: number;
  /** Requests the core handled in the sampled run (every one, not only the sample). */
  handled: number;
  every: number;
  /** The run's requests to the registry by "endpoint status". */
  runMix: Record<string, number>;
  /** The replay's (last round) by "endpoint status". */
  replayMix: Record<string, number>;
  /** Run requests whose class the replay never met (timed by their endpoint's or the overall mean). */
  unmatched: number;
}

/** Wall time and count per "endpoint status". */
type Timings = Map<string, { seconds: number; count: number }>;

/** The core's seconds for the run's mix at the replay's mean time per class. */
function weigh(
  runMix: Record<string, number>,
  timings: Timings,
): { seconds: number; unmatched: number } {
  const byKind = new Map<string, { seconds: number; count: number }>();
  let all = { seconds: 0, count: 0 };
  for (const [cls, t] of timings) {
    const kind = cls.split(" ")[0] as string;
    const k = byKind.get(kind) ?? { seconds: 0, count: 0 };
    byKind.set(kind, { seconds: k.seconds + t.seconds, count: k.count + t.count });
    all = { seconds: all.seconds + t.seconds, count: all.count + t.count };
  }
  let seconds = 0;
  let unmatched = 0;
  for (const [cls, n] of Object.entries(runMix)) {
    const exact = timings.get(cls);
    const mean = exact ?? byKind.get(cls.split(" ")[0] as string) ?? all;
    if (!exact) unmatched += n;
    seconds += (n * mean.seconds) / Math.max(1, mean.count);
  }
  return { seconds, unmatched };
}

/** The Basic user of a request, if any. */
function basicUser(request: RegistryRequest): { name: string; password: string } | undefined {
  const auth = request.headers.authorization;
  if (!auth?.startsWith("Basic ")) return undefined;
  const [name, password] = Buffer.from(auth.slice(6), "base64").toString().split(":");
  return name && password !== undefined ? { name, password } : undefined;
}

async function replay(
  scenario: Scenario,
  seed: number,
  plan: string,
  accounts: Map<string, string>,
  sample: Sampled[],
  every: number,
  warmTokens: boolean,
): Promise<{ seconds: number; timings: Timings }> {
  const startedAt = SIM_START;
  const clock = new ManualClock(startedAt);
  const registry = scenarioRegistry(scenario, clock, seed, SECRET);
  // The sample is one request in `every`: so are its limits, so that it meets them when
  // the run did and is refused as the run was (a 429 costs less than a 200).
  registry.policy = {
    ...registry.policy,
    rules: registry.policy.rules.map((rule) => ({
      ...rule,
      limits: Object.fromEntries(
        Object.entries(rule.limits).map(([plan, limit]) => [
          plan,
          limit === "unlimited" || limit === undefined
            ? limit
            : {
                ...limit,
                limit: Math.max(1, Math.round(limit.limit / every)),
                ...(limit.burst !== undefined
                  ? { burst: Math.max(0, Math.round(limit.burst / every)) }
                  : {}),
              },
        ]),
      ),
    })),
  };
  // The accounts the run created as actors appeared (every Basic user it saw, not only the sample's).
  for (const [name, password] of accounts)
    registry.addAccount({ name, password, plan: plan as "free" });
  // The builds the run's registry had made by each request's time (made lazily, as tags
  // are resolved): a sampled GET by digest must find its manifest as it did in the run.
  const seconds = new Set(sample.map((x) => Math.floor((x.nowMs - startedAt) / 1000)));
  for (const second of seconds)
    for (const image of scenario.images) {
      const ref = parseReference(image.ref);
      if (!("error" in ref)) await contentOf(registry.catalog, ref, second * 1000);
    }
  if (warmTokens) {
    for (const { request, nowMs } of sample) {
      const auth = request.headers.authorization;
      if (auth?.startsWith("Bearer ")) await registry.signer?.verify(auth.slice(7), nowMs);
    }
  }
  const timings: Timings = new Map();
  const started = performance.now();
  for (const { request, ip, nowMs } of sample) {
    if (nowMs > clock.now()) clock.set(nowMs);
    const t0 = performance.now();
    const { response } = await registry.handle(request, { ip });
    const cls = `${kindOf(request.path)} ${response.status}`;
    const t = timings.get(cls) ?? { seconds: 0, count: 0 };
    t.seconds += (performance.now() - t0) / 1000;
    t.count++;
    timings.set(cls, t);
  }
  return { seconds: (performance.now() - started) / 1000, timings };
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
  const runMix: Record<string, number> = {};
  const accounts = new Map<string, string>();
  await playScenario(scenario, {
    mode: "virtual",
    designs: [design],
    tokenSecret: SECRET,
    onEvent: (e) => {
      if (e.type !== "request" || e.host !== "registry") return;
      const cls = `${e.kind} ${e.status}`;
      runMix[cls] = (runMix[cls] ?? 0) + 1;
    },
    registryTap: (request, client, nowMs) => {
      const user = basicUser(request);
      if (user) accounts.set(user.name, user.password);
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
  const runTotal = Object.values(runMix).reduce((a, b) => a + b, 0);
  await replay(scenario, seed, chosen.plan, accounts, sample, every, true);
  const rates: number[] = [];
  const replayRates: number[] = [];
  let last: { timings: Timings; unmatched: number } | undefined;
  for (let i = 0; i < rounds; i++) {
    const r = await replay(scenario, seed, chosen.plan, accounts, sample, every, true);
    const weighed = weigh(runMix, r.timings);
    rates.push(Math.round(runTotal / weighed.seconds));
    replayRates.push(Math.round(sample.length / r.seconds));
    last = { timings: r.timings, unmatched: weighed.unmatched };
  }
  return {
    coreHandleRate: Math.max(...rates),
    rounds: rates,
    replayRate: Math.max(...replayRates),
    sampled: sample.length,
    handled,
    every,
    runMix,
    replayMix: Object.fromEntries([...(last?.timings ?? [])].map(([c, t]) => [c, t.count])),
    unmatched: last?.unmatched ?? 0,
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
