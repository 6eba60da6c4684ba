import { writeFileSync } from "node:fs";
import { type Command, InvalidArgumentError } from "commander";
import { startEndpoints, startSyncServer } from "../simulator/k6/endpoints.ts";
import { derivePlan, type K6Plan } from "../simulator/k6/plan.ts";
import { commandLine, renderScript, shellQuote } from "../simulator/k6/script.ts";
import { defaultTimeScale } from "../simulator/run.ts";
import { loadScenario } from "../simulator/scenario/load.ts";
import type { Design, Scenario } from "../simulator/scenario/schema.ts";
import { checkTarget } from "../simulator/target.ts";
import { exitOnError, UsageError } from "./errors.ts";

function positive(name: string) {
  return (v: string) => {
    const n = Number(v);
    if (!Number.isFinite(n) || n <= 0)
      throw new InvalidArgumentError(`${name} must be a positive number`);
    return n;
  };
}

function wholeNumber(name: string, min: number, max: number) {
  return (v: string) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < min || n > max)
      throw new InvalidArgumentError(`${name} must be a whole number from ${min} to ${max}`);
    return n;
  };
}

function designOf(scenario: Scenario, name: string, file: string): Design {
  const design = scenario.designs.find((d) => d.name === name);
  if (!design)
    throw new UsageError(
      `--design ${name}: no such design in ${file} (designs: ${scenario.designs.map((d) => d.name).join(", ")})`,
    );
  return design;
}

interface ExportFlags {
  design: string;
  output?: string;
  seed?: number;
  timeScale?: number;
  port: number;
  target?: string;
  allowRemote?: boolean;
  maxRps?: number;
  jsonOut?: string;
}

interface ServeFlags {
  design: string;
  seed?: number;
  timeScale?: number;
  port: number;
  host: string;
}

function vuCount(plan: K6Plan): { vus: number; scenarios: number } {
  let vus = 0;
  for (const s of Object.values(plan.options.scenarios ?? {}))
    vus += "vus" in s ? (s.vus ?? 0) : "maxVUs" in s ? (s.maxVUs ?? 0) : 0;
  return { vus, scenarios: Object.keys(plan.options.scenarios ?? {}).length };
}

