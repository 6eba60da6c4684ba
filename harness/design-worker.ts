/**
 * One design of a virtual run on a worker thread (harness/parallel.ts): plays
 * it as the main thread would, writes its events as JSON lines to the file it
 * is given (the bytes events.jsonl will hold), and tells the main thread its
 * progress, then its RunMeta or its error.
 */
import { parentPort, workerData } from "node:worker_threads";
import { EventLog } from "../reports/write.ts";
import { playScenario } from "../simulator/run.ts";
import type { Scenario } from "../simulator/scenario/schema.ts";
import type { DesignJob, FromWorker, ToWorker } from "./parallel.ts";

const job = workerData as DesignJob;
const port = parentPort;
if (!port) throw new Error("harness/design-worker.ts runs as a worker thread");
const controller = new AbortController();
if (job.stopped) controller.abort();
port.on("message", (m: ToWorker) => {
  if (m.type === "stop") controller.abort();
});
const post = (m: FromWorker) => port.postMessage(m);

// events.jsonl's own writer: the same lines, in large synchronous writes.
const log = new EventLog(job.eventsFile);
try {
  const meta = await playScenario(job.scenario as Scenario, {
    mode: "virtual",
    seed: job.seed,
    designs: [job.design],
    signal: controller.signal,
    ...(job.tokenSecret ? { tokenSecret: job.tokenSecret } : {}),
    onEvent: (e) => log.write(e),
    onProgress: (design, status) => post({ type: "progress", design, status }),
  });
  log.close();
  post({ type: "done", meta });
} catch (error) {
  log.close();
  const e = error as Error & { problems?: string[] };
  post({
    type: "error",
    name: e?.name ?? "Error",
    message: e?.message ?? String(error),
    ...(Array.isArray(e?.problems) ? { problems: e.problems } : {}),
  });
}
