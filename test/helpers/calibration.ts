// Calibration: a scripted scenario run twice, once with the real programs
// (fake registry <- docker-registry 2.8.2 <- ctr / skopeo) and once with the
// simulator's models (fake registry <- MirrorModel <- PullClient), counting
// what reaches the fake registry by who asked, kind, method, tag or digest and
// status. docs/calibration.md has the scenarios and what both counted.

import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { FastifyInstance } from "fastify";
import { ctrFetchArgs } from "../../check-mirror/containerd.ts";
import type { RegistryRequest } from "../../fake-registry/core/types.ts";
import type { FaultSet } from "../../fake-registry/faults/index.ts";
import { createHttpServer } from "../../fake-registry/http/server.ts";
import { createRegistry } from "../../fake-registry/index.ts";
import { parsePolicyDocument } from "../../fake-registry/policy/file.ts";
import type { Policy } from "../../fake-registry/policy/types.ts";
import type { Handled, Registry } from "../../fake-registry/registry/registry.ts";
import { ContentStore } from "../../simulator/client/content-store.ts";
import { type HostRoute, PullClient } from "../../simulator/client/pull-client.ts";
import { RUNTIMES } from "../../simulator/client/runtimes.ts";
import { VirtualSim } from "../../simulator/engine/sim.ts";
import {
  InProcessTransport,
  type Outcome,
  type Transport,
} from "../../simulator/engine/transport.ts";
import { startProcessMirror } from "../../simulator/mirror/backends.ts";
import { MirrorModel } from "../../simulator/mirror/model.ts";
import { type ImageRef, parseReference } from "../../vocabulary/oci/reference.ts";
import { decodePath, parseRoute } from "../../vocabulary/oci/route.ts";
import type { PrivateContainerd } from "./containerd.ts";
import { runCommand } from "./processes.ts";

/** The address the fake registry sees for the mirror's upstream requests. */
export const MIRROR_IP = "127.0.0.9";
/** The address it sees for nodes that fall back to it directly. */
export const NODE_IP = "127.0.0.2";

/**
 * ctr (containerd), skopeo (containers/image, copying to a fresh dir each time) and
 * podman (containers/image with containers/storage, as CRI-O pulls: a node keeps its
 * layers between pulls).
 */
export type ClientName = "ctr" | "skopeo" | "podman";

export type Step =
  /** Nodes pull an image at the same time; `byDigest` pulls the tag's index digest. */
  | { pull: string; nodes: string[]; byDigest?: boolean }
  /** The fake registry answers everything as a load balancer with no backend (503), or recovers. */
  | { upstream: "outage" | "recovered" }
  /** The fake registry stops listening: connections are refused from then on. */
  | { upstream: "gone" };

export interface Scenario {
  name: string;
  /** What it shows, for the table in docs/calibration.md. */
  title: string;
  /** A policy document over dockerhub-2020 (e.g. a small quota). */
  policy?: unknown;
  /** false: the fake registry has no token service (every request anonymous, no challenge). */
  auth?: boolean;
  /** false: the nodes pull from the fake registry directly (calibrates the client models alone). */
  mirror?: boolean;
  /** Every answer from the fake registry comes this late (a latency fault): an upstream far away. */
  latencyMs?: number;
  steps: Step[];
  /** Real runs race with themselves (concurrent pulls): run it `repeat` times, the model must fall in the range. */
  repeat?: number;
}

/** Requests counted at the fake registry: "who kind method [tag|digest] status" -> count. */
export type Tally = Record<string, number>;

export interface StepResult {
  step: string;
  counts: Tally;
  /** node -> "ok" | "failed" */
  outcomes: Record<string, "ok" | "failed">;
  /** Why a real pull failed (its last stderr line), for messages. */
  errors?: Record<string, string>;
}

export interface RunResult {
  steps: StepResult[];
}

export function stepLabel(step: Step): string {
  if ("pull" in step)
    return `${step.nodes.join("+")} pull ${step.pull}${step.byDigest ? " by digest" : ""}`;
  return `upstream ${step.upstream}`;
}

function who(identity: string): string {
  if (identity === MIRROR_IP) return "mirror";
  if (identity === NODE_IP) return "node";
  return identity;
}

/** The count key for one request the fake registry answered. */
export function requestKey(handled: Handled, method: string, path: string): string {
  const parts = [who(handled.identity.key), handled.kind, method];
  if (handled.kind === "manifest") {
    const route = parseRoute(decodePath(path) ?? path);
    if (route.kind === "manifest")
      parts.push(route.reference.startsWith("sha256:") ? "digest" : "tag");
  }
  parts.push(String(handled.response.status));
  return parts.join(" ");
}

