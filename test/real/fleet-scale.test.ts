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
import { checkTools } from "../helpers/tools.ts";

const tools = checkTools("docker-registry");

/**
 * The counts the model is held to at fleet scale: what the pull quotas charge
 * (manifest GETs, pulls) and manifest HEADs (distribution revalidates every tag).
 * Upstream blob GETs and token requests are NOT held: at 100 and 150 nodes the
 * model sends 2-5x the real mirror's (lockstep arrivals in virtual time; no
 * defect found in the mirror model, docs/calibration.md "Fleet scale"). That
 * is issue 12 item 3, open; no quota in the presets counts either.
 */
const HELD: Array<keyof UpstreamCounts> = [
  ...COMPARED.filter((k) => k !== "blobGet" && k !== "token"),
  "manifestHead",
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

  it("the model (virtual, MirrorModel distribution-2.8) lies inside the real range of what quotas count at 50, 100 and 150 nodes", async (ctx) => {
    if (!tools.available) return ctx.skip(tools.reason);
    const runs = [...recorded().filter(trusted), ...(fresh ? [fresh] : [])];
    const problems: string[] = [];
    const table: string[] = [];
    const gaps: string[] = [];
    for (const nodes of FLEET_SIZES) {
      // Real is real whichever client drove it: pullstorm's live engine or real ctr processes.
      const real = runs.filter((r) => r.nodes === nodes && r.driver !== "model");
      expect(real.length, `${nodes} nodes: real runs`).toBeGreaterThan(0);
      const range = rangeOf(real);
      const model = await measureEngine(nodes, "virtual");
      problems.push(...outsideFleetRange(model, range, HELD));
      gaps.push(...outsideFleetRange(model, range, ["blobGet", "token"]));
      table.push(
        `${nodes} nodes: ${HELD.map((k) => `${k} model ${model.upstream[k]} real ${range[k][0]}..${range[k][1]}`).join(", ")}`,
      );
    }
    expect(problems, table.join("\n")).toEqual([]);
    if (gaps.length > 0)
      console.warn(`known gap (issue 12, docs/calibration.md "Fleet scale"):\n${gaps.join("\n")}`);
  }, 60_000);
});
