import type { Scenario as K6Scenario, Options } from "k6/options";
import type { Catalog } from "../../fake-registry/catalog/catalog.ts";
import { ConfigError } from "../../vocabulary/config/yaml-file.ts";
import type { ImageRef } from "../../vocabulary/oci/reference.ts";
import { egressAddress } from "../actors/common.ts";
import type { HostRoute } from "../client/pull-client.ts";
import { RUNTIMES, type RuntimeModel } from "../client/runtimes.ts";
import { type Sim, VirtualSim } from "../engine/sim.ts";
import { networkModel, type StartTiming } from "../engine/timing.ts";
import { designRoutes } from "../mirror/for-design.ts";
import { SimClock, scenarioRegistry } from "../registry-setup.ts";
import { defaultTimeScale } from "../run.ts";
import type { Design, Expectation, Scenario, WorkloadStep } from "../scenario/schema.ts";
import { directWorkload } from "../workload/director.ts";
import {
  pinnedImage,
  podPullPolicy,
  podsOfSlot,
  referenceResolver,
  type Stage,
  type WarmEntry,
  warmEntries,
} from "../workload/stage.ts";

/**
 * The workload of one design as data, for the exported k6 script: which node,
 * CI job or desktop does what, when (simulated ms), and the k6 options
 * (executors, thresholds) that play it. Not a copy of the workload logic: the
 * one director (simulator/workload/director.ts) runs on a VirtualSim with a
 * stage that records each action instead of acting, so the times come out as
 * the native engine's directors produce them. The script plays each unit with
 * the project's own actors and pull client (./player.ts, bundled by ./bundle.ts).
 */

export type RuntimeName = RuntimeModel["name"];

/**
 * When something happens: simulated ms from the scenario start; `seq`, the
 * order the director did it in across the plan; `turn`, which of the
 * director's wake-ups did it (what the director does in one turn happens
 * together; separate turns at the same simulated time come one after the
 * other, as timers do in the simulator: see player.ts `playPlan`).
 */
export interface When {
  atMs: number;
  seq: number;
  turn: number;
}

/** A pod's pull policy (podPullPolicy: the design's, the image's, or kubelet's default). */
export type PodPullPolicy = Design["pullPolicy"];

/** What happens to a node, in order. */
export type NodeAction = When &
  (
    | { op: "pods"; pods: Array<{ image: string; ref: ImageRef; policy: PodPullPolicy }> }
    | { op: "restart"; image: string; ref: ImageRef; policy: PodPullPolicy; pods: number }
    | { op: "prune" }
    | { op: "prepull"; ref: ImageRef }
    | { op: "remove" }
  );

export interface NodeUnit {
  name: string;
  /** The native engine's node index (node-N has index N-1). */
  index: number;
  createdAtMs: number;
  /** Images in the store at creation (fleet nodes that exist from the start). */
  warm: WarmEntry[];
  actions: NodeAction[];
}

/** One queued job or one arrival: its number across the design (job-<index+1>) and when. */
export interface Timed extends When {
  index: number;
}

/** One k6 scenario's share of the workload; the k6 scenario name is its key in `groups`. */
export type PlanGroup =
  | { kind: "nodes"; step: number | null; nodes: NodeUnit[] }
  | { kind: "ci"; step: number; atMs: number; refs: ImageRef[]; jobs: Timed[] }
  | {
      kind: "arrivals";
      step: number;
      atMs: number;
      overMs: number;
      refs: ImageRef[];
      desktops: Timed[];
    };

