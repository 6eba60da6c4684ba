/**
 * Fleet-scale calibration (issue 12): N containerd nodes start at the same moment
 * with cold caches and pull their two images through a cold, authenticated CNCF
 * distribution pull-through cache. What reaches the origin registry (upstream
 * manifest GETs, blob GETs, tokens) is counted three ways:
 *
 * - `live`: pullstorm's live engine, real HTTP from N distinct 127.1.x.y source
 *   addresses to a real `docker-registry` 2.8.2 (startProcessMirror), which pulls
 *   through from the embedded fake registry (counted at the tap, as every live run does);
 * - `ctr`: N real `ctr content fetch` processes, one containerd namespace per node,
 *   against the same kind of mirror (hosts.toml naming the mirror, as a node's certs.d):
 *   the real clients the live driver is held against;
 * - `model`: the same scenario in virtual time, the mirror served by MirrorModel.
 *
 * The real mirror is racy: how many cold misses overlap depends on when each
 * request arrives, so the real side is a range over several runs, measured under
 * whatever load the machine had (recorded with each run). bench/fleet-calibration.ts
 * measures it (`npm run calibrate:fleet`); test/real/fleet-scale.test.ts and mixed-fleet.test.ts hold
 * the model to it.
 */
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ctrFetchArgs, type PrivateContainerd } from "../../check-mirror/containerd.ts";
import { ScaledClock } from "../../fake-registry/core/clock.ts";
import { runScenario } from "../../harness/run.ts";
import type { Verdict } from "../../reports/summary.ts";
import { startProcessMirror } from "../../simulator/mirror/backends.ts";
import type { MirrorCapacity } from "../../simulator/mirror/cpu.ts";
import { serveTappedRegistry } from "../../simulator/mirror/live.ts";
import { scenarioRegistry } from "../../simulator/registry-setup.ts";
import { loadScenario, parseScenario } from "../../simulator/scenario/load.ts";
import type { Scenario } from "../../simulator/scenario/schema.ts";
import type { SimEvent } from "../../vocabulary/events.ts";
import { loadavg, procStat } from "./env.ts";
import { ROOT, resultsFile } from "./servers.ts";

/** The fleet sizes measured. */
export const FLEET_SIZES = [50, 100, 150] as const;

/** What each node runs (node-churn's pods): pulled one after the other, as kubelet serializes pulls. */
export const FLEET_IMAGES = ["library/nginx:1.25", "library/redis:7"] as const;

/** The mirror's upstream account. Pro (50,000 pulls / 24 h): no 429 can bend the counts. */
export const MIRROR_ACCOUNT = { name: "mirror-bot", password: "pw", plan: "pro" } as const;

/** The live time scale: x1, wall time is simulated time (the most faithful, and it keeps up). */
export const FLEET_TIME_SCALE = 1;

/**
 * The scenario: `nodes` containerd nodes join at once with cold caches, each
 * starting 2 pods, behind an authenticated distribution pull-through cache.
 * 30 simulated seconds: on this 2-core machine 150 nodes finish in 2-5 s.
 */
export function fleetScenarioText(nodes: number): string {
  return `# fleet-cold-start: ${nodes} containerd nodes start at once with cold caches and pull
# through a cold, authenticated CNCF distribution pull-through cache (bench/lib/fleet.ts).
name: fleet-cold-start-${nodes}
duration: 30s
seed: 1
registry:
  preset: dockerhub-2020
images:
  - { name: web, ref: "${FLEET_IMAGES[0]}" }
  - { name: sidecar, ref: "${FLEET_IMAGES[1]}" }
fleet:
  nodes: 0
  runtime: containerd
  pods: [web, sidecar]
workload:
  - { type: scale-up, at: 0s, nodes: ${nodes} }
designs:
  - name: mirror
    auth: anonymous
    plan: ${MIRROR_ACCOUNT.plan}
    egressIps: ${nodes}
    mirror: { enabled: true, backend: process, flavour: distribution-2.8, upstreamAuth: true }
`;
}

export function fleetScenario(nodes: number): Scenario {
  return parseScenario(fleetScenarioText(nodes), `fleet-cold-start-${nodes}.yaml`);
}

/** What reached the origin registry. */
export interface UpstreamCounts {
  manifestGet: number;
  manifestHead: number;
  blobGet: number;
  blobHead: number;
  token: number;
  ping: number;
  /** Pulls the registry charged (Docker's definition: an index GET and its platform manifest GET are one). */
  pulls: number;
  /** Requests from the nodes straight to the registry (a mirror that failed them). */
  fallback: number;
}

