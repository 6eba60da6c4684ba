import type { Account } from "../fake-registry/auth/users.ts";
import { ScaledClock } from "../fake-registry/core/clock.ts";
import type { RegistryRequest } from "../fake-registry/core/types.ts";
import { serveRegistry } from "../fake-registry/index.ts";
import type { Registry } from "../fake-registry/registry/registry.ts";
import { formatDuration, parseDuration } from "../vocabulary/config/units.ts";
import { ConfigError } from "../vocabulary/config/yaml-file.ts";
import {
  type ClockEvent,
  type MarkAction,
  ORIGIN_HOST,
  originHost,
  type SimEvent,
} from "../vocabulary/events.ts";
import type { ImageRef } from "../vocabulary/oci/reference.ts";
import { CiFleet, Desktops } from "./actors/ci.ts";
import { type ActorContext, egressAddress } from "./actors/common.ts";
import { KubeletNode } from "./actors/kubelet.ts";
import { ContentStore } from "./client/content-store.ts";
import { PullClient, RoutedPuller } from "./client/pull-client.ts";
import { RUNTIMES } from "./client/runtimes.ts";
import { clockTolerance, loadWindowSeconds } from "./clock.ts";
import { type Calibration, calibrateMachine, chooseTimeScale } from "./engine/calibrate.ts";
import { ClockMeter, lagProbe } from "./engine/clock-meter.ts";
import { registryLinks, shaped } from "./engine/network.ts";
import { LiveSim, type Sim, VirtualSim } from "./engine/sim.ts";
import { networkModel, requestMs } from "./engine/timing.ts";
import {
  CLIENT_TIMEOUT_MS,
  HttpTransport,
  type InProcessHandler,
  InProcessTransport,
  type Transport,
} from "./engine/transport.ts";
import { MirrorStartError } from "./mirror/backends.ts";
import { designRoutes, MIRROR_EGRESS, mirrorModelFor, pullSecretOf } from "./mirror/for-design.ts";
import {
  chooseMirrorBackend,
  modelDescription,
  serveTappedRegistry,
  startChosenMirror,
} from "./mirror/live.ts";
import { serveMirror } from "./mirror/serve.ts";
import {
  prewarmImages,
  SimClock,
  scenarioOrigins,
  scenarioPolicy,
  scenarioRegistry,
  seedStore,
} from "./registry-setup.ts";
import type { Design, Scenario } from "./scenario/schema.ts";
import { checkTarget } from "./target.ts";
import { directWorkload } from "./workload/director.ts";
import {
  podPullPolicy,
  podsOfSlot,
  referenceResolver,
  type Stage,
  type WarmEntry,
  warmEntries,
} from "./workload/stage.ts";

export interface RunOptions {
  mode: "live" | "virtual";
  seed?: number;
  /** Only these designs (default: all). */
  designs?: string[];
  /**
   * Live: simulated seconds per wall second, or "auto" (the default): measure
   * this machine first and pick the largest scale, at most about a minute per
   * scenario, at which the clock keeps up (simulator/clock.ts).
   */
  timeScale?: number | "auto";
  /**
   * Live with `timeScale: "auto"`: the longest wall time the run may take
   * (default AUTO_MAX_WALL_MS). When the scale this machine keeps up with would
   * make it longer, the run is refused (LiveRunTooLong) before it starts.
   */
  maxWallMs?: number;
  /** Live: an external registry instead of the embedded one (already vetted by the target guard). */
  target?: string;
  /** Cap on the request rate to the target (required for remote targets). */
  maxRps?: number;
  /** Remote targets and external mirrors off this machine are allowed (with maxRps). */
  allowRemote?: boolean;
  /**
   * Measurement (bench/virtual-scale.ts): virtual runs call this with every
   * request the embedded registry core handles, before it handles it, with the
   * registry clock's time. It must not change the request.
   */
  registryTap?: (request: RegistryRequest, client: { ip: string }, registryNowMs: number) => void;
  /** Measurement: the embedded registry's token secret (default: random per registry). */
  tokenSecret?: string;
  /** Aborts the run; what was collected is kept and the report marked interrupted. */
  signal?: AbortSignal;
  /** Every event as it happens: the engine's only output (reports fold these). */
  onEvent?: (event: SimEvent) => void;
  /** One status line per design, now and then. */
  onProgress?: (design: string, status: DesignProgress) => void;
  /**
   * Live: the embedded registries' control API asks for this token
   * (`Authorization: Bearer`) from every caller (the dashboard's controls).
   */
  controlToken?: string;
  /** Live: each design's controls (pause, resume, mark), once its clock has started. */
  onLiveDesign?: (control: LiveDesignControl) => void;
}

