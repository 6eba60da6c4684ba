import {
  defaultPullPolicy,
  formatReference,
  type ImageRef,
} from "../../vocabulary/oci/reference.ts";
import { ContentStore } from "../client/content-store.ts";
import type { Puller } from "../client/pull-client.ts";
import { type ActorContext, pullAndRecord, startDelay } from "./common.ts";

/** kubelet's numbers (kubernetes/kubernetes; FACTS.md), as data. */
export const KUBELET = {
  backoffInitialMs: 10_000,
  backoffMaxMs: 300_000,
  /** Pods are re-synced after a failure every 10 s with 0.5 jitter: 10-15 s. */
  resyncMs: 10_000,
  resyncJitter: 0.5,
  registryPullQPS: 5,
  registryBurst: 10,
};

export type PullPolicy = "Always" | "IfNotPresent";

interface Pod {
  id: string;
  image: string;
  ref: ImageRef;
  /** `ref` as text, as the content store keys images. */
  refText: string;
  policy: PullPolicy;
  createdAt: number;
  current: boolean;
}

/**
 * A Kubernetes node: kubelet with its image manager (pull policy, serialized
 * pulls, registryPullQPS failing fast, per-pod backoff) over one runtime and
 * content store.
 */
export class KubeletNode {
  readonly name: string;
  readonly store = new ContentStore();
  private readonly ctx: ActorContext;
  private readonly client: Puller;
  private readonly maxParallel: number;
  private readonly pods = new Map<string, Pod>();
  private alive = true;
  private podSeq = 0;
  private running = 0;
  private readonly waiting: Array<() => void> = [];
  private tokens: number = KUBELET.registryBurst;
  private lastRefill = 0;
  /** When the node is ready for pods (a new node joins within the start timing's node jitter). */
  private readonly readyAt: number;

  constructor(
    ctx: ActorContext,
    name: string,
    index: number,
    runtime: "containerd" | "dockerd" | "cri-o",
    maxParallelImagePulls: number,
  ) {
    this.ctx = ctx;
    this.name = name;
    this.maxParallel = maxParallelImagePulls;
    this.client = ctx.client({ actor: name, index, runtime, store: this.store });
    this.lastRefill = ctx.sim.now();
    this.readyAt = ctx.sim.now() + startDelay(ctx, "nodeJitterMs");
  }

  get isAlive(): boolean {
    return this.alive;
  }

  /** Creates a pod for an image; it pulls (by its policy) and retries with backoff until it starts. */
  startPod(image: string, ref: ImageRef, policy: PullPolicy | "default"): void {
    if (!this.alive) return;
    const pod: Pod = {
      id: `${this.name}/pod-${++this.podSeq}`,
      image,
      ref,
      refText: formatReference(ref),
      policy: policy === "default" ? defaultPullPolicy(ref) : policy,
      createdAt: this.ctx.sim.now(),
      current: true,
    };
    this.pods.set(pod.id, pod);
    void this.podWorker(pod);
  }

  /**
   * A rolling restart: the node's `count` pods of the image (and any still waiting)
   * are replaced by new ones (new UIDs, fresh backoff).
   */
  restartPods(image: string, ref: ImageRef, policy: PullPolicy | "default", count = 1): void {
    const old = [...this.pods.values()].filter((p) => p.image === image && p.current);
    for (const p of old) {
      p.current = false;
      this.pods.delete(p.id);
    }
    for (let i = 0; i < Math.max(count, old.length); i++) this.startPod(image, ref, policy);
  }

  /** Pulls an image ahead of need (a pre-pull DaemonSet), without a pod. */
  async prePull(ref: ImageRef): Promise<void> {
    if (!this.alive || this.store.hasImage(formatReference(ref))) return;
    await this.pullOnce(ref, `${this.name}/pre-pull`);
  }

  /** The node goes away (recycled): its pods stop trying. */
  remove(): void {
    this.alive = false;
    for (const p of this.pods.values()) p.current = false;
  }

  /** Pods still waiting at the end of the scenario, reported as not started. */
  finish(): void {
    const now = this.ctx.sim.now();
    for (const p of this.pods.values()) {
      if (!p.current) continue;
      this.ctx.emit({
        type: "start",
        t: now / 1000,
        design: this.ctx.design,
        actor: this.name,
        what: "pod",
        id: p.id,
        ok: false,
        image: p.refText,
        seconds: (now - p.createdAt) / 1000,
      });
    }
    this.pods.clear();
  }

  private async podWorker(pod: Pod): Promise<void> {
    const { sim } = this.ctx;
    // Pods do not start in the same instant: the node joins, kubelet sees the pod
    // (watch, PLEG relist) and creates its sandbox, each after its own while.
    const wait = Math.max(0, this.readyAt - sim.now()) + startDelay(this.ctx, "podJitterMs");
    if (wait > 0) await sim.sleep(wait);
    let backoff = 0;
    while (this.alive && pod.current && !sim.stopped) {
      const ok = await this.ensureImage(pod);
      if (!pod.current) return;
      if (ok) {
        pod.current = false;
        this.pods.delete(pod.id);
        this.ctx.emit({
          type: "start",
          t: sim.now() / 1000,
          design: this.ctx.design,
          actor: this.name,
          what: "pod",
          id: pod.id,
          ok: true,
          image: pod.refText,
          seconds: (sim.now() - pod.createdAt) / 1000,
        });
        return;
      }
      // ErrImagePull -> ImagePullBackOff: retried on the first resync after the backoff expires.
      backoff =
        backoff === 0 ? KUBELET.backoffInitialMs : Math.min(backoff * 2, KUBELET.backoffMaxMs);
      const retryAt = sim.now() + backoff;
      do {
        await sim.sleep(KUBELET.resyncMs * (1 + KUBELET.resyncJitter * sim.random()));
      } while (sim.now() < retryAt && this.alive && pod.current && !sim.stopped);
    }
  }

  private async ensureImage(pod: Pod): Promise<boolean> {
    if (pod.policy === "IfNotPresent" && this.store.hasImage(pod.refText)) return true;
    if (!this.takeQpsToken()) {
      this.ctx.emit({
        type: "pull",
        t: this.ctx.sim.now() / 1000,
        design: this.ctx.design,
        actor: this.name,
        identity: this.client.identity(pod.ref),
        image: pod.refText,
        outcome: "failed",
        reason: "qps",
        durationSeconds: 0,
        requests: 0,
      });
      return false;
    }
    await this.acquire();
    try {
      if (pod.policy === "IfNotPresent" && this.store.hasImage(pod.refText)) return true;
      return await this.pullOnce(pod.ref, this.name);
    } finally {
      this.release();
    }
  }

  private async pullOnce(ref: ImageRef, actor: string): Promise<boolean> {
    return (await pullAndRecord(this.ctx, this.client, actor, ref)).ok;
  }

  /** registryPullQPS / registryBurst: a token bucket checked without waiting. */
  private takeQpsToken(): boolean {
    const now = this.ctx.sim.now();
    this.tokens = Math.min(
      KUBELET.registryBurst,
      this.tokens + ((now - this.lastRefill) / 1000) * KUBELET.registryPullQPS,
    );
    this.lastRefill = now;
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }

  /** serializeImagePulls: one pull at a time unless maxParallelImagePulls >= 2. */
  private acquire(): Promise<void> {
    if (this.running < this.maxParallel) {
      this.running++;
      return Promise.resolve();
    }
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  private release(): void {
    const next = this.waiting.shift();
    if (next) next();
    else this.running--;
  }
}
