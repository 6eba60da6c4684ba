import { randomBytes } from "node:crypto";
import { copyFileSync, existsSync, mkdirSync, rmSync } from "node:fs";
import { join, resolve } from "node:path";
import { type Command, InvalidArgumentError } from "commander";
import { RunnerMetrics } from "../dashboard/metrics.ts";
import { type RunningDashboard, startDashboard } from "../dashboard/server.ts";
import { LiveView } from "../dashboard/view.ts";
import { runScenario } from "../harness/run.ts";
import type { RunFold } from "../reports/fold.ts";
import type { Report } from "../reports/summary.ts";
import { renderTerminalSummary } from "../reports/terminal.ts";
import { EventLog, writeRunReports } from "../reports/write.ts";
import {
  type DesignProgress,
  type LiveDesignControl,
  LiveRunTooLong,
  targetProblem,
} from "../simulator/run.ts";
import { readScenario } from "../simulator/scenario/load.ts";
import { checkTarget } from "../simulator/target.ts";
import { formatDuration, parseDuration } from "../vocabulary/config/units.ts";
import { ConfigError } from "../vocabulary/config/yaml-file.ts";
import { exitOnError, UsageError } from "./errors.ts";

interface RunFlags {
  out?: string;
  design?: string[];
  seed?: number;
  virtual?: boolean;
  target?: string;
  timeScale?: number | "auto";
  maxWall?: number;
  jobs?: number;
  allowRemote?: boolean;
  maxRps?: number;
  json?: boolean;
  nearMiss?: number;
  dashboard?: { host: string; port: number };
  dashboardLinger?: number;
  controlToken?: string;
}

/** `--dashboard [HOST:]PORT`: loopback unless a host is named. */
export function parseListen(value: string): { host: string; port: number } {
  const m = /^(?:(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):)?(\d{1,5})$/.exec(value.trim());
  const port = m ? Number(m[2]) : Number.NaN;
  if (!m || !Number.isInteger(port) || port > 65535)
    throw new InvalidArgumentError(
      `--dashboard ${JSON.stringify(value)}: expected [HOST:]PORT, e.g. 8080 or 127.0.0.1:8080 (0: any free port)`,
    );
  const host = (m[1] ?? "127.0.0.1").replace(/^\[|\]$/g, "");
  return { host, port };
}

function positiveInteger(name: string) {
  return (v: string) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 1)
      throw new InvalidArgumentError(`${name} must be a whole number of at least 1`);
    return n;
  };
}

function positiveNumber(name: string) {
  return (v: string) => {
    const n = Number(v);
    if (!Number.isFinite(n) || n <= 0)
      throw new InvalidArgumentError(`${name} must be a positive number`);
    return n;
  };
}

function stamp(): string {
  return new Date()
    .toISOString()
    .replace(/[:.]/g, "-")
    .replace(/-\d{3}Z$/, "Z");
}

