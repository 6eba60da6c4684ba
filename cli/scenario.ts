import type { Command } from "commander";
import { readScenario } from "../simulator/scenario/load.ts";
import { scenarioJsonSchema } from "../simulator/scenario/schema.ts";
import { exitOnError } from "./errors.ts";

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
}
