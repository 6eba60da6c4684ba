// pullstorm as users get it: `npm pack`, installed into a fresh project, run as
// `npx pullstorm` and imported as "pullstorm" (JavaScript from dist/, not the
// TypeScript sources, which Node refuses to strip under node_modules). Also: an
// old Node gets one line and exit 2, and `npm run serve` stops on SIGTERM/SIGINT.
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { delimiter, dirname, join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runCommand, waitFor } from "../helpers/processes.ts";
import { REQUIRE_TOOLS } from "../helpers/tools.ts";

const ROOT = join(import.meta.dirname, "..", "..");
/** This Node (>= 22.18) first on PATH: `#!/usr/bin/env node` scripts and npm's scripts use it. */
const ENV = { ...process.env, PATH: `${dirname(process.execPath)}${delimiter}${process.env.PATH}` };
const OLD_NODE_MESSAGE = /^pullstorm needs Node\.js 22\.18 or newer \(this is \d+\.\d+\.\d+\)\n$/;
const NPM_QUIET = ["--no-audit", "--no-fund", "--loglevel=error"];

/** A Node older than 22.18 (PULLSTORM_OLD_NODE, else /usr/bin/node), or why there is none. */
function oldNode(): { node?: string; reason: string } {
  const node = process.env.PULLSTORM_OLD_NODE ?? "/usr/bin/node";
  const probe = spawnSync(node, ["-p", "process.versions.node"], { encoding: "utf8" });
  const version = probe.status === 0 ? probe.stdout.trim() : undefined;
  const [major = 0, minor = 0] = (version ?? "").split(".").map(Number);
  const reason = !version
    ? `${node} does not run (set PULLSTORM_OLD_NODE to a Node older than 22.18)`
    : major > 22 || (major === 22 && minor >= 18)
      ? `${node} is Node ${version}, not older than 22.18 (set PULLSTORM_OLD_NODE)`
      : "";
  return reason ? { reason } : { node, reason };
}
const OLD = oldNode();
/** Locally a missing old Node skips its tests; in CI (PULLSTORM_REQUIRE_TOOLS=1) it fails them. */
const NO_OLD_NODE = !OLD.node && !REQUIRE_TOOLS;
const OLD_SKIPPED = NO_OLD_NODE ? ` (skipped: ${OLD.reason})` : "";
function needOldNode(): string {
  if (!OLD.node) throw new Error(`PULLSTORM_REQUIRE_TOOLS=1 but ${OLD.reason}`);
  return OLD.node;
}