/**
 * A tap in front of the fake registry: every request is answered as if it came
 * from `ip` (so the mirror and the nodes, all on 127.0.0.1 in the real runs,
 * are told apart as they are in the model) and counted.
 */
export class Tap {
  readonly registry: Registry;
  readonly ip: string;
  readonly counts: Tally;
  private readonly activity: { inflight: number; last: number };

  constructor(
    registry: Registry,
    ip: string,
    counts: Tally,
    activity: { inflight: number; last: number },
  ) {
    this.registry = registry;
    this.ip = ip;
    this.counts = counts;
    this.activity = activity;
  }

  async handle(req: RegistryRequest, _client: { ip: string }): Promise<Handled> {
    this.activity.inflight++;
    this.activity.last = performance.now();
    try {
      const handled = await this.registry.handle(req, { ip: this.ip });
      if (!req.path.startsWith("/_pullstorm/")) {
        const key = requestKey(handled, req.method, req.path);
        this.counts[key] = (this.counts[key] ?? 0) + 1;
        if (process.env.PULLSTORM_CALIBRATION_TRACE)
          console.log(
            `${this.ip} ${req.method} ${req.path} ${handled.response.status} ${req.headers.authorization ? "auth" : "-"}`,
          );
      }
      return handled;
    } finally {
      this.activity.inflight--;
      this.activity.last = performance.now();
    }
  }
}

/** A fresh fake registry with two taps: one the mirror talks to, one the nodes fall back to. */
function origin(scenario: Scenario) {
  const policy =
    scenario.policy === undefined
      ? undefined
      : (parsePolicyDocument(scenario.policy, "dockerhub-2020") as Policy);
  const registry = createRegistry({
    ...(policy ? { policy } : {}),
    ...(scenario.auth === false ? { auth: false } : {}),
  });
  if (scenario.latencyMs)
    (registry.faults as unknown as FaultSet).add({ type: "latency", ms: scenario.latencyMs });
  const counts: Tally = {};
  const activity = { inflight: 0, last: performance.now() };
  const mirrorTap = new Tap(registry, MIRROR_IP, counts, activity);
  const nodeTap = new Tap(registry, NODE_IP, counts, activity);
  const take = (): Tally => {
    const taken = { ...counts };
    for (const key of Object.keys(counts)) delete counts[key];
    return taken;
  };
  return { registry, mirrorTap, nodeTap, activity, take };
}

/** The digest a `repo:tag` pull by digest uses: the tag's index (Docker manifest list). */
async function digestOf(registry: Registry, image: string): Promise<string> {
  const ref = parseReference(image) as ImageRef;
  const build = await registry.catalog.resolveTag(ref.repository, ref.tag ?? "latest", 0);
  const digest = build?.index?.docker.digest;
  if (!digest) throw new Error(`${image} has no index in the catalog`);
  return digest;
}

function outage(registry: Registry, on: boolean): void {
  const faults = registry.faults as unknown as FaultSet;
  if (on) faults.add({ id: "calibration-outage", type: "outage" });
  else faults.remove("calibration-outage");
}

// --- the real programs --------------------------------------------------------

export interface RealEnvironment {
  /** A private containerd for ctr (namespaces are the nodes). */
  containerd?: PrivateContainerd;
  /** A scratch directory, removed by the caller. */
  work: string;
}

async function listen(app: FastifyInstance): Promise<string> {
  await app.listen({ host: "127.0.0.1", port: 0 });
  const address = app.server.address();
  if (typeof address !== "object" || !address) throw new Error("no address");
  return `127.0.0.1:${address.port}`;
}

/** Waits until the fake registry has had no request for `quietMs` (distribution stores blobs in the background). */
async function settle(
  activity: { inflight: number; last: number },
  quietMs = 300,
  limitMs = 15_000,
): Promise<void> {
  const deadline = performance.now() + limitMs;
  while (performance.now() < deadline) {
    if (activity.inflight === 0 && performance.now() - activity.last >= quietMs) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`the fake registry was still busy after ${limitMs} ms`);
}

let runs = 0;

