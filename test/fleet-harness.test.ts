// The fleet-scale comparisons (bench/lib/fleet.ts) on made-up runs: what counts as
// real evidence, and when the model is inside or outside it. The real runs
// themselves are in test/real/fleet-scale.test.ts and test/real/mixed-fleet.test.ts.
import { describe, expect, it } from "vitest";
import {
  type FleetMeasurement,
  fleetRanges,
  type MixedMeasurement,
  mixedDisagreements,
  outsideFleetRange,
  rangeOf,
  tallyUpstream,
  trusted,
} from "../bench/lib/fleet.ts";
import type { SimEvent } from "../vocabulary/events.ts";

const counts = (manifestGet: number, token = 100) => ({
  manifestGet,
  manifestHead: 100,
  blobGet: 10,
  blobHead: 10,
  token,
  ping: 1,
  pulls: manifestGet / 2,
  fallback: 0,
});

const run = (
  driver: FleetMeasurement["driver"],
  manifestGet: number,
  extra: Partial<FleetMeasurement> = {},
): FleetMeasurement => ({
  driver,
  nodes: 50,
  upstream: counts(manifestGet),
  nodesOk: 50,
  load: [1, 2],
  wallSeconds: 30,
  date: "2026-12-04T00:00:00Z",
  ...(driver === "live"
    ? {
        clock: { timeScale: 1, keptUp: true, lagP99SimSeconds: 0.01, requestP99SimSeconds: 0.02 },
      }
    : {}),
  ...extra,
});

describe("fleet ranges", () => {
  it("leave out live runs whose clock fell behind and runs where a node failed", () => {
    const behind = run("live", 500, {
      clock: { timeScale: 1, keptUp: false, lagP99SimSeconds: 3, requestP99SimSeconds: 3 },
    });
    const failed = run("live", 2, { nodesOk: 49 });
    expect(trusted(behind)).toBe(false);
    expect(trusted(failed)).toBe(false);
    const [live] = fleetRanges([run("live", 20), run("live", 60), behind, failed]);
    expect(live).toMatchObject({ driver: "live", nodes: 50, runs: 2, leftOut: 2 });
    expect(live?.range.manifestGet).toEqual([20, 60]);
  });

  it("hold a model inside the range, and name every count outside it", () => {
    const range = rangeOf([run("live", 20), run("ctr", 60)]);
    expect(outsideFleetRange(run("model", 40), range)).toEqual([]);
    expect(outsideFleetRange(run("model", 102), range)).toEqual([
      "50 nodes: manifestGet: model 102, real 20..60",
      "50 nodes: pulls: model 51, real 10..30",
    ]);
  });

  it("count what reached the origin: the mirror's requests, and nodes falling back", () => {
    const request = (actor: string, kind: string, method: string, pulls?: number) =>
      ({
        type: "request",
        t: 0,
        design: "mirror",
        actor,
        identity: "mirror-bot",
        egressIp: "127.0.0.1",
        host: "registry",
        kind,
        method,
        status: 200,
        bytes: 0,
        latencyMs: 1,
        ...(pulls ? { pulls } : {}),
      }) as SimEvent;
    const tally = tallyUpstream([
      request("mirror", "manifest", "HEAD"),
      request("mirror", "manifest", "GET", 1),
      request("mirror", "manifest", "GET"),
      request("mirror", "token", "GET"),
      request("node-1", "blob", "GET"),
      { ...request("node-2", "manifest", "GET"), host: "mirror" } as SimEvent,
    ]);
    expect(tally).toEqual({
      manifestGet: 2,
      manifestHead: 1,
      blobGet: 1,
      blobHead: 0,
      token: 1,
      ping: 0,
      pulls: 1,
      fallback: 1,
    });
  });
});

describe("the mixed fleet's agreement", () => {
  const m = (
    mode: "live" | "virtual",
    verdict: "holds" | "breaks",
    manifestGet: number,
    keptUp = true,
  ): MixedMeasurement => ({
    design: "mirror",
    mode,
    verdict,
    manifestGet,
    pulls: 0,
    pullsOk: 0,
    pullsTotal: 0,
    keptUp,
    durationSeconds: 60,
    load: [1, 1],
    date: "2026-12-04T00:00:00Z",
  });
  const live = [m("live", "holds", 90), m("live", "holds", 139), m("live", "breaks", 900, false)];

  it("the model agrees within 25 % of the live runs that kept up", () => {
    expect(mixedDisagreements(m("virtual", "holds", 68), live)).toEqual([]);
    expect(mixedDisagreements(m("virtual", "holds", 173), live)).toEqual([]);
  });

  it("a verdict or a count outside them is named; a live run that fell behind is no evidence", () => {
    expect(mixedDisagreements(m("virtual", "holds", 714), live)).toEqual([
      "mirror: upstream manifest GETs: model 714, live 90..139 (2 runs; within 25 % allowed: 68..173)",
    ]);
    expect(mixedDisagreements(m("virtual", "breaks", 100), live)).toEqual([
      "mirror: verdict: model breaks, live holds",
    ]);
    expect(mixedDisagreements(m("virtual", "holds", 100), [live[2] as MixedMeasurement])).toEqual([
      "mirror: no live run that kept up",
    ]);
  });
});
