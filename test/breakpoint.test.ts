// Breaking-point search with a known answer: the fixture's anonymous quota is 12
// pulls; each recycled node costs 2 images x 1 pull (an index GET and its
// platform manifest GET are one), so 6 nodes hold and 7 break.
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { findBreakingLoad, findBreakpoint, scaleLoad, valueAt } from "../harness/breakpoint.ts";
import { loadScenario } from "../simulator/scenario/load.ts";
import { runCommand } from "./helpers/processes.ts";

const MINI = join(import.meta.dirname, "fixtures", "mini-churn.yaml");
const CI = join(import.meta.dirname, "..", "scenarios", "ci-fan-out.yaml");
const BIN = join(import.meta.dirname, "..", "bin", "pullstorm.js");

describe("breakpoint", () => {
  it("finds the largest value that holds and the one above that breaks", async () => {
    const result = await findBreakpoint(loadScenario(MINI), {
      design: "anonymous-nat",
      vary: "workload.0.nodes",
      min: 1,
      max: 40,
    });
    expect(result).toMatchObject({
      vary: "workload.0.nodes",
      holdsAt: 6,
      breaksAt: 7,
      layer: "registry-quota",
    });
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
    expect(JSON.parse(res.stdout)).toEqual({
      vary: "workload.0.nodes",
      holdsAt: 6,
      breaksAt: 7,
      layer: "registry-quota",
    });
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
      layer: null,
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

describe("breakpoint over load", () => {
  it("scales the fleet and every workload step together, rounded, at least 1", () => {
    const ci = loadScenario(CI);
    const half = scaleLoad(ci, 0.5);
    expect(half.fleet.ciRunners).toBe(25);
    expect(half.workload.map((w) => ("jobs" in w ? w.jobs : null))).toEqual([25, 25]);
    // Every step, not the first only; a count never rounds down to 0.
    const tiny = scaleLoad(ci, 0.001);
    expect(tiny.workload.map((w) => ("jobs" in w ? w.jobs : null))).toEqual([1, 1]);
    expect(tiny.fleet.ciRunners).toBe(1);
    // What is 0 stays 0; the original is untouched.
    expect(tiny.fleet.nodes).toBe(0);
    expect(ci.workload.map((w) => ("jobs" in w ? w.jobs : null))).toEqual([50, 50]);
    const mini = scaleLoad(loadScenario(MINI), 1.26);
    expect(mini.fleet.nodes).toBe(13);
    expect(mini.workload[0]).toMatchObject({ type: "node-churn", nodes: 13 });
    expect(() => scaleLoad(ci, 0)).toThrow(/positive/);
    // Replicated workloads grow with the fleet; per-node pods are per node already.
    const fleet = {
      ...mini,
      fleet: { ...mini.fleet, pods: ["web", { image: "cache", replicas: 4 }] },
    };
    expect(scaleLoad(fleet, 2.5).fleet.pods).toEqual(["web", { image: "cache", replicas: 10 }]);
  });

  it("finds the breaking load factor with a known answer", async () => {
    // 12 anonymous pulls, 2 per recycled node: 6 nodes hold, 7 break. x0.64 of 10
    // nodes rounds to 6, x0.65 to 7.
    const mini = loadScenario(MINI);
    const result = await findBreakingLoad(mini, { design: "anonymous-nat" });
    expect(result).toMatchObject({
      vary: "load",
      holdsAt: 0.64,
      breaksAt: 0.65,
      layer: "registry-quota",
    });
    expect(scaleLoad(mini, result.holdsAt as number).workload[0]).toMatchObject({ nodes: 6 });
    expect(scaleLoad(mini, result.breaksAt as number).workload[0]).toMatchObject({ nodes: 7 });
    expect(result.tries[0]).toMatchObject({ value: 1, verdict: "breaks" });
    expect(result.tries.length).toBeLessThanOrEqual(10);
  });

  it("ci-fan-out: both fan-outs scale, so a holding load exists (the default --vary load)", async () => {
    // 2 fan-outs x jobs x 3 images, one pull each, within 100 anonymous pulls:
    // 16 jobs (x0.32) hold, 17 (x0.33) break.
    const res = await runCommand(process.execPath, [
      BIN,
      "breakpoint",
      CI,
      "--design",
      "ephemeral-one-nat",
      "--json",
    ]);
    expect(res.status, res.stderr).toBe(0);
    expect(JSON.parse(res.stdout)).toEqual({
      vary: "load",
      holdsAt: 0.32,
      breaksAt: 0.33,
      layer: "registry-quota",
    });
  });
});
