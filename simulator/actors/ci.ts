import { ContentStore } from "../client/content-store.ts";
import type { ImageRef } from "../../vocabulary/oci/reference.ts";
import { type ActorContext, pullAndRecord } from "./common.ts";

interface Job {
  id: string;
  index: number;
  images: ImageRef[];
  queuedAt: number;
}

/**
 * CI runners taking queued jobs: at most `concurrency` at once. An ephemeral
 * runner starts every job with an empty store; a persistent one keeps its
 * store between jobs. A job fails when any of its pulls fails (CI does not
 * retry a `docker pull`).
 */
export class CiFleet {
  private readonly ctx: ActorContext;
  private readonly queue: Job[] = [];
  private readonly stores: ContentStore[];
  private readonly idle: number[];
  private readonly runtime: "containerd" | "dockerd" | "cri-o";
  private readonly ephemeral: boolean;
  private readonly limit: number;
  private active = 0;
  private jobSeq = 0;

  constructor(
    ctx: ActorContext,
    options: {
      runners: number;
      concurrency?: number;
      runtime: "containerd" | "dockerd" | "cri-o";
      ephemeral: boolean;
    },
  ) {
    this.ctx = ctx;
    this.runtime = options.runtime;
    this.ephemeral = options.ephemeral;
    this.stores = Array.from({ length: options.runners }, () => new ContentStore());
    this.idle = Array.from({ length: options.runners }, (_, i) => i);
    this.limit = Math.min(options.runners, options.concurrency ?? options.runners);
  }

  enqueue(count: number, images: ImageRef[]): void {
    for (let i = 0; i < count; i++) {
      const index = this.jobSeq++;
      this.queue.push({ id: `job-${index + 1}`, index, images, queuedAt: this.ctx.sim.now() });
    }
    this.dispatch();
  }

  private dispatch(): void {
    while (
      this.active < this.limit &&
      this.queue.length > 0 &&
      this.idle.length > 0 &&
      !this.ctx.sim.stopped
    ) {
      const job = this.queue.shift() as Job;
      const runner = this.idle.shift() as number;
      this.active++;
      void this.run(job, runner).finally(() => {
        this.active--;
        this.idle.push(runner);
        this.dispatch();
      });
    }
  }

  private async run(job: Job, runner: number): Promise<void> {
    const { sim, emit, design } = this.ctx;
    const store = this.stores[runner] as ContentStore;
    if (this.ephemeral) store.clear();
    // Each job is its own identity when the design gives one account per job.
    const client = this.ctx.client({
      actor: job.id,
      index: job.index,
      runtime: this.runtime,
      store,
    });
    let ok = true;
    for (const ref of job.images) {
      const result = await pullAndRecord(this.ctx, client, job.id, ref);
      if (!result.ok) {
        ok = false;
        break;
      }
    }
    emit({
      type: "start",
      t: sim.now() / 1000,
      design,
      actor: `runner-${runner + 1}`,
      what: "job",
      id: job.id,
      ok,
      seconds: (sim.now() - job.queuedAt) / 1000,
    });
  }

  /** Jobs never started by the end are failures. */
  finish(): void {
    const now = this.ctx.sim.now();
    for (const job of this.queue.splice(0)) {
      this.ctx.emit({
        type: "start",
        t: now / 1000,
        design: this.ctx.design,
        actor: "queue",
        what: "job",
        id: job.id,
        ok: false,
        seconds: (now - job.queuedAt) / 1000,
      });
    }
  }
}

/** Developer desktops: Docker with a warm cache, pulling `:latest` out of habit as they arrive. */
export class Desktops {
  private readonly ctx: ActorContext;
  private readonly warm: (store: ContentStore) => void;
  private seq = 0;
  private pending = new Map<string, number>();

  constructor(ctx: ActorContext, warm: (store: ContentStore) => void) {
    this.ctx = ctx;
    this.warm = warm;
  }

  async arrive(images: ImageRef[]): Promise<void> {
    const { sim, emit, design } = this.ctx;
    const index = this.seq++;
    const name = `desktop-${index + 1}`;
    const store = new ContentStore();
    this.warm(store);
    const client = this.ctx.client({ actor: name, index, runtime: "dockerd", store });
    const arrived = sim.now();
    this.pending.set(name, arrived);
    let ok = true;
    for (const ref of images) {
      const result = await pullAndRecord(this.ctx, client, name, ref);
      if (!result.ok) ok = false;
    }
    this.pending.delete(name);
    emit({
      type: "start",
      t: sim.now() / 1000,
      design,
      actor: name,
      what: "desktop",
      id: name,
      ok,
      seconds: (sim.now() - arrived) / 1000,
    });
  }

  finish(): void {
    const now = this.ctx.sim.now();
    for (const [name, at] of this.pending) {
      this.ctx.emit({
        type: "start",
        t: now / 1000,
        design: this.ctx.design,
        actor: name,
        what: "desktop",
        id: name,
        ok: false,
        seconds: (now - at) / 1000,
      });
    }
    this.pending.clear();
  }
}
