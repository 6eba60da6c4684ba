// Breaking-point search with a known answer: the fixture's anonymous quota is 12
// pulls; each recycled node costs 2 images x 1 pull (an index GET and its
// platform manifest GET are one), so 6 nodes hold and 7 break.
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { findBreakpoint, valueAt } from "../harness/breakpoint.ts";
import { loadScenario } from "../simulator/scenario/load.ts";
import { runCommand } from "./helpers/processes.ts";

const MINI = join(import.meta.dirname, "fixtures", "mini-churn.yaml");
const BIN = join(import.meta.dirname, "..", "bin", "pullstorm.js");

describe("breakpoint", () => {
  it("finds the largest value that holds and the one above that breaks", async () => {
    const result = await findBreakpoint(loadScenario(MINI), {
      design: "anonymous-nat",
      vary: "workload.0.nodes",
      min: 1,
      max: 40,
    });
    expect(result).toMatchObject({ vary: "workload.0.nodes", holdsAt: 6, breaksAt: 7 });
    expect(result.tries.length).toBeLessThanOrEqual(8);
  });

  it("prints the documented JSON, with null when it never breaks in range", async () => {
    const res = await runCommand(process.execPath, [
      BIN,
      "breakpoint",
      MINI,
      "--design",
      "anonymous-nat",
      "--vary",
      "workload.0.nodes",
      "--max",
      "40",
      "--json",
    ]);
    expect(res.status, res.stderr).toBe(0);
    expect(JSON.parse(res.stdout)).toEqual({ vary: "workload.0.nodes", holdsAt: 6, breaksAt: 7 });
    const never = await runCommand(process.execPath, [
      BIN,
      "breakpoint",
      MINI,
      "--design",
      "authenticated",
      "--vary",
      "workload.0.nodes",
      "--max",
      "10",
      "--json",
    ]);
    expect(JSON.parse(never.stdout)).toEqual({
      vary: "workload.0.nodes",
      holdsAt: 10,
      breaksAt: null,
    });
  });

  it("names a bad path or design and exits 2", async () => {
    expect(valueAt(loadScenario(MINI), "fleet.nope")).toEqual({
      error: '--vary fleet.nope: the scenario has nothing at "nope"',
    });
    const res = await runCommand(process.execPath, [BIN, "breakpoint", MINI, "--design", "nope"]);
    expect(res.status).toBe(2);
    expect(res.stderr).toContain("--design nope: no such design");
  });
});
