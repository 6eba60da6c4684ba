import { type Command, InvalidArgumentError } from "commander";
import {
  type BreakpointResult,
  findBreakingLoad,
  findBreakpoint,
  LOAD,
  valueAt,
} from "../harness/breakpoint.ts";
import { loadScenario } from "../simulator/scenario/load.ts";
import { exitOnError, UsageError } from "./errors.ts";

function positive(name: string) {
  return (v: string) => {
    const n = Number(v);
    if (!Number.isFinite(n) || n < 0) throw new InvalidArgumentError(`${name} must be a number`);
    return n;
  };
}

function factor(n: number): string {
  return `x${n}`;
}

export function breakpointCommand(program: Command): void {
  program
    .command("breakpoint")
    .description(
      "search for the largest load at which a design still holds (virtual runs by default)",
    )
    .argument("<scenario>", "scenario YAML file")
    .requiredOption("--design <name>", "the design to test")
    .option(
      "--vary <load|path>",
      "load (the default unless the scenario's `scale` names a path): a factor on the fleet and every workload step together; or one number, e.g. fleet.nodes or workload.0.jobs",
    )
    .option(
      "--min <n>",
      "smallest value to try (load: factor, default 0.0625; path: whole number, default 1)",
      positive("--min"),
    )
    .option(
      "--max <n>",
      "largest value to try (load: factor, default 16; path: default 8 x the scenario's value)",
      positive("--max"),
    )
    .option("--live", "live runs over loopback instead of simulated time (slow)")
    .option("--json", 'print {"vary", "holdsAt", "breaksAt", "layer"} as JSON')
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
          let result: BreakpointResult;
          let show: (n: number) => string;
          if (vary === LOAD) {
            const min = flags.min ?? 1 / 16;
            const max = flags.max ?? 16;
            if (min < 0.01) throw new UsageError("--min: the smallest load factor is 0.01");
            if (max <= min) throw new UsageError("--max must be above --min");
            result = await findBreakingLoad(scenario, {
              design: flags.design,
              min,
              max,
              ...(flags.live ? { live: true } : {}),
            });
            show = factor;
          } else {
            const current = valueAt(scenario, vary);
            if (typeof current !== "number") throw new UsageError(current.error);
            for (const [name, v] of [
              ["--min", flags.min],
              ["--max", flags.max],
            ] as const)
              if (v !== undefined && !Number.isInteger(v))
                throw new UsageError(`${name} must be a whole number with --vary ${vary}`);
            const min = flags.min ?? 1;
            const max = flags.max ?? Math.max(min + 1, current * 8);
            if (max <= min) throw new UsageError("--max must be above --min");
            result = await findBreakpoint(scenario, {
              design: flags.design,
              vary,
              min,
              max,
              ...(flags.live ? { live: true } : {}),
            });
            show = (n) => `${vary} = ${n}`;
          }
          if (flags.json) {
            process.stdout.write(
              `${JSON.stringify({ vary: result.vary, holdsAt: result.holdsAt, breaksAt: result.breaksAt, layer: result.layer })}\n`,
            );
            return;
          }
          const label = vary === LOAD ? "load" : vary;
          for (const t of result.tries) {
            process.stdout.write(
              `  ${label} ${(vary === LOAD ? factor(t.value) : `= ${t.value}`).padStart(7)}: ${t.verdict}${t.reason ? ` (first break at ${Math.round(t.firstBreakSeconds ?? 0)}s, ${t.layer ?? "?"}: ${t.reason})` : ""}${t.clockKeptUp === false ? "  CLOCK FELL BEHIND: distorted" : ""}\n`,
            );
          }
          const layer = result.layer ? ` (first break: ${result.layer})` : "";
          const lowest = result.tries.reduce((m, t) => Math.min(m, t.value), Infinity);
          const highest = result.tries.reduce((m, t) => Math.max(m, t.value), -Infinity);
          process.stdout.write(
            result.holdsAt === null
              ? `${flags.design} breaks already at ${show(lowest)}${layer}\n`
              : result.breaksAt === null
                ? `${flags.design} holds up to ${show(highest)} (the top of the range)\n`
                : `${flags.design} holds at ${show(result.holdsAt)} and breaks at ${show(result.breaksAt)}${layer}\n`,
          );
        } catch (error) {
          exitOnError(error);
        }
      },
    );
}
