import { Command } from "commander";
import { breakpointCommand } from "./breakpoint.ts";
import { checkMirrorCommand } from "./check-mirror.ts";
import { k6Command } from "./k6.ts";
import { registryCommand } from "./registry.ts";
import { reportCommand } from "./report.ts";
import { runCommand } from "./run.ts";
import { scenarioCommand } from "./scenario.ts";

const program = new Command("pullstorm")
  .description("load-simulation and game-day testbed for container-registry throttling")
  .version("0.1.0")
  .showHelpAfterError()
  .exitOverride((err) => process.exit(err.exitCode === 0 ? 0 : 2));

runCommand(program);
breakpointCommand(program);
reportCommand(program);
registryCommand(program);
scenarioCommand(program);
checkMirrorCommand(program);
k6Command(program);

await program.parseAsync(process.argv);
