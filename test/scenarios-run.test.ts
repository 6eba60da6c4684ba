// Every library scenario is a regression test: run in simulated time, each
// design's expectations hold, and the stories that must show a break do.
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { runScenario } from "../harness/run.ts";
import { loadScenario } from "../simulator/scenario/load.ts";

const dir = join(import.meta.dirname, "..", "scenarios");
const files = readdirSync(dir).filter((f) => f.endsWith(".yaml") && f !== "example-catalog.yaml");

describe("scenario library, virtual", () => {
  for (const file of files) {
    it(`${file}: every expectation passes`, async () => {
      const { report } = await runScenario(loadScenario(join(dir, file)), { mode: "virtual" });
      const failed = report.expectations.filter((e) => !e.passed);
      expect(failed, JSON.stringify(failed)).toEqual([]);
      expect(report.expectations.length).toBeGreaterThan(0);
      if (["node-churn.yaml", "ci-fan-out.yaml", "monday-morning.yaml"].includes(file)) {
        const verdicts = new Set(report.designs.map((d) => d.verdict));
        expect(verdicts).toEqual(new Set(["breaks", "holds"]));
      }
    }, 120_000);
  }
});
