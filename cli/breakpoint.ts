import { type Command, InvalidArgumentError } from "commander";
import { findBreakpoint, valueAt } from "../harness/breakpoint.ts";
import { loadScenario } from "../simulator/scenario/load.ts";
import { exitOnError, UsageError } from "./errors.ts";

function whole(name: string) {
  return (v: string) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 0)
      throw new InvalidArgumentError(`${name} must be a whole number`);
    return n;
  };
}

export function breakpointCommand(program: Command): void {
  program
    .command("breakpoint")
    .description(
      "search for the largest scale at which a design still holds (virtual runs by default)",
    )
    .argument("<scenario>", "scenario YAML file")
    .requiredOption("--design <name>", "the design to test")
    .option(
      "--vary <path>",
      "the number to vary, e.g. fleet.nodes or workload.0.jobs (default: the scenario's `scale`)",
    )
    .option("--min <n>", "smallest value to try", whole("--min"))
    .option("--max <n>", "largest value to try (default: 8 x the scenario's value)", whole("--max"))
    .option("--live", "live runs over loopback instead of simulated time (slow)")
    .option("--json", 'print {"vary", "holdsAt", "breaksAt"} as JSON')
    .action(
      async (
        file: string,
        flags: {
          design: string;
          vary?: string;
          min?: number;
          max?: number;
          live?: boolean;
          json?: boolean;
        },
      ) => {
        try {
          const scenario = loadScenario(file);
          if (!scenario.designs.some((d) => d.name === flags.design))
            throw new UsageError(
              `--design ${flags.design}: no such design in ${file} (designs: ${scenario.designs.map((d) => d.name).join(", ")})`,
            );
          const vary = flags.vary ?? scenario.scale;
          const current = valueAt(scenario, vary);
          if (typeof current !== "number") throw new UsageError(current.error);
          const min = flags.min ?? 1;
          const max = flags.max ?? Math.max(min + 1, current * 8);
          if (max <= min) throw new UsageError("--max must be above --min");
          const result = await findBreakpoint(scenario, {
            design: flags.design,
            vary,
            min,
            max,
            ...(flags.live ? { live: true } : {}),
          });
          if (flags.json) {
            process.stdout.write(
              `${JSON.stringify({ vary: result.vary, holdsAt: result.holdsAt, breaksAt: result.breaksAt })}\n`,
            );
            return;
          }
          for (const t of result.tries) {
            process.stdout.write(
              `  ${vary} = ${String(t.value).padStart(6)}: ${t.verdict}${t.reason ? ` (first break at ${Math.round(t.firstBreakSeconds ?? 0)}s: ${t.reason})` : ""}${t.clockKeptUp === false ? "  CLOCK FELL BEHIND: distorted" : ""}\n`,
            );
          }
          process.stdout.write(
            result.holdsAt === null
              ? `${flags.design} breaks already at ${vary} = ${min}\n`
              : result.breaksAt === null
                ? `${flags.design} holds up to ${vary} = ${max} (the top of the range)\n`
                : `${flags.design} holds at ${vary} = ${result.holdsAt} and breaks at ${result.breaksAt}\n`,
          );
        } catch (error) {
          exitOnError(error);
        }
      },
    );
}
