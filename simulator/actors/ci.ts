import type { ImageRef } from "../../vocabulary/oci/reference.ts";
import { ContentStore } from "../client/content-store.ts";
import { type ActorContext, pullAndRecord } from "./common.ts";

/** A queued CI job: `job-<index+1>`, pulling `images` in order. */
export interface CiJob {
  id: string;
  index: number;
  images: ImageRef[];
  queuedAt: number;
}

type Job = CiJob;

type Runtime = "containerd" | "dockerd" | "cri-o";

/**
 * One job on one runner (the fleet's dispatch, or a k6 VU taking a job): pulls
 * in order and fails at the first failed pull; an ephemeral runner's store is
 * emptied first.
 */
export async function runJob(
  ctx: ActorContext,
  job: CiJob,
  runner: { name: string; store: ContentStore; runtime: Runtime; ephemeral: boolean },
): Promise<void> {
  const { sim, emit, design } = ctx;
  const { store } = runner;
  if (runner.ephemeral) store.clear();
  // Each job is its own identity when the design gives one account per job.
  const client = ctx.client({
    actor: job.id,
    index: job.index,
    runtime: runner.runtime,
    store,
  });
  let ok = true;
  for (const ref of job.images) {
    const result = await pullAndRecord(ctx, client, job.id, ref);
    if (!result.ok) {
      ok = false;
      break;
    }
  }
  emit({
    type: "start",
    t: sim.now() / 1000,
    design,
    actor: runner.name,
    what: "job",
    id: job.id,
    ok,
    seconds: (sim.now() - job.queuedAt) / 1000,
  });
}

/** A job no runner took before the end: a failure. */
export function jobNotStarted(ctx: ActorContext, job: CiJob): void {
  const now = ctx.sim.now();
  ctx.emit({
    type: "start",
    t: now / 1000,
    design: ctx.design,
    actor: "queue",
    what: "job",
    id: job.id,
    ok: false,
    seconds: (now - job.queuedAt) / 1000,
  });
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

  private run(job: Job, runner: number): Promise<void> {
    return runJob(this.ctx, job, {
      name: `runner-${runner + 1}`,
      store: this.stores[runner] as ContentStore,
      runtime: this.runtime,
      ephemeral: this.ephemeral,
    });
  }

  /** Jobs never started by the end are failures. */
  finish(): void {
    for (const job of this.queue.splice(0)) jobNotStarted(this.ctx, job);
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

  arrive(images: ImageRef[]): Promise<void> {
    return this.arriveAs(this.seq++, images);
  }

  /** Desktop number `index` (desktop-<index+1>) arrives and pulls `images`. */
  async arriveAs(index: number, images: ImageRef[]): Promise<void> {
    const { sim, emit, design } = this.ctx;
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
