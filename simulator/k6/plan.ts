import type { Scenario as K6Scenario, Options } from "k6/options";
import { ManualClock } from "../../fake-registry/core/clock.ts";
import { egressAddress } from "../actors/common.ts";
import { KUBELET } from "../actors/kubelet.ts";
import type { HostRoute } from "../client/pull-client.ts";
import {
  defaultPullPolicy,
  formatReference,
  type ImageRef,
  parseReference,
} from "../../vocabulary/oci/reference.ts";
import { RUNTIMES, type RuntimeModel } from "../client/runtimes.ts";
import { VirtualSim } from "../engine/sim.ts";
import { contentOf, scenarioRegistry } from "../registry-setup.ts";
import { defaultTimeScale } from "../run.ts";
import type { Design, Expectation, Scenario, WorkloadStep } from "../scenario/schema.ts";

/**
 * The workload of one design as data for the k6 runtime (./runtime.js): which
 * node, CI job or desktop pulls what, when (simulated ms), by tag or digest,
 * with which identity, and the k6 options (executors, thresholds) that play it.
 * Derived with the native runner's rules (simulator/run.ts): the same waves and
 * pacing, node churn, scale-ups, rolling restarts, pre-pulls, CI fan-outs with
 * the runners' concurrency, and arrivals; replayed here on a VirtualSim so the
 * times come out exactly as the native directors produce them.
 */

export type RuntimeName = RuntimeModel["name"];

/** An image reference, with the text a content store keys it by. */
export interface PlanRef {
  repository: string;
  tag?: string;
  digest?: string;
  text: string;
}

/** What a warm store holds for a reference: the top digest and every blob under it. */
export interface PlanContent {
  ref: string;
  digest: string;
  blobs: string[];
}

export interface PodSpec {
  image: string;
  ref: PlanRef;
  policy: "Always" | "IfNotPresent";
}

/** What happens to a node, in order (simulated ms from the scenario start). */
export type NodeAction =
  | { atMs: number; op: "pods"; pods: PodSpec[] }
  | { atMs: number; op: "restart"; pod: PodSpec }
  | { atMs: number; op: "prune" }
  | { atMs: number; op: "prepull"; ref: PlanRef }
  | { atMs: number; op: "remove" };

export interface NodeUnit {
  name: string;
  /** The native runner's node index (node-N has index N-1). */
  index: number;
  createdAtMs: number;
  /** Images in the store at creation (fleet nodes that exist from the start). */
  warm: PlanContent[];
  actions: NodeAction[];
}

/** One k6 scenario's share of the workload; the k6 scenario name is its key in `groups`. */
export type PlanGroup =
  | { kind: "nodes"; step: number | null; nodes: NodeUnit[] }
  | {
      kind: "ci";
      step: number;
      atMs: number;
      overMs: number;
      jobs: number;
      /** Index of the first job of this fan-out (jobs are numbered across fan-outs). */
      firstJob: number;
      refs: PlanRef[];
    }
  | {
      kind: "arrivals";
      step: number;
      atMs: number;
      overMs: number;
      desktops: number;
      firstDesktop: number;
      refs: PlanRef[];
    };

export interface K6Plan {
  format: "pullstorm-k6-plan/1";
  scenario: string;
  design: string;
  seed: number;
  durationMs: number;
  /** Simulated ms per wall ms; the registry must run on the same scale. */
  timeScale: number;
  auth: { mode: Design["auth"]; password: string };
  /** The design's egress addresses, in the order of the k6 `--local-ips` list. */
  egressIps: string[];
  /** Default base URLs (overridden by PULLSTORM_REGISTRY / PULLSTORM_MIRROR). */
  hosts: { registry: string; mirror?: string };
  /** Hosts each runtime tries, in order (a mirror first when it is configured for that runtime). */
  routes: Record<RuntimeName, HostRoute[]>;
  runtimes: Record<RuntimeName, RuntimeModel>;
  kubelet: typeof KUBELET;
  nodeRuntime: RuntimeName;
  maxParallelImagePulls: number;
  ciRuntime: RuntimeName;
  ephemeralRunners: boolean;
  desktopWarm: PlanContent[];
  /** Accounts the registry must know (password `auth.password`, plan `accountPlan`). */
  accounts: string[];
  accountPlan: string;
  groups: Record<string, PlanGroup>;
  options: Options;
}