/** What a live console may do to one running design (dashboard/). */
export interface LiveDesignControl {
  design: string;
  /** The embedded registry (its control API under /_pullstorm/); absent with a --target. */
  registryUrl?: string;
  /** This design's simulated seconds now. */
  now(): number;
  readonly paused: boolean;
  /** False when this clock cannot stand still (a registry alone on the wall clock); default true. */
  readonly pausable?: boolean;
  /** True once the design has finished (or was stopped): its controls do nothing. */
  readonly ended: boolean;
  /** Simulated time and the registry's time stand still: no sleep ends, no window moves. */
  pause(): void;
  resume(): void;
  /** A mark event at this design's simulated time: in events.jsonl and the reports' timeline. */
  mark(action: MarkAction, text: string): void;
}

export interface DesignProgress {
  simSeconds: number;
  pullsOk: number;
  pullsFailed: number;
  status429: number;
  done: boolean;
}

/**
 * Why a scenario cannot run against a --target, or undefined: a target stands for
 * Docker Hub's registry, and none for the scenario's other registries.
 */
export function targetProblem(scenario: Scenario): string | undefined {
  if (scenario.registries.length === 0) return undefined;
  return `--target stands for Docker Hub's registry; this scenario also pulls from ${scenario.registries.map((r) => r.host).join(", ")} (registries), which a target cannot stand for. Run it without --target, or point a copy without them at the target`;
}

/** The account pods with imagePullSecrets pull as when the design itself pulls anonymously. */
const PULL_SECRET_ACCOUNT = "pull-secret";

/** `--time-scale auto` refuses a live run that would take longer than this (wall ms) unless told otherwise. */
export const AUTO_MAX_WALL_MS = 3_600_000;

/**
 * `--time-scale auto` found that this machine keeps up only at a scale that
 * would make the live run longer than allowed: nothing was run.
 */
export class LiveRunTooLong extends Error {
  override name = "LiveRunTooLong";
}

/** Live runs default to about a minute of wall time. */
export function defaultTimeScale(scenario: Scenario): number {
  return Math.max(1, scenario.duration / 60_000);
}

/** How a run went, beside its events: what report.json's header records. */
export interface RunMeta {
  mode: "live" | "virtual";
  seed: number;
  designs: string[];
  interrupted: boolean;
  timeScale?: number;
  target?: string;
}

/**
 * Plays a scenario's designs and emits what happens as events (options.onEvent):
 * live, over HTTP from real 127.x source addresses against the embedded registry
 * (or a target), or in simulated time in process. The engine builds no report;
 * reports fold the event stream (harness/run.ts).
 */
export async function playScenario(scenario: Scenario, options: RunOptions): Promise<RunMeta> {
  const targetRefused = options.target ? targetProblem(scenario) : undefined;
  if (targetRefused) throw new ConfigError([targetRefused]);
  const seed = options.seed ?? scenario.seed;
  const designs = scenario.designs.filter(
    (d) => !options.designs || options.designs.includes(d.name),
  );
  const emit = (e: SimEvent) => options.onEvent?.(e);
  const scale =
    options.mode === "live" ? await resolveTimeScale(scenario, options, seed) : undefined;
  const timeScale = scale?.timeScale;
  const { timeScale: _asked, ...rest } = options;
  // Live: every design is set up first (registry served, mirror started, images
  // generated), then their clocks start together.
  const startLine = options.mode === "live" ? new StartLine(designs.length) : undefined;
  const runOne = (design: Design) =>
    runDesign(scenario, design, {
      ...rest,
      seed,
      emit,
      ...(scale ? { timeScale: scale.timeScale, scaleEvent: scale } : {}),
      ...(startLine ? { startLine } : {}),
    });
  if (options.mode === "live") await Promise.all(designs.map(runOne));
  else for (const d of designs) await runOne(d);
  return {
    mode: options.mode,
    seed,
    interrupted: options.signal?.aborted ?? false,
    designs: designs.map((d) => d.name),
    ...(timeScale ? { timeScale } : {}),
    ...(options.target ? { target: options.target } : {}),
  };
}

