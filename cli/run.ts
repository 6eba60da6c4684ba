import { copyFileSync, existsSync, mkdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { type Command, InvalidArgumentError } from "commander";
import { runScenario } from "../harness/run.ts";
import type { Report } from "../reports/summary.ts";
import { renderTerminalSummary } from "../reports/terminal.ts";
import { EventLog, writeRunReports } from "../reports/write.ts";
import { type DesignProgress, LiveRunTooLong } from "../simulator/run.ts";
import { readScenario } from "../simulator/scenario/load.ts";
import { checkTarget } from "../simulator/target.ts";
import { parseDuration } from "../vocabulary/config/units.ts";
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
      "run against this registry instead of the embedded one (loopback unless --allow-remote)",
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
    .option("--json", "print report.json to stdout instead of the summary")
    .action(async (file: string, flags: RunFlags) => {
      // Set once the output directory is made by this run: removed again if the scenario turns out bad.
      let made: string | undefined;
      let eventsFile: EventLog | undefined;
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
        }
        if (flags.jobs !== undefined && !flags.virtual)
          throw new UsageError(
            "--jobs applies to --virtual runs (live designs already run side by side)",
          );
        if (flags.maxWall !== undefined && (flags.virtual || flags.timeScale !== "auto"))
          throw new UsageError(
            `--max-wall bounds the scale --time-scale auto picks; it does not apply to ${flags.virtual ? "--virtual" : `--time-scale ${flags.timeScale}`}`,
          );
        const out = flags.out ?? join("pullstorm-results", `${scenario.name}-${stamp()}`);
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
          `pullstorm: ${scenario.name}, ${mode}${timeScale === "auto" ? " (time scale auto: measuring this machine)" : timeScale ? ` (time x${Math.round(timeScale * 10) / 10})` : ""}, ${scenario.designs.length} design(s) -> ${out}\n`,
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
          // Stragglers after the end (in-flight live requests) are dropped, never written to a closed file.
          onEvent: (e) => {
            eventsFile?.write(e);
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
      } catch (error) {
        // A scenario found bad while setting up (ConfigError), or a live run refused
        // before it started (LiveRunTooLong), leaves no directory behind.
        const nothingRun = error instanceof ConfigError || error instanceof LiveRunTooLong;
        if (nothingRun && made) {
          eventsFile?.close();
          rmSync(made, { recursive: true, force: true });
        }
        exitOnError(error instanceof LiveRunTooLong ? new UsageError(error.message) : error);
      }
    });
}

export function exitCodeOf(report: Report): number {
  if (report.interrupted) return 130;
  return report.expectations.every((e) => e.passed) ? 0 : 1;
}