/** Runs a scenario with real docker-registry 2.8 and real ctr, skopeo or podman; counts per step. */
export async function runReal(
  scenario: Scenario,
  client: ClientName,
  env: RealEnvironment,
): Promise<RunResult> {
  const run = `${scenario.name}-${client}-${++runs}`;
  const dir = join(env.work, run);
  mkdirSync(dir, { recursive: true });
  const { registry, mirrorTap, nodeTap, activity, take } = origin(scenario);
  const upstreamSide = createHttpServer(mirrorTap);
  const nodeSide = createHttpServer(nodeTap);
  const closers: (() => Promise<unknown>)[] = [];
  let gone = false;
  const closeOrigin = async () => {
    if (gone) return;
    gone = true;
    await Promise.all([upstreamSide.close(), nodeSide.close()]);
  };
  closers.push(closeOrigin);
  try {
    const upstreamHost = await listen(upstreamSide);
    const registryHost = await listen(nodeSide);
    const withMirror = scenario.mirror !== false;
    const mirror = withMirror
      ? await startProcessMirror({
          upstream: `http://${upstreamHost}`,
          storageDir: join(dir, "mirror"),
        })
      : undefined;
    if (mirror) closers.unshift(() => mirror.stop());
    // containerd: hosts.toml for the registry lists the mirror; the registry is the last host.
    const hostsDir = join(dir, "hosts.d");
    mkdirSync(join(hostsDir, registryHost), { recursive: true });
    writeFileSync(
      join(hostsDir, registryHost, "hosts.toml"),
      [
        `server = "http://${registryHost}"`,
        "",
        ...(mirror
          ? [`[host."http://${mirror.host}"]`, '  capabilities = ["pull", "resolve"]', ""]
          : []),
      ].join("\n"),
    );
    // containers/image: registries.conf with the mirror before the registry.
    const registriesConf = join(dir, "registries.conf");
    writeFileSync(
      registriesConf,
      [
        "[[registry]]",
        `location = "${registryHost}"`,
        "insecure = true",
        "",
        ...(mirror
          ? ["[[registry.mirror]]", `location = "${mirror.host}"`, "insecure = true", ""]
          : []),
      ].join("\n"),
    );
    const pull = async (node: string, reference: string, n: number) => {
      if (client === "ctr") {
        if (!env.containerd) throw new Error("containerd is not running");
        return env.containerd.ctr(
          `${run}-${node}`,
          ctrFetchArgs(hostsDir, `${registryHost}/${reference}`),
        );
      }
      if (client === "podman") {
        // A node's own storage (vfs: plain directories, no mounts), kept between its pulls;
        // its own storage.conf, so no store of the machine's (or CI's) is read.
        const storage = join(dir, `podman-${node}`);
        mkdirSync(storage, { recursive: true });
        const storageConf = join(storage, "storage.conf");
        writeFileSync(
          storageConf,
          `[storage]\ndriver = "vfs"\ngraphroot = ${JSON.stringify(join(storage, "root"))}\nrunroot = ${JSON.stringify(join(storage, "run"))}\n`,
        );
        return runCommand(
          "podman",
          [
            "pull",
            "--quiet",
            "--tls-verify=false",
            "--os",
            "linux",
            "--arch",
            "amd64",
            `${registryHost}/${reference}`,
          ],
          {
            timeoutMs: 60_000,
            // containers/image reads registries (the mirror) from this file.
            env: {
              ...process.env,
              CONTAINERS_REGISTRIES_CONF: registriesConf,
              CONTAINERS_STORAGE_CONF: storageConf,
            },
          },
        );
      }
      return runCommand(
        "skopeo",
        [
          // skopeo 1.9's hidden global flag: containers/image reads registries from this file.
          "--registries-conf",
          registriesConf,
          "--override-os",
          "linux",
          "--override-arch",
          "amd64",
          "copy",
          "--src-tls-verify=false",
          `docker://${registryHost}/${reference}`,
          `dir:${join(dir, `${node}-${n}`)}`,
        ],
        { timeoutMs: 30_000 },
      );
    };
    await settle(activity);
    const steps: StepResult[] = [{ step: "mirror starts", counts: take(), outcomes: {} }];
    let n = 0;
    for (const step of scenario.steps) {
      const outcomes: Record<string, "ok" | "failed"> = {};
      const errors: Record<string, string> = {};
      if ("pull" in step) {
        const reference = step.byDigest
          ? `${step.pull.split(":")[0]}@${await digestOf(registry, step.pull)}`
          : step.pull;
        n++;
        const results = await Promise.all(step.nodes.map((node) => pull(node, reference, n)));
        results.forEach((result, i) => {
          const node = step.nodes[i] as string;
          outcomes[node] = result.status === 0 ? "ok" : "failed";
          if (result.status !== 0)
            errors[node] = (result.stderr || result.stdout).trim().split("\n").at(-1) ?? "";
        });
      } else if (step.upstream === "gone") {
        await closeOrigin();
      } else {
        outage(registry, step.upstream === "outage");
      }
      if (!gone) await settle(activity);
      steps.push({
        step: stepLabel(step),
        counts: take(),
        outcomes,
        ...(Object.keys(errors).length > 0 ? { errors } : {}),
      });
    }
    return { steps };
  } finally {
    for (const close of closers) await close();
  }
}

