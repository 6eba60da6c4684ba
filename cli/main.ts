import { Command } from "commander";
import { registryCommand } from "./registry.ts";

const program = new Command("pullstorm")
  .description("load-simulation and game-day testbed for container-registry throttling")
  .version("0.1.0")
  .showHelpAfterError()
  .exitOverride((err) => process.exit(err.exitCode === 0 ? 0 : 2));

registryCommand(program);

await program.parseAsync(process.argv);
