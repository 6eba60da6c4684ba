import { existsSync } from "node:fs";
import { join } from "node:path";
import { type Command, InvalidArgumentError } from "commander";
import { renderTerminalSummary } from "../reports/terminal.ts";
import { type FileFormat, FORMATS, readRun, writeRunReports } from "../reports/write.ts";
import { parseScenario } from "../simulator/scenario/load.ts";
import { exitOnError, UsageError } from "./errors.ts";
import { exitCodeOf } from "./run.ts";

const ALL = ["terminal", ...FORMATS] as const;

function formats(value: string): string[] {
  const list = value.split(",").map((f) => f.trim());
  const bad = list.filter((f) => !(ALL as readonly string[]).includes(f));
  if (bad.length > 0)
    throw new InvalidArgumentError(
      `unknown format ${bad.join(", ")}; choose from ${ALL.join(", ")}`,
    );
  return list;
}

export function reportCommand(program: Command): void {
  program
    .command("report")
    .description(
      "re-render an existing run's reports from its events.jsonl and scenario (nothing is re-run)",
    )
    .argument("<dir>", "a run directory written by `pullstorm run`")
    .option("--format <list>", `comma-separated: ${ALL.join(", ")}`, formats, [...ALL])
    .action((dir: string, flags: { format: string[] }) => {
      try {
        for (const needed of ["scenario.yaml", "events.jsonl", "report.json"]) {
          if (!existsSync(join(dir, needed)))
            throw new UsageError(`${dir}: no ${needed}; is this a pullstorm run directory?`);
        }
        const { report, analysis } = readRun(dir, parseScenario);
        const fileFormats = flags.format.filter((f): f is FileFormat => f !== "terminal");
        const files = writeRunReports(dir, report, analysis, fileFormats);
        if (flags.format.includes("terminal")) {
          process.stdout.write(
            renderTerminalSummary(analysis, dir, {
              color: Boolean(process.stdout.isTTY && !process.env.NO_COLOR),
              files,
            }),
          );
        } else {
          process.stdout.write(`${files.map((f) => join(dir, f)).join("\n")}\n`);
        }
        process.exitCode = exitCodeOf(report);
      } catch (error) {
        exitOnError(error);
      }
    });
}
