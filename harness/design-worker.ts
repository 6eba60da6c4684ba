/**
 * One design of a virtual run on a worker thread (harness/parallel.ts): plays
 * it as the main thread would, writes its events as JSON lines to the file it
 * is given (the bytes events.jsonl will hold), and tells the main thread its
 * progress, then its RunMeta or its error.
 */
import { closeSync, openSync, writeSync } from "node:fs";
import { parentPort, workerData } from "node:worker_threads";
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

const fd = openSync(job.eventsFile, "w");
let pending: string[] = [];
let chars = 0;
const flush = () => {
  if (pending.length === 0) return;
  pending.push("");
  writeSync(fd, pending.join("\n"));
  pending = [];
  chars = 0;
};
try {
  const meta = await playScenario(job.scenario as Scenario, {
    mode: "virtual",
    seed: job.seed,
    designs: [job.design],
    signal: controller.signal,
    ...(job.tokenSecret ? { tokenSecret: job.tokenSecret } : {}),
    onEvent: (e) => {
      const line = JSON.stringify(e);
      pending.push(line);
      chars += line.length + 1;
      if (chars >= 1 << 20) flush();
    },
    onProgress: (design, status) => post({ type: "progress", design, status }),
  });
  flush();
  post({ type: "done", meta });
} catch (error) {
  flush();
  const e = error as Error & { problems?: string[] };
  post({
    type: "error",
    name: e?.name ?? "Error",
    message: e?.message ?? String(error),
    ...(Array.isArray(e?.problems) ? { problems: e.problems } : {}),
  });
} finally {
  closeSync(fd);
}