export interface PlanOptions {
  seed?: number;
  timeScale?: number;
  hosts?: { registry: string; mirror?: string };
  /** Caps the script's request rate (k6's `rps` option): required for a remote target. */
  maxRps?: number;
}

const PRE_PULL_LEAD_MS = 15 * 60_000;
const PRE_PULL_SPREAD_MS = 10 * 60_000;
export const ACCOUNT_PASSWORD = "pw";
/** How long a VU may take to wind down after the scenario's end (wall time). */
export const GRACEFUL_STOP = "30s";
export const DEFAULT_REGISTRY_URL = "http://127.0.0.1:5000";

function planRef(ref: ImageRef): PlanRef {
  return { ...ref, text: formatReference(ref) };
}

/** k6 duration text for simulated ms at a time scale (wall ms, to the ms). */
export function wall(simMs: number, timeScale: number): string {
  return `${Math.max(0, Math.round(simMs / timeScale))}ms`;
}

interface DraftNode extends NodeUnit {
  alive: boolean;
  /** The workload step that created it (null: the fleet at t=0). */
  step: number | null;
}

export async function derivePlan(
  scenario: Scenario,
  design: Design,
  options: PlanOptions = {},
): Promise<K6Plan> {
  const seed = options.seed ?? scenario.seed;
  const timeScale = options.timeScale ?? defaultTimeScale(scenario);
  // Only the catalog is used: digests for pinning and warm stores, as the native runner reads them.
  const registry = scenarioRegistry(scenario, new ManualClock(), seed);
  const sim = new VirtualSim(seed, scenario.duration);

  const refOf = async (image: string, atMs: number): Promise<PlanRef> => {
    const text = scenario.images.find((i) => i.name === image)?.ref as string;
    const ref = parseReference(text) as ImageRef;
    if (design.pin === "digest" && ref.tag) {
      const content = await contentOf(registry.catalog, ref, atMs);
      if (content) return planRef({ repository: ref.repository, digest: content.digest });
    }
    return planRef(ref);
  };
  const warmEntries = async (image: string): Promise<PlanContent[]> => {
    const tagged = parseReference(
      scenario.images.find((i) => i.name === image)?.ref as string,
    ) as ImageRef;
    const content = await contentOf(registry.catalog, tagged, 0);
    if (!content) return [];
    const pinned = await refOf(image, 0);
    const entries = [{ ref: formatReference(tagged), ...content }];
    if (pinned.text !== entries[0]?.ref) entries.push({ ref: pinned.text, ...content });
    return entries;
  };
  const policyOf = (ref: PlanRef): PodSpec["policy"] =>
    design.pullPolicy === "default" ? defaultPullPolicy(ref) : design.pullPolicy;

  // The fleet at t=0: warm nodes already running their pods.
  const nodes: DraftNode[] = [];
  const newNode = (step: number | null): DraftNode => {
    const index = nodes.length;
    const node: DraftNode = {
      name: `node-${index + 1}`,
      index,
      createdAtMs: sim.now(),
      warm: [],
      actions: [],
      alive: true,
      step,
    };
    nodes.push(node);
    return node;
  };
  const fleetWarm: PlanContent[] = [];
  for (const image of scenario.fleet.pods) fleetWarm.push(...(await warmEntries(image)));
  for (let i = 0; i < scenario.fleet.nodes; i++) newNode(null).warm = fleetWarm;

  const startPods = async (node: DraftNode) => {
    const pods: PodSpec[] = [];
    for (const image of scenario.fleet.pods) {
      const ref = await refOf(image, sim.now());
      pods.push({ image, ref, policy: policyOf(ref) });
    }
    node.actions.push({ atMs: sim.now(), op: "pods", pods });
  };
  // The native runner's pacing (simulator/run.ts), step for step.
  const waves = async <T>(items: T[], over: number, act: (item: T) => Promise<void> | void) => {
    const paced = design.rollout.waveInterval > 0;
    const unset = design.rollout.maxSurge >= 1_000_000;
    const perWave = unset && !paced && over > 0 ? 1 : design.rollout.maxSurge;
    const surge = Math.max(1, Math.min(perWave, items.length));
    const count = Math.ceil(items.length / surge);
    const interval = paced ? design.rollout.waveInterval : count > 0 ? over / count : 0;
    for (let i = 0; i < items.length && !sim.stopped; i += surge) {
      if (i > 0) await sim.sleep(interval);
      for (const item of items.slice(i, i + surge)) await act(item);
    }
  };
  const spread = async (n: number, over: number, act: (i: number) => Promise<void> | void) => {
    for (let i = 0; i < n && !sim.stopped; i++) {
      if (i > 0 && over > 0) await sim.sleep(over / n);
      await act(i);
    }
  };

  const groups: Record<string, PlanGroup> = {};
  let jobSeq = 0;
  let desktopSeq = 0;
  const stepName = (index: number, w: WorkloadStep) => `s${index + 1}-${w.type}`;

  const step = async (w: WorkloadStep, index: number) => {
    switch (w.type) {
      case "scale-up":
        await spread(w.nodes, w.over, () => startPods(newNode(index)));
        return;
      case "node-churn": {
        const alive = nodes.filter((n) => n.alive).slice(0, w.nodes);
        await waves(alive, w.over, async (old) => {
          old.alive = false;
          old.actions.push({ atMs: sim.now(), op: "remove" });
          await startPods(newNode(index));
        });
        return;
      }
      case "rolling-restart": {
        const ref = await refOf(w.image, sim.now());
        await waves(
          nodes.filter((n) => n.alive),
          w.over,
          (n) => {
            n.actions.push({
              atMs: sim.now(),
              op: "restart",
              pod: { image: w.image, ref, policy: policyOf(ref) },
            });
          },
        );
        return;
      }
      case "prune":
        for (const n of nodes) n.actions.push({ atMs: sim.now(), op: "prune" });
        return;
      case "tag-move":
        return; // the registry's catalog moves the tag at this time
      case "ci-fan-out": {
        const refs = await Promise.all(w.images.map((i) => refOf(i, sim.now())));
        groups[stepName(index, w)] = {
          kind: "ci",
          step: index,
          atMs: sim.now(),
          overMs: w.over,
          jobs: w.jobs,
          firstJob: jobSeq,
          refs,
        };
        jobSeq += w.jobs;
        return;
      }
      case "arrivals": {
        const refs = await Promise.all(w.images.map((i) => refOf(i, sim.now())));
        groups[stepName(index, w)] = {
          kind: "arrivals",
          step: index,
          atMs: sim.now(),
          overMs: w.over,
          desktops: w.desktops,
          firstDesktop: desktopSeq,
          refs,
        };
        desktopSeq += w.desktops;
        return;
      }
    }
  };
  const directors = scenario.workload.map(async (w, index) => {
    if (design.prePull && w.type === "rolling-restart") {
      const start = Math.max(0, w.at - PRE_PULL_LEAD_MS);
      await sim.sleep(start);
      const ref = await refOf(w.image, w.at);
      const alive = nodes.filter((n) => n.alive);
      await spread(alive.length, Math.min(PRE_PULL_SPREAD_MS, w.at - start), (i) => {
        (alive[i] as DraftNode).actions.push({ atMs: sim.now(), op: "prepull", ref });
      });
      await sim.sleep(w.at - sim.now());
    } else await sim.sleep(w.at);
    if (!sim.stopped) await step(w, index);
  });
  await sim.run();
  await Promise.all(directors);

  // Nodes that never pull are left out: no VU for a warm node that is only recycled.
  const pulling = (n: DraftNode) =>
    n.actions.some((a) => a.op === "pods" || a.op === "restart" || a.op === "prepull");
  const byWave = new Map<string, DraftNode[]>();
  for (const n of nodes.filter(pulling)) {
    const key = n.step === null ? "fleet" : `${n.step}|${n.createdAtMs}`;
    byWave.set(key, [...(byWave.get(key) ?? []), n]);
  }
  const waveCount = new Map<number, number>();
  for (const list of byWave.values()) {
    const first = list[0] as DraftNode;
    let name = "fleet";
    if (first.step !== null) {
      const w = scenario.workload[first.step] as WorkloadStep;
      const k = (waveCount.get(first.step) ?? 0) + 1;
      waveCount.set(first.step, k);
      name = `${stepName(first.step, w)}-wave-${String(k).padStart(2, "0")}`;
    }
    groups[name] = {
      kind: "nodes",
      step: first.step,
      nodes: list.map(({ alive: _a, step: _s, ...unit }) => unit),
    };
  }

  const mirror = design.mirror?.enabled ? design.mirror : undefined;
  const mirrorRuntime = mirror?.configuredFor ?? scenario.fleet.runtime;
  const routesFor = (runtime: RuntimeName): HostRoute[] =>
    mirror && mirrorRuntime === runtime
      ? [
          { host: "mirror", role: "mirror" },
          { host: "registry", role: "upstream" },
        ]
      : [{ host: "registry", role: "upstream" }];

  const desktopImages = [
    ...new Set(scenario.workload.flatMap((w) => (w.type === "arrivals" ? w.images : []))),
  ];
  const desktopWarm: PlanContent[] = [];
  if (scenario.fleet.desktopCacheWarm)
    for (const image of desktopImages) desktopWarm.push(...(await warmEntries(image)));

  const accounts = accountsOf(design, groups);
  const plan: K6Plan = {
    format: "pullstorm-k6-plan/1",
    scenario: scenario.name,
    design: design.name,
    seed,
    durationMs: scenario.duration,
    timeScale,
    auth: { mode: design.auth, password: ACCOUNT_PASSWORD },
    egressIps: Array.from({ length: design.egressIps }, (_, i) => egressAddress(i)),
    hosts: options.hosts ?? {
      registry: DEFAULT_REGISTRY_URL,
      ...(mirror ? { mirror: "http://127.0.0.1:5001" } : {}),
    },
    routes: {
      containerd: routesFor("containerd"),
      dockerd: routesFor("dockerd"),
      "cri-o": routesFor("cri-o"),
    },
    runtimes: RUNTIMES,
    kubelet: KUBELET,
    nodeRuntime: scenario.fleet.runtime,
    maxParallelImagePulls: design.maxParallelImagePulls,
    ciRuntime: scenario.fleet.ciRuntime,
    ephemeralRunners: design.runnerCache === "ephemeral",
    desktopWarm,
    accounts,
    accountPlan: design.plan,
    groups,
    options: {},
  };
  plan.options = k6Options(plan, scenario, design);
  if (options.maxRps) plan.options.rps = options.maxRps;
  return plan;
}