// --- the models ---------------------------------------------------------------

/** A transport that can be cut for good: every request is refused after `gone`. */
class Cuttable implements Transport {
  gone = false;
  private readonly inner: Transport;
  constructor(inner: Transport) {
    this.inner = inner;
  }
  send(req: Parameters<Transport["send"]>[0], egressIp: string): Promise<Outcome> {
    if (this.gone)
      return Promise.resolve({ status: 0, error: "refused", message: "connection refused" });
    return this.inner.send(req, egressIp);
  }
}

/** Runs a scenario with MirrorModel (distribution-2.8) and PullClient (containerd or cri-o), in simulated time. */
export async function runModel(scenario: Scenario, client: ClientName): Promise<RunResult> {
  const { registry, mirrorTap, nodeTap, take } = origin(scenario);
  const sim = new VirtualSim(1, 24 * 3_600_000);
  // With sim: fault delays (latencyMs) take simulated time.
  const toUpstream = new Cuttable(new InProcessTransport({ registry: mirrorTap }, sim));
  const toRegistry = new Cuttable(new InProcessTransport({ registry: nodeTap }, sim));
  const model = new MirrorModel({
    upstream: { transport: toUpstream, host: "registry", egressIp: MIRROR_IP },
    flavour: "distribution-2.8",
    sim,
  });
  const mirror = new InProcessTransport({ mirror: model });
  const transport: Transport = {
    send: (req, ip) => (req.host === "mirror" ? mirror : toRegistry).send(req, ip),
  };
  const runtime = client === "ctr" ? RUNTIMES.containerd : RUNTIMES["cri-o"];
  const hosts: HostRoute[] =
    scenario.mirror === false
      ? [{ host: "registry", role: "upstream" }]
      : [
          { host: "mirror", role: "mirror" },
          { host: "registry", role: "upstream" },
        ];
  const newClient = (node: string) =>
    new PullClient({
      actor: node,
      design: "calibration",
      runtime,
      hosts,
      egressIp: NODE_IP,
      transport,
      sim,
      store: new ContentStore(),
      emit: () => {},
    });
  /**
   * `podman pull` is containers/image (the cri-o model) under podman's own CLI retry
   * (containers/common's libimage: 3 more tries of the whole pull after a retryable
   * error, 1, 2 and 4 s apart; a 429 or a failed connection is retryable, an error
   * status on the ping is not). CRI-O leaves retries to the kubelet's back-off.
   */
  const podmanPull = async (pullClient: PullClient, target: ImageRef) => {
    let result = await pullClient.pull(target);
    for (const delay of [1_000, 2_000, 4_000]) {
      if (result.ok || (result.status !== 429 && result.status !== 0)) break;
      await sim.sleep(delay);
      result = await pullClient.pull(target);
    }
    return result;
  };
  // A node keeps its client and its content, as in the simulator (ctr: the node's namespace);
  // a skopeo copy to a new dir: starts with nothing; podman: the node's storage keeps its layers.
  const clients = new Map<string, PullClient>();
  const clientOf = (node: string) => {
    if (client === "skopeo") return newClient(node);
    const existing = clients.get(node) ?? newClient(node);
    clients.set(node, existing);
    return existing;
  };
  const steps: StepResult[] = [];
  const work = (async () => {
    if (scenario.mirror !== false) await model.start();
    steps.push({ step: "mirror starts", counts: take(), outcomes: {} });
    for (const step of scenario.steps) {
      const outcomes: Record<string, "ok" | "failed"> = {};
      if ("pull" in step) {
        const ref = parseReference(step.pull) as ImageRef;
        const target: ImageRef = step.byDigest
          ? { repository: ref.repository, digest: await digestOf(registry, step.pull) }
          : ref;
        const results = await Promise.all(
          step.nodes.map((node) =>
            client === "podman" ? podmanPull(clientOf(node), target) : clientOf(node).pull(target),
          ),
        );
        results.forEach((result, i) => {
          outcomes[step.nodes[i] as string] = result.ok ? "ok" : "failed";
        });
      } else if (step.upstream === "gone") {
        toUpstream.gone = true;
        toRegistry.gone = true;
      } else {
        outage(registry, step.upstream === "outage");
      }
      steps.push({ step: stepLabel(step), counts: take(), outcomes });
    }
  })();
  await sim.run();
  await work;
  return { steps };
}