/**
 * Where live designs wait for each other before their clocks start: `arrive()`
 * resolves true once every design has arrived, false if one withdrew (its set-up
 * failed: the others then stop before they begin).
 */
class StartLine {
  private waiting: number;
  private readonly gate: Promise<boolean>;
  private open!: (go: boolean) => void;
  constructor(designs: number) {
    this.waiting = designs;
    this.gate = new Promise((resolve) => {
      this.open = resolve;
    });
    if (designs === 0) this.open(true);
  }
  arrive(): Promise<boolean> {
    if (--this.waiting === 0) this.open(true);
    return this.gate;
  }
  withdraw(): void {
    this.open(false);
  }
}

/** How the live time scale was chosen: given, or calibrated on this machine (auto). */
export interface TimeScaleChoice {
  timeScale: number;
  chosenBy: "given" | "auto";
  reason: string;
  calibration?: Calibration;
}

/** The live run's time scale: the one given, or (auto) the largest this machine keeps up with. */
export async function resolveTimeScale(
  scenario: Scenario,
  options: { timeScale?: number | "auto"; maxWallMs?: number; signal?: AbortSignal },
  seed = scenario.seed,
): Promise<TimeScaleChoice> {
  const tolerance = clockTolerance(scenario);
  if (typeof options.timeScale === "number")
    return {
      timeScale: options.timeScale,
      chosenBy: "given",
      reason: `given (--time-scale ${options.timeScale})`,
    };
  const calibration: Calibration = {
    ...(await calibrateMachine(scenario, { seed })),
    peakRequestsPerSimSecond: await peakRequestRate(
      scenario,
      options,
      seed,
      loadWindowSeconds(tolerance) * 1000,
    ),
    peakWindowSeconds: loadWindowSeconds(tolerance),
  };
  const choice: TimeScaleChoice = {
    ...chooseTimeScale(calibration, tolerance, defaultTimeScale(scenario)),
    chosenBy: "auto",
    calibration,
  };
  const wallMs = scenario.duration / choice.timeScale;
  const maxWallMs = options.maxWallMs ?? AUTO_MAX_WALL_MS;
  if (wallMs > maxWallMs)
    throw new LiveRunTooLong(
      `--time-scale auto: this machine keeps up with ${scenario.name} only at x${choice.timeScale}, so the live run would take ${formatDuration(Math.ceil(wallMs / 60_000) * 60_000)} of wall time, more than --max-wall ${formatDuration(maxWallMs)} allows; nothing was run. Run it in simulated time (--virtual), give a scale (--time-scale N: the clock check says if it fell behind), allow longer (--max-wall), or try again when the machine is less busy (${choice.reason})`,
    );
  return choice;
}

/**
 * The scenario's busiest simulated stretch of `windowMs`, in requests per
 * simulated second over the designs that will run (they run at once live):
 * from a virtual run, which plays the same workload on the same models.
 */
async function peakRequestRate(
  scenario: Scenario,
  options: { designs?: string[]; signal?: AbortSignal },
  seed: number,
  windowMs: number,
): Promise<number> {
  const buckets = new Map<number, number>();
  await playScenario(scenario, {
    mode: "virtual",
    seed,
    ...(options.designs ? { designs: options.designs } : {}),
    ...(options.signal ? { signal: options.signal } : {}),
    onEvent: (e) => {
      if (e.type !== "request") return;
      const b = Math.floor((e.t * 1000) / windowMs);
      buckets.set(b, (buckets.get(b) ?? 0) + 1);
    },
  });
  const peak = Math.max(0, ...buckets.values());
  return Math.round((peak / (windowMs / 1000)) * 10) / 10;
}

