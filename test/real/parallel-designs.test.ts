// `pullstorm run --virtual --jobs N` (harness/parallel.ts): designs on worker
// threads give the same events.jsonl and report.json, byte for byte, as one
// after the other; an interrupt stops every worker and is reported as one.
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { runScenario } from "../../harness/run.ts";
import { loadScenario } from "../../simulator/scenario/load.ts";
import { inTempDir } from "../helpers/files.ts";
import { pullstorm } from "../helpers/processes.ts";

const SCENARIOS = join(import.meta.dirname, "..", "..", "scenarios");

describe("designs on worker threads (--jobs)", () => {
  it("node-churn (4 designs) with --jobs 3: events.jsonl and report.json byte for byte as --jobs 1", () =>
    inTempDir("pullstorm-jobs-", async (dir) => {
      const file = join(SCENARIOS, "node-churn.yaml");
      const one = await pullstorm([
        "run",
        file,
        "--virtual",
        "--jobs",
        "1",
        "--out",
        join(dir, "1"),
      ]);
      const three = await pullstorm([
        "run",
        file,
        "--virtual",
        "--jobs",
        "3",
        "--out",
        join(dir, "3"),
      ]);
      expect(one.status, one.stderr).toBe(0);
      expect(three.status, three.stderr).toBe(0);
      for (const f of ["events.jsonl", "report.json", "junit.xml", "report.md"])
        expect(readFileSync(join(dir, "3", f), "utf8"), f).toBe(
          readFileSync(join(dir, "1", f), "utf8"),
        );
      // Every design reported its progress from its worker.
      for (const d of ["anonymous-one-nat", "anonymous-paced", "account-per-node", "the-fix"])
        expect(three.stderr).toMatch(new RegExp(`${d}\\s+t=\\d+s .* done`));
    }));

  it("in-process: the same report and events with jobs 2 as with 1, for every library scenario of two designs or more", async () => {
    const files = readdirSync(SCENARIOS).filter(
      (f) => f.endsWith(".yaml") && f !== "example-catalog.yaml",
    );
    let compared = 0;
    for (const name of files) {
      const scenario = loadScenario(join(SCENARIOS, name));
      if (scenario.designs.length < 2) continue;
      const a = await runScenario(scenario, { mode: "virtual" });
      const b = await runScenario(scenario, { mode: "virtual", jobs: 2 });
      expect(JSON.stringify(b.report), name).toBe(JSON.stringify(a.report));
      expect(JSON.stringify(b.events), name).toBe(JSON.stringify(a.events));
      compared++;
    }
    expect(compared).toBeGreaterThanOrEqual(8);
  }, 300_000);

  it("an interrupt reaches the workers: the designs on them stop early, the run is marked interrupted", async () => {
    const scenario = loadScenario(join(SCENARIOS, "node-churn.yaml"));
    const full = await runScenario(scenario, { mode: "virtual", keepEvents: false });
    const controller = new AbortController();
    let seen = 0;
    const { report } = await runScenario(scenario, {
      mode: "virtual",
      jobs: 4,
      keepEvents: false,
      signal: controller.signal,
      onEvent: () => {
        if (++seen === 50) controller.abort();
      },
    });
    expect(report.interrupted).toBe(true);
    expect(report.designs.map((d) => d.name)).toEqual(scenario.designs.map((d) => d.name));
    // The designs played on workers (all but the first) started fewer pulls than in the full run.
    const requests = (r: typeof report) => r.designs.map((d) => d.pulls.total);
    const stopped = requests(report).slice(1);
    const whole = requests(full.report).slice(1);
    expect(
      stopped.some((n, i) => n < (whole[i] as number)),
      `${stopped} vs ${whole}`,
    ).toBe(true);
  }, 120_000);
});
