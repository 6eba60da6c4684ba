// k6 as the load engine, with the real k6 (tools/bin/k6, built by scripts/install-k6.sh):
// the exported scripts replay ci-fan-out and node-churn against the embedded registry
// and agree with the native live engine: upstream manifest GETs and 429s within 5 %,
// admitted manifest GETs per source address exactly.
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import type { Report } from "../../reports/summary.ts";
import type { RequestEvent, SimEvent } from "../../vocabulary/events.ts";
import { INSTALL_HINT, PROJECT_K6 } from "../../simulator/k6/binary.ts";
import { runScenarioK6 } from "../../simulator/k6/engine.ts";
import { runScenario } from "../../simulator/run.ts";
import { loadScenario } from "../../simulator/scenario/load.ts";
import { runCommand } from "../helpers/processes.ts";
import { checkBinary } from "../helpers/tools.ts";

const k6 = checkBinary(PROJECT_K6, INSTALL_HINT);
const root = join(import.meta.dirname, "..", "..");
const BIN = join(root, "bin", "pullstorm.js");
const work = mkdtempSync(join(tmpdir(), "pullstorm-k6-real-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));

const upstreamManifestGets = (e: SimEvent): e is RequestEvent =>
  e.type === "request" && e.host === "registry" && e.kind === "manifest" && e.method === "GET";

/** 2xx manifest GETs the registry admitted, per source address. */
function admittedPerIp(events: SimEvent[], design: string): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const e of events)
    if (upstreamManifestGets(e) && e.design === design && e.status >= 200 && e.status < 300)
      counts[e.egressIp] = (counts[e.egressIp] ?? 0) + 1;
  return counts;
}

function within5(actual: number, expected: number): boolean {
  return Math.abs(actual - expected) <= 0.05 * expected;
}

async function agreement(file: string, designs: string[], timeScale: number) {
  const scenario = loadScenario(file);
  const native = await runScenario(scenario, { mode: "live", designs, timeScale });
  const viaK6 = await runScenarioK6(scenario, {
    designs,
    timeScale,
    k6: PROJECT_K6,
    workDir: join(work, scenario.name),
  });
  const rows = designs.map((name) => {
    const n = native.report.designs.find((d) => d.name === name);
    const k = viaK6.report.designs.find((d) => d.name === name);
    return {
      name,
      native: { gets: n?.upstream.manifestGet ?? 0, s429: n?.upstream.status["429"] ?? 0 },
      k6: { gets: k?.upstream.manifestGet ?? 0, s429: k?.upstream.status["429"] ?? 0 },
      nativePerIp: admittedPerIp(native.events, name),
      k6PerIp: admittedPerIp(viaK6.events, name),
    };
  });
  // The numbers, for the record (docs/k6.md quotes them).
  console.log(
    `${scenario.name} x${timeScale}\n${rows
      .map(
        (r) =>
          `  ${r.name}: manifest GETs native ${r.native.gets} / k6 ${r.k6.gets}, 429s ${r.native.s429} / ${r.k6.s429}, admitted per IP ${JSON.stringify(r.nativePerIp).slice(0, 80)} / ${JSON.stringify(r.k6PerIp).slice(0, 80)}`,
      )
      .join("\n")}`,
  );
  return { native, viaK6, rows };
}

function expectAgreement(
  result: Awaited<ReturnType<typeof agreement>>,
  verdicts: Record<string, Report["designs"][number]["verdict"]>,
) {
  const { viaK6, rows } = result;
  for (const run of viaK6.runs) {
    expect(run.exitCode, `${run.design}: k6 exit\n${run.output.slice(-2000)}`).toBe(0);
    expect(run.unmatched, `${run.design}: requests without an answer Point`).toBe(0);
  }
  for (const r of rows) {
    expect(within5(r.k6.gets, r.native.gets), `${r.name} manifest GETs ${JSON.stringify(r)}`).toBe(
      true,
    );
    expect(within5(r.k6.s429, r.native.s429), `${r.name} 429s ${JSON.stringify(r)}`).toBe(true);
    expect(r.k6PerIp, `${r.name} admitted GETs per IP`).toEqual(r.nativePerIp);
  }
  for (const [name, verdict] of Object.entries(verdicts))
    expect(viaK6.report.designs.find((d) => d.name === name)?.verdict, name).toBe(verdict);
  expect(viaK6.report.expectations.every((e) => e.passed)).toBe(true);
  // k6's --local-ips and the VU's own egress tag agree: the registry counted the address the event names.
  for (const e of viaK6.events)
    if (e.type === "request" && e.rateLimit?.source && e.identity === e.egressIp)
      expect(e.rateLimit.source).toBe(e.egressIp);
}

