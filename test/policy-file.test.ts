import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { loadPolicyFile } from "../fake-registry/policy/file.ts";
import { ConfigError } from "../vocabulary/config/yaml-file.ts";
import { fileIn, inTempDir } from "./helpers/files.ts";

const root = join(import.meta.dirname, "..");

describe("policy files", () => {
  it("loads the documented examples", () => {
    const gameday = loadPolicyFile(
      join(root, "docs/examples/policy-gameday.yaml"),
      "dockerhub-2020",
    );
    const pulls = gameday.rules.find((r) => r.name === "pulls");
    expect(pulls?.limits.anonymous).toEqual({
      limit: 20,
      windowMs: 6 * 3_600_000,
      algorithm: "rolling",
    });
    expect(pulls?.retryAfter).toBe(true);
    expect(gameday.misleading).toEqual({ aboveRps: 50, status: 403, probability: 0.1 });
    expect(gameday.tokenLatencyMs).toBe(150);
    const edge = loadPolicyFile(join(root, "docs/examples/policy-edge.yaml"), "dockerhub-2020");
    expect(edge.rules.map((r) => `${r.layer}/${r.name}`)).toEqual([
      "edge/cdn",
      "registry/pulls",
      "registry/per-second",
    ]);
    expect(edge.rules[2]?.limits.default).toEqual({
      limit: 50,
      windowMs: 1000,
      algorithm: "gcra",
      burst: 20,
    });
  });

  it("names file, line and field for each problem", () =>
    inTempDir("pullstorm-policy-", (dir) => {
      const file = fileIn(dir, "policy.yaml", [
        "preset: dockerhub-2020",
        "limits:",
        "  pulls:",
        "    anonymous: { limit: -1, window: soon }",
      ]);
      let problems: string[] = [];
      try {
        loadPolicyFile(file, "dockerhub-2020");
      } catch (error) {
        expect(error).toBeInstanceOf(ConfigError);
        problems = (error as ConfigError).problems;
      }
      expect(
        problems.some((p) => /policy\.yaml:4:\d+: limits\.pulls\.anonymous\.limit: /.test(p)),
      ).toBe(true);
      expect(
        problems.some((p) =>
          /policy\.yaml:4:\d+: limits\.pulls\.anonymous\.window: "soon" is not a duration/.test(p),
        ),
      ).toBe(true);
      writeFileSync(file, "limits:\n  nosuchrule:\n    anonymous: unlimited\n");
      expect(() => loadPolicyFile(file, "dockerhub-2020")).toThrowError(
        /limits\.nosuchrule: no rule named "nosuchrule"/,
      );
      writeFileSync(file, "preset: dockerhub-1999\n");
      expect(() => loadPolicyFile(file, "dockerhub-2020")).toThrowError(
        /policy\.yaml:1:\d+: preset: unknown preset/,
      );
    }));

  it("reads how a pull is recognised, and names file and line when it cannot be", () =>
    inTempDir("pullstorm-policy-", (dir) => {
      const rule = (count: string) => [
        "rules:",
        "  - name: pulls",
        "    counts:",
        `      - ${count}`,
        "    limits: { anonymous: { limit: 100, window: 6h } }",
        "    refusal: { type: oci, anonymous: no, account: no }",
      ];
      const file = fileIn(
        dir,
        "policy.yaml",
        rule("{ kind: manifest, method: GET, as: docker-pull, within: 2m }"),
      );
      expect(loadPolicyFile(file, "dockerhub-2020").rules[0]?.counts).toEqual([
        { kind: "manifest", method: "GET", cost: 1, as: "docker-pull", withinMs: 120_000 },
      ]);
      writeFileSync(file, rule("{ kind: manifest, method: GET, as: docker-pull }").join("\n"));
      expect(loadPolicyFile(file, "dockerhub-2020").rules[0]?.counts[0]?.withinMs).toBe(300_000);
      writeFileSync(file, rule("{ kind: blob, method: GET, as: docker-pull }").join("\n"));
      expect(() => loadPolicyFile(file, "dockerhub-2020")).toThrowError(
        /policy\.yaml:4:\d+: rules\.0\.counts\.0\.as: as: docker-pull recognises pulls among manifest GETs/,
      );
      writeFileSync(file, rule("{ kind: manifest, method: HEAD, as: docker-pull }").join("\n"));
      expect(() => loadPolicyFile(file, "dockerhub-2020")).toThrowError(/HEADs never count/);
      writeFileSync(file, rule("{ kind: manifest, method: GET, within: 2m }").join("\n"));
      expect(() => loadPolicyFile(file, "dockerhub-2020")).toThrowError(
        /policy\.yaml:4:\d+: rules\.0\.counts\.0\.within: .*only with as: docker-pull/,
      );
      writeFileSync(file, rule("{ kind: manifest, method: GET, as: pulls }").join("\n"));
      expect(() => loadPolicyFile(file, "dockerhub-2020")).toThrowError(
        /policy\.yaml:4:\d+: rules\.0\.counts\.0\.as: /,
      );
    }));
});
