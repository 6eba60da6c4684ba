/// <reference types="k6" />
import "./k6-platform.ts";
import exec from "k6/execution";
import http from "k6/http";
import { Gauge } from "k6/metrics";
import type { Options } from "k6/options";
import { setTimeout } from "k6/timers";
import type { Desktops } from "../actors/ci.ts";
import type { ActorContext } from "../actors/common.ts";
import { ContentStore } from "../client/content-store.ts";
import { k6Metrics } from "./k6-metrics.ts";
import { ScaledWallSim } from "./k6-sim.ts";
import { K6Transport } from "./k6-transport.ts";
import { addressOfVu } from "./local-ips.ts";
import type { K6Plan } from "./plan.ts";
import {
  type ArrivalsGroup,
  actorContext,
  type CiGroup,
  desktopsFor,
  type NodesGroup,
  playArrival,
  playJob,
  playNode,
} from "./player.ts";

/**
 * The exported k6 script's entry (bundled by ./bundle.ts with the design's plan
 * in place of PULLSTORM_PLAN): each k6 scenario is a group of the plan, each
 * iteration one unit of it (a node, a CI job, a desktop arrival), played by
 * ./player.ts with the project's actors and pull client over k6's HTTP
 * (./k6-transport.ts), on the scenario's clock scaled to wall time
 * (./k6-sim.ts); their events become k6 metrics (./k6-metrics.ts).
 */

declare const PULLSTORM_PLAN: K6Plan;
const PLAN: K6Plan = PULLSTORM_PLAN;

export const options: Options = PLAN.options;

const emit = k6Metrics();
const timeZero = new Gauge("pullstorm_t0");

/**
 * Fixes simulated t=0 for every VU: the wall time the registry's clock was
 * started at (PULLSTORM_SYNC_URL, served by `pullstorm k6 serve`; the first
 * instance to ask starts it), else now.
 */
export function setup(): { t0: number } {
  let t0 = Date.now();
  const sync = __ENV.PULLSTORM_SYNC_URL;
  if (sync) {
    const res = http.post(sync, null, { tags: { kind: "sync" }, responseType: "text" });
    const anchored = Number(res.body);
    if (res.status !== 200 || !(anchored > 0))
      throw new Error(`pullstorm: ${sync} answered ${res.status}: cannot start the clock`);
    t0 = anchored;
  }
  timeZero.add(t0, { scale: String(PLAN.timeScale) });
  return { t0 };
}

/** This VU's source address: its `--local-ips` address, else PULLSTORM_EGRESS (a k6-operator runner's pod IP). */
function vuAddress(): string {
  const localIps = (exec.test.options as { localIPs?: string | null }).localIPs;
  return (
    (localIps ? addressOfVu(localIps, exec.vu.idInInstance) : undefined) ??
    __ENV.PULLSTORM_EGRESS ??
    "127.0.0.1"
  );
}

let vu: { sim: ScaledWallSim; ctx: ActorContext } | undefined;

/** The VU's clock and actors' context, made at its first iteration (exec.* is readable only then). */
function vuContext(data: unknown): { sim: ScaledWallSim; ctx: ActorContext } {
  if (!vu) {
    const t0 = (data as { t0?: number } | undefined)?.t0;
    const sim = new ScaledWallSim({
      t0: typeof t0 === "number" && t0 > 0 ? t0 : Date.now(),
      scale: PLAN.timeScale,
      endMs: PLAN.durationMs,
      seed: (PLAN.seed * 7919 + exec.vu.idInTest) >>> 0,
      setTimeout,
    });
    const transport = new K6Transport({
      registry: __ENV.PULLSTORM_REGISTRY || PLAN.hosts.registry,
      mirror: __ENV.PULLSTORM_MIRROR || PLAN.hosts.mirror || "",
    });
    const address = vuAddress();
    vu = { sim, ctx: actorContext(PLAN, { sim, transport, emit, egressOf: () => address }) };
  }
  return vu;
}

function groupOf<K extends "nodes" | "ci" | "arrivals">(
  kind: K,
): Extract<NodesGroup | CiGroup | ArrivalsGroup, { kind: K }> {
  const group = PLAN.groups[exec.scenario.name];
  if (!group || group.kind !== kind)
    throw new Error(`pullstorm: k6 scenario ${exec.scenario.name} is not a ${kind} group`);
  return group as Extract<NodesGroup | CiGroup | ArrivalsGroup, { kind: K }>;
}

/** A node's life: its actions at their times, its pods until they start, the node goes or the scenario ends. */
export async function node(data: unknown): Promise<void> {
  const { sim, ctx } = vuContext(data);
  const unit = groupOf("nodes").nodes[exec.scenario.iterationInTest];
  if (!unit) return;
  const kubelet = await playNode(PLAN, unit, ctx);
  // A node that stays lives to the scenario's end: its pods retry until they start.
  if (unit.actions.at(-1)?.op !== "remove") await sim.sleep(PLAN.durationMs - sim.now());
  kubelet.finish();
}

let runnerStore: ContentStore | undefined;

/** One queued CI job on this VU (a runner, whose store persists unless runners are ephemeral). */
export async function ciJob(data: unknown): Promise<void> {
  const { ctx } = vuContext(data);
  runnerStore ??= new ContentStore();
  await playJob(PLAN, groupOf("ci"), exec.scenario.iterationInTest, ctx, {
    name: `runner-${exec.vu.idInTest}`,
    store: runnerStore,
  });
}

let desktops: Desktops | undefined;

/** A developer arriving: Docker with the plan's warm cache pulling the step's images. */
export async function desktop(data: unknown): Promise<void> {
  const { ctx } = vuContext(data);
  desktops ??= desktopsFor(PLAN, ctx);
  await playArrival(groupOf("arrivals"), exec.scenario.iterationInTest, ctx, desktops);
}

/** The only scenario of a design whose workload pulls nothing. */
export function idle(): void {}
