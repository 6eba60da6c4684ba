import { ScaledClock } from "../../fake-registry/core/clock.ts";
import { serveRegistry } from "../../fake-registry/index.ts";
import { egressAddress } from "../actors/common.ts";
import { autoTimeScale, type ClockTolerance } from "../clock.ts";
import { scenarioRegistry } from "../registry-setup.ts";
import type { Scenario } from "../scenario/schema.ts";
import { ClockMeter, lagProbe } from "./clock-meter.ts";
import { HttpTransport } from "./transport.ts";

export interface Calibration {
  seconds: number;
  lagP99WallMs: number;
  requestP99WallMs: number;
  requests: number;
}

/**
 * Measures this machine for `--time-scale auto`: for `seconds` of wall time,
 * `clients` loops ping a copy of the scenario's embedded registry on loopback
 * from their own 127.x addresses and sleep a little between pings, while a
 * probe timer runs; the p99s of timer lag and ping latency, wall ms.
 */
export async function calibrateMachine(
  scenario: Scenario,
  options: { seconds?: number; clients?: number; seed?: number } = {},
): Promise<Calibration> {
  const seconds = options.seconds ?? 1.5;
  const clients = options.clients ?? 8;
  const registry = scenarioRegistry(scenario, new ScaledClock(1), options.seed ?? scenario.seed);
  const served = await serveRegistry(registry, { host: "127.0.0.1", port: 0 });
  // Scale 1000: the meter's seconds are then wall milliseconds.
  const meter = new ClockMeter(1000);
  const probe = lagProbe((ms) => meter.lag(ms), 10);
  // (the probe's first ticks fall in the warm-up too; they are few)
  try {
    const transport = new HttpTransport({ registry: served.url }, { timeoutMs: 5_000 });
    // The first requests open connections and warm the code up: measured from `from` on.
    const from = performance.now() + 300;
    const end = from + seconds * 1000;
    const loop = async (i: number) => {
      while (performance.now() < end) {
        const started = performance.now();
        const res = await transport.send(
          { host: "registry", method: "GET", path: "/v2/", headers: {} },
          egressAddress(50_000 + i),
        );
        const warm = started >= from;
        if (res.status !== 0 && warm) meter.request(performance.now() - started);
        const due = performance.now() + 10 + i;
        await new Promise((r) => setTimeout(r, 10 + i));
        if (warm) meter.lag(Math.max(0, performance.now() - due));
      }
    };
    await Promise.all(Array.from({ length: clients }, (_, i) => loop(i)));
    const { lag, request } = meter.total();
    return {
      seconds,
      lagP99WallMs: lag?.p99 ?? 0,
      requestP99WallMs: request?.p99 ?? 0,
      requests: request?.count ?? 0,
    };
  } finally {
    probe.stop();
    meter.close();
    await served.close();
  }
}

/** The scale `--time-scale auto` picks from a calibration, and why, in words. */
export function chooseTimeScale(
  calibration: Calibration,
  tolerance: ClockTolerance,
  cap: number,
): { timeScale: number; reason: string } {
  const { timeScale, limitedBy } = autoTimeScale(
    { lagP99Ms: calibration.lagP99WallMs, requestP99Ms: calibration.requestP99WallMs },
    tolerance,
    cap,
  );
  const measured = `this machine: timer lag p99 ${calibration.lagP99WallMs} ms, loopback request p99 ${calibration.requestP99WallMs} ms (${calibration.seconds} s calibration)`;
  const allowed = `the clock may lag ${tolerance.simSeconds} s simulated (${tolerance.rule})`;
  const why =
    limitedBy === "cap"
      ? `x${timeScale}, about a minute per scenario, keeps up with room to spare`
      : limitedBy === "machine"
        ? `x${timeScale} is the largest scale that keeps up with room to spare (the default x${Math.round(cap * 10) / 10} would not)`
        : "even x1 (real time) is tight on this machine: the run may not keep up";
  return { timeScale, reason: `auto: ${why}; ${measured}; ${allowed}` };
}
