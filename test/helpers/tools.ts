import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

/**
 * Real-tool tests run when the tool is installed. Locally a missing tool skips
 * the test with the reason; in CI (`PULLSTORM_REQUIRE_TOOLS=1`, set by .ci/run)
 * a missing tool fails it instead, so CI can never pass by skipping.
 */
export const REQUIRE_TOOLS = process.env.PULLSTORM_REQUIRE_TOOLS === "1";

export function which(tool: string): string | undefined {
  const found = spawnSync("sh", ["-c", `command -v ${tool}`], { encoding: "utf8" });
  const path = found.stdout.trim();
  return found.status === 0 && path ? path : undefined;
}

export interface ToolCheck {
  available: boolean;
  /** Why it is missing, for the skip message. */
  reason: string;
}

export function checkTools(...tools: string[]): ToolCheck {
  const missing = tools.filter((t) => !which(t));
  if (missing.length === 0) return { available: true, reason: "" };
  const reason = `${missing.join(", ")} not installed (apt-get install ${missing.map(debianPackage).join(" ")})`;
  if (REQUIRE_TOOLS) throw new Error(`PULLSTORM_REQUIRE_TOOLS=1 but ${reason}`);
  return { available: false, reason };
}

function debianPackage(tool: string): string {
  return (
    { ctr: "containerd", containerd: "containerd", "docker-registry": "docker-registry" }[tool] ??
    tool
  );
}

/** The git-ignored directory scripts/build-go-tools.sh builds the Go clients into. */
export const GO_TOOLS_DIR = join(dirname(fileURLToPath(import.meta.url)), "../../tools");

/**
 * Programs built by `bash scripts/build-go-tools.sh` (crane, regctl, the OCI
 * conformance suite): their paths when built; locally a missing one skips with
 * the command that builds it, in CI (which builds them) it fails.
 */
export function checkBuiltTools(...tools: string[]): ToolCheck & { path(tool: string): string } {
  const path = (tool: string) => join(GO_TOOLS_DIR, tool);
  const missing = tools.filter((t) => !existsSync(path(t)));
  if (missing.length === 0) return { available: true, reason: "", path };
  const reason = `${missing.map((t) => `tools/${t}`).join(", ")} not built (bash scripts/build-go-tools.sh, needs Go)`;
  if (REQUIRE_TOOLS) throw new Error(`PULLSTORM_REQUIRE_TOOLS=1 but ${reason}`);
  return { available: false, reason, path };
}