export interface K6Plan {
  format: "pullstorm-k6-plan/3";
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
  nodeRuntime: RuntimeName;
  maxParallelImagePulls: number;
  ciRuntime: RuntimeName;
  ciRunners: number;
  ciConcurrency?: number;
  ephemeralRunners: boolean;
  desktopWarm: WarmEntry[];
  /** How long pods wait before they pull (engine/timing.ts), as in the native engines. */
  starts?: StartTiming;
  /** Accounts the registry must know (password `auth.password`, plan `accountPlan`). */
  accounts: string[];
  accountPlan: string;
  /**
   * The tags a pinned design resolved to digests, and when: the registry the
   * script pulls from must have resolved them too (primeCatalog), or it does
   * not know the digests yet.
   */
  resolved: Array<{ image: string; atMs: number }>;
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

export const ACCOUNT_PASSWORD = "pw";
/** How long a VU may take to wind down after the scenario's end (wall time). */
export const GRACEFUL_STOP = "30s";
export const DEFAULT_REGISTRY_URL = "http://127.0.0.1:5000";

/** k6 duration text for simulated ms at a time scale (wall ms, to the ms). */
export function wall(simMs: number, timeScale: number): string {
  return `${Math.max(0, Math.round(simMs / timeScale))}ms`;
}

interface DraftNode extends NodeUnit {
  alive: boolean;
  /** The workload step that created it (null: the fleet at t=0). */
  step: number | null;
}

const stepName = (index: number, w: WorkloadStep) => `s${index + 1}-${w.type}`;

/**
 * Why the k6 export cannot play this scenario yet, or undefined: its script pulls
 * from one registry with one way of authenticating per design.
 */
export function k6Unsupported(scenario: Scenario): string | undefined {
  if (scenario.registries.length > 0)
    return `registries: the k6 export plays one registry (Docker Hub's); this scenario also pulls from ${scenario.registries.map((r) => r.host).join(", ")}. Run it with \`pullstorm run\` (live or --virtual), or export a copy without them`;
  const secret = scenario.images.find((i) => i.pullSecret);
  if (secret)
    return `images: "${secret.name}" has pullSecret: true; the k6 export authenticates per design only. Run it with \`pullstorm run\`, or export a copy without pullSecret`;
  return undefined;
}

export async function derivePlan(
  scenario: Scenario,
  design: Design,
  options: PlanOptions = {},
): Promise<K6Plan> {
  const unsupported = k6Unsupported(scenario);
  if (unsupported) throw new ConfigError([unsupported]);
  const seed = options.seed ?? scenario.seed;
  const timeScale = options.timeScale ?? defaultTimeScale(scenario);
  const sim = new VirtualSim(seed, scenario.duration);
  // Only the catalog is used: digests for pinning and warm stores, as the native engine
  // reads them (on the same clock: a catalog's digests depend on its start).
  const catalog = scenarioRegistry(scenario, new SimClock(sim), seed).catalog;
  const catalogs = () => catalog;
  const resolve = referenceResolver(scenario, design, catalogs);
  const resolved = new Map<string, { image: string; atMs: number }>();
  const refOf = (image: string, atMs: number, tag?: string) => {
    if (pinnedImage(scenario, design, image) && !tag)
      resolved.set(`${image}@${atMs}`, { image, atMs });
    return resolve(image, atMs, tag);
  };
  const warmOf = warmEntries(scenario, catalogs, refOf);

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
  for (let i = 0; i < scenario.fleet.nodes; i++) {
    const warm: WarmEntry[] = [];
    for (const image of new Set(podsOfSlot(scenario, i))) warm.push(...(await warmOf(image)));
    newNode(null).warm = warm;
  }

  const groups: Record<string, PlanGroup> = {};
  let jobSeq = 0;
  let desktopSeq = 0;
  let seq = 0;
  let turn = 0;
  const when = (): When => ({ atMs: sim.now(), seq: seq++, turn });
  // The director's clock: each wake-up from a sleep starts a new turn.
  const clock: Sim = {
    now: () => sim.now(),
    sleep: (ms) =>
      sim.sleep(ms).then(() => {
        turn++;
      }),
    random: () => sim.random(),
    track: (work) => sim.track(work),
    trackCall: (fn) => sim.trackCall(fn),
    wait: (work) => sim.wait(work),
    get stopped() {
      return sim.stopped;
    },
  };
  const act = (n: DraftNode, action: NodeAction) => n.actions.push(action);
  // The director acts on this stage: every action becomes data, nothing pulls.
  const stage: Stage<DraftNode> = {
    nodes,
    isAlive: (n) => n.alive,
    newNode: (step) => newNode(step),
    startPod(n, image, ref) {
      if (!n.alive) return;
      const last = n.actions.at(-1);
      const pod = { image, ref, policy: podPullPolicy(scenario, design, image) };
      if (last?.op === "pods" && last.atMs === sim.now()) last.pods.push(pod);
      else act(n, { ...when(), op: "pods", pods: [pod] });
    },
    remove(n) {
      n.alive = false;
      act(n, { ...when(), op: "remove" });
    },
    restart: (n, image, ref, pods) =>
      act(n, {
        ...when(),
        op: "restart",
        image,
        ref,
        policy: podPullPolicy(scenario, design, image),
        pods,
      }),
    prune: (n) => {
      if (n.alive) act(n, { ...when(), op: "prune" });
    },
    prePull: async (n, ref) => {
      if (n.alive) act(n, { ...when(), op: "prepull", ref });
    },
    enqueueJobs(count, refs, step) {
      const name = stepName(step, scenario.workload[step] as WorkloadStep);
      let g = groups[name];
      if (!g) g = groups[name] = { kind: "ci", step, atMs: sim.now(), refs, jobs: [] };
      if (g.kind === "ci")
        for (let i = 0; i < count; i++) g.jobs.push({ index: jobSeq++, ...when() });
    },
    async arrive(refs, step) {
      const w = scenario.workload[step] as Extract<WorkloadStep, { type: "arrivals" }>;
      const name = stepName(step, w);
      let g = groups[name];
      if (!g)
        g = groups[name] = {
          kind: "arrivals",
          step,
          atMs: sim.now(),
          overMs: w.over,
          refs,
          desktops: [],
        };
      if (g.kind === "arrivals") g.desktops.push({ index: desktopSeq++, ...when() });
    },
  };
  const directors = directWorkload({ scenario, design, sim: clock, stage, refOf });
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
      const k = (waveCount.get(first.step) ?? 0) + 1;
      waveCount.set(first.step, k);
      name = `${stepName(first.step, scenario.workload[first.step] as WorkloadStep)}-wave-${String(k).padStart(2, "0")}`;
    }
    groups[name] = {
      kind: "nodes",
      step: first.step,
      nodes: list.map(({ alive: _a, step: _s, ...unit }) => unit),
    };
  }

  const mirror = design.mirror?.enabled ? design.mirror : undefined;
  const routesFor = designRoutes(scenario, design);

  const desktopWarm: WarmEntry[] = [];
  if (scenario.fleet.desktopCacheWarm)
    for (const image of new Set(
      scenario.workload.flatMap((w) => (w.type === "arrivals" ? w.images : [])),
    ))
      desktopWarm.push(...(await warmOf(image)));

  const plan: K6Plan = {
    format: "pullstorm-k6-plan/3",
    scenario: scenario.name,
    design: design.name,
    seed,
    durationMs: scenario.duration,
    timeScale,
    starts: networkModel(scenario).starts,
    auth: { mode: design.auth, password: ACCOUNT_PASSWORD },
    egressIps: Array.from({ length: design.egressIps }, (_, i) => egressAddress(i)),
    hosts: options.hosts ?? {
      registry: DEFAULT_REGISTRY_URL,
      ...(mirror ? { mirror: "http://127.0.0.1:5001" } : {}),
    },
    // Docker Hub's routes: the k6 export plays no other registry (k6Unsupported).
    routes: {
      containerd: routesFor("containerd"),
      dockerd: routesFor("dockerd"),
      "cri-o": routesFor("cri-o"),
    },
    runtimes: RUNTIMES,
    nodeRuntime: scenario.fleet.runtime,
    maxParallelImagePulls: design.maxParallelImagePulls,
    ciRuntime: scenario.fleet.ciRuntime,
    ciRunners: scenario.fleet.ciRunners,
    ...(design.ciConcurrency ? { ciConcurrency: design.ciConcurrency } : {}),
    ephemeralRunners: design.runnerCache === "ephemeral",
    desktopWarm,
    accounts: accountsOf(design, groups),
    accountPlan: design.plan,
    resolved: [...resolved.values()],
    groups,
    options: {},
  };
  plan.options = k6Options(plan, scenario, design);
  if (options.maxRps) plan.options.rps = options.maxRps;
  return plan;
}