export type Driver = "live" | "ctr" | "model";

export interface FleetMeasurement {
  driver: Driver;
  nodes: number;
  upstream: UpstreamCounts;
  /** Nodes whose pulls all succeeded. */
  nodesOk: number;
  /** 1-minute load average before and after the run (the machine is shared). */
  load: [number, number];
  wallSeconds: number;
  /** Live runs: whether the clock kept up (report.json `clock.keptUp`), and its p99s. */
  clock?: {
    timeScale: number;
    keptUp: boolean;
    lagP99SimSeconds: number | null;
    requestP99SimSeconds: number | null;
  };
  /** Live and model: seconds from the start until the last pod started. */
  lastStartSeconds?: number;
  /** Live: the real mirror's processor time per client request (the model's `capacity`). */
  mirrorCpu?: MirrorCpu;
  /**
   * The network the run had: "scenario" (the scenario's `network:` defaults, the
   * mirror's upstream leg shaped as the model's is) or "loopback upstream" (runs
   * recorded before the timing model, 66193d9: the upstream leg as fast as loopback).
   */
  network?: "scenario" | "loopback upstream";
  date: string;
}

/** The scenario with its mirror's capacity set (the model's; live runs with a real mirror ignore it). */
function withCapacity(scenario: Scenario, capacity: MirrorCapacity | undefined): Scenario {
  if (!capacity) return scenario;
  return {
    ...scenario,
    designs: scenario.designs.map((d) =>
      d.mirror
        ? {
            ...d,
            mirror: {
              ...d.mirror,
              capacity: { cores: capacity.cores, cpuPerRequest: capacity.cpuPerRequestMs },
            },
          }
        : d,
    ),
  };
}

/** The processor time a live run's docker-registry used, per request its clients sent it. */
export interface MirrorCpu {
  cpuSeconds: number;
  clientRequests: number;
  msPerRequest: number;
}

/**
 * Follows the processor time of this process's docker-registry children (the
 * live run's mirror) from /proc, every 50 ms until `stop()`: the mirror is
 * stopped at the end of the run, so its last reading before that is its total.
 * Linux only; elsewhere it reads 0.
 */
export function watchMirrorCpu(): { stop(): number } {
  const seen = new Map<number, number>();
  const sample = () => {
    let entries: string[];
    try {
      entries = readdirSync("/proc");
    } catch {
      return;
    }
    for (const entry of entries) {
      if (!/^\d+$/.test(entry)) continue;
      try {
        const stat = procStat(readFileSync(`/proc/${entry}/stat`, "utf8"));
        if (stat.name === "docker-registry" && stat.ppid === process.pid)
          seen.set(Number(entry), stat.cpuSeconds);
      } catch {
        // the process ended between the listing and the read
      }
    }
  };
  const timer = setInterval(sample, 50);
  return {
    stop() {
      clearInterval(timer);
      sample();
      return [...seen.values()].reduce((a, b) => a + b, 0);
    },
  };
}

/** Runs a scenario; live, with its mirror's processor time watched and divided by its clients' requests. */
async function runWatched<R extends { events: SimEvent[] }>(
  mode: "live" | "virtual",
  run: () => Promise<R>,
): Promise<R & { used?: MirrorCpu }> {
  if (mode !== "live") return run();
  const cpu = watchMirrorCpu();
  let seconds = 0;
  let result: R;
  try {
    result = await run();
  } finally {
    seconds = cpu.stop();
  }
  const used = mirrorCpu(seconds, result.events);
  return used ? { ...result, used } : result;
}

function mirrorCpu(seconds: number, events: Iterable<SimEvent>): MirrorCpu | undefined {
  let clientRequests = 0;
  for (const e of events) if (e.type === "request" && e.host === "mirror") clientRequests++;
  if (seconds <= 0 || clientRequests === 0) return undefined;
  return {
    cpuSeconds: seconds,
    clientRequests,
    msPerRequest: Math.round((seconds * 1000 * 100) / clientRequests) / 100,
  };
}

function emptyCounts(): UpstreamCounts {
  return {
    manifestGet: 0,
    manifestHead: 0,
    blobGet: 0,
    blobHead: 0,
    token: 0,
    ping: 0,
    pulls: 0,
    fallback: 0,
  };
}

