// The product's process helpers, shared with the tests.
export {
  type CommandResult,
  freePort,
  type Managed,
  runCommand,
  startProcess,
  waitFor,
} from "../../simulator/util/processes.ts";
