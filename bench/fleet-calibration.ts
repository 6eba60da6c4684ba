/**
 * Fleet-scale calibration of the mirror model (issue 12): N containerd nodes
 * start at once with cold caches and pull through a cold, authenticated CNCF
 * distribution pull-through cache (docker-registry 2.8.2); what reaches the
 * origin (manifest GETs, blob GETs, tokens, pulls charged) is counted for
 * pullstorm's live engine (real HTTP from N 127.x addresses), for real `ctr`
 * processes (one containerd namespace per node) at one size, and for the model
 * (virtual time). See bench/lib/fleet.ts.
 *
 *   npm run calibrate:fleet                                  # 50,100,150 nodes, 4 live runs each, ctr at 50 x3
 *   node bench/fleet-calibration.ts --nodes 150 --runs 2 --ctr 0 --mixed 0
 *   node bench/fleet-calibration.ts --runs 0 --ctr 50,150 --ctr-runs 2 --mixed 0   # ctr only
 *   node bench/fleet-calibration.ts --fresh                  # forget the runs recorded so far
 *
 * Every run is appended to bench/results/fleet-calibration.json (machine, commit,
 * load average before and after each run), so ranges grow with evidence taken
 * under different loads; live runs whose clock did not keep up are recorded but
 * left out of the ranges. The table printed at the end is the one in
 * docs/calibration.md, "Fleet scale"; test/real/fleet-scale.test.ts and mixed-fleet.test.ts hold
 * the model to these ranges.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { startPrivateContainerd } from "../check-mirror/containerd.ts";
import { findDistribution } from "../simulator/mirror/backends.ts";
import { loadScenario } from "../simulator/scenario/load.ts";
import { runInfo } from "./lib/env.ts";
import {
  FLEET_SIZES,
  type FleetMeasurement,
  fleetRanges,
  fleetTable,
  MIXED_FLEET,
  type MixedMeasurement,
  measureCtr,
  measureEngine,
  measureMixed,
  mixedTable,
} from "./lib/fleet.ts";
import { writeFormattedResult } from "./lib/report.ts";
import { resultsFile } from "./lib/servers.ts";

const { values } = parseArgs({
  options: {
    nodes: { type: "string", default: FLEET_SIZES.join(",") },
    runs: { type: "string", default: "4" },
    ctr: {
      type: "string",
      default: "50",
      description: "fleet size for the ctr cross-check (0: none)",
    },
    "ctr-runs": { type: "string", default: "3" },
    mixed: { type: "string", default: "3", description: "live runs of each mixed-fleet design" },
    fresh: { type: "boolean", default: false },
  },
});

const sizes = String(values.nodes)
  .split(",")
  .map((n) => Number(n.trim()));
const runs = Number(values.runs);
const ctrSizes = String(values.ctr)
  .split(",")
  .map((n) => Number(n.trim()))
  .filter((n) => n > 0);
const ctrRuns = Number(values["ctr-runs"]);
const mixedRuns = Number(values.mixed);
if (
  [...sizes, ...ctrSizes].some((n) => !Number.isInteger(n) || n < 1) ||
  !(runs >= 0) ||
  !(ctrRuns >= 0) ||
  !(mixedRuns >= 0)
)
  throw new Error("--nodes takes sizes like 50,100,150; --runs and --ctr-runs whole numbers");

const distribution = await findDistribution();
if (!distribution)
  throw new Error("CNCF distribution is not installed (apt-get install docker-registry)");

const FILE = "fleet-calibration";
interface Recorded {
  machine: Awaited<ReturnType<typeof runInfo>>["machine"];
  distribution: string;
  runs: Array<FleetMeasurement & { commit: string }>;
  /** Live runs of the mixed fleet's designs (test/fixtures/mixed-fleet.yaml), one design per run. */
  mixed: Array<MixedMeasurement & { commit: string }>;
}
const previous: Recorded | undefined =
  !values.fresh && existsSync(resultsFile(FILE))
    ? (JSON.parse(readFileSync(resultsFile(FILE), "utf8")) as Recorded)
    : undefined;