export function k6Command(program: Command): void {
  const k6 = program
    .command("k6")
    .description(
      "a design's workload as a k6 script for your own k6 or k6-operator (bundled from pullstorm's TypeScript client), and the registry it pulls from",
    );

  k6.command("export")
    .description(
      "write a k6 script playing one design's workload (a VU per node, CI job or desktop), and print the command that runs it",
    )
    .argument("<scenario>", "scenario YAML file (see scenarios/)")
    .requiredOption("--design <name>", "the design to play")
    .option("-o, --output <file>", "write the script here (default: stdout)")
    .option(
      "--seed <n>",
      "random seed (default: the scenario's)",
      wholeNumber("--seed", 0, 2 ** 31),
    )
    .option(
      "--time-scale <n>",
      "simulated seconds per wall second (default: about a minute per scenario, as `pullstorm run`)",
      positive("--time-scale"),
    )
    .option(
      "--port <n>",
      "where `pullstorm k6 serve` listens: registry on N, mirror on N+1, clock sync on N+2",
      wholeNumber("--port", 1, 65_533),
      5000,
    )
    .option("--target <url>", "pull from this registry instead (loopback unless --allow-remote)")
    .option("--allow-remote", "with --target and --max-rps: allow a target not on this machine")
    .option("--max-rps <n>", "cap the script's request rate (k6's rps)", positive("--max-rps"))
    .option(
      "--json-out <file>",
      "k6's JSON output in the printed command (default: <scenario>-<design>.k6.json.gz)",
    )
    .action(async (file: string, flags: ExportFlags) => {
      try {
        const scenario = loadScenario(file);
        const design = designOf(scenario, flags.design, file);
        if (flags.target) {
          const check = checkTarget(flags.target, {
            ...(flags.allowRemote ? { allowRemote: true } : {}),
            ...(flags.maxRps ? { maxRps: flags.maxRps } : {}),
          });
          if (!check.ok) throw new UsageError(check.reason);
        }
        const base = `http://127.0.0.1:${flags.port}`;
        const mirror = design.mirror?.enabled ? `http://127.0.0.1:${flags.port + 1}` : undefined;
        const registry = flags.target ?? base;
        const plan = await derivePlan(scenario, design, {
          ...(flags.seed !== undefined ? { seed: flags.seed } : {}),
          ...(flags.timeScale ? { timeScale: flags.timeScale } : {}),
          hosts: { registry, ...(mirror ? { mirror } : {}) },
          ...(flags.maxRps ? { maxRps: flags.maxRps } : {}),
        });
        const script = flags.output ?? "script.js";
        const command = commandLine(plan, {
          script,
          registry,
          ...(mirror ? { mirror } : {}),
          syncUrl: `http://127.0.0.1:${flags.port + 2}/start/${design.name}`,
          jsonOut: flags.jsonOut ?? `${scenario.name}-${design.name}.k6.json.gz`,
        });
        const serve = [
          "npx pullstorm k6 serve",
          shellQuote(file),
          "--design",
          design.name,
          "--port",
          String(flags.port),
          ...(flags.seed !== undefined ? ["--seed", String(flags.seed)] : []),
          ...(flags.timeScale ? ["--time-scale", String(flags.timeScale)] : []),
        ].join(" ");
        const steps = flags.target
          ? `${command}\n(the target must know the design's accounts; without the sync endpoint, drop PULLSTORM_SYNC_URL)`
          : `${serve}   # the design's registry${mirror ? ", mirror" : ""} and clock\n${command}`;
        const text = await renderScript(plan, steps);
        const { vus, scenarios } = vuCount(plan);
        if (flags.output) writeFileSync(flags.output, text);
        else process.stdout.write(text);
        process.stderr.write(
          [
            `${flags.output ? `wrote ${flags.output}: ` : ""}${scenario.name} / ${design.name}, ${scenarios} k6 scenario(s), up to ${vus} VUs, time x${plan.timeScale}`,
            "k6 reads --local-ips (the design's egress addresses) only from its command line or K6_LOCAL_IPS, so run it as:",
            "",
            ...(flags.target ? [] : [`  ${serve}`]),
            `  ${command}`,
            "",
            "(pullstorm does not ship, build or install k6: use your own, v1.0 or later, or the k6-operator: docs/k6.md)",
            "",
          ].join("\n"),
        );
      } catch (error) {
        exitOnError(error);
      }
    });

  k6.command("serve")
    .description(
      "serve one design's registry (and mirror) with its accounts and scaled clock for an exported script; the clock starts when the script's setup() calls the sync endpoint",
    )
    .argument("<scenario>", "scenario YAML file")
    .requiredOption("--design <name>", "the design the script plays")
    .option(
      "--seed <n>",
      "random seed (default: the scenario's)",
      wholeNumber("--seed", 0, 2 ** 31),
    )
    .option(
      "--time-scale <n>",
      "simulated seconds per wall second (must match the export)",
      positive("--time-scale"),
    )
    .option(
      "--port <n>",
      "registry on N, mirror on N+1, sync on N+2",
      wholeNumber("--port", 1, 65_533),
      5000,
    )
    .option("--host <addr>", "listen address", "127.0.0.1")
    .action(async (file: string, flags: ServeFlags) => {
      try {
        const scenario = loadScenario(file);
        const design = designOf(scenario, flags.design, file);
        const seed = flags.seed ?? scenario.seed;
        const timeScale = flags.timeScale ?? defaultTimeScale(scenario);
        const plan = await derivePlan(scenario, design, { seed, timeScale });
        const endpoints = await startEndpoints(scenario, design, plan, {
          seed,
          timeScale,
          host: flags.host,
          registryPort: flags.port,
          mirrorPort: flags.port + 1,
        });
        const sync = await startSyncServer([endpoints], { host: flags.host, port: flags.port + 2 });
        process.stderr.write(
          [
            `pullstorm k6 serve: ${scenario.name} / ${design.name}, time x${timeScale}, ${plan.accounts.length} account(s)`,
            `  registry ${endpoints.hosts.registry}`,
            ...(endpoints.hosts.mirror ? [`  mirror   ${endpoints.hosts.mirror}`] : []),
            `  sync     ${sync.urlFor(design.name)} (time starts at the first k6 setup())`,
            "Ctrl-C to stop.",
            "",
          ].join("\n"),
        );
        await new Promise<void>((resolve) => {
          process.once("SIGINT", () => resolve());
          process.once("SIGTERM", () => resolve());
        });
        await sync.close();
        await endpoints.close();
      } catch (error) {
        exitOnError(error);
      }
    });
}