/** Counts the request events that reached the origin (host "registry"). */
export function tallyUpstream(events: Iterable<SimEvent>): UpstreamCounts {
  const c = emptyCounts();
  for (const e of events) {
    if (e.type !== "request" || e.host !== "registry") continue;
    if (e.actor !== "mirror") c.fallback++;
    if (e.pulls) c.pulls += e.pulls;
    if (e.kind === "manifest") {
      if (e.method === "GET") c.manifestGet++;
      else if (e.method === "HEAD") c.manifestHead++;
    } else if (e.kind === "blob") {
      if (e.method === "GET") c.blobGet++;
      else if (e.method === "HEAD") c.blobHead++;
    } else if (e.kind === "token") c.token++;
    else if (e.kind === "ping") c.ping++;
  }
  return c;
}

const load1 = () => loadavg()[0];

function countBy(items: string[]): Map<string, number> {
  const m = new Map<string, number>();
  for (const i of items) m.set(i, (m.get(i) ?? 0) + 1);
  return m;
}

/** One run of the scenario with pullstorm's engine: live (real docker-registry) or virtual (the model). */
export async function measureEngine(
  nodes: number,
  mode: "live" | "virtual",
  timeScale = FLEET_TIME_SCALE,
  /** Virtual: the model mirror's capacity instead of the measured default. */
  capacity?: MirrorCapacity,
): Promise<FleetMeasurement> {
  if (capacity && mode === "live")
    throw new Error("a live run measures the real mirror: its capacity is the machine's");
  const scenario = withCapacity(fleetScenario(nodes), capacity);
  const before = load1();
  const started = performance.now();
  const { report, events, used } = await runWatched(mode, () =>
    runScenario(scenario, { mode, ...(mode === "live" ? { timeScale } : {}) }),
  );
  const design = report.designs[0];
  if (!design) throw new Error("the fleet scenario has one design");
  const starts = events.filter((e) => e.type === "start" && e.ok);
  return {
    driver: mode === "live" ? "live" : "model",
    nodes,
    upstream: tallyUpstream(events),
    // A node is ok when both its pods started.
    nodesOk: [...countBy(starts.map((e) => (e.type === "start" ? e.actor : "")))].filter(
      ([, n]) => n >= FLEET_IMAGES.length,
    ).length,
    load: [before, load1()],
    wallSeconds: Math.round(performance.now() - started) / 1000,
    ...(report.clock.mode === "live"
      ? {
          clock: {
            timeScale: report.clock.timeScale,
            keptUp: report.clock.keptUp,
            lagP99SimSeconds: report.clock.lagP99SimSeconds,
            requestP99SimSeconds: report.clock.requestP99SimSeconds,
          },
        }
      : {}),
    lastStartSeconds: Math.max(0, ...starts.map((e) => e.t)),
    ...(used ? { mirrorCpu: used } : {}),
    ...(mode === "live" ? { network: "scenario" as const } : {}),
    date: new Date().toISOString(),
  };
}

