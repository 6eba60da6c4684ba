// Every library scenario is a regression test: run in simulated time, each
// design's expectations hold, and the stories that must show a break do; and
// its report.json is byte for byte the recorded one (test/fixtures/library-reports.json:
// sha256 per scenario), so a change made for speed (issue 15) that moves
// anything a report says is caught. A change that means to move them records
// them again: PULLSTORM_RECORD_REPORTS=1 npx vitest run test/scenarios-run.test.ts,
// and says why in its commit.
import { createHash } from "node:crypto";
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { runScenario } from "../harness/run.ts";
import { reportJsonText } from "../reports/write.ts";
import { loadScenario } from "../simulator/scenario/load.ts";

const RECORDED = join(import.meta.dirname, "fixtures", "library-reports.json");
const record = process.env.PULLSTORM_RECORD_REPORTS === "1";
const recorded = JSON.parse(readFileSync(RECORDED, "utf8")) as Record<string, string>;
const seen: Record<string, string> = {};

const dir = join(import.meta.dirname, "..", "scenarios");
const files = readdirSync(dir).filter((f) => f.endsWith(".yaml") && f !== "example-catalog.yaml");

describe("scenario library, virtual", () => {
  for (const file of files) {
    it(`${file}: every expectation passes`, async () => {
      const { report } = await runScenario(loadScenario(join(dir, file)), { mode: "virtual" });
      const digest = createHash("sha256").update(reportJsonText(report)).digest("hex");
      seen[file] = digest;
      if (!record)
        expect(digest, `${file}: report.json differs from the recorded one`).toBe(recorded[file]);
      const failed = report.expectations.filter((e) => !e.passed);
      expect(failed, JSON.stringify(failed)).toEqual([]);
      expect(report.expectations.length).toBeGreaterThan(0);
      if (["node-churn.yaml", "ci-fan-out.yaml", "monday-morning.yaml"].includes(file)) {
        const verdicts = new Set(report.designs.map((d) => d.verdict));
        expect(verdicts).toEqual(new Set(["breaks", "holds"]));
      }
    }, 120_000);
  }
  afterAll(() => {
    if (record && Object.keys(seen).length === files.length)
      writeFileSync(RECORDED, `${JSON.stringify(seen, null, 2)}\n`);
  });
});
