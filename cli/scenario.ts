import { readFileSync } from "node:fs";
import type { Command } from "commander";
import { writeAtomic } from "../reports/write.ts";
import {
  DEFAULT_IMPORT_NAME,
  type ImportInput,
  importScenario,
  scenarioNameProblem,
} from "../simulator/scenario/import.ts";
import { readScenario } from "../simulator/scenario/load.ts";
import { scenarioJsonSchema } from "../simulator/scenario/schema.ts";
import { exitOnError, UsageError } from "./errors.ts";

export function scenarioCommand(program: Command): void {
  const scenario = program.command("scenario").description("scenario files");
  scenario
    .command("schema")
    .description("print the scenario format as JSON Schema (for editor completion)")
    .action(() => {
      process.stdout.write(`${JSON.stringify(scenarioJsonSchema(), null, 2)}\n`);
    });
  scenario
    .command("validate")
    .description(
      "check scenario files without running them, exactly as `run` does (exit 2 on the first bad one)",
    )
    .argument("<files...>")
    .action((files: string[]) => {
      try {
        for (const f of files) {
          const { scenario: s, warnings } = readScenario(f);
          for (const w of warnings) process.stderr.write(`pullstorm: warning: ${w}\n`);
          process.stdout.write(
            `${f}: ok (${s.name}, ${s.designs.length} designs, ${s.expectations.length} expectations)\n`,
          );
        }
      } catch (error) {
        exitOnError(error);
      }
    });
  scenario
    .command("import")
    .description(
      "write a scenario from what a cluster pulls: `kubectl get nodes,pods -A -o json`, `kubectl get deploy,ds,sts,jobs,cronjobs -A -o yaml`, `helm template` or plain manifests (several files are read as one cluster; - or none: stdin)",
    )
    .argument("[files...]", "kubectl or helm output, JSON or YAML (- for stdin)")
    .option("--name <name>", "the scenario's name", DEFAULT_IMPORT_NAME)
    .option(
      "-o, --output <file>",
      "write the scenario to this file (atomically: nothing is written on an error) instead of stdout",
    )
    .action(async (files: string[], options: { name: string; output?: string }) => {
      try {
        const problem = scenarioNameProblem(options.name);
        if (problem) throw new UsageError(`--name: ${problem}`);
        const inputs = await readInputs(files.length > 0 ? files : ["-"]);
        const { yaml, notes } = importScenario(inputs, { name: options.name });
        for (const n of notes) process.stderr.write(`pullstorm: note: ${n}\n`);
        if (options.output === undefined) process.stdout.write(yaml);
        else {
          writeAtomically(options.output, yaml);
          process.stderr.write(
            `pullstorm: wrote ${options.output}; next: pullstorm scenario validate ${options.output}\n`,
          );
        }
      } catch (error) {
        exitOnError(error);
      }
    });
}

/** Each file's text, in order; "-" is stdin (once). */
async function readInputs(files: string[]): Promise<ImportInput[]> {
  if (files.filter((f) => f === "-").length > 1)
    throw new UsageError("scenario import: stdin (-) can be read only once");
  const inputs: ImportInput[] = [];
  for (const file of files) {
    if (file === "-") {
      if (process.stdin.isTTY)
        throw new UsageError(
          "scenario import: stdin is a terminal; pipe kubectl or helm output in (kubectl get nodes,pods -A -o json | pullstorm scenario import -), or name files",
        );
      const chunks: Buffer[] = [];
      for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
      inputs.push({ text: Buffer.concat(chunks).toString("utf8"), source: "stdin" });
      continue;
    }
    try {
      inputs.push({ text: readFileSync(file, "utf8"), source: file });
    } catch (error) {
      throw new UsageError(
        `${file}: cannot read (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`,
      );
    }
  }
  return inputs;
}

/** The whole text or nothing (writeAtomic), a failure said as a usage error naming the file. */
function writeAtomically(file: string, text: string): void {
  try {
    writeAtomic(file, text);
  } catch (error) {
    throw new UsageError(
      `${file}: cannot write (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`,
    );
  }
}