function accountsOf(design: Design, groups: Record<string, PlanGroup>): string[] {
  if (design.auth === "anonymous") return [];
  if (design.auth === "shared-account") return ["shared"];
  const names: string[] = [];
  for (const g of Object.values(groups)) {
    if (g.kind === "nodes") names.push(...g.nodes.map((n) => n.name));
    if (g.kind === "ci") for (let i = 0; i < g.jobs; i++) names.push(`job-${g.firstJob + i + 1}`);
    if (g.kind === "arrivals")
      for (let i = 0; i < g.desktops; i++) names.push(`desktop-${g.firstDesktop + i + 1}`);
  }
  return names;
}

/** The runners one fan-out may use at once (the native CiFleet's limit). */
function ciLimit(scenario: Scenario, design: Design): number {
  const runners = scenario.fleet.ciRunners;
  return Math.min(runners, design.ciConcurrency ?? runners);
}

/**
 * k6 options: one scenario per group, with the executor that fits it, and the
 * scenario's expectations as thresholds.
 *  - node waves: per-vu-iterations, a VU per node, one iteration that lives as
 *    long as the node (its pods, kubelet backoff, restarts);
 *  - CI fan-outs: shared-iterations, the runners as VUs taking queued jobs;
 *  - arrivals: ramping-arrival-rate at the step's pace (per-vu-iterations when
 *    everyone arrives at once).
 * Every group ends at the scenario's end: its maxDuration runs to there and the
 * runtime stops on its own, within gracefulStop.
 */