describe("the packed package, installed in a fresh project", () => {
  let work: string;
  let project: string;

  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), "pullstorm-package-"));
    const packed = join(work, "packed");
    project = join(work, "project");
    mkdirSync(packed);
    mkdirSync(project);
    // prepack builds dist/ (gitignored) in this checkout, where nothing runs it
    // (bin/pullstorm.js runs the sources there).
    const pack = await runCommand("npm", ["pack", "--pack-destination", packed, ...NPM_QUIET], {
      cwd: ROOT,
      env: ENV,
      timeoutMs: 180_000,
    });
    expect(pack.status, pack.stderr + pack.stdout).toBe(0);
    const tgz = readdirSync(packed).find((f) => f.endsWith(".tgz"));
    expect(tgz, pack.stdout).toBeDefined();
    writeFileSync(
      join(project, "package.json"),
      JSON.stringify({ name: "pullstorm-consumer", private: true, type: "module" }),
    );
    const install = await runCommand(
      "npm",
      ["install", "--prefer-offline", ...NPM_QUIET, join(packed, tgz as string)],
      { cwd: project, env: ENV, timeoutMs: 240_000 },
    );
    expect(install.status, install.stderr + install.stdout).toBe(0);
  }, 420_000);

  afterAll(() => {
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it("ships JavaScript with declarations, the scenarios and no TypeScript sources", () => {
    const installed = join(project, "node_modules", "pullstorm");
    const manifest = JSON.parse(readFileSync(join(installed, "package.json"), "utf8"));
    expect(manifest.exports["."]).toEqual({
      types: "./dist/index.d.ts",
      default: "./dist/index.js",
    });
    expect(manifest.bin).toEqual({ pullstorm: "bin/pullstorm.js" });
    const top = readdirSync(installed).sort();
    expect(top).toEqual(["LICENSE", "README.md", "bin", "dist", "package.json", "scenarios"]);
    expect(readdirSync(join(installed, "dist"))).toEqual(
      expect.arrayContaining(["index.js", "index.d.ts", "cli"]),
    );
    expect(readdirSync(join(installed, "scenarios"))).toEqual(
      expect.arrayContaining(["ci-fan-out.yaml", "scenario.schema.json"]),
    );
    // Files read beside their module at run time (reports/html.ts).
    expect(readdirSync(join(installed, "dist", "reports", "html")).sort()).toEqual([
      "report.css",
      "report.js",
    ]);
    // The licence text travels with the package (npm packs LICENSE whatever `files` says).
    expect(readFileSync(join(installed, "LICENSE"), "utf8")).toContain("Apache License");
    const files = readdirSync(installed, { recursive: true }) as string[];
    expect(files.filter((f) => f.endsWith(".ts") && !f.endsWith(".d.ts"))).toEqual([]);
    // Declarations import each other as `.js`, which every TypeScript resolves.
    const tsImports = files
      .filter((f) => f.endsWith(".d.ts"))
      .filter((f) => /(["'])\.{1,2}\/[^"']*\.ts\1/.test(readFileSync(join(installed, f), "utf8")));
    expect(tsImports).toEqual([]);
  });

  // `--no`: never fetch a "pullstorm" from the registry should the local one be missing.
  it("npx pullstorm --help works", async () => {
    const res = await runCommand("npx", ["--no", "--", "pullstorm", "--help"], {
      cwd: project,
      env: ENV,
      timeoutMs: 60_000,
    });
    expect(res.status, res.stderr).toBe(0);
    expect(res.stdout).toContain("Usage: pullstorm [options] [command]");
    expect(res.stdout).toContain("registry");
    expect(res.stderr).not.toContain("ERR_");
  });

  it("runs a shipped scenario and writes the reports (report.html reads its assets from dist/)", async () => {
    const out = join(work, "run");
    const res = await runCommand(
      "npx",
      ["--no", "--", "pullstorm", "run", "node_modules/pullstorm/scenarios/ci-fan-out.yaml"].concat(
        ["--virtual", "--out", out],
      ),
      { cwd: project, env: ENV, timeoutMs: 60_000 },
    );
    expect(res.status, res.stderr + res.stdout).toBe(0);
    expect(readdirSync(out)).toEqual(
      expect.arrayContaining(["report.json", "report.md", "report.html", "junit.xml"]),
    );
    expect(readFileSync(join(out, "report.html"), "utf8")).toContain("uPlot");
  });

  it("k6 export bundles the compiled client (esbuild over dist/)", async () => {
    const script = join(work, "k6.js");
    const res = await runCommand(
      "npx",
      [
        "--no",
        "--",
        "pullstorm",
        "k6",
        "export",
        "node_modules/pullstorm/scenarios/ci-fan-out.yaml",
      ].concat(["--design", "fewer-at-once", "--output", script]),
      { cwd: project, env: ENV, timeoutMs: 60_000 },
    );
    expect(res.status, res.stderr + res.stdout).toBe(0);
    const code = readFileSync(script, "utf8");
    expect(code).toMatch(/from ["']k6\/http["']/);
    expect(code).not.toMatch(/from ["']node:/);
  });

  it('import { startFakeRegistry } from "pullstorm" serves /v2/ on loopback', async () => {
    writeFileSync(
      join(project, "use.mjs"),
      [
        'import { startFakeRegistry } from "pullstorm";',
        'const registry = await startFakeRegistry({ host: "127.0.0.1", port: 0 });',
        "try {",
        '  const res = await fetch(new URL("/v2/", registry.url));',
        '  console.log(JSON.stringify({ url: registry.url, status: res.status, challenge: res.headers.get("www-authenticate") }));',
        "} finally {",
        "  await registry.close();",
        "}",
      ].join("\n"),
    );
    const res = await runCommand(process.execPath, ["use.mjs"], {
      cwd: project,
      env: ENV,
      timeoutMs: 30_000,
    });
    expect(res.status, res.stderr).toBe(0);
    const seen = JSON.parse(res.stdout) as { url: string; status: number; challenge: string };
    expect(seen.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(seen.status).toBe(401); // auth is on by default: the Bearer challenge
    expect(seen.challenge).toContain(`realm="${seen.url}/token"`);
  });

  it("its declarations type-check a TypeScript consumer", async () => {
    writeFileSync(
      join(project, "use.ts"),
      [
        'import { loadScenario, type RunningRegistry, runScenario, startFakeRegistry } from "pullstorm";',
        'const registry: RunningRegistry = await startFakeRegistry({ preset: "dockerhub-2020" });',
        "const url: string = registry.url;",
        'const { report } = await runScenario(loadScenario("s.yaml"), { mode: "virtual" });',
        "const failed: number = report.expectations.filter((e) => !e.passed).length;",
        "console.log(failed);",
        "// @ts-expect-error: close() takes no argument and returns a Promise<void>",
        "const n: number = await registry.close(1);",
        "console.log(url, n);",
      ].join("\n"),
    );
    writeFileSync(
      join(project, "tsconfig.json"),
      JSON.stringify({
        compilerOptions: {
          module: "NodeNext",
          target: "ES2023",
          strict: true,
          noEmit: true,
          // Our declarations checked too: none may need a type the consumer lacks.
          skipLibCheck: false,
          // @types/node is the consumer's (a devDependency here): this checkout's.
          typeRoots: [join(ROOT, "node_modules", "@types")],
          types: ["node"],
        },
        files: ["use.ts"],
      }),
    );
    const tsc = join(ROOT, "node_modules", "typescript", "bin", "tsc");
    const res = await runCommand(process.execPath, [tsc, "-p", project], {
      cwd: project,
      timeoutMs: 60_000,
    });
    expect(res.status, res.stdout + res.stderr).toBe(0);
  });

  it.skipIf(NO_OLD_NODE)(`an old Node gets one line and exit 2${OLD_SKIPPED}`, async () => {
    const bin = join(project, "node_modules", ".bin", "pullstorm");
    const res = await runCommand(needOldNode(), [bin, "--help"], { timeoutMs: 30_000 });
    expect(res.stderr).toMatch(OLD_NODE_MESSAGE);
    expect(res.stdout).toBe("");
    expect(res.status).toBe(2);
  });
});

it.skipIf(NO_OLD_NODE)(
  `bin/pullstorm.js in the repository: an old Node gets one line and exit 2${OLD_SKIPPED}`,
  async () => {
    const res = await runCommand(needOldNode(), [join(ROOT, "bin", "pullstorm.js"), "--help"], {
      timeoutMs: 30_000,
    });
    expect(res.stderr).toMatch(OLD_NODE_MESSAGE);
    expect(res.stdout).toBe("");
    expect(res.status).toBe(2);
  },
);

/** Whether a process still exists (signal 0 only checks). */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe.concurrent("npm run serve", () => {
  it.each([
    { signal: "SIGTERM", to: "npm" },
    { signal: "SIGINT", to: "npm" },
    // Ctrl-C in a terminal: the whole foreground group, and npm forwards it once more.
    { signal: "SIGINT", to: "group" },
  ] as const)(
    "stops when $to gets $signal, leaving no registry behind",
    async ({ signal, to }) => {
      // Its own process group, so that whatever is left can be killed at the end.
      const npm: ChildProcess = spawn(
        "npm",
        ["run", "serve", "--", "--host", "127.0.0.1", "--port", "0", "--log-level", "info"],
        { cwd: ROOT, env: ENV, detached: true, stdio: ["ignore", "pipe", "pipe"] },
      );
      let stdout = "";
      let stderr = "";
      npm.stdout?.on("data", (d: Buffer) => {
        stdout += d.toString();
      });
      npm.stderr?.on("data", (d: Buffer) => {
        stderr += d.toString();
      });
      const exited = new Promise<number | null>((resolve) =>
        npm.on("exit", (code) => resolve(code)),
      );
      const output = () => `stdout:\n${stdout}\nstderr:\n${stderr}`;
      let registryPid: number | undefined;
      try {
        await waitFor(() => /listening on http:\/\/127\.0\.0\.1:\d+/.test(stdout), 30_000, output);
        const url = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(stdout)?.[1] as string;
        // The registry's own pid, from its first log line (npm's child is that very process).
        await waitFor(() => /"pid":\d+/.test(stderr), 10_000, output);
        registryPid = Number(/"pid":(\d+)/.exec(stderr)?.[1]);
        expect(registryPid).not.toBe(npm.pid);
        expect((await fetch(`${url}/v2/`)).status).toBe(401);

        if (to === "npm") npm.kill(signal);
        else process.kill(-(npm.pid as number), signal);
        const code = await Promise.race([
          exited,
          new Promise<"late">((r) => setTimeout(() => r("late"), 5_000)),
        ]);
        expect(code, output()).toBe(0);
        await waitFor(() => !alive(registryPid as number), 2_000, output);
        await expect(fetch(`${url}/v2/`)).rejects.toThrow();
        expect(stderr).toContain(`"signal":"${signal}"`);
      } finally {
        try {
          process.kill(-(npm.pid as number), "SIGKILL");
        } catch {
          // the group is gone: nothing left
        }
        if (registryPid && alive(registryPid)) process.kill(registryPid, "SIGKILL");
      }
    },
    30_000,
  );
});
