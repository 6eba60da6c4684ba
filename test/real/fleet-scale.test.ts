// Fleet scale (issue 12): the mirror model held to the real CNCF distribution
// mirror (docker-registry 2.8.2) when 50, 100 and 150 containerd nodes start at
// once with cold caches behind a cold authenticated pull-through cache
// (bench/lib/fleet.ts). The real side races with itself: it is a range over the
// runs `npm run calibrate:fleet` recorded (bench/results/fleet-calibration.json,
// docs/calibration.md "Fleet scale"), by pullstorm's live engine and by real ctr
// processes, widened by a fresh live run here. Only live runs whose clock kept up
// (report.json `clock.keptUp`) count. The mixed fleet is test/real/mixed-fleet.test.ts.
import { describe, expect, it } from "vitest";
import {
  COMPARED,
  FLEET_IMAGES,
  FLEET_SIZES,
  type FleetMeasurement,
  fleetRanges,
  measureEngine,
  outsideFleetRange,
  rangeOf,
  recordedFleet,
  trusted,
  type UpstreamCounts,
} from "../../bench/lib/fleet.ts";
import { type MirrorCapacity, UNLIMITED } from "../../simulator/mirror/cpu.ts";
import { MEASURED_CAPACITY } from "../../simulator/mirror/flavours.ts";
import { checkTools } from "../helpers/tools.ts";

const tools = checkTools("docker-registry");

/**
 * The counts the model is held to at fleet scale: what the pull quotas charge
 * (manifest GETs, pulls), upstream blob GETs and token requests, and manifest
 * HEADs (distribution revalidates every tag). The model's mirror has the real
 * one's measured capacity (simulator/mirror/cpu.ts): without it nodes moved in
 * lockstep and sent 2-5x the real blob GETs and tokens (docs/calibration.md
 * "Fleet scale").
 */
const HELD: Array<keyof UpstreamCounts> = [...COMPARED, "manifestHead"];

/** Capacities near the measured one: the agreement must not hang on the exact figure. */
const NEARBY: MirrorCapacity[] = [
  { cores: 2, cpuPerRequestMs: 2.5 },
  { cores: 2, cpuPerRequestMs: 4.5 },
  { cores: 1, cpuPerRequestMs: 1.75 },
];

const recorded = (): FleetMeasurement[] => recordedFleet()?.runs ?? [];

describe("fleet scale: the mirror model inside the real mirror's range", () => {
  let fresh: FleetMeasurement | undefined;

  it("the real ranges are recorded for 50, 100 and 150 nodes, from runs that can be trusted", () => {
    expect(recordedFleet(), "run npm run calibrate:fleet").toBeDefined();
    const ranges = fleetRanges(recorded());
    for (const nodes of FLEET_SIZES) {
      const live = ranges.find((r) => r.driver === "live" && r.nodes === nodes);
      expect(live?.runs, `${nodes} nodes, live`).toBeGreaterThanOrEqual(3);
    }
    // The live driver was held against real programs (docs/calibration.md).
    expect(ranges.some((r) => r.driver === "ctr" && r.runs >= 2)).toBe(true);
  });

  // A fresh run widens the recorded range. A run whose clock fell behind, or where a
  // busy machine had not started every pod in the 30 s, is not trusted and adds nothing,
  // as calibrate:fleet leaves such runs out.
  it("150 nodes live, now: distribution revalidates every tag upstream", async (ctx) => {
    if (!tools.available) return ctx.skip(tools.reason);
    const m = await measureEngine(150, "live");
    expect(m.clock?.timeScale).toBe(1);
    // docker-registry 2.8 asks upstream about a tag on every resolve: one HEAD per node and image.
    expect(m.upstream.manifestHead).toBe(150 * FLEET_IMAGES.length);
    if (trusted(m)) fresh = m;
  }, 120_000);

  it("the model's default capacity is what the real mirror used: processor time per client request in live runs", () => {
    // calibrate:fleet reads docker-registry's processor time from /proc in every live run.
    const runs = [...recorded().filter(trusted), ...(fresh ? [fresh] : [])].filter(
      (r) => r.driver === "live" && r.nodes >= 100 && r.mirrorCpu,
    );
    expect(runs.length, "live runs at 100+ nodes with the mirror's processor time").toBeGreaterThan(
      0,
    );
    const ms = runs.map((r) => r.mirrorCpu?.msPerRequest as number);
    const [lo, hi] = [Math.min(...ms), Math.max(...ms)];
    // The default lies in what the real mirror used, give or take 15 % (a run on a busy
    // machine is charged for the time its threads waited on each other).
    expect(MEASURED_CAPACITY.cpuPerRequestMs, `measured ${lo}..${hi} ms`).toBeGreaterThanOrEqual(
      0.85 * lo,
    );
    expect(MEASURED_CAPACITY.cpuPerRequestMs, `measured ${lo}..${hi} ms`).toBeLessThanOrEqual(
      1.15 * hi,
    );
  });

  it("the model (virtual, MirrorModel distribution-2.8) lies inside the real range at 50, 100 and 150 nodes, with the measured capacity and with capacities near it", async (ctx) => {
    if (!tools.available) return ctx.skip(tools.reason);
    const runs = [...recorded().filter(trusted), ...(fresh ? [fresh] : [])];
    const problems: string[] = [];
    const table: string[] = [];
    const measured = new Map<number, FleetMeasurement>();
    for (const capacity of [undefined, ...NEARBY]) {
      const label = capacity
        ? `capacity ${capacity.cores} x ${capacity.cpuPerRequestMs} ms`
        : "measured capacity";
      for (const nodes of FLEET_SIZES) {
        // Real is real whichever client drove it: pullstorm's live engine or real ctr processes.
        const real = runs.filter((r) => r.nodes === nodes && r.driver !== "model");
        expect(real.length, `${nodes} nodes: real runs`).toBeGreaterThan(0);
        const range = rangeOf(real);
        const model = await measureEngine(nodes, "virtual", undefined, capacity);
        if (!capacity) measured.set(nodes, model);
        problems.push(...outsideFleetRange(model, range, HELD).map((p) => `${label}: ${p}`));
        table.push(
          `${label}, ${nodes} nodes: ${HELD.map((k) => `${k} model ${model.upstream[k]} real ${range[k][0]}..${range[k][1]}`).join(", ")}`,
        );
      }
    }
    expect(problems, table.join("\n")).toEqual([]);
    // Against the live runs under the scenario's own network alone (the mirror's upstream
    // leg shaped as the model's), the model sends less upstream at 150 nodes: printed, not
    // held (issue 12, docs/calibration.md "Fleet scale").
    const gaps: string[] = [];
    for (const nodes of FLEET_SIZES) {
      const same = runs.filter(
        (r) => r.nodes === nodes && r.driver === "live" && r.network === "scenario",
      );
      const model = measured.get(nodes);
      if (same.length === 0 || !model) continue;
      gaps.push(...outsideFleetRange(model, rangeOf(same), HELD));
    }
    if (gaps.length > 0)
      console.warn(
        `known gap (issue 12): against live runs under the same network only:\n${gaps.join("\n")}`,
      );
  }, 120_000);

  it("without a capacity (every request handled the instant it arrives) the model leaves the real range: the queue is what moved it", async () => {
    const runs = recorded().filter(trusted);
    const real = runs.filter((r) => r.nodes === 150 && r.driver !== "model");
    const model = await measureEngine(150, "virtual", undefined, UNLIMITED);
    expect(outsideFleetRange(model, rangeOf(real), HELD)).not.toEqual([]);
  }, 60_000);
});