/** Resolves the plan's pinned tags in a registry's catalog, as the native engine's director does. */
export async function primeCatalog(
  scenario: Scenario,
  design: Design,
  plan: Pick<K6Plan, "resolved">,
  catalog: Catalog,
): Promise<void> {
  const refOf = referenceResolver(scenario, design, () => catalog);
  for (const { image, atMs } of plan.resolved) await refOf(image, atMs);
}

function accountsOf(design: Design, groups: Record<string, PlanGroup>): string[] {
  if (design.auth === "anonymous") return [];
  if (design.auth === "shared-account") return ["shared"];
  const names: string[] = [];
  for (const g of Object.values(groups)) {
    if (g.kind === "nodes") names.push(...g.nodes.map((n) => n.name));
    if (g.kind === "ci") names.push(...g.jobs.map((j) => `job-${j.index + 1}`));
    if (g.kind === "arrivals") names.push(...g.desktops.map((d) => `desktop-${d.index + 1}`));
  }
  return names;
}

/** The runners one fan-out may use at once (the native CiFleet's limit). */
export function ciLimit(plan: Pick<K6Plan, "ciRunners" | "ciConcurrency">): number {
  return Math.min(plan.ciRunners, plan.ciConcurrency ?? plan.ciRunners);
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
 * script stops on its own, within gracefulStop.
 */
function k6Options(plan: K6Plan, scenario: Scenario, design: Design): Options {
  const ts = plan.timeScale;
  const scenarios: Record<string, K6Scenario> = {};
  const until = (atMs: number) => wall(Math.max(0, plan.durationMs - atMs) + ts * 1000, ts);
  const common = (atMs: number) => ({ startTime: wall(atMs, ts), gracefulStop: GRACEFUL_STOP });
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
      const vus = Math.min(ciLimit(plan), g.jobs.length);
      if (vus === 0) continue; // no runner: every job stays queued (reported as not started)
      scenarios[name] = {
        executor: "shared-iterations",
        exec: "ciJob",
        vus,
        iterations: g.jobs.length,
        maxDuration: until(g.atMs),
        ...common(g.atMs),
      };
    } else if (g.desktops.length > 0) {
      const n = g.desktops.length;
      if (g.overMs > 0) {
        // One arrival every over/n: a constant arrival rate, run half a period longer so the
        // last arrival is never lost to rounding (extra iterations do nothing).
        const period = g.overMs / n;
        scenarios[name] = {
          executor: "ramping-arrival-rate",
          exec: "desktop",
          startRate: 1,
          timeUnit: `${Math.max(1, Math.round((period / ts) * 1000)) / 1000}ms`,
          preAllocatedVUs: Math.min(n, 50),
          maxVUs: n,
          stages: [{ target: 1, duration: wall(g.overMs + period / 2, ts) }],
          ...common(g.atMs),
        };
      } else {
        scenarios[name] = {
          executor: "per-vu-iterations",
          exec: "desktop",
          vus: n,
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
    // The tags the metrics need, without per-URL series.
    systemTags: ["method", "status", "error_code", "scenario", "expected_response", "name"],
    setupTimeout: "60s",
    summaryTrendStats: ["avg", "p(50)", "p(95)", "max", "count"],
  };
}

/**
 * The design's expectations as k6 thresholds (k6 exits 99 when one fails), on
 * the metrics the script makes of the client's events (./k6-metrics.ts):
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
      add("pullstorm_requests{host:registry,status:429}", `count<=${e.maxUpstream429}`);
    if (e.maxP95StartSeconds !== undefined)
      add("pullstorm_start_seconds{ok:true}", `p(95)<=${e.maxP95StartSeconds}`);
    if (e.minUnitsStarted !== undefined)
      add("pullstorm_units_started", `rate>=${e.minUnitsStarted}`);
  }
  return t;
}
