import type { Account } from "../fake-registry/auth/users.ts";
import { ScaledClock } from "../fake-registry/core/clock.ts";
import type { Registry } from "../fake-registry/core/registry.ts";
import { parseSize } from "../vocabulary/config/units.ts";
import { serveRegistry } from "../fake-registry/index.ts";
import { analysisOf, type DesignAnalyzer, designAnalyzers } from "../reports/analysis.ts";
import type { Analysis } from "../reports/analysis-types.ts";
import { DesignSummarizer, type Report, reportOf } from "../reports/summary.ts";
import { CiFleet, Desktops } from "./actors/ci.ts";
import { type ActorContext, egressAddress } from "./actors/common.ts";
import { KubeletNode } from "./actors/kubelet.ts";
import { ContentStore } from "./client/content-store.ts";
import { type HostRoute, PullClient } from "./client/pull-client.ts";
import { formatReference, type ImageRef, parseReference } from "../vocabulary/oci/reference.ts";
import { RUNTIMES } from "./client/runtimes.ts";
import type { SimEvent } from "../vocabulary/events.ts";
import { LiveSim, type Sim, VirtualSim } from "./engine/sim.ts";
import { HttpTransport, InProcessTransport, type Transport } from "./engine/transport.ts";
import { MirrorStartError } from "./mirror/backends.ts";
import {
  chooseMirrorBackend,
  modelDescription,
  serveTappedRegistry,
  startChosenMirror,
} from "./mirror/live.ts";
import { MirrorModel, serveMirror } from "./mirror/model.ts";
import { contentOf, SimClock, scenarioRegistry, seedStore } from "./registry-setup.ts";
import type { Design, Scenario, WorkloadStep } from "./scenario/schema.ts";
import { checkTarget } from "./target.ts";

export interface RunOptions {
  mode: "live" | "virtual";
  seed?: number;
  /** Only these designs (default: all). */
  designs?: string[];
  /** Live: simulated seconds per wall second (default: the scenario takes about a minute). */
  timeScale?: number;
  /** Live: an external registry instead of the embedded one (already vetted by the target guard). */
  target?: string;
  /** Cap on the request rate to the target (required for remote targets). */
  maxRps?: number;
  /** Remote targets and external mirrors off this machine are allowed (with maxRps). */
  allowRemote?: boolean;
  /** Aborts the run; what was collected is kept and the report marked interrupted. */
  signal?: AbortSignal;
  /** Every event as it happens (events.jsonl is written from this). */
  onEvent?: (event: SimEvent) => void;
  /**
   * Keep every event and return them (default true). The report and the
   * analysis are built as events happen either way; large runs pass false so
   * memory does not grow with the event count.
   */
  keepEvents?: boolean;
  /** One status line per design, now and then. */
  onProgress?: (design: string, status: DesignProgress) => void;
}

export interface DesignProgress {
  simSeconds: number;
  pullsOk: number;
  pullsFailed: number;
  status429: number;
  done: boolean;
}

const PRE_PULL_LEAD_MS = 15 * 60_000;
const PRE_PULL_SPREAD_MS = 10 * 60_000;
const MIRROR_EGRESS = "127.0.0.250";

/** Live runs default to about a minute of wall time. */
export function defaultTimeScale(scenario: Scenario): number {
  return Math.max(1, scenario.duration / 60_000);
}