export function runCommand(program: Command): void {
  program
    .command("run")
    .description(
      "replay a scenario against the embedded registry (live over loopback by default) and report where each design breaks",
    )
    .argument("<scenario>", "scenario YAML file (see scenarios/)")
    .option(
      "--out <dir>",
      "where events.jsonl and report.json go (default pullstorm-results/<scenario>-<time>)",
    )
    .option(
      "--design <name>",
      "run only this design (repeatable)",
      (v: string, prev: string[] = []) => [...prev, v],
    )
    .option("--seed <n>", "random seed (default: the scenario's)", (v) => {
      const n = Number(v);
      if (!Number.isInteger(n) || n < 0)
        throw new InvalidArgumentError("--seed must be a whole number");
      return n;
    })
    .option("--virtual", "simulated time, no sockets: large fleets in seconds")
    .option(
      "--target <url>",
      "run against this registry instead of the embedded Docker Hub one (loopback unless --allow-remote; not for a scenario with other registries)",
    )
    .option(
      "--time-scale <n|auto>",
      "live: simulated seconds per wall second, or auto: measure this machine and pick the largest scale (at most about a minute per scenario) at which the clock keeps up",
      (v: string) => (v === "auto" ? "auto" : positiveNumber("--time-scale")(v)),
      "auto",
    )
    .option(
      "--max-wall <duration>",
      "live with --time-scale auto: refuse (exit 2, nothing run) when the scale this machine keeps up with would make the run longer than this, e.g. 30m, 2h",
      (v: string) => {
        const ms = parseDuration(v);
        if (typeof ms !== "number" || ms <= 0)
          throw new InvalidArgumentError(
            `--max-wall ${typeof ms === "number" ? "must be longer than 0" : ms.error}`,
          );
        return ms;
      },
    )
    .option(
      "--jobs <n>",
      "--virtual: how many designs play at once, on worker threads (default 1: one after the other); events.jsonl and the reports are the same byte for byte",
      positiveInteger("--jobs"),
    )
    .option(
      "--allow-remote",
      "with --target and --max-rps: allow a target that is not on this machine",
    )
    .option(
      "--max-rps <n>",
      "with --allow-remote: cap the request rate",
      positiveNumber("--max-rps"),
    )
    .option(
      "--near-miss <share>",
      "flag a design that holds as a near miss when it used more than this share of a limit, 0..1 (default: the scenario's nearMissThreshold, 0.8)",
      (v: string) => {
        const n = Number(v);
        if (!Number.isFinite(n) || n < 0 || n > 1)
          throw new InvalidArgumentError("--near-miss must be a share between 0 and 1, e.g. 0.8");
        return n;
      },
    )
    .option(
      "--dashboard <[host:]port>",
      "live: serve the game-day console (live page, facilitator controls, runner /metrics) on this address; loopback unless a host is named",
      parseListen,
    )
    .option(
      "--dashboard-linger <duration>",
      "with --dashboard: keep serving the page and the reports this long after the run (Ctrl-C ends it sooner)",
      (v: string) => {
        const ms = parseDuration(v);
        if (typeof ms !== "number" || ms < 0)
          throw new InvalidArgumentError(
            `--dashboard-linger ${typeof ms === "number" ? "must not be negative" : ms.error}`,
          );
        return ms;
      },
      600_000,
    )
    .option(
      "--control-token <token>",
      "with --dashboard: the token the console's controls present (default: a random one, printed in the console's URL)",
    )
    .option("--json", "print report.json to stdout instead of the summary")
    .action(async (file: string, flags: RunFlags) => {
      // Set once the output directory is made by this run: removed again if the scenario turns out bad.
      let made: string | undefined;
      let eventsFile: EventLog | undefined;
      let dashboard: RunningDashboard | undefined;
      let view: LiveView | undefined;
      let runnerMetrics: RunnerMetrics | undefined;
      let liveDesign: ((control: LiveDesignControl) => void) | undefined;
      try {
        // The same check as `scenario validate`: nothing is written for a bad scenario.
        const { scenario, warnings } = readScenario(file);
        for (const w of warnings) process.stderr.write(`pullstorm: warning: ${w}\n`);
        if (flags.design) {
          const unknown = flags.design.filter((d) => !scenario.designs.some((x) => x.name === d));
          if (unknown.length > 0)
            throw new UsageError(
              `--design ${unknown.join(", ")}: no such design in ${file} (designs: ${scenario.designs.map((d) => d.name).join(", ")})`,
            );
        }
        if (flags.target) {
          if (flags.virtual)
            throw new UsageError("--target runs live; it cannot be combined with --virtual");
          const check = checkTarget(flags.target, {
            ...(flags.allowRemote ? { allowRemote: true } : {}),
            ...(flags.maxRps ? { maxRps: flags.maxRps } : {}),
          });
          if (!check.ok) throw new UsageError(check.reason);
          const refused = targetProblem(scenario);
          if (refused) throw new UsageError(refused);
        }
        if (flags.jobs !== undefined && !flags.virtual)
          throw new UsageError(
            "--jobs applies to --virtual runs (live designs already run side by side)",
          );
        if (flags.maxWall !== undefined && (flags.virtual || flags.timeScale !== "auto"))
          throw new UsageError(
            `--max-wall bounds the scale --time-scale auto picks; it does not apply to ${flags.virtual ? "--virtual" : `--time-scale ${flags.timeScale}`}`,
          );
        if (flags.dashboard && flags.virtual)
          throw new UsageError(
            "--dashboard watches a live run; a --virtual run is over in seconds: open its report.html",
          );
        if (flags.controlToken !== undefined && !flags.dashboard)
          throw new UsageError("--control-token is the console's: it goes with --dashboard");
        if (flags.controlToken !== undefined && !/^[\x21-\x7e]{16,200}$/.test(flags.controlToken))
          throw new UsageError(
            "--control-token must be 16 to 200 visible ASCII characters (no spaces)",
          );
        const out = flags.out ?? join("pullstorm-results", `${scenario.name}-${stamp()}`);
        // The console listens before anything is written: a taken port is a usage error.
        const names = scenario.designs
          .filter((d) => !flags.design || flags.design.includes(d.name))
          .map((d) => d.name);
        const seed = flags.seed ?? scenario.seed;
        const controlToken = flags.controlToken ?? randomBytes(24).toString("base64url");
        if (flags.dashboard) {
          view = new LiveView(scenario, names, { mode: "live", seed });
          runnerMetrics = new RunnerMetrics(names);
          dashboard = await startDashboard({
            ...flags.dashboard,
            token: controlToken,
            view,
            metrics: runnerMetrics,
          }).catch((error: NodeJS.ErrnoException) => {
            throw new UsageError(
              `--dashboard ${flags.dashboard?.host}:${flags.dashboard?.port}: ${error.code === "EADDRINUSE" ? "address in use" : error.code === "EADDRNOTAVAIL" ? "no such address on this machine" : error.message}`,
            );
          });
          const paused = new Map<string, LiveDesignControl>();
          view.pausedBy((design) => paused.get(design)?.paused ?? false);
          liveDesign = (control) => {
            view?.begin();
            paused.set(control.design, control);
            dashboard?.addDesign(control);
          };
          process.stderr.write(
            `pullstorm: live console at ${dashboard.url}#token=${controlToken}\n  (watching needs no token; the controls need the one in that address)\n`,
          );
        }
        if (!existsSync(out)) made = out;
        mkdirSync(out, { recursive: true });
        // The scenario as run, so `pullstorm report DIR` can re-render without the original file.
        copyFileSync(file, join(out, "scenario.yaml"));
        eventsFile = new EventLog(join(out, "events.jsonl"));
        const controller = new AbortController();
        const onSignal = () => controller.abort();
        process.once("SIGINT", onSignal);
        process.once("SIGTERM", onSignal);
        const tty = process.stderr.isTTY && !flags.json;
        const status = new Map<string, DesignProgress>();
        const mode = flags.virtual ? "virtual" : "live";
        const timeScale = mode === "live" ? (flags.timeScale ?? "auto") : undefined;
        process.stderr.write(
          `pullstorm: ${scenario.name}, ${mode}${timeScale === "auto" ? " (time scale auto: measuring this machine)" : timeScale ? ` (time x${Math.round(timeScale * 10) / 10})` : ""}, ${names.length} design(s) -> ${out}\n`,
        );
        let scaleSaid = false;
        // The report and its analysis are built as events happen; events go to the file, not memory.
        const { report, analysis } = await runScenario(scenario, {
          keepEvents: false,
          mode,
          ...(flags.seed !== undefined ? { seed: flags.seed } : {}),
          ...(flags.design ? { designs: flags.design } : {}),
          ...(timeScale ? { timeScale } : {}),
          ...(flags.maxWall !== undefined ? { maxWallMs: flags.maxWall } : {}),
          ...(flags.jobs !== undefined ? { jobs: flags.jobs } : {}),
          ...(flags.target ? { target: flags.target } : {}),
          ...(flags.maxRps ? { maxRps: flags.maxRps } : {}),
          ...(flags.allowRemote ? { allowRemote: true } : {}),
          ...(flags.nearMiss !== undefined ? { nearMissThreshold: flags.nearMiss } : {}),
          signal: controller.signal,
          ...(dashboard
            ? {
                controlToken,
                onLiveDesign: (control: LiveDesignControl) => liveDesign?.(control),
                onFold: (fold: RunFold) => view?.attach(fold),
              }
            : {}),
          // Stragglers after the end (in-flight live requests) are dropped, never written to a closed file.
          onEvent: (e) => {
            eventsFile?.write(e);
            view?.add(e);
            runnerMetrics?.add(e);
            if (e.type === "clock" && e.phase === "scale" && !scaleSaid) {
              scaleSaid = true;
              process.stderr.write(`  time x${Math.round(e.timeScale * 10) / 10}: ${e.reason}\n`);
            }
          },
          onProgress: (design, p) => {
            status.set(design, p);
            if (p.done) {
              // A finished design gets its own line; on a TTY it replaces the live status line.
              const line = `  ${design.padEnd(28)} t=${Math.round(p.simSeconds)}s  pulls ok ${p.pullsOk}  failed ${p.pullsFailed}  429s ${p.status429}  done`;
              process.stderr.write(`${tty ? "\r\x1b[K" : ""}${line}\n`);
            } else if (tty) {
              // One status line for every running design: simulated time, pulls ok/failed, 429s.
              const running = [...status].filter(([, s]) => !s.done);
              const parts = running.map(
                ([d, s]) => `${d} ${s.pullsOk}/${s.pullsFailed}/${s.status429}`,
              );
              const t = Math.round(Math.max(...running.map(([, s]) => s.simSeconds)));
              process.stderr.write(
                `\r\x1b[K  t=${t}s  ok/failed/429: ${parts.join(" | ")}`.slice(
                  0,
                  (process.stderr.columns ?? 120) + 8,
                ),
              );
            }
          },
        });
        eventsFile.close();
        process.removeListener("SIGINT", onSignal);
        process.removeListener("SIGTERM", onSignal);
        const files = ["events.jsonl", "scenario.yaml", ...writeRunReports(out, report, analysis)];
        process.stdout.write(
          flags.json
            ? `${JSON.stringify(report, null, 2)}\n`
            : renderTerminalSummary(analysis, out, {
                color: Boolean(process.stdout.isTTY && !process.env.NO_COLOR),
                files,
              }),
        );
        process.exitCode = exitCodeOf(report);
        if (dashboard) {
          dashboard.ended({
            interrupted: report.interrupted,
            reports: files.filter((f) => f.startsWith("report.") || f === "junit.xml"),
            out: resolve(out),
          });
          await linger(dashboard.url, flags.dashboardLinger ?? 600_000);
        }
      } catch (error) {
        // A scenario found bad while setting up (ConfigError), or a live run refused
        // before it started (LiveRunTooLong), leaves no directory behind.
        const nothingRun = error instanceof ConfigError || error instanceof LiveRunTooLong;
        if (nothingRun && made) {
          eventsFile?.close();
          rmSync(made, { recursive: true, force: true });
        }
        exitOnError(error instanceof LiveRunTooLong ? new UsageError(error.message) : error);
      } finally {
        await dashboard?.close();
      }
    });
}

/** The console keeps serving the ended run's page and reports for `ms`, or until Ctrl-C. */
async function linger(url: string, ms: number): Promise<void> {
  if (ms <= 0) return;
  process.stderr.write(
    `pullstorm: the live console serves the reports at ${url} for ${formatDuration(ms)} (Ctrl-C to leave now)\n`,
  );
  await new Promise<void>((done) => {
    const stop = () => {
      clearTimeout(timer);
      process.removeListener("SIGINT", stop);
      process.removeListener("SIGTERM", stop);
      done();
    };
    const timer = setTimeout(stop, ms);
    process.once("SIGINT", stop);
    process.once("SIGTERM", stop);
  });
}

export function exitCodeOf(report: Report): number {
  if (report.interrupted) return 130;
  return report.expectations.every((e) => e.passed) ? 0 : 1;
}