const info = await runInfo();
const recorded: Recorded = {
  machine: info.machine,
  distribution: `${distribution.binary} ${distribution.version}`,
  runs: previous?.runs ?? [],
  mixed: previous?.mixed ?? [],
};
const commit = `${info.commit.slice(0, 7)}${info.dirty ? "+dirty" : ""}`;
const save = () => writeFormattedResult(FILE, recorded);
const say = (m: FleetMeasurement) => {
  const c = m.clock
    ? ` clock ${m.clock.keptUp ? "kept up" : "FELL BEHIND"} (p99 lag ${m.clock.lagP99SimSeconds} s, requests ${m.clock.requestP99SimSeconds} s)`
    : "";
  const cpu = m.mirrorCpu
    ? `; mirror ${m.mirrorCpu.cpuSeconds} s of processor time, ${m.mirrorCpu.msPerRequest} ms per client request`
    : "";
  console.log(
    `${m.driver} ${m.nodes} nodes: manifest GET ${m.upstream.manifestGet}, HEAD ${m.upstream.manifestHead}, blob GET ${m.upstream.blobGet}, tokens ${m.upstream.token}, pulls ${m.upstream.pulls}, fallback ${m.upstream.fallback}; ${m.nodesOk}/${m.nodes} nodes ok; load ${m.load.join(" -> ")}; ${m.wallSeconds} s${c}${cpu}`,
  );
};

// Sizes interleaved run by run, so each size sees the same spread of machine load.
for (let r = 0; r < runs; r++)
  for (const nodes of sizes) {
    const m = await measureEngine(nodes, "live");
    say(m);
    recorded.runs.push({ ...m, commit });
    await save();
  }

if (ctrSizes.length > 0 && ctrRuns > 0) {
  const dir = mkdtempSync(join(tmpdir(), "pullstorm-fleet-ctr-"));
  const containerd = await startPrivateContainerd(join(dir, "containerd"));
  try {
    for (let r = 0; r < ctrRuns; r++)
      for (const nodes of ctrSizes) {
        const m = await measureCtr(nodes, containerd, { work: dir });
        say(m);
        recorded.runs.push({ ...m, commit });
        await save();
      }
  } finally {
    await containerd.daemon.stop("SIGTERM");
    rmSync(dir, { recursive: true, force: true });
  }
}

// The mixed fleet, one design per live run (x1), designs interleaved.
const mixedDesigns = loadScenario(MIXED_FLEET).designs.map((d) => d.name);
for (let r = 0; r < mixedRuns; r++)
  for (const design of mixedDesigns) {
    const m = await measureMixed(design, "live");
    console.log(
      `mixed-fleet ${design} live: ${m.verdict}, upstream manifest GETs ${m.manifestGet}, pulls charged ${m.pulls}, pulls ok ${m.pullsOk}/${m.pullsTotal}; load ${m.load.join(" -> ")}; clock ${m.keptUp ? "kept up" : "FELL BEHIND"}${m.mirrorBackend ? `; mirror ${m.mirrorBackend}` : ""}${m.mirrorCpu ? `, ${m.mirrorCpu.msPerRequest} ms of processor time per client request` : ""}`,
    );
    recorded.mixed.push({ ...m, commit });
    await save();
  }

// The model is deterministic: one run per size, for the table.
const models = [];
for (const nodes of [...new Set([...sizes, ...recorded.runs.map((r) => r.nodes)])].sort(
  (a, b) => a - b,
)) {
  const m = await measureEngine(nodes, "virtual");
  say(m);
  models.push(m);
}
const file = await save();
console.log(`\n${file}: ${recorded.runs.length} runs\n`);
console.log(fleetTable(fleetRanges(recorded.runs), models));
const mixedModels = [];
for (const design of mixedDesigns) mixedModels.push(await measureMixed(design, "virtual"));
console.log(`\n${mixedTable(recorded.mixed, mixedModels)}`);