export async function runScenario(
  scenario: Scenario,
  options: RunOptions,
): Promise<{ report: Report; events: SimEvent[]; analysis: Analysis }> {
  const seed = options.seed ?? scenario.seed;
  const designs = scenario.designs.filter(
    (d) => !options.designs || options.designs.includes(d.name),
  );
  const names = designs.map((d) => d.name);
  const keep = options.keepEvents !== false;
  const events: SimEvent[] = [];
  // report.json and the analysis, folded as events happen: one summarizer and one analyzer per design.
  const summarizers = names.map((d) => new DesignSummarizer(d));
  const analyzers = designAnalyzers(scenario, names);
  const folds = new Map<string, { summary: DesignSummarizer; analysis: DesignAnalyzer }>(
    summarizers.map((summary, i) => [
      summary.name,
      { summary, analysis: analyzers[i] as DesignAnalyzer },
    ]),
  );
  let folding = true;
  const emit = (e: SimEvent) => {
    if (keep) events.push(e);
    const fold = folding ? folds.get(e.design) : undefined;
    if (fold) {
      fold.summary.add(e);
      fold.analysis.add(e);
    }
    options.onEvent?.(e);
  };
  const timeScale =
    options.mode === "live" ? (options.timeScale ?? defaultTimeScale(scenario)) : undefined;
  const runOne = (design: Design) =>
    runDesign(scenario, design, { ...options, seed, emit, ...(timeScale ? { timeScale } : {}) });
  if (options.mode === "live") await Promise.all(designs.map(runOne));
  else for (const d of designs) await runOne(d);
  // Stragglers after this point (live requests still in flight) reach onEvent only.
  folding = false;
  const report = reportOf(
    scenario,
    summarizers.map((s) => s.result()),
    {
      mode: options.mode,
      seed,
      interrupted: options.signal?.aborted ?? false,
      designs: names,
      ...(timeScale ? { timeScale } : {}),
      ...(options.target ? { target: options.target } : {}),
    },
  );
  return { report, events, analysis: analysisOf(scenario, analyzers, report) };
}

/** A warm store's entry for one reference: its text as the store keys it, and its content. */
interface WarmEntry {
  ref: string;
  content: { digest: string; blobs: string[] };
}

interface Closer {
  close(): Promise<void>;
}

