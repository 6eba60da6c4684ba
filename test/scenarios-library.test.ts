import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { Catalog } from "../fake-registry/catalog/catalog.ts";
import { draftsFrom } from "../fake-registry/catalog/file.ts";
import { loadScenario } from "../simulator/scenario/load.ts";
import type { Expectation, Scenario } from "../simulator/scenario/schema.ts";
import { parseReference } from "../vocabulary/oci/reference.ts";

const dir = join(import.meta.dirname, "..", "scenarios");

/** Catalog files live beside the scenarios; they are not scenarios. */
const NOT_SCENARIOS = new Set(["example-catalog.yaml"]);

const LIBRARY = [
  "ci-fan-out.yaml",
  "heavy-hitters.yaml",
  "monday-morning.yaml",
  "node-churn.yaml",
  "ornamental-mirror.yaml",
  "prepull-and-pin.yaml",
  "prune-backfire.yaml",
  "rolling-restart-latest.yaml",
  "token-throttle.yaml",
  "upstream-outage.yaml",
];

/** Stories whose designs must split: the models decide, and some design must lose. */
const MUST_SPLIT = ["node-churn.yaml", "ci-fan-out.yaml", "monday-morning.yaml"];

const files = readdirSync(dir)
  .filter((f) => f.endsWith(".yaml") && !NOT_SCENARIOS.has(f))
  .sort();

/** The comment lines a file opens with, up to the first line that is not a comment. */
function leadingComment(text: string): string[] {
  const lines: string[] = [];
  for (const line of text.split("\n")) {
    if (!line.startsWith("#")) break;
    lines.push(line);
  }
  return lines;
}

const CRITERIA = [
  "verdict",
  "maxFailedPulls",
  "maxP95StartSeconds",
  "maxUpstream429",
  "minUnitsStarted",
] as const;

function criteria(e: Expectation): string[] {
  return CRITERIA.filter((c) => e[c] !== undefined);
}

describe("scenario library", () => {
  it("has every story of the library", () => {
    expect(files).toEqual(expect.arrayContaining(LIBRARY));
  });

  describe.each(files)("%s", (file) => {
    const path = join(dir, file);
    const text = readFileSync(path, "utf8");
    const load = (): Scenario => loadScenario(path);

    it("loads with the scenario loader", () => {
      const scenario = load();
      expect(scenario.name).toBe(file.replace(/\.yaml$/, ""));
    });

    it("opens with a comment block telling the incident", () => {
      const comment = leadingComment(text);
      expect(comment.length).toBeGreaterThanOrEqual(10);
      const words = comment.join(" ").toLowerCase();
      // Who and what happened, why, and what fixed it (or what holds).
      expect(words).toMatch(/incident|practice/);
      expect(words).toMatch(/why/);
      expect(words).toMatch(/fixed it|what holds|why it held/);
    });

    it("states at least one expectation with a criterion for every design", () => {
      const scenario = load();
      for (const design of scenario.designs) {
        const mine = scenario.expectations.filter((e) => e.design === design.name);
        expect(mine.length, `design ${design.name} has no expectation`).toBeGreaterThan(0);
        expect(
          mine.flatMap(criteria).length,
          `design ${design.name}'s expectation says nothing`,
        ).toBeGreaterThan(0);
      }
    });

    it("names only images and tags the registry serves", () => {
      const scenario = load();
      const extra = scenario.registry.catalog ? draftsFrom(scenario.registry.catalog) : undefined;
      const catalog = new Catalog({
        seed: scenario.seed,
        images: extra?.images ?? [],
        defaults: extra?.defaults ?? {},
      });
      for (const image of scenario.images) {
        const ref = parseReference(image.ref);
        if ("error" in ref) throw new Error(ref.error);
        expect(catalog.tags(ref.repository), `${image.ref}: unknown repository`).toBeDefined();
        if (ref.tag) expect(catalog.tags(ref.repository)).toContain(ref.tag);
      }
    });

    if (MUST_SPLIT.includes(file)) {
      it("expects at least one design to break and one to hold", () => {
        const scenario = load();
        const verdicts = new Set(scenario.expectations.map((e) => e.verdict));
        expect(verdicts).toContain("breaks");
        expect(verdicts).toContain("holds");
      });
    }
  });
});

describe("published JSON Schema", () => {
  it("scenarios/scenario.schema.json is the current schema (regenerate with `pullstorm scenario schema`)", async () => {
    const { readFileSync } = await import("node:fs");
    const { join } = await import("node:path");
    const { scenarioJsonSchema } = await import("../simulator/scenario/schema.ts");
    const file = join(import.meta.dirname, "..", "scenarios", "scenario.schema.json");
    expect(JSON.parse(readFileSync(file, "utf8"))).toEqual(scenarioJsonSchema());
  });
});