/** Waits until `last()` is `quietMs` in the past (distribution stores blobs in the background), bounded. */
async function quiet(last: () => number, quietMs = 500, limitMs = 20_000): Promise<void> {
  const deadline = performance.now() + limitMs;
  while (performance.now() < deadline) {
    if (performance.now() - last() >= quietMs) return;
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * One run with real clients: `nodes` `ctr content fetch` processes at once, one
 * containerd namespace each, every node fetching the images one after the other
 * (linux/amd64) through a fresh docker-registry 2.8 pull-through cache with the
 * mirror's account; counted at the fake registry as in a live run.
 */
export async function measureCtr(
  nodes: number,
  containerd: PrivateContainerd,
  options: { work?: string; timeoutMs?: number } = {},
): Promise<FleetMeasurement> {
  const scenario = fleetScenario(nodes);
  const dir = mkdtempSync(join(options.work ?? tmpdir(), `fleet-ctr-${nodes}-`));
  const registry = scenarioRegistry(scenario, new ScaledClock(1), scenario.seed);
  registry.addAccount({ ...MIRROR_ACCOUNT });
  const events: SimEvent[] = [];
  let last = performance.now();
  const emitAs = (actor: string) => (e: SimEvent) => {
    last = performance.now();
    events.push(e.type === "request" ? { ...e, actor } : e);
  };
  const now = () => performance.now();
  const upstreamSide = await serveTappedRegistry(registry, {
    design: "ctr",
    emit: emitAs("mirror"),
    now,
  });
  // Where a node falls back when the mirror fails it (hosts.toml's server): counted as the node's.
  const nodeSide = await serveTappedRegistry(registry, {
    design: "ctr",
    emit: emitAs("node"),
    now,
  });
  const closers: Array<() => Promise<unknown>> = [
    () => upstreamSide.close(),
    () => nodeSide.close(),
  ];
  const before = load1();
  const started = performance.now();
  try {
    const mirror = await startProcessMirror({
      upstream: upstreamSide.url,
      credentials: { username: MIRROR_ACCOUNT.name, password: MIRROR_ACCOUNT.password },
      storageDir: join(dir, "mirror"),
    });
    closers.unshift(() => mirror.stop());
    await quiet(() => last, 300);
    const registryHost = new URL(nodeSide.url).host;
    const hostsDir = join(dir, "hosts.d");
    mkdirSync(join(hostsDir, registryHost), { recursive: true });
    writeFileSync(
      join(hostsDir, registryHost, "hosts.toml"),
      `server = "http://${registryHost}"\n\n[host."http://${mirror.host}"]\n  capabilities = ["pull", "resolve"]\n`,
    );
    const run = `fleet-${process.pid}-${Date.now()}`;
    const results = await Promise.all(
      Array.from({ length: nodes }, async (_, i) => {
        for (const image of FLEET_IMAGES) {
          const r = await containerd.ctr(
            `${run}-node-${i + 1}`,
            ctrFetchArgs(hostsDir, `${registryHost}/${image}`),
            options.timeoutMs ?? 120_000,
          );
          if (r.status !== 0) return false;
        }
        return true;
      }),
    );
    await quiet(() => last);
    return {
      driver: "ctr",
      // ctr's mirror pulls from the tap unshaped: its upstream is as fast as loopback.
      network: "loopback upstream",
      nodes,
      // The mirror's start-up ping is not the fleet's: counted from the first pull on, as live runs do not either.
      upstream: tallyUpstream(events),
      nodesOk: results.filter(Boolean).length,
      load: [before, load1()],
      wallSeconds: Math.round(performance.now() - started) / 1000,
      date: new Date().toISOString(),
    };
  } finally {
    for (const close of closers) await close();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The smallest and largest value of each count over several runs. */
export function rangeOf(runs: FleetMeasurement[]): Record<keyof UpstreamCounts, [number, number]> {
  const keys = Object.keys(emptyCounts()) as Array<keyof UpstreamCounts>;
  return Object.fromEntries(
    keys.map((k) => {
      const values = runs.map((r) => r.upstream[k]);
      return [k, [Math.min(...values), Math.max(...values)]];
    }),
  ) as Record<keyof UpstreamCounts, [number, number]>;
}

/** The counts a model run is held to. */
export const COMPARED: Array<keyof UpstreamCounts> = ["manifestGet", "blobGet", "token", "pulls"];

/** Where a measurement falls outside a range, one line per count. */
export function outsideFleetRange(
  m: FleetMeasurement,
  range: Record<keyof UpstreamCounts, [number, number]>,
  keys: Array<keyof UpstreamCounts> = COMPARED,
): string[] {
  return keys.flatMap((k) => {
    const [min, max] = range[k];
    const v = m.upstream[k];
    return v < min || v > max
      ? [`${m.nodes} nodes: ${k}: ${m.driver} ${v}, real ${min}..${max}`]
      : [];
  });
}

/** The real runs of one driver and size: what the model is held to. */
export interface FleetRange {
  driver: Exclude<Driver, "model">;
  nodes: number;
  /** Runs counted: complete (every node ok) and, live, with a clock that kept up. */
  runs: number;
  /** Runs recorded but left out (a clock that fell behind, or nodes that failed). */
  leftOut: number;
  range: Record<keyof UpstreamCounts, [number, number]>;
  /** 1-minute load average over the counted runs (before and after each). */
  load: [number, number];
}

/** Whether a recorded run can be trusted: every node pulled, and a live run's clock kept up. */
export function trusted(m: FleetMeasurement): boolean {
  return m.nodesOk === m.nodes && (m.clock === undefined || m.clock.keptUp);
}

/** Ranges per driver and size over the runs that can be trusted. */
export function fleetRanges(runs: FleetMeasurement[]): FleetRange[] {
  const out: FleetRange[] = [];
  const keys = [
    ...new Set(runs.filter((r) => r.driver !== "model").map((r) => `${r.driver} ${r.nodes}`)),
  ];
  for (const key of keys) {
    const [driver, n] = key.split(" ") as [FleetRange["driver"], string];
    const all = runs.filter((r) => r.driver === driver && r.nodes === Number(n));
    const good = all.filter(trusted);
    if (good.length === 0) continue;
    const loads = good.flatMap((r) => r.load);
    out.push({
      driver,
      nodes: Number(n),
      runs: good.length,
      leftOut: all.length - good.length,
      range: rangeOf(good),
      load: [Math.min(...loads), Math.max(...loads)],
    });
  }
  return out.sort((a, b) => a.nodes - b.nodes || a.driver.localeCompare(b.driver));
}

const span = ([a, b]: [number, number]) => (a === b ? String(a) : `${a}..${b}`);

/** The Markdown table of docs/calibration.md, "Fleet scale": real ranges, then the model. */
export function fleetTable(ranges: FleetRange[], models: FleetMeasurement[]): string {
  const rows = [
    "| nodes | counted with | runs | load (1 min) | manifest GET | manifest HEAD | blob GET | blob HEAD | tokens | pulls charged |",
    "|---|---|---|---|---|---|---|---|---|---|",
  ];
  const sizes = [...new Set([...ranges.map((r) => r.nodes), ...models.map((m) => m.nodes)])].sort(
    (a, b) => a - b,
  );
  for (const nodes of sizes) {
    for (const r of ranges.filter((x) => x.nodes === nodes)) {
      const who =
        r.driver === "live"
          ? "pullstorm live, docker-registry 2.8.2"
          : "real ctr, docker-registry 2.8.2";
      const left = r.leftOut > 0 ? ` (+${r.leftOut} left out)` : "";
      const load = `${r.load[0].toFixed(1)}..${r.load[1].toFixed(1)}`;
      const c = r.range;
      rows.push(
        `| ${nodes} | ${who} | ${r.runs}${left} | ${load} | ${span(c.manifestGet)} | ${span(c.manifestHead)} | ${span(c.blobGet)} | ${span(c.blobHead)} | ${span(c.token)} | ${span(c.pulls)} |`,
      );
    }
    for (const m of models.filter((x) => x.nodes === nodes)) {
      const c = m.upstream;
      rows.push(
        `| ${nodes} | model (virtual), MirrorModel distribution-2.8 | 1 | - | ${c.manifestGet} | ${c.manifestHead} | ${c.blobGet} | ${c.blobHead} | ${c.token} | ${c.pulls} |`,
      );
    }
  }
  return rows.join("\n");
}

// --- the mixed fleet -------------------------------------------------------------

/** The user's mixed fleet (issue 12): 150 containerd nodes and 30 dockerd CI jobs behind 2 NAT addresses. */
export const MIXED_FLEET = join(ROOT, "test", "fixtures", "mixed-fleet.yaml");

/** One design of the mixed fleet, live (x1) or virtual: what test/real/mixed-fleet.test.ts compares. */
export interface MixedMeasurement {
  design: string;
  mode: "live" | "virtual";
  verdict: Verdict;
  /** report.json's upstream counts: everything that reached the origin registry. */
  manifestGet: number;
  pulls: number;
  pullsOk: number;
  pullsTotal: number;
  /** Live: report.json's clock, and which mirror served (the mirror design). */
  keptUp: boolean;
  mirrorBackend?: string;
  /** Live runs of the mirror design: the real mirror's processor time per client request. */
  mirrorCpu?: MirrorCpu;
  /** The fixture's simulated length and the live time scale when measured: runs of another fixture are not compared. */
  durationSeconds: number;
  timeScale?: number;
  load: [number, number];
  date: string;
}

/** Recorded runs measured with the mixed-fleet fixture and live time scale as they are now. */
export function currentMixed(runs: MixedMeasurement[]): MixedMeasurement[] {
  const duration = loadScenario(MIXED_FLEET).duration / 1000;
  return runs.filter(
    (m) =>
      m.durationSeconds === duration && (m.mode === "virtual" || m.timeScale === FLEET_TIME_SCALE),
  );
}

/** Runs one design of the mixed fleet (live: alone, at x1, so the clock keeps up on two cores). */
export async function measureMixed(
  design: string,
  mode: "live" | "virtual",
  timeScale = FLEET_TIME_SCALE,
): Promise<MixedMeasurement> {
  const before = load1();
  const scenario = loadScenario(MIXED_FLEET);
  const { report, used } = await runWatched(mode, () =>
    runScenario(scenario, {
      mode,
      designs: [design],
      // The mirror's processor time is per request its clients sent it: count them.
      keepEvents: mode === "live",
      ...(mode === "live" ? { timeScale } : {}),
    }),
  );
  const d = report.designs.find((x) => x.name === design);
  if (!d) throw new Error(`the mixed fleet has no design ${design}`);
  return {
    design,
    mode,
    verdict: d.verdict,
    manifestGet: d.upstream.manifestGet,
    pulls: d.upstream.pulls,
    pullsOk: d.pulls.ok,
    pullsTotal: d.pulls.total,
    keptUp: report.clock.keptUp,
    ...(d.mirror ? { mirrorBackend: d.mirror.backend } : {}),
    ...(used ? { mirrorCpu: used } : {}),
    durationSeconds: scenario.duration / 1000,
    ...(mode === "live" ? { timeScale } : {}),
    load: [before, load1()],
    date: new Date().toISOString(),
  };
}

/**
 * Where the model's run of a design disagrees with the live runs: a verdict any
 * trusted live run did not give, or upstream manifest GETs more than 25 % outside
 * what the live runs sent (the real mirror races with itself, so live is a range).
 */
export function mixedDisagreements(model: MixedMeasurement, live: MixedMeasurement[]): string[] {
  const runs = live.filter((l) => l.keptUp && l.design === model.design);
  if (runs.length === 0) return [`${model.design}: no live run that kept up`];
  const out: string[] = [];
  const verdicts = [...new Set(runs.map((l) => l.verdict))];
  if (verdicts.some((v) => v !== model.verdict))
    out.push(`${model.design}: verdict: model ${model.verdict}, live ${verdicts.join(" and ")}`);
  const gets = runs.map((l) => l.manifestGet);
  const [min, max] = [Math.min(...gets), Math.max(...gets)];
  if (model.manifestGet < 0.75 * min || model.manifestGet > 1.25 * max)
    out.push(
      `${model.design}: upstream manifest GETs: model ${model.manifestGet}, live ${min === max ? min : `${min}..${max}`} (${runs.length} runs; within 25 % allowed: ${Math.ceil(0.75 * min)}..${Math.floor(1.25 * max)})`,
    );
  return out;
}

/** The Markdown table of the mixed fleet: per design, the live runs' range against the model. */
export function mixedTable(live: MixedMeasurement[], models: MixedMeasurement[]): string {
  const rows = [
    "| design | live runs (kept up) | load (1 min) | live verdicts | live upstream manifest GETs | live pulls ok | model verdict | model upstream manifest GETs | model pulls ok |",
    "|---|---|---|---|---|---|---|---|---|",
  ];
  for (const m of models) {
    const all = currentMixed(live).filter((l) => l.design === m.design);
    const runs = all.filter((l) => l.keptUp);
    const loads = runs.flatMap((l) => l.load);
    const range = (xs: number[]) =>
      xs.length === 0 ? "-" : span([Math.min(...xs), Math.max(...xs)]);
    rows.push(
      `| ${m.design} | ${runs.length}${all.length > runs.length ? ` (+${all.length - runs.length} fell behind)` : ""} | ${loads.length ? `${Math.min(...loads).toFixed(1)}..${Math.max(...loads).toFixed(1)}` : "-"} | ${[...new Set(runs.map((l) => l.verdict))].join(", ") || "-"} | ${range(runs.map((l) => l.manifestGet))} | ${range(runs.map((l) => l.pullsOk))} | ${m.verdict} | ${m.manifestGet} | ${m.pullsOk} |`,
    );
  }
  return rows.join("\n");
}

/** What `npm run calibrate:fleet` recorded (bench/results/fleet-calibration.json), or undefined. */
export function recordedFleet():
  | { runs: FleetMeasurement[]; mixed: MixedMeasurement[]; distribution: string }
  | undefined {
  const file = resultsFile("fleet-calibration");
  if (!existsSync(file)) return undefined;
  const data = JSON.parse(readFileSync(file, "utf8"));
  return { runs: data.runs ?? [], mixed: data.mixed ?? [], distribution: data.distribution };
}