/** Fault windows, simulated ms: requests inside them may be slowed on purpose. */
function faultWindowsMs(scenario: Scenario): Array<[number, number]> {
  return scenario.faults.flatMap((raw): Array<[number, number]> => {
    const spec = raw as { schedule?: { start?: string | number; duration?: string | number } };
    const start = spec.schedule?.start !== undefined ? parseDuration(spec.schedule.start) : 0;
    const duration =
      spec.schedule?.duration !== undefined ? parseDuration(spec.schedule.duration) : undefined;
    if (typeof start !== "number") return [];
    return [[start, typeof duration === "number" ? start + duration : Number.POSITIVE_INFINITY]];
  });
}

interface Closer {
  close(): Promise<void>;
}

async function runDesign(
  scenario: Scenario,
  design: Design,
  options: Omit<RunOptions, "timeScale"> & {
    seed: number;
    emit: (e: SimEvent) => void;
    timeScale?: number;
    scaleEvent?: TimeScaleChoice;
    startLine?: StartLine;
  },
): Promise<void> {
  const live = options.mode === "live";
  const scale = options.timeScale ?? 1;
  // Live: how far the machine falls behind the scaled clock (timers and near-instant requests).
  const meter = live ? new ClockMeter(scale) : undefined;
  const sim: Sim = live
    ? new LiveSim(options.seed, scale, { anchored: true, onLag: (ms) => meter?.lag(ms) })
    : new VirtualSim(options.seed, scenario.duration);
  const closers: Closer[] = [];
  const counts = { ok: 0, failed: 0, s429: 0 };
  const faults = faultWindowsMs(scenario);
  const tokenDelayed = (scenarioPolicyDelay(scenario) ?? 0) > 0;
  // Time on the wire (engine/timing.ts, network.ts): the same links in both modes.
  const network = networkModel(scenario);
  const linkFor = registryLinks(network, MIRROR_EGRESS);
  const nearInstant = (e: SimEvent): e is SimEvent & { type: "request" } =>
    e.type === "request" &&
    e.host === "registry" &&
    e.network === undefined &&
    e.status < 500 &&
    (e.kind === "ping" || e.kind === "manifest" || (e.kind === "token" && !tokenDelayed)) &&
    !faults.some(([from, to]) => e.t * 1000 >= from && e.t * 1000 - e.latencyMs < to);
  const emit = (e: SimEvent) => {
    if (e.type === "pull") counts[e.outcome === "failed" ? "failed" : "ok"]++;
    else if (e.type === "request" && e.status === 429) counts.s429++;
    // What a near-instant request took beyond its modelled time on the wire, in wall ms.
    if (meter && nearInstant(e))
      meter.request(Math.max(0, e.latencyMs - requestMs(linkFor(e.egressIp), e.bytes)) / scale);
    options.emit(e);
  };
  const clockEvent = (phase: ClockEvent["phase"], stats: ReturnType<ClockMeter["total"]>) =>
    emit({
      type: "clock",
      t: Math.round(sim.now()) / 1000,
      design: design.name,
      phase,
      timeScale: scale,
      ...(stats.lag ? { lag: stats.lag } : {}),
      ...(stats.request ? { request: stats.request } : {}),
    });
  let probe: { stop(): void } | undefined;
  let arrived = false;
  // Set once the design has finished or failed: its live controls do nothing after that.
  let ended = false;
  try {
    if (live && options.scaleEvent) {
      const { chosenBy, reason, calibration } = options.scaleEvent;
      emit({
        type: "clock",
        t: 0,
        design: design.name,
        phase: "scale",
        timeScale: scale,
        chosenBy,
        reason,
        ...(calibration ? { calibration } : {}),
      });
    }
    // The origin registry: embedded (in-process or served on loopback) or the target.
    const scaled = live ? new ScaledClock(scale, Date.now, { anchored: true }) : undefined;
    const clock = scaled ?? new SimClock(sim);
    // Every origin registry (Docker Hub's, then the scenario's `registries`), each with its
    // own policy, catalog, accounts and token service, all on the design's clock.
    const origins = new Map<string, Registry>();
    if (!options.target)
      for (const spec of scenarioOrigins(scenario))
        origins.set(
          spec.host,
          scenarioRegistry(
            scenario,
            clock,
            options.seed,
            options.tokenSecret,
            options.controlToken,
            spec,
          ),
        );
    // Docker Hub's: what the mirror fronts, what faults and the console's controls act on.
    const registry: Registry | undefined = origins.get("");
    // What the virtual clients and the mirror model reach: the cores, tapped when measured.
    const tap = options.registryTap;
    const handlerOf = (core: Registry): InProcessHandler =>
      tap
        ? {
            handle: (request, client) => {
              tap(request, client, clock.now());
              return core.handle(request, client);
            },
          }
        : core;
    // Live: the scenario's images are made before the clock starts, so making them
    // (gzip, digests) does not slow the first pulls down.
    if (live)
      for (const spec of scenarioOrigins(scenario)) {
        const core = origins.get(spec.host);
        if (core) await prewarmImages(core.catalog, scenario, spec);
      }
    // In process: every origin by its logical host (originHost).
    const inProcessOrigins: Record<string, InProcessHandler> = Object.fromEntries(
      [...origins].map(([host, core]) => [
        originHost(host || undefined),
        shaped(handlerOf(core), linkFor),
      ]),
    );
    let transport: Transport;
    // Live clients give up after the same simulated 30 s as virtual ones: wall ms at the scale.
    const httpOptions = {
      timeoutMs: CLIENT_TIMEOUT_MS / scale,
      ...(options.maxRps ? { maxRps: options.maxRps } : {}),
    };
    const hosts: Record<string, string> = {};
    if (live) {
      if (options.target) hosts[ORIGIN_HOST] = options.target;
      for (const [host, core] of origins) {
        const served = await serveRegistry(core, {
          host: "127.0.0.1",
          port: 0,
          handler: shaped(core, linkFor, scale),
        });
        closers.push(served);
        hosts[originHost(host || undefined)] = served.url;
      }
      transport = new HttpTransport(hosts, httpOptions);
    } else {
      transport = new InProcessTransport(inProcessOrigins, sim);
    }

    // Accounts: none, one shared, or one per actor (created in every origin registry as
    // actors appear); images with pullSecret use one shared account when the design has none.
    const accountFor = (actor: string, pullSecret = false): Account | undefined => {
      if (design.auth === "anonymous" && !pullSecret) return undefined;
      const account = {
        name:
          design.auth === "anonymous"
            ? PULL_SECRET_ACCOUNT
            : design.auth === "shared-account"
              ? "shared"
              : actor,
        password: "pw",
        plan: design.plan,
      };
      for (const core of origins.values()) core.addAccount(account);
      return account;
    };

    // A pull-through mirror in front, when the design has one: a real one in live runs
    // when there is one to run, otherwise the simulator's model.
    const mirror = design.mirror?.enabled ? design.mirror : undefined;
    const choice = mirror ? await chooseMirrorBackend(mirror, options.mode) : undefined;
    // The mirror's own account, whatever the clients do (a separate machine with its own login).
    const mirrorAccount: Account | undefined = mirror?.upstreamAuth
      ? { name: "mirror-bot", password: "pw", plan: design.plan }
      : undefined;
    if (mirrorAccount) registry?.addAccount(mirrorAccount);
    if (mirror && choice && choice.backend !== "model") {
      if (choice.backend === "external") {
        const check = checkTarget(mirror.url as string, {
          ...(options.allowRemote ? { allowRemote: true } : {}),
          ...(options.maxRps ? { maxRps: options.maxRps } : {}),
        });
        if (!check.ok)
          throw new MirrorStartError(
            "external",
            check.reason.replace("--target", `design ${design.name}: mirror url`),
          );
      }
      // The embedded registry, served to the mirror on a listener of its own: what arrives there is the mirror's upstream traffic.
      let upstream = options.target as string;
      if (registry && choice.backend !== "external") {
        // The real mirror's upstream leg gets the mirror's link to the origin; its clients' leg is loopback.
        const tap = await serveTappedRegistry(
          shaped(registry, () => network.mirrorUpstream, scale),
          {
            design: design.name,
            emit,
            now: () => sim.now(),
          },
        );
        closers.push(tap);
        upstream = tap.url;
      }
      const started = await startChosenMirror(
        choice,
        mirror,
        upstream,
        mirrorAccount
          ? { username: mirrorAccount.name, password: mirrorAccount.password }
          : undefined,
      );
      closers.push({ close: () => started.stop() });
      transport = new HttpTransport({ ...hosts, mirror: started.url }, httpOptions);
      emit({
        type: "setup",
        t: 0,
        design: design.name,
        mirror: {
          ...started.describe,
          flavour: mirror.flavour,
          upstreamObserved: registry !== undefined && choice.backend !== "external",
        },
      });
    } else if (mirror) {
      emit({
        type: "setup",
        t: 0,
        design: design.name,
        mirror: modelDescription(mirror, choice?.backend === "model" ? choice.reason : undefined),
      });
      const model = mirrorModelFor(mirror, {
        design: design.name,
        transport,
        sim,
        account: mirrorAccount,
        timed: scenario.network.enabled,
        emit,
      });
      if (live) {
        const served = await serveMirror(
          shaped(model, () => network.mirror, scale),
          {
            host: "127.0.0.1",
            port: 0,
          },
        );
        closers.push(served);
        transport = new HttpTransport({ ...hosts, mirror: served.url }, httpOptions);
      } else {
        transport = new InProcessTransport(
          { ...inProcessOrigins, mirror: shaped(model, () => network.mirror) },
          sim,
        );
      }
    }
    const routesFor = designRoutes(scenario, design);
    const secret = pullSecretOf(scenario);

    const ctx: ActorContext = {
      sim,
      design: design.name,
      emit,
      starts: network.starts,
      client: ({ actor, index, runtime, store }) => {
        // One client per registry and credentials (pull secrets), each made on first use;
        // Docker Hub's with the design's credentials at once, as the actor appears.
        const make = (ref: ImageRef) => {
          const account = accountFor(actor, secret(ref));
          return new PullClient({
            actor,
            design: design.name,
            runtime: RUNTIMES[runtime],
            hosts: routesFor(runtime, ref),
            ...(account ? { credentials: { user: account.name, password: account.password } } : {}),
            egressIp: egressAddress(index % design.egressIps),
            transport,
            sim,
            store,
            emit,
          });
        };
        const way = (ref: ImageRef) => `${ref.registry ?? ""}|${secret(ref)}`;
        // Docker Hub's client with the design's credentials is made now, as the actor appears.
        return new RoutedPuller(way, make, { repository: "" });
      },
    };

    // References as the design writes them (by tag, or pinned to the digest at a time)
    // and what warm stores hold: worked out once per image.
    const catalogs = (ref: ImageRef) => origins.get(ref.registry ?? "")?.catalog;
    const refOf = referenceResolver(scenario, design, catalogs);
    const warmOf = warmEntries(scenario, catalogs, refOf);
    const seed = (store: ContentStore, entries: WarmEntry[]) => {
      for (const { ref, content } of entries) seedStore(store, ref, content);
    };

    // The fleet at t=0: warm nodes already running their pods.
    const nodes: KubeletNode[] = [];
    const newNode = (): KubeletNode => {
      const node = new KubeletNode(
        ctx,
        `node-${nodes.length + 1}`,
        nodes.length,
        scenario.fleet.runtime,
        design.maxParallelImagePulls,
      );
      nodes.push(node);
      return node;
    };
    for (let i = 0; i < scenario.fleet.nodes; i++) {
      const node = newNode();
      for (const image of new Set(podsOfSlot(scenario, i))) seed(node.store, await warmOf(image));
    }
    const ci = new CiFleet(ctx, {
      runners: scenario.fleet.ciRunners,
      runtime: scenario.fleet.ciRuntime,
      ephemeral: design.runnerCache === "ephemeral",
      ...(design.ciConcurrency ? { concurrency: design.ciConcurrency } : {}),
    });
    // Desktops arrive with a warm cache when the fleet says so: computed once, copied into each.
    const desktopTemplate = new ContentStore();
    if (scenario.fleet.desktopCacheWarm)
      for (const image of new Set(
        scenario.workload.flatMap((w) => (w.type === "arrivals" ? w.images : [])),
      ))
        seed(desktopTemplate, await warmOf(image));
    const desktops = new Desktops(ctx, (store) => {
      for (const b of desktopTemplate.blobs()) store.addBlob(b);
      for (const [k, v] of desktopTemplate.images) store.setImage(k, v);
    });

    // The workload, played on the actors.
    const stage: Stage<KubeletNode> = {
      nodes,
      isAlive: (n) => n.isAlive,
      newNode: () => newNode(),
      startPod: (n, image, ref) => n.startPod(image, ref, podPullPolicy(scenario, design, image)),
      remove: (n) => n.remove(),
      restart: (n, image, ref, pods) =>
        n.restartPods(image, ref, podPullPolicy(scenario, design, image), pods),
      prune: (n) => n.store.prune(),
      prePull: (n, ref) => n.prePull(ref),
      enqueueJobs: (count, refs) => ci.enqueue(count, refs),
      arrive: (refs) => desktops.arrive(refs),
    };
    if (live) {
      arrived = true;
      if (options.startLine && !(await options.startLine.arrive())) return;
      (sim as LiveSim).anchor();
      scaled?.anchor();
    }
    if (live && options.onLiveDesign) {
      const liveSim = sim as LiveSim;
      options.onLiveDesign({
        design: design.name,
        ...(hosts.registry && registry ? { registryUrl: hosts.registry } : {}),
        now: () => liveSim.now() / 1000,
        get paused() {
          return liveSim.paused;
        },
        get ended() {
          return ended;
        },
        pause: () => {
          if (ended) return;
          liveSim.pause();
          scaled?.pause();
        },
        resume: () => {
          if (ended) return;
          scaled?.resume();
          liveSim.resume();
        },
        mark: (action, text) => {
          if (!ended)
            emit({
              type: "mark",
              t: Math.round(liveSim.now()) / 1000,
              design: design.name,
              action,
              text,
            });
        },
      });
    }
    const directors = directWorkload({ scenario, design, sim, stage, refOf });

    const report = (done: boolean) =>
      options.onProgress?.(design.name, {
        simSeconds: sim.now() / 1000,
        pullsOk: counts.ok,
        pullsFailed: counts.failed,
        status429: counts.s429,
        done,
      });
    if (meter) probe = lagProbe((ms) => meter.lag(ms));
    const progress = live
      ? setInterval(() => {
          report(false);
          if (meter) clockEvent("sample", meter.interval());
        }, 1000)
      : undefined;
    // Stopped before the end (SIGINT): said once, at the simulated time it happened.
    let interruptedAt: number | undefined;
    const interrupt = () => {
      if (interruptedAt !== undefined) return;
      interruptedAt = sim.now();
      emit({ type: "interrupt", t: interruptedAt / 1000, design: design.name });
    };
    if (sim instanceof VirtualSim) {
      const abort = () => {
        sim.stop();
        interrupt();
      };
      // A design that starts after the interrupt is interrupted at 0, not played to the end.
      if (options.signal?.aborted) abort();
      options.signal?.addEventListener("abort", abort);
      await sim.run();
      options.signal?.removeEventListener("abort", abort);
    } else {
      const live = sim as LiveSim;
      // The end in simulated time (a pause moves it on), not measured as a client's wait.
      await new Promise<void>((resolve) => {
        const abort = () => {
          interrupt();
          resolve();
        };
        if (options.signal?.aborted) abort();
        else {
          options.signal?.addEventListener("abort", abort, { once: true });
          live.sleep(scenario.duration - live.now(), { unmeasured: true }).then(resolve);
        }
      });
      ended = true;
      live.stop();
      // Let in-flight requests settle, bounded.
      await Promise.race([Promise.allSettled(directors), new Promise((r) => setTimeout(r, 5_000))]);
    }
    if (progress) clearInterval(progress);
    probe?.stop();
    if (meter) clockEvent("end", meter.total());
    for (const n of nodes) n.finish();
    ci.finish();
    desktops.finish();
    report(true);
  } catch (e) {
    ended = true;
    if (!arrived) options.startLine?.withdraw();
    throw e;
  } finally {
    probe?.stop();
    meter?.close();
    await Promise.all(closers.map((c) => c.close()));
  }
}

/** The token service's added latency, when the policy slows it on purpose. */
function scenarioPolicyDelay(scenario: Scenario): number | undefined {
  return scenarioPolicy(scenario).tokenLatencyMs;
}
