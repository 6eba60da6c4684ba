import { ScaledClock } from "../../fake-registry/core/clock.ts";
import { serveRegistry } from "../../fake-registry/index.ts";
import { type ImageRef, parseReference } from "../../vocabulary/oci/reference.ts";
import { egressAddress } from "../actors/common.ts";
import { AUTO_LOAD_SHARE, autoTimeScale, type ClockTolerance } from "../clock.ts";
import { scenarioRegistry } from "../registry-setup.ts";
import type { Scenario } from "../scenario/schema.ts";
import { ClockMeter, lagProbe } from "./clock-meter.ts";
import { shaped } from "./network.ts";
import { HttpTransport, isNetworkError } from "./transport.ts";

export interface Calibration {
  seconds: number;
  lagP99WallMs: number;
  requestP99WallMs: number;
  requests: number;
  /** Wall ms this process spends per request (client and registry sides) when it is saturated. */
  msPerRequest: number;
  /** The scenario's busiest simulated stretch, requests per simulated second (set by the caller). */
  peakRequestsPerSimSecond?: number;
  /** How long that stretch is, simulated seconds (set by the caller). */
  peakWindowSeconds?: number;
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
  // With time on the wire, live answers wait on a timer (the link's delay): the pings wait
  // 1 ms the same way, so the calibration sees that timer's slack too (less the 1 ms).
  const heldMs = scenario.network.enabled ? 1 : 0;
  const served = await serveRegistry(registry, {
    host: "127.0.0.1",
    port: 0,
    ...(heldMs > 0
      ? { handler: shaped(registry, () => ({ rttMs: heldMs, serviceMs: 0, bytesPerSecond: 0 })) }
      : {}),
  });
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
        if (res.status !== 0 && warm)
          meter.request(Math.max(0, performance.now() - started - heldMs));
        const due = performance.now() + 10 + i;
        await new Promise((r) => setTimeout(r, 10 + i));
        if (warm) meter.lag(Math.max(0, performance.now() - due));
      }
    };
    await Promise.all(Array.from({ length: clients }, (_, i) => loop(i)));
    const { lag, request } = meter.total();
    const msPerRequest = await saturate(transport, scenario, 0.7);
    return {
      seconds,
      lagP99WallMs: lag?.p99 ?? 0,
      requestP99WallMs: request?.p99 ?? 0,
      requests: request?.count ?? 0,
      msPerRequest,
    };
  } finally {
    probe.stop();
    meter.close();
    await served.close();
  }
}

/**
 * This process's cost per request: 16 clients send a pull's first requests
 * (ping, an anonymous token, a manifest HEAD: free under every preset) back to
 * back for `seconds`; wall ms per answered request, registry and client sides together.
 */
async function saturate(
  transport: HttpTransport,
  scenario: Scenario,
  seconds: number,
): Promise<number> {
  // The scenario's first Docker Hub image (the registry measured here is Docker Hub's).
  const image = scenario.images
    .map((i) => parseReference(i.ref))
    .find((r): r is ImageRef => !("error" in r) && !r.registry);
  const repository = image?.repository ?? "library/alpine";
  const tag = image?.tag ?? "latest";
  let answered = 0;
  const started = performance.now();
  const end = started + seconds * 1000;
  const loop = async (i: number) => {
    const ip = egressAddress(50_100 + i);
    while (performance.now() < end) {
      const ping = await transport.send(
        { host: "registry", method: "GET", path: "/v2/", headers: {} },
        ip,
      );
      if (isNetworkError(ping)) return;
      answered++;
      const realm = /realm="([^"]+)"/.exec(ping.headers["www-authenticate"] ?? "")?.[1];
      const service = /service="([^"]+)"/.exec(ping.headers["www-authenticate"] ?? "")?.[1];
      const headers: Record<string, string> = {};
      if (realm) {
        const path = `${new URL(realm).pathname}?service=${encodeURIComponent(service ?? "")}&scope=${encodeURIComponent(`repository:${repository}:pull`)}`;
        const token = await transport.send(
          { host: "registry", method: "GET", path, headers: {} },
          ip,
        );
        if (isNetworkError(token)) return;
        answered++;
        try {
          const body = JSON.parse(token.body.toString("utf8")) as { token?: string };
          if (body.token) headers.authorization = `Bearer ${body.token}`;
        } catch {
          // a throttled token service: the manifest HEAD is answered 401, still a request
        }
      }
      const head = await transport.send(
        { host: "registry", method: "HEAD", path: `/v2/${repository}/manifests/${tag}`, headers },
        ip,
      );
      if (isNetworkError(head)) return;
      answered++;
    }
  };
  await Promise.all(Array.from({ length: 16 }, (_, i) => loop(i)));
  const elapsed = performance.now() - started;
  return answered > 0 ? Math.round((elapsed / answered) * 1000) / 1000 : 0;
}

/** "10 s", "minute": the busiest stretch in words. */
function stretch(seconds: number | undefined): string {
  return seconds === undefined || seconds === 60 ? "minute" : `${seconds} s`;
}

/** The scale `--time-scale auto` picks from a calibration, and why, in words. */
export function chooseTimeScale(
  calibration: Calibration,
  tolerance: ClockTolerance,
  cap: number,
): { timeScale: number; reason: string } {
  const peak = calibration.peakRequestsPerSimSecond;
  const { timeScale, limitedBy } = autoTimeScale(
    { lagP99Ms: calibration.lagP99WallMs, requestP99Ms: calibration.requestP99WallMs },
    tolerance,
    cap,
    peak !== undefined && calibration.msPerRequest > 0
      ? { peakRequestsPerSimSecond: peak, msPerRequest: calibration.msPerRequest }
      : undefined,
  );
  const busiest = stretch(calibration.peakWindowSeconds);
  const measured = `this machine: timer lag p99 ${calibration.lagP99WallMs} ms, loopback request p99 ${calibration.requestP99WallMs} ms, ${calibration.msPerRequest} ms per request when busy (${calibration.seconds} s calibration)${peak !== undefined ? `; the scenario's busiest ${busiest}: ${peak} requests per simulated second (virtual run)` : ""}`;
  const allowed = `the clock may lag ${tolerance.simSeconds} s simulated (${tolerance.rule})`;
  const why =
    limitedBy === "cap"
      ? `x${timeScale}, about a minute per scenario, keeps up with room to spare`
      : limitedBy === "machine"
        ? `x${timeScale} is the largest scale that keeps up with room to spare (the default x${Math.round(cap * 10) / 10} would not)`
        : limitedBy === "load"
          ? `x${timeScale} keeps the busiest ${busiest} under ${Math.round(AUTO_LOAD_SHARE * 100)}% of this process's capacity (the default x${Math.round(cap * 10) / 10} would queue requests)`
          : "even x1 (real time) is tight on this machine: the run may not keep up";
  return { timeScale, reason: `auto: ${why}; ${measured}; ${allowed}` };
}