function k6Options(plan: K6Plan, scenario: Scenario, design: Design): Options {
  const ts = plan.timeScale;
  const scenarios: Record<string, K6Scenario> = {};
  const until = (atMs: number) => wall(Math.max(0, plan.durationMs - atMs) + ts * 1000, ts);
  const common = (atMs: number) => ({
    startTime: wall(atMs, ts),
    gracefulStop: GRACEFUL_STOP,
  });
  for (const [name, g] of Object.entries(plan.groups)) {
    if (g.kind === "nodes") {
      const at = g.nodes[0]?.createdAtMs ?? 0;
      scenarios[name] = {
        executor: "per-vu-iterations",
        exec: "node",
        vus: g.nodes.length,
        iterations: 1,
        maxDuration: until(at),
        ...common(at),
      };
    } else if (g.kind === "ci") {
      const vus = Math.min(ciLimit(scenario, design), g.jobs);
      if (vus === 0) continue; // no runner: every job stays queued (reported as not started)
      scenarios[name] = {
        executor: "shared-iterations",
        exec: "ciJob",
        vus,
        iterations: g.jobs,
        maxDuration: until(g.atMs),
        ...common(g.atMs),
      };
    } else if (g.desktops > 0) {
      if (g.overMs > 0) {
        // One arrival every over/n: a constant arrival rate, run half a period longer so the
        // last arrival is never lost to rounding (extra iterations do nothing).
        const period = g.overMs / g.desktops;
        scenarios[name] = {
          executor: "ramping-arrival-rate",
          exec: "desktop",
          startRate: 1,
          timeUnit: `${Math.max(1, Math.round((period / ts) * 1000)) / 1000}ms`,
          preAllocatedVUs: Math.min(g.desktops, 50),
          maxVUs: g.desktops,
          stages: [{ target: 1, duration: wall(g.overMs + period / 2, ts) }],
          ...common(g.atMs),
        };
      } else {
        scenarios[name] = {
          executor: "per-vu-iterations",
          exec: "desktop",
          vus: g.desktops,
          iterations: 1,
          maxDuration: until(g.atMs),
          ...common(g.atMs),
        };
      }
    }
  }
  // A design whose workload pulls nothing still needs one scenario for k6 to run.
  if (Object.keys(scenarios).length === 0)
    scenarios.idle = { executor: "per-vu-iterations", exec: "idle", vus: 1, iterations: 1 };
  return {
    scenarios,
    thresholds: thresholdsOf(scenario.expectations.filter((e) => e.design === design.name)),
    tags: { design: design.name, pullstorm_scenario: scenario.name },
    // The tags the report needs, without per-URL series.
    systemTags: ["method", "status", "error_code", "scenario", "expected_response", "name"],
    setupTimeout: "60s",
    summaryTrendStats: ["avg", "p(50)", "p(95)", "max", "count"],
  };
}

