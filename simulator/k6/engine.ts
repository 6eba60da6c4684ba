import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { analyze } from "../../reports/analysis.ts";
import type { Analysis } from "../../reports/analysis-types.ts";
import { buildReport, type Report } from "../../reports/summary.ts";
import type { SimEvent } from "../../vocabulary/events.ts";
import { defaultTimeScale, type RunOptions } from "../run.ts";
import type { Design, Scenario } from "../scenario/schema.ts";
import { type Managed, startProcess } from "../util/processes.ts";
import { findK6, INSTALL_HINT } from "./binary.ts";
import { type DesignEndpoints, startEndpoints, startSyncServer } from "./endpoints.ts";
import { byTime, eventsFromPoints, readK6Points } from "./events.ts";
import { derivePlan, type K6Plan } from "./plan.ts";
import { commandLine, k6Args, renderScript } from "./script.ts";

export interface K6RunOptions extends Omit<RunOptions, "mode"> {
  /** Where scripts, k6's JSON output and logs go (default: a temporary directory, removed after). */
  workDir?: string;
  /** The k6 binary (default: findK6()). */
  k6?: string;
}

export interface K6DesignRun {
  design: string;
  script: string;
  json: string;
  command: string;
  exitCode: number | null;
  /** k6 exits 99 when a threshold (an expectation) failed. */
  thresholdsFailed: boolean;
  requests: number;
  /** http_reqs without their pullstorm_response_bytes Point (should be 0). */
  unmatched: number;
  output: string;
}

export class K6Error extends Error {}

/**
 * `pullstorm run --engine k6`: each design's workload exported as a k6 script
 * (./plan.ts, ./runtime.js) and run by the k6 binary against the design's own
 * embedded registry (or the target), the designs side by side as in the native
 * live engine; k6's JSON output becomes the native events (./events.ts), and
 * the report is built from them by the same buildReport.
 */
export async function runScenarioK6(
  scenario: Scenario,
  options: K6RunOptions,
): Promise<{ report: Report; events: SimEvent[]; analysis: Analysis; runs: K6DesignRun[] }> {
  const k6 = options.k6 ?? findK6();
  if (!k6) throw new K6Error(`k6 not found: ${INSTALL_HINT}, or set PULLSTORM_K6`);
  const seed = options.seed ?? scenario.seed;
  const timeScale = options.timeScale ?? defaultTimeScale(scenario);
  const designs = scenario.designs.filter(
    (d) => !options.designs || options.designs.includes(d.name),
  );
  const temporary = options.workDir === undefined;
  const workDir = options.workDir ?? mkdtempSync(join(tmpdir(), "pullstorm-k6-"));
  mkdirSync(workDir, { recursive: true });

  const nodeEvents = new Map<string, SimEvent[]>(designs.map((d) => [d.name, []]));
  const endpoints: DesignEndpoints[] = [];
  const plans = new Map<string, K6Plan>();
  let interrupted = false;
  const children: Managed[] = [];
  try {
    for (const design of designs) {
      const plan = await derivePlan(scenario, design, {
        seed,
        timeScale,
        ...(options.maxRps ? { maxRps: options.maxRps } : {}),
      });
      plans.set(design.name, plan);
      endpoints.push(
        await startEndpoints(scenario, design, plan, {
          seed,
          timeScale,
          ...(options.target ? { target: options.target } : {}),
          ...(options.maxRps ? { maxRps: options.maxRps } : {}),
          emit: (e) => nodeEvents.get(design.name)?.push(e),
        }),
      );
    }
    const sync = await startSyncServer(endpoints);
    try {
      const runs = await Promise.all(
        designs.map((design, i) =>
          runDesign(
            design,
            plans.get(design.name) as K6Plan,
            endpoints[i] as DesignEndpoints,
            sync.urlFor(design.name),
            { k6, workDir, options, children, onInterrupt: () => (interrupted = true) },
          ),
        ),
      );
      const events: SimEvent[] = [];
      for (const [i, design] of designs.entries()) {
        const run = runs[i] as K6DesignRun & { endMs: number };
        const plan = plans.get(design.name) as K6Plan;
        const t0 = (endpoints[i] as DesignEndpoints).t0;
        const converted = eventsFromPoints(await readK6Points(run.json), {
          plan,
          ...(t0 !== undefined ? { t0 } : {}),
          endMs: run.endMs,
        });
        run.requests = converted.requests;
        run.unmatched = converted.unmatched;
        const merged = byTime([...converted.events, ...(nodeEvents.get(design.name) ?? [])]);
        for (const e of merged) {
          events.push(e);
          options.onEvent?.(e);
        }
        const pulls = merged.filter((e) => e.type === "pull");
        options.onProgress?.(design.name, {
          simSeconds: run.endMs / 1000,
          pullsOk: pulls.filter((e) => e.outcome !== "failed").length,
          pullsFailed: pulls.filter((e) => e.outcome === "failed").length,
          status429: merged.filter((e) => e.type === "request" && e.status === 429).length,
          done: true,
        });
      }
      const report = buildReport(scenario, events, {
        mode: "live",
        seed,
        interrupted: interrupted || (options.signal?.aborted ?? false),
        designs: designs.map((d) => d.name),
        timeScale,
        ...(options.target ? { target: options.target } : {}),
      });
      const analysis = analyze(scenario, events, report);
      return { report, events: options.keepEvents === false ? [] : events, analysis, runs };
    } finally {
      await sync.close();
    }
  } finally {
    // A design's k6 that failed takes the others down with it: none outlives the run.
    await Promise.all(children.map((c) => c.stop("SIGINT")));
    for (const e of endpoints) await e.close();
    if (temporary) rmSync(workDir, { recursive: true, force: true });
  }
}

