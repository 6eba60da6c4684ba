import { spawnSync } from "node:child_process";

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
