/**
 * A virtual run's designs side by side on worker threads (issue 15: both
 * cores). Designs are independent (each its own registry, clock, fleet and
 * seeded random), so each plays alone exactly as in the sequential loop; what
 * must not change is what the reports see. The first design plays on this
 * thread and its events flow as they happen; every other design plays on a
 * worker (harness/design-worker.ts) into a temporary JSON-lines file, which is
 * read back in design order once the designs before it are done. Events reach
 * `onEvent` in the order of the sequential run, design by design, so
 * events.jsonl and report.json are the same byte for byte
 * (test/real/parallel-designs.test.ts).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Worker } from "node:worker_threads";
import { linesOf } from "../reports/write.ts";
import {
  type DesignProgress,
  playScenario,
  type RunMeta,
  type RunOptions,
} from "../simulator/run.ts";
import type { Scenario } from "../simulator/scenario/schema.ts";
import { ConfigError } from "../vocabulary/config/yaml-file.ts";
import type { SimEvent } from "../vocabulary/events.ts";

/** What a worker is given: one design of the scenario and the file for its events. */
export interface DesignJob {
  scenario: Scenario;
  design: string;
  seed: number;
  eventsFile: string;
  tokenSecret?: string;
  /** The run was interrupted before this design started: it stops at once, as in the sequential loop. */
  stopped: boolean;
}

export type ToWorker = { type: "stop" };
export type FromWorker =
  | { type: "progress"; design: string; status: DesignProgress }
  | { type: "done"; meta: RunMeta }
  | { type: "error"; name: string; message: string; problems?: string[] };

const WORKER = new URL(
  import.meta.url.endsWith(".ts") ? "./design-worker.ts" : "./design-worker.js",
  import.meta.url,
);

/** One design on a worker, started when asked; `done` settles with its meta once its file is complete. */
class DesignThread {
  private worker: Worker | undefined;
  private settle: { resolve(meta: RunMeta): void; reject(error: Error): void } | undefined;
  readonly done: Promise<RunMeta>;
  readonly job: DesignJob;
  private readonly onProgress: RunOptions["onProgress"];

  /** Its worker has answered (done or failed). */
  finished = false;

  constructor(job: DesignJob, onProgress: RunOptions["onProgress"]) {
    this.job = job;
    this.onProgress = onProgress;
    this.done = new Promise<RunMeta>((resolve, reject) => {
      this.settle = { resolve, reject };
    });
    // Observed by whoever awaits it in design order; never an unhandled rejection before that.
    this.done.then(
      () => {
        this.finished = true;
      },
      () => {
        this.finished = true;
      },
    );
  }

  start(stopped: boolean): void {
    const worker = new Worker(WORKER, { workerData: { ...this.job, stopped } });
    this.worker = worker;
    let settled = false;
    const finish = (outcome: { meta: RunMeta } | { error: Error }) => {
      if (settled) return;
      settled = true;
      if ("meta" in outcome) this.settle?.resolve(outcome.meta);
      else this.settle?.reject(outcome.error);
    };
    worker.on("message", (m: FromWorker) => {
      if (m.type === "progress") this.onProgress?.(m.design, m.status);
      else if (m.type === "done") finish({ meta: m.meta });
      else {
        const error = m.problems ? new ConfigError(m.problems) : new Error(m.message);
        if (!m.problems) error.name = m.name;
        finish({ error });
      }
    });
    worker.on("error", (error) => finish({ error }));
    worker.on("exit", (code) =>
      finish({
        error: new Error(
          `design ${this.job.design}: its worker exited (${code}) before it finished`,
        ),
      }),
    );
  }

  get started(): boolean {
    return this.worker !== undefined;
  }

  stop(): void {
    this.worker?.postMessage({ type: "stop" } satisfies ToWorker);
  }

  async terminate(): Promise<void> {
    await this.worker?.terminate();
  }
}

/**
 * playScenario for a virtual run with up to `jobs` designs playing at once
 * (this thread and `jobs - 1` workers); the sequential loop when `jobs` is 1,
 * there is one design, or the run is live (live designs already run side by
 * side) or tapped (a tap is a function: it cannot cross threads).
 */
export async function playDesigns(
  scenario: Scenario,
  options: RunOptions & { jobs?: number },
): Promise<RunMeta> {
  const { jobs = 1, ...rest } = options;
  const names = scenario.designs
    .map((d) => d.name)
    .filter((name) => !options.designs || options.designs.includes(name));
  if (jobs <= 1 || names.length <= 1 || options.mode !== "virtual" || options.registryTap)
    return playScenario(scenario, rest);
  const seed = options.seed ?? scenario.seed;
  const dir = mkdtempSync(join(tmpdir(), "pullstorm-designs-"));
  const threads = names.slice(1).map(
    (design, i) =>
      new DesignThread(
        {
          scenario,
          design,
          seed,
          eventsFile: join(dir, `${i + 1}.jsonl`),
          stopped: false,
          ...(options.tokenSecret ? { tokenSecret: options.tokenSecret } : {}),
        },
        options.onProgress,
      ),
  );
  // At most jobs - 1 workers at once, started in design order as earlier ones finish.
  const startNext = () => {
    const running = threads.filter((t) => t.started && !t.finished).length;
    const next = threads.find((t) => !t.started);
    if (next && running < jobs - 1) next.start(options.signal?.aborted ?? false);
  };
  for (const t of threads) t.done.then(startNext, () => undefined);
  const onAbort = () => {
    for (const t of threads) t.stop();
  };
  options.signal?.addEventListener("abort", onAbort, { once: true });
  try {
    for (let i = 0; i < jobs - 1; i++) startNext();
    const first = await playScenario(scenario, { ...rest, designs: [names[0] as string] });
    let interrupted = first.interrupted;
    for (const t of threads) {
      if (!t.started) t.start(options.signal?.aborted ?? false);
      const meta = await t.done;
      interrupted ||= meta.interrupted;
      // The design's events, in the order it emitted them, after every earlier design's.
      for (const line of linesOf(t.job.eventsFile))
        if (line) options.onEvent?.(JSON.parse(line) as SimEvent);
    }
    return { ...first, designs: names, interrupted };
  } finally {
    options.signal?.removeEventListener("abort", onAbort);
    await Promise.all(threads.map((t) => t.terminate()));
    rmSync(dir, { recursive: true, force: true });
  }
}