async function runDesign(
  design: Design,
  plan: K6Plan,
  endpoint: DesignEndpoints,
  syncUrl: string,
  ctx: {
    k6: string;
    workDir: string;
    options: K6RunOptions;
    children: Managed[];
    onInterrupt: () => void;
  },
): Promise<K6DesignRun & { endMs: number }> {
  const script = join(ctx.workDir, `${design.name}.js`);
  const json = join(ctx.workDir, `${design.name}.json.gz`);
  const commandOptions = {
    script,
    k6: ctx.k6,
    registry: endpoint.hosts.registry,
    ...(endpoint.hosts.mirror ? { mirror: endpoint.hosts.mirror } : {}),
    syncUrl,
    jsonOut: json,
    extra: ["--quiet", "--no-color", "--no-usage-report", "--address", ""],
  };
  const command = commandLine(plan, commandOptions);
  writeFileSync(script, renderScript(plan, command));
  // Its own process group: a Ctrl-C at the terminal reaches pullstorm, which stops k6 once
  // (a second SIGINT would make k6 quit without finishing its output).
  const child = startProcess(ctx.k6, k6Args(plan, commandOptions), {
    cwd: ctx.workDir,
    env: { ...process.env, K6_NO_USAGE_REPORT: "true" },
    detached: true,
  });
  ctx.children.push(child);
  const exited = new Promise<number | null>((resolve) => {
    if (child.child.exitCode !== null) resolve(child.child.exitCode);
    child.child.on("exit", (code) => resolve(code));
    child.child.on("error", () => resolve(null));
  });
  // Bounded: the scenario in wall time, the VUs' graceful stop, and start-up.
  const limitMs = plan.durationMs / plan.timeScale + 30_000 + 90_000;
  let endMs: number | undefined;
  const simNow = () =>
    endpoint.t0 === undefined ? 0 : (Date.now() - endpoint.t0) * plan.timeScale;
  const onAbort = () => {
    endMs = Math.min(simNow(), plan.durationMs);
    ctx.onInterrupt();
    child.child.kill("SIGINT");
  };
  ctx.options.signal?.addEventListener("abort", onAbort, { once: true });
  if (ctx.options.signal?.aborted) onAbort();
  const timer = setTimeout(() => {
    endMs ??= Math.min(simNow(), plan.durationMs);
    ctx.onInterrupt();
    void child.stop("SIGINT");
  }, limitMs);
  const exitCode = await exited;
  clearTimeout(timer);
  ctx.options.signal?.removeEventListener("abort", onAbort);
  const output = child.output();
  writeFileSync(join(ctx.workDir, `${design.name}.log`), output);
  if (endMs === undefined && exitCode !== 0 && exitCode !== 99)
    throw new K6Error(
      `k6 failed for design ${design.name} (exit ${exitCode}):\n${output.slice(-4000)}\ncommand: ${command}`,
    );
  return {
    design: design.name,
    script,
    json,
    command,
    exitCode,
    thresholdsFailed: exitCode === 99,
    requests: 0,
    unmatched: 0,
    output,
    endMs: endMs ?? plan.durationMs,
  };
}