describe("k6 engine against the embedded registry", () => {
  it("ci-fan-out: one NAT IP breaks, 50 egress IPs hold; k6 and native agree", async (ctx) => {
    if (!k6.available) return ctx.skip(k6.reason);
    const result = await agreement(
      join(root, "scenarios", "ci-fan-out.yaml"),
      ["ephemeral-one-nat", "split-egress"],
      240,
    );
    expectAgreement(result, { "ephemeral-one-nat": "breaks", "split-egress": "holds" });
    const split = result.rows.find((r) => r.name === "split-egress");
    expect(Object.keys(split?.k6PerIp ?? {})).toHaveLength(50);
    expect(Object.values(split?.k6PerIp ?? {}).every((n) => n === 8)).toBe(true);
  }, 240_000);

  it("node-churn: the throttled NAT and the account per node; k6 and native agree", async (ctx) => {
    if (!k6.available) return ctx.skip(k6.reason);
    const result = await agreement(
      join(root, "scenarios", "node-churn.yaml"),
      ["anonymous-one-nat", "account-per-node"],
      // At x60 a request's wall time costs half the simulated time it does at the default x120:
      // the throttled design's retry volume (kubelet backoff plus the attempt's own duration)
      // then barely depends on how loaded the machine is (docs/k6.md, "Agreement").
      60,
    );
    expectAgreement(result, { "anonymous-one-nat": "breaks", "account-per-node": "holds" });
    const nat = result.rows.find((r) => r.name === "anonymous-one-nat");
    expect(nat?.k6PerIp).toEqual({ "127.1.0.2": 100 }); // the anonymous quota, to the request
  }, 600_000);

  it("pullstorm run --engine k6 writes the run's files, the scripts and k6's output", async (ctx) => {
    if (!k6.available) return ctx.skip(k6.reason);
    const out = join(work, "cli");
    const r = await runCommand(
      process.execPath,
      [
        BIN,
        "run",
        join(root, "scenarios", "ci-fan-out.yaml"),
        "--engine",
        "k6",
        "--design",
        "split-egress",
        "--time-scale",
        "720",
        "--out",
        out,
      ],
      { timeoutMs: 120_000, env: { ...process.env, PULLSTORM_K6: PROJECT_K6 } },
    );
    expect(r.status, `${r.stdout}\n${r.stderr}`).toBe(0);
    expect(r.stderr).toContain("live with k6");
    for (const f of ["events.jsonl", "report.json", "report.html", "k6/split-egress.js"])
      expect(existsSync(join(out, f)), f).toBe(true);
    expect(existsSync(join(out, "k6", "split-egress.json.gz"))).toBe(true);
    const report = JSON.parse(readFileSync(join(out, "report.json"), "utf8")) as Report;
    expect(report.mode).toBe("live");
    // 100 jobs x 2 images x (401 challenge + index + platform manifest); at x720 a token cached
    // for its lifetime in simulated time can expire mid-job and cost one more challenge
    expect(report.designs[0]?.upstream.manifestGet).toBeGreaterThanOrEqual(600);
    expect(report.designs[0]?.upstream.status["429"]).toBeUndefined();
    expect(report.designs[0]?.units).toMatchObject({ jobs: 100, started: 100 });
    const bad = await runCommand(process.execPath, [
      BIN,
      "run",
      join(root, "scenarios", "ci-fan-out.yaml"),
      "--engine",
      "k6",
      "--virtual",
    ]);
    expect(bad.status).toBe(2);
  }, 180_000);
});
