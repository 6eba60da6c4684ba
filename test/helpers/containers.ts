import { request } from "node:http";
import { containerRuntimeProblem } from "../../simulator/containers.ts";
import { runCommand } from "./processes.ts";
import { REQUIRE_TOOLS, type ToolCheck, which } from "./tools.ts";

/**
 * A container engine for testcontainers and compose: Docker, or podman's Docker-API
 * service (scripts/containers.sh starts one private to the run and writes DOCKER_HOST).
 * Locally a missing engine skips with testcontainers' reason; in CI
 * (PULLSTORM_REQUIRE_TOOLS=1) it fails.
 */
export async function checkContainerEngine(): Promise<ToolCheck> {
  const problem = await containerRuntimeProblem();
  if (!problem) return { available: true, reason: "" };
  const reason = `no container engine (start one: bash scripts/containers.sh up DIR && source DIR/env): ${problem}`;
  if (REQUIRE_TOOLS) throw new Error(`PULLSTORM_REQUIRE_TOOLS=1 but ${reason}`);
  return { available: false, reason };
}

/** An image the tests need, named by the variable scripts/containers.sh sets. */
export function imageFrom(variable: string, fallback: string): string {
  return process.env[variable] ?? fallback;
}

/**
 * One request to the engine's Docker API at DOCKER_HOST (a unix socket): the status and
 * body, or status 0 and the error's words when the engine cannot be reached or the
 * answer takes longer than timeoutMs.
 */
export async function engineRequest(
  method: "GET" | "POST",
  path: string,
  timeoutMs: number,
): Promise<{ status: number; body: string }> {
  const host = process.env.DOCKER_HOST ?? "unix:///var/run/docker.sock";
  if (!host.startsWith("unix://"))
    return { status: 0, body: `DOCKER_HOST ${host} is not a unix socket` };
  return await new Promise((resolve) => {
    const req = request({ socketPath: host.slice("unix://".length), method, path }, (res) => {
      let text = "";
      res.on("data", (d: Buffer) => {
        text += d.toString();
      });
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body: text }));
    });
    req.on("error", (e) => resolve({ status: 0, body: e.message }));
    req.setTimeout(timeoutMs, () =>
      req.destroy(new Error(`no answer to ${method} ${path} in ${timeoutMs} ms`)),
    );
    req.end();
  });
}

/** The engine behind DOCKER_HOST says it is podman (its /version names "Podman Engine"). */
export async function engineIsPodman(): Promise<boolean> {
  const { body } = await engineRequest("GET", "/version", 5_000);
  return /Podman Engine/.test(body);
}

/**
 * Waits for a container to exit (the API's /containers/ID/wait, as `docker wait` does)
 * and returns its exit code; throws naming the container when the engine refuses or the
 * container is still running after timeoutMs.
 */
export async function waitForContainer(id: string, timeoutMs: number): Promise<number> {
  const { status, body } = await engineRequest(
    "POST",
    `/containers/${encodeURIComponent(id)}/wait`,
    timeoutMs,
  );
  const code = status === 200 ? (JSON.parse(body) as { StatusCode?: unknown }).StatusCode : null;
  if (typeof code !== "number")
    throw new Error(`waiting for container ${id}: ${status || "no answer"} ${body.slice(0, 500)}`);
  return code;
}

/**
 * Podman runs healthchecks from systemd timers; with no systemd (these machines) a
 * container's health stays "starting" and compose's `condition: service_healthy` waits
 * forever. This does what the timer would: every second, `podman healthcheck run` for
 * the project's containers still starting. Returns the stop function. Nothing to do
 * when the engine is Docker (dockerd runs healthchecks itself) or podman is not on PATH.
 */
export async function driveHealthchecks(project: string): Promise<() => Promise<void>> {
  if (!which("podman") || !(await engineIsPodman())) return async () => {};
  let running = true;
  const loop = (async () => {
    const deadline = Date.now() + 15 * 60_000;
    while (running && Date.now() < deadline) {
      const listed = await runCommand(
        "podman",
        [
          "ps",
          "--filter",
          `label=com.docker.compose.project=${project}`,
          "--filter",
          "health=starting",
          "--format",
          "{{.Names}}",
        ],
        { timeoutMs: 10_000 },
      );
      for (const name of listed.stdout.split("\n").filter(Boolean))
        await runCommand("podman", ["healthcheck", "run", name], { timeoutMs: 10_000 });
      await new Promise((r) => setTimeout(r, 1_000));
    }
  })();
  return async () => {
    running = false;
    await loop;
  };
}
