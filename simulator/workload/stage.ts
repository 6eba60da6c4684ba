import type { Catalog } from "../../fake-registry/catalog/catalog.ts";
import {
  formatReference,
  type ImageRef,
  parseReference,
  withReference,
} from "../../vocabulary/oci/reference.ts";
import type { Sim } from "../engine/sim.ts";
import { contentOf } from "../registry-setup.ts";
import type { Design, Scenario, WorkloadStep } from "../scenario/schema.ts";

/**
 * What the workload acts on. The workload logic (steps/, director.ts) is written
 * once against this interface; each engine brings its stage:
 *  - the native engines (virtual and live, simulator/run.ts) act on real actors:
 *    kubelet nodes, the CI fleet, desktops;
 *  - the k6 export (simulator/k6/plan.ts) records every action as data, per node,
 *    CI fan-out and arrival group, for the exported script to replay.
 * `N` is the stage's node: whatever it needs to remember about one node.
 */
export interface Stage<N> {
  /** Every node so far, in creation order (removed ones too). */
  readonly nodes: readonly N[];
  isAlive(node: N): boolean;
  /** A new node with a cold store, created now by workload step `step`. */
  newNode(step: number): N;
  /** The node's pods start (scheduled now). */
  startPod(node: N, image: string, ref: ImageRef): void;
  /** The node is drained and deleted. */
  remove(node: N): void;
  /** The node's `pods` pods of `image` restart with `ref`. */
  restart(node: N, image: string, ref: ImageRef, pods: number): void;
  /** The node's image garbage collection removes unused images. */
  prune(node: N): void;
  /** A pre-pull of `ref` on the node; resolves when it is done. */
  prePull(node: N, ref: ImageRef): Promise<void>;
  /** `count` CI jobs are queued now, each pulling `refs`. */
  enqueueJobs(count: number, refs: ImageRef[], step: number): void;
  /** A desktop user arrives now and pulls `refs`; resolves when they are done. */
  arrive(refs: ImageRef[], step: number): Promise<void>;
}

/** What every step module gets: the design, the clock, the stage and the references. */
export interface WorkloadContext<N> {
  scenario: Scenario;
  design: Design;
  sim: Sim;
  stage: Stage<N>;
  /**
   * The reference a design writes for an image at a time: by tag (its own, or
   * `tag` for a rollout to a new tag), or pinned to the digest the tag names then.
   */
  refOf(image: string, atMs: number, tag?: string): Promise<ImageRef>;
  /**
   * Pods for a new node, with their references as of now: the pods of the node it
   * replaces (`replacing`), or, for a node added to the fleet, the per-node pods.
   */
  startPods(node: N, replacing?: N): Promise<void>;
  /** The pods of `image` the node runs (0: none), as the fleet placed them (podsOfSlot). */
  podsOn(node: N, image: string): number;
}

/** One workload step type: how it acts, given its validated options. */
export interface StepModule<T extends WorkloadStep["type"]> {
  type: T;
  run<N>(
    step: Extract<WorkloadStep, { type: T }>,
    index: number,
    ctx: WorkloadContext<N>,
  ): Promise<void>;
}

/**
 * The catalog an image's registry serves (by `ref.registry`: Docker Hub's, or one of
 * the scenario's `registries`); undefined when the registry is not embedded (a target).
 */
export type Catalogs = (ref: ImageRef) => Catalog | undefined;

/** The image is named by digest: the design pins every image, or the image's pods pin it. */
export function pinnedImage(scenario: Scenario, design: Design, image: string): boolean {
  return design.pin === "digest" || scenario.images.find((i) => i.name === image)?.pinned === true;
}

/**
 * The pull policy of a pod of `image`: the design's when it sets one, else the
 * image's own `pullPolicy`, else kubelet's default for the reference ("default").
 */
export function podPullPolicy(
  scenario: Scenario,
  design: Design,
  image: string,
): Design["pullPolicy"] {
  if (design.pullPolicy !== "default") return design.pullPolicy;
  return scenario.images.find((i) => i.name === image)?.pullPolicy ?? "default";
}

/**
 * The pods node slot `slot` runs (an image once per pod): every per-node pod, and its
 * share of each replicated workload (pod k of `replicas` on slot k mod fleet.nodes).
 * Slots are the fleet's nodes at the start; `undefined` is a node added later, which
 * runs only the per-node pods.
 */
export function podsOfSlot(scenario: Scenario, slot: number | undefined): string[] {
  const nodes = scenario.fleet.nodes;
  const out: string[] = [];
  for (const pod of scenario.fleet.pods) {
    if (typeof pod === "string") out.push(pod);
    else if (slot !== undefined && nodes > 0) {
      const count = Math.floor(pod.replicas / nodes) + (slot < pod.replicas % nodes ? 1 : 0);
      for (let i = 0; i < count; i++) out.push(pod.image);
    }
  }
  return out;
}

/** Every image some fleet pod runs, once each, in the order the fleet lists them. */
export function fleetImages(scenario: Scenario): string[] {
  return [...new Set(scenario.fleet.pods.map((p) => (typeof p === "string" ? p : p.image)))];
}

/**
 * The reference a design writes for an image at a time: by tag, or, with
 * `pin: digest`, the digest the tag points to then (without a catalog, e.g.
 * against an external target, references stay as written).
 */
export function referenceResolver(
  scenario: Scenario,
  design: Design,
  catalogs: Catalogs,
): (image: string, atMs: number, tag?: string) => Promise<ImageRef> {
  return async (image, atMs, tag) => {
    const written = imageRef(scenario, image);
    const ref: ImageRef = tag ? withReference(written, { tag }) : written;
    const store = catalogs(ref);
    if (pinnedImage(scenario, design, image) && ref.tag && store) {
      const content = await contentOf(store, ref, atMs);
      if (content) return withReference(ref, { digest: content.digest });
    }
    return ref;
  };
}

/** The image's reference as the scenario writes it (validated when the scenario loaded). */
export function imageRef(scenario: Scenario, image: string): ImageRef {
  return parseReference(scenario.images.find((i) => i.name === image)?.ref as string) as ImageRef;
}

/** What a warm store holds for an image at t=0: the reference as the store keys it, and its content. */
export interface WarmEntry {
  ref: string;
  content: { digest: string; blobs: string[] };
}

/**
 * Warm-store entries per image, worked out once per image: the image by tag,
 * and as the design writes it (its digest when pinned).
 */
export function warmEntries(
  scenario: Scenario,
  catalogs: Catalogs,
  refOf: (image: string, atMs: number) => Promise<ImageRef>,
): (image: string) => Promise<WarmEntry[]> {
  const memo = new Map<string, Promise<WarmEntry[]>>();
  return (image) => {
    let entries = memo.get(image);
    if (!entries) {
      entries = (async () => {
        const tagged = imageRef(scenario, image);
        const catalog = catalogs(tagged);
        if (!catalog) return [];
        const content = await contentOf(catalog, tagged, 0);
        if (!content) return [];
        const byTag = formatReference(tagged);
        const written = formatReference(await refOf(image, 0));
        return byTag === written
          ? [{ ref: byTag, content }]
          : [
              { ref: byTag, content },
              { ref: written, content },
            ];
      })();
      memo.set(image, entries);
    }
    return entries;
  };
}