// --- comparing ------------------------------------------------------------------

/** What is compared: per step, the counts and who pulled successfully (not the error texts). */
export function comparable(run: RunResult): Omit<StepResult, "errors">[] {
  return run.steps.map((s) => ({ step: s.step, counts: sorted(s.counts), outcomes: s.outcomes }));
}

/** Per step and key, the smallest and largest count over several real runs (a missing key counts 0). */
export function ranges(
  runs: RunResult[],
): { step: string; counts: Record<string, [number, number]> }[] {
  const first = runs[0];
  if (!first) return [];
  return first.steps.map((s, i) => {
    const keys = new Set(runs.flatMap((r) => Object.keys(r.steps[i]?.counts ?? {})));
    const counts: Record<string, [number, number]> = {};
    for (const key of [...keys].sort()) {
      const values = runs.map((r) => r.steps[i]?.counts[key] ?? 0);
      counts[key] = [Math.min(...values), Math.max(...values)];
    }
    return { step: s.step, counts };
  });
}

/** Where the model falls outside what the real runs showed (counts), or disagrees on an outcome. */
export function outsideRange(model: RunResult, runs: RunResult[]): string[] {
  const problems: string[] = [];
  ranges(runs).forEach((range, i) => {
    const step = model.steps[i];
    if (!step) {
      problems.push(`${range.step}: the model has no such step`);
      return;
    }
    const keys = new Set([...Object.keys(range.counts), ...Object.keys(step.counts)]);
    for (const key of [...keys].sort()) {
      const [min, max] = range.counts[key] ?? [0, 0];
      const value = step.counts[key] ?? 0;
      if (value < min || value > max)
        problems.push(`${range.step}: ${key}: model ${value}, real ${min}..${max}`);
    }
    for (const run of runs) {
      const outcomes = run.steps[i]?.outcomes ?? {};
      if (JSON.stringify(outcomes) !== JSON.stringify(step.outcomes))
        problems.push(
          `${range.step}: outcomes: model ${JSON.stringify(step.outcomes)}, real ${JSON.stringify(outcomes)}`,
        );
    }
  });
  return problems;
}

/** Keys in a stable order, for readable diffs. */
export function sorted<T>(tally: Record<string, T>): Record<string, T> {
  return Object.fromEntries(Object.entries(tally).sort(([a], [b]) => a.localeCompare(b)));
}

/** "mirror: token GET 200 ×2, manifest HEAD tag 200 ×1; node: …", or a range "×14..16". */
export function summary(tally: Record<string, number | [number, number]>): string {
  const byWho = new Map<string, string[]>();
  for (const [key, count] of Object.entries(sorted(tally))) {
    const [whom, ...rest] = key.split(" ");
    const list = byWho.get(whom as string) ?? [];
    const n = Array.isArray(count) ? (count[0] === count[1] ? count[0] : count.join("..")) : count;
    list.push(`${rest.join(" ")} ×${n}`);
    byWho.set(whom as string, list);
  }
  if (byWho.size === 0) return "nothing";
  return [...byWho].map(([whom, list]) => `${whom}: ${list.join(", ")}`).join("; ");
}

function outcomeText(outcomes: Record<string, "ok" | "failed">): string {
  const entries = Object.entries(outcomes);
  return entries.length === 0 ? "" : entries.map(([node, o]) => `${node} ${o}`).join(", ");
}

/** Markdown table rows (scenario, client, step, real, model, pulls) for docs/calibration.md. */
export function markdownRows(
  scenario: Scenario,
  client: ClientName,
  real: RunResult[],
  model: RunResult,
): string[] {
  const realRanges = ranges(real);
  return realRanges.map((range, i) => {
    const step = model.steps[i] as StepResult;
    const realText = summary(range.counts);
    const modelText = summary(step.counts);
    const same = realText === modelText ? "same" : modelText;
    const runs = real.length > 1 ? ` (${real.length} runs)` : "";
    return `| ${scenario.name} | ${client} | ${range.step} | ${realText}${runs} | ${same} | ${outcomeText(step.outcomes)} |`;
  });
}
