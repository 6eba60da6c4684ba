import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ConfigError } from "../vocabulary/config/yaml-file.ts";
import { loadPolicyFile } from "../fake-registry/policy/file.ts";
import { runCommand } from "./helpers/processes.ts";

const root = join(import.meta.dirname, "..");
const BIN = join(root, "bin", "pullstorm.js");

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

  it("names file, line and field for each problem", () => {
    const dir = mkdtempSync(join(tmpdir(), "pullstorm-policy-"));
    try {
      const file = join(dir, "policy.yaml");
      writeFileSync(
        file,
        [
          "preset: dockerhub-2020",
          "limits:",
          "  pulls:",
          "    anonymous: { limit: -1, window: soon }",
        ].join("\n"),
      );
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
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("makes `registry serve --policy` exit 2 on a bad file, and `registry presets` list every preset", async () => {
    const dir = mkdtempSync(join(tmpdir(), "pullstorm-policy-"));
    try {
      const file = join(dir, "policy.yaml");
      writeFileSync(file, "misleading:\n  aboveRps: 10\n  status: 500\n");
      const res = await runCommand(process.execPath, [
        BIN,
        "registry",
        "serve",
        "--port",
        "0",
        "--policy",
        file,
      ]);
      expect(res.status).toBe(2);
      expect(res.stderr).toMatch(/policy\.yaml:3:\d+: misleading\.status: /);
      const presets = await runCommand(process.execPath, [BIN, "registry", "presets"]);
      expect(presets.status).toBe(0);
      for (const name of [
        "dockerhub-2020",
        "dockerhub-2025-announced",
        "ecr-public",
        "quay",
        "ghcr",
        "artifact-registry",
        "registry-k8s-io",
        "unlimited",
      ]) {
        expect(presets.stdout).toContain(`${name}: `);
      }
      expect(presets.stdout).toContain("anonymous 100 / 6h rolling");
      expect(presets.stdout).toContain("source: ");
      const badPreset = await runCommand(process.execPath, [
        BIN,
        "registry",
        "serve",
        "--preset",
        "nope",
      ]);
      expect(badPreset.status).toBe(2);
      expect(badPreset.stderr).toContain("Allowed choices are dockerhub-2020");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