async function runDesign(
  scenario: Scenario,
  design: Design,
  options: RunOptions & { seed: number; emit: (e: SimEvent) => void },
): Promise<void> {
  const live = options.mode === "live";
  const sim: Sim = live
    ? new LiveSim(options.seed, options.timeScale ?? 1)
    : new VirtualSim(options.seed, scenario.duration);
  const closers: Closer[] = [];
  const counts = { ok: 0, failed: 0, s429: 0 };
  const emit = (e: SimEvent) => {
    if (e.type === "pull") counts[e.outcome === "failed" ? "failed" : "ok"]++;
    else if (e.type === "request" && e.status === 429) counts.s429++;
    options.emit(e);
  };
  try {
    // The origin registry: embedded (in-process or served on loopback) or the target.
    const clock = live ? new ScaledClock(options.timeScale ?? 1) : new SimClock(sim);
    const registry: Registry | undefined = options.target
      ? undefined
      : scenarioRegistry(scenario, clock, options.seed);
    let transport: Transport;
    const hosts: Record<string, string> = {};
    if (live) {
      if (registry) {
        const served = await serveRegistry(registry, { host: "127.0.0.1", port: 0 });
        closers.push(served);
        hosts.registry = served.url;
      } else hosts.registry = options.target as string;
      transport = new HttpTransport(hosts, options.maxRps ? { maxRps: options.maxRps } : {});
    } else {
      transport = new InProcessTransport({ registry: registry as Registry }, sim);
    }

    // Accounts: none, one shared, or one per actor (created in the registry as actors appear).
    const accountFor = (actor: string): Account | undefined => {
      if (design.auth === "anonymous") return undefined;
      const account = {
        name: design.auth === "shared-account" ? "shared" : actor,
        password: "pw",
        plan: design.plan,
      };
      registry?.addAccount(account);
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
        const tap = await serveTappedRegistry(registry, {
          design: design.name,
          emit,
          now: () => sim.now(),
        });
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
      transport = new HttpTransport(
        { ...hosts, mirror: started.url },
        options.maxRps ? { maxRps: options.maxRps } : {},
      );
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
      const cacheBytes = mirror.cacheSize !== undefined ? parseSize(mirror.cacheSize) : undefined;
      const model = new MirrorModel({
        upstream: {
          transport,
          host: "registry",
          egressIp: MIRROR_EGRESS,
          ...(mirrorAccount
            ? { credentials: { user: mirrorAccount.name, password: mirrorAccount.password } }
            : {}),
        },
        flavour: mirror.flavour,
        sim,
        ...(typeof cacheBytes === "number" ? { cacheBytes } : {}),
        ...(mirror.storageLatency !== undefined ? { storageLatencyMs: mirror.storageLatency } : {}),
        emit,
        design: design.name,
      });
      if (live) {
        const served = await serveMirror(model, { host: "127.0.0.1", port: 0 });
        closers.push(served);
        transport = new HttpTransport(
          { ...hosts, mirror: served.url },
          options.maxRps ? { maxRps: options.maxRps } : {},
        );
      } else {
        transport = new InProcessTransport({ registry: registry as Registry, mirror: model }, sim);
      }
    }
    const mirrorRuntime = mirror?.configuredFor ?? scenario.fleet.runtime;
    const routesFor = (runtime: string): HostRoute[] =>
      mirror && mirrorRuntime === runtime
        ? [
            { host: "mirror", role: "mirror" },
            // containerd appends the image's own registry even without `server` in hosts.toml.
            { host: "registry", role: "upstream" },
          ]
        : [{ host: "registry", role: "upstream" }];

    const ctx: ActorContext = {
      sim,
      design: design.name,
      emit,
      client: ({ actor, index, runtime, store }) => {
        const account = accountFor(actor);
        return new PullClient({
          actor,
          design: design.name,
          runtime: RUNTIMES[runtime],
          hosts: routesFor(runtime),
          ...(account ? { credentials: { user: account.name, password: account.password } } : {}),
          egressIp: egressAddress(index % design.egressIps),
          transport,
          sim,
          store,
          emit,
        });
      },
    };

    // References as the design writes them: by tag, or pinned to the digest at a time.
    const refOf = async (image: string, atMs: number): Promise<ImageRef> => {
      const text = scenario.images.find((i) => i.name === image)?.ref as string;
      const ref = parseReference(text) as ImageRef;
      if (design.pin === "digest" && ref.tag && registry) {
        const content = await contentOf(registry.catalog, ref, atMs);
        if (content) return { repository: ref.repository, digest: content.digest };
      }
      return ref;
    };
    // What a warm store holds for an image at t=0, worked out once per image, not once per node:
    // the reference as the store keys it (by tag, and as the design writes it) and the content.
    const warmContent = new Map<string, Promise<WarmEntry[]>>();
    const warmEntries = (image: string) => {
      let entries = warmContent.get(image);
      if (!entries) {
        entries = (async () => {
          if (!registry) return [];
          const tagged = parseReference(
            scenario.images.find((i) => i.name === image)?.ref as string,
          ) as ImageRef;
          const content = await contentOf(registry.catalog, tagged, 0);
          return content
            ? [
                { ref: formatReference(tagged), content },
                { ref: formatReference(await refOf(image, 0)), content },
              ]
            : [];
        })();
        warmContent.set(image, entries);
      }
      return entries;
    };
    const seed = (store: ContentStore, entries: WarmEntry[]) => {
      for (const { ref, content } of entries) seedStore(store, ref, content);
    };
    const warm = async (store: ContentStore, images: string[]) => {
      for (const image of images) seed(store, await warmEntries(image));
    };

    // The fleet at t=0: warm nodes already running their pods.
    const nodes: KubeletNode[] = [];
    let nodeSeq = 0;
    const newNode = (): KubeletNode => {
      const node = new KubeletNode(
        ctx,
        `node-${++nodeSeq}`,
        nodeSeq - 1,
        scenario.fleet.runtime,
        design.maxParallelImagePulls,
      );
      nodes.push(node);
      return node;
    };
    if (scenario.fleet.nodes > 0) {
      const podEntries: WarmEntry[] = [];
      for (const image of scenario.fleet.pods) podEntries.push(...(await warmEntries(image)));
      for (let i = 0; i < scenario.fleet.nodes; i++) seed(newNode().store, podEntries);
    }
    const ci = new CiFleet(ctx, {
      runners: scenario.fleet.ciRunners,
      runtime: scenario.fleet.ciRuntime,
      ephemeral: design.runnerCache === "ephemeral",
      ...(design.ciConcurrency ? { concurrency: design.ciConcurrency } : {}),
    });
    const desktopImages = [
      ...new Set(scenario.workload.flatMap((w) => (w.type === "arrivals" ? w.images : []))),
    ];
    const warmDesktop =
      registry && scenario.fleet.desktopCacheWarm
        ? await warmSeeder(desktopImages, warm)
        : () => {};
    const desktops = new Desktops(ctx, warmDesktop);

    const startPods = async (node: KubeletNode) => {
      for (const image of scenario.fleet.pods)
        node.startPod(image, await refOf(image, sim.now()), design.pullPolicy);
    };
    /** Runs `act` over items in waves: the design's pacing, or spread evenly over the step. */
    /**
     * Runs `act` over items in waves: with the design's pacing (waveInterval > 0),
     * maxSurge items per wave; otherwise waves of maxSurge spread evenly over the
     * step's `over` (one item at a time when maxSurge is unset).
     */
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

    const step = async (w: WorkloadStep) => {
      switch (w.type) {
        case "scale-up":
          await spread(w.nodes, w.over, () => startPods(newNode()));
          return;
        case "node-churn": {
          const alive = nodes.filter((n) => n.isAlive).slice(0, w.nodes);
          await waves(alive, w.over, async (old) => {
            old.remove();
            await startPods(newNode());
          });
          return;
        }
        case "rolling-restart": {
          const ref = await refOf(w.image, sim.now());
          await waves(
            nodes.filter((n) => n.isAlive),
            w.over,
            (n) => n.restartPods(w.image, ref, design.pullPolicy),
          );
          return;
        }
        case "prune":
          for (const n of nodes) n.store.prune();
          return;
        case "tag-move":
          return; // the registry's catalog moves the tag at this time
        case "ci-fan-out": {
          const refs = await Promise.all(w.images.map((i) => refOf(i, sim.now())));
          if (w.over > 0) await spread(w.jobs, w.over, () => ci.enqueue(1, refs));
          else ci.enqueue(w.jobs, refs);
          return;
        }
        case "arrivals": {
          const refs = await Promise.all(w.images.map((i) => refOf(i, sim.now())));
          const arrivals: Promise<void>[] = [];
          await spread(w.desktops, w.over, () => {
            arrivals.push(desktops.arrive(refs));
          });
          await Promise.all(arrivals);
          return;
        }
      }
    };
    const directors: Promise<void>[] = [];
    for (const w of scenario.workload) {
      directors.push(
        (async () => {
          if (design.prePull && w.type === "rolling-restart") {
            const start = Math.max(0, w.at - PRE_PULL_LEAD_MS);
            await sim.sleep(start);
            const ref = await refOf(w.image, w.at);
            const alive = nodes.filter((n) => n.isAlive);
            const pulls: Promise<void>[] = [];
            await spread(alive.length, Math.min(PRE_PULL_SPREAD_MS, w.at - start), (i) => {
              pulls.push((alive[i] as KubeletNode).prePull(ref));
            });
            await Promise.all(pulls);
            await sim.sleep(w.at - sim.now());
          } else await sim.sleep(w.at);
          if (!sim.stopped) await step(w);
        })(),
      );
    }

    const progress = live
      ? setInterval(
          () =>
            options.onProgress?.(design.name, {
              simSeconds: sim.now() / 1000,
              pullsOk: counts.ok,
              pullsFailed: counts.failed,
              status429: counts.s429,
              done: false,
            }),
          1000,
        )
      : undefined;
    if (sim instanceof VirtualSim) {
      const abort = () => sim.stop();
      options.signal?.addEventListener("abort", abort);
      await sim.run();
      options.signal?.removeEventListener("abort", abort);
    } else {
      const live = sim as LiveSim;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, scenario.duration / (options.timeScale ?? 1));
        options.signal?.addEventListener("abort", () => {
          clearTimeout(timer);
          resolve();
        });
      });
      live.stop();
      // Let in-flight requests settle, bounded.
      await Promise.race([Promise.allSettled(directors), new Promise((r) => setTimeout(r, 5_000))]);
    }
    if (progress) clearInterval(progress);
    for (const n of nodes) n.finish();
    ci.finish();
    desktops.finish();
    options.onProgress?.(design.name, {
      simSeconds: sim.now() / 1000,
      pullsOk: counts.ok,
      pullsFailed: counts.failed,
      status429: counts.s429,
      done: true,
    });
  } finally {
    await Promise.all(closers.map((c) => c.close()));
  }
}

async function warmSeeder(
  images: string[],
  warm: (store: ContentStore, images: string[]) => Promise<void>,
) {
  // Computed once, copied into each arriving desktop's store.
  const template = new ContentStore();
  await warm(template, images);
  return (store: ContentStore) => {
    for (const b of template.blobs) store.blobs.add(b);
    for (const [k, v] of template.images) store.images.set(k, v);
  };
}