/**
 * The design's expectations as k6 thresholds (k6 exits 99 when one fails):
 *  - verdict: pullstorm_breaks (failed pulls plus units not started) == 0 or > 0;
 *  - maxFailedPulls: pullstorm_pulls_failed count;
 *  - maxUpstream429: 429s from the registry itself (not via a mirror);
 *  - maxP95StartSeconds: p95 of started units, in simulated seconds;
 *  - minUnitsStarted: the rate of units started.
 */
export function thresholdsOf(expectations: Expectation[]): Record<string, string[]> {
  const t: Record<string, string[]> = {};
  const add = (metric: string, rule: string) => {
    t[metric] = [...(t[metric] ?? []), rule];
  };
  for (const e of expectations) {
    if (e.verdict === "holds") add("pullstorm_breaks", "count==0");
    if (e.verdict === "breaks") add("pullstorm_breaks", "count>0");
    if (e.maxFailedPulls !== undefined) add("pullstorm_pulls_failed", `count<=${e.maxFailedPulls}`);
    if (e.maxUpstream429 !== undefined)
      add("http_reqs{host:registry,status:429}", `count<=${e.maxUpstream429}`);
    if (e.maxP95StartSeconds !== undefined)
      add("pullstorm_start_seconds{ok:true}", `p(95)<=${e.maxP95StartSeconds}`);
    if (e.minUnitsStarted !== undefined)
      add("pullstorm_units_started", `rate>=${e.minUnitsStarted}`);
  }
  return t;
}
