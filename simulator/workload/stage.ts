import type { Catalog } from "../../fake-registry/catalog/catalog.ts";
import { formatReference, type ImageRef, parseReference } from "../../vocabulary/oci/reference.ts";
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
  /** Pods of `image` restart with `ref`. */
  restart(node: N, image: string, ref: ImageRef): void;
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
  /** Pods for a new node: every fleet pod, with its reference as of now. */
  startPods(node: N): Promise<void>;
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
 * The reference a design writes for an image at a time: by tag, or, with
 * `pin: digest`, the digest the tag points to then (without a catalog, e.g.
 * against an external target, references stay as written).
 */
export function referenceResolver(
  scenario: Scenario,
  design: Design,
  catalog: Catalog | undefined,
): (image: string, atMs: number, tag?: string) => Promise<ImageRef> {
  return async (image, atMs, tag) => {
    const written = imageRef(scenario, image);
    const ref: ImageRef = tag ? { repository: written.repository, tag } : written;
    if (design.pin === "digest" && ref.tag && catalog) {
      const content = await contentOf(catalog, ref, atMs);
      if (content) return { repository: ref.repository, digest: content.digest };
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
  catalog: Catalog | undefined,
  refOf: (image: string, atMs: number) => Promise<ImageRef>,
): (image: string) => Promise<WarmEntry[]> {
  const memo = new Map<string, Promise<WarmEntry[]>>();
  return (image) => {
    let entries = memo.get(image);
    if (!entries) {
      entries = (async () => {
        if (!catalog) return [];
        const tagged = imageRef(scenario, image);
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
