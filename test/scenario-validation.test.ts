// Typos caught at validation: every problem names file:line:col and the field,
// with the nearest right word. The same table runs through the CLI's
// `scenario validate` and `run` in test/real/run-cli.test.ts.
import { describe, expect, it } from "vitest";
import { createRegistry } from "../fake-registry/index.ts";
import { planProblem, policyPlans } from "../fake-registry/policy/plans.ts";
import { preset } from "../fake-registry/policy/presets.ts";
import type { Policy } from "../fake-registry/policy/types.ts";
import { checkScenario } from "../simulator/scenario/load.ts";
import { didYouMean } from "../vocabulary/config/suggest.ts";
import { ConfigError } from "../vocabulary/config/yaml-file.ts";
import { BAD_FILES, BASE, typo } from "./helpers/bad-scenarios.ts";

function problemsOf(text: string): string[] {
  try {
    checkScenario(text, "x.yaml");
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
  return [];
}

describe("scenario validation catches typos", () => {
  it("the base file is good", () => {
    expect(problemsOf(BASE)).toEqual([]);
  });

  for (const bad of BAD_FILES)
    it(`${bad.name}: names file:line:col, the field and the nearest right word`, () => {
      const problems = problemsOf(bad.text);
      expect(problems.length, problems.join("\n")).toBe(1);
      expect(problems[0]).toContain(bad.problem);
    });

  it("an image meant to be missing (absent: true) is a warning, not an error", () => {
    const text = typo(
      '  - { name: cache, ref: "library/redis:7" }',
      '  - { name: cache, ref: "library/redis:7" }\n  - { name: gone, ref: "myorg/deleted:1", absent: true }',
    );
    const { warnings } = checkScenario(text, "x.yaml");
    expect(warnings).toEqual([
      "x.yaml:9:24: images.2.ref: myorg/deleted is not in the registry's catalog: its pulls get 404 (absent: true)",
    ]);
  });

  it("a plan the scenario's own policy names is fine; one no rule names is not", () => {
    const custom = typo(
      "preset: dockerhub-2020",
      "preset: dockerhub-2020\n  policy:\n    limits:\n      pulls: { gold: { limit: 5, window: 1h } }",
    );
    expect(problemsOf(custom.replace("plan: free", "plan: gold"))).toEqual([]);
    expect(problemsOf(custom.replace("plan: free", "plan: golden"))[0]).toContain(
      'designs.1.plan: unknown plan "golden"; did you mean gold?',
    );
    // Anonymous designs have no account: their (default) plan is not checked.
    expect(problemsOf(typo("preset: dockerhub-2020", "preset: quay"))).toEqual([]);
  });
});

describe("an unknown plan never means unlimited", () => {
  const hub = preset("dockerhub-2020") as Policy;

  it("a policy's plans are the plans its rules name", () => {
    expect(policyPlans(hub)).toEqual(["business", "free", "personal", "pro", "team"]);
    expect(planProblem(hub, "free")).toBeUndefined();
    expect(planProblem(hub, "freee")).toContain("did you mean free?");
    // A policy that names no plans limits every account by `default`.
    expect(planProblem(preset("quay") as Policy, "anything")).toBeUndefined();
  });

  it("the registry refuses an account whose plan its policy does not name", () => {
    const registry = createRegistry({ seed: 1 });
    expect(() => registry.addAccount({ name: "a", password: "pw", plan: "freee" })).toThrow(
      /account a: unknown plan "freee"; did you mean free\?/,
    );
    registry.addAccount({ name: "b", password: "pw", plan: "pro" });
    expect(registry.account("b")?.plan).toBe("pro");
    expect(() =>
      createRegistry({
        seed: 1,
        accounts: [{ name: "c", password: "pw", plan: "teem" }],
      }),
    ).toThrow(/did you mean team\?/);
  });

  it("did-you-mean finds near words and stays quiet for far ones", () => {
    expect(didYouMean("runtim", ["runtime", "nodes", "pods"])).toBe("runtime");
    expect(didYouMean("dockerhub-2026", ["dockerhub-2020", "quay"])).toBe("dockerhub-2020");
    expect(didYouMean("zzz", ["runtime", "nodes"])).toBeUndefined();
  });
});
