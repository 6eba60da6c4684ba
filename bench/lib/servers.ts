// Servers a benchmark starts as child processes (optionally pinned to a CPU), and always stops.
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import {
  freePort,
  type Managed,
  runCommand,
  startProcess,
  waitFor,
} from "../../simulator/util/processes.ts";

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");

export interface Server {
  name: string;
  url: string;
  pid: number;
  output(): string;
  stop(): Promise<void>;
}

const running = new Set<Managed>();
let hooked = false;

/** Stops every child still running when the benchmark exits, however it exits. */
function hookExit(): void {
  if (hooked) return;
  hooked = true;
  process.on("exit", () => {
    for (const m of running) m.child.kill("SIGKILL");
  });
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    process.on(signal, () => {
      for (const m of running) m.child.kill("SIGKILL");
      process.exit(130);
    });
  }
}

/** Whether a program is on PATH. */
export async function have(program: string): Promise<boolean> {
  const found = await runCommand("sh", ["-c", `command -v ${program}`], { timeoutMs: 5_000 });
  return found.status === 0;
}

/** The command line, pinned to `cpus` (taskset's list syntax, e.g. "1") when given and taskset exists. */
export async function pinned(
  cpus: string | undefined,
  command: string,
  args: string[],
): Promise<[string, string[]]> {
  if (cpus && (await have("taskset"))) return ["taskset", ["-c", cpus, command, ...args]];
  return [command, args];
}

/**
 * Starts a program and waits until `ready` says it answers (or it prints a
 * line matching a regular expression: the URL is its first group).
 */
export async function startServer(options: {
  name: string;
  command: string;
  args: string[];
  cpus?: string;
  env?: NodeJS.ProcessEnv;
  /** A line on stdout or stderr that means ready; its first group is the URL. */
  readyLine?: RegExp;
  /** Or: the URL is known, and this probe says when it answers. */
  url?: string;
  probe?: (url: string) => Promise<boolean>;
  timeoutMs?: number;
}): Promise<Server> {
  hookExit();
  const [command, args] = await pinned(options.cpus, options.command, options.args);
  const managed = startProcess(command, args, {
    cwd: ROOT,
    env: { ...process.env, ...options.env },
  });
  running.add(managed);
  const stop = async () => {
    await managed.stop("SIGTERM");
    running.delete(managed);
  };
  let url = options.url ?? "";
  try {
    await waitFor(
      async () => {
        if (managed.child.exitCode !== null) throw new Error("exited");
        if (options.readyLine) {
          const m = options.readyLine.exec(managed.output());
          if (!m) return false;
          url = m[1] ?? url;
          return true;
        }
        return options.probe ? options.probe(url) : true;
      },
      options.timeoutMs ?? 60_000,
      () => `${options.name} did not start:\n${managed.output().slice(-2_000)}`,
    );
    if (managed.child.exitCode !== null)
      throw new Error(`${options.name} exited:\n${managed.output().slice(-2_000)}`);
  } catch (error) {
    await stop();
    throw error;
  }
  const pid = managed.child.pid as number;
  return { name: options.name, url, pid, output: managed.output, stop };
}

/** Node 24 running this benchmark: children run the sources the same way. */
export const NODE = process.execPath;

export interface FakeRegistryOptions {
  cpus?: string;
  env?: NodeJS.ProcessEnv;
  /** Another checkout of pullstorm to run instead of this one (a before/after comparison). */
  root?: string;
  /** Extra `registry serve` flags. */
  args?: string[];
  name?: string;
}

/** `pullstorm registry serve` on a free port, as a user would start it. */
export function startFakeRegistry(options: FakeRegistryOptions = {}): Promise<Server> {
  return startServer({
    name: options.name ?? "fake-registry",
    command: NODE,
    args: [
      join(options.root ?? ROOT, "bin/pullstorm.js"),
      "registry",
      "serve",
      "--port",
      "0",
      ...(options.args ?? []),
    ],
    ...(options.cpus ? { cpus: options.cpus } : {}),
    ...(options.env ? { env: options.env } : {}),
    readyLine: /pullstorm registry listening on (http:\/\/\S+)/,
  });
}

/** A throwaway directory removed when `cleanup` runs. */
export function tempDir(prefix: string): { dir: string; cleanup(): void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

async function answersV2(url: string): Promise<boolean> {
  const res = await fetch(`${url}/v2/`, { signal: AbortSignal.timeout(2_000) });
  await res.arrayBuffer();
  return res.status === 200;
}

/**
 * CNCF distribution (`docker-registry serve`) as a plain registry (no proxy,
 * no auth) storing on the filesystem under `dir`, with request logging off
 * (as the fake registry runs in the benchmarks: `--log-level warn`).
 */
export async function startDistribution(options: { dir: string; cpus?: string }): Promise<Server> {
  const port = await freePort();
  const root = join(options.dir, "storage");
  mkdirSync(root, { recursive: true });
  const config = join(options.dir, "config.yml");
  writeFileSync(
    config,
    [
      "version: 0.1",
      "log:",
      "  level: warn",
      "  accesslog:",
      "    disabled: true",
      "storage:",
      "  filesystem:",
      `    rootdirectory: ${JSON.stringify(root)}`,
      "http:",
      `  addr: ${JSON.stringify(`127.0.0.1:${port}`)}`,
      "",
    ].join("\n"),
  );
  return startServer({
    name: "distribution",
    command: "docker-registry",
    args: ["serve", config],
    ...(options.cpus ? { cpus: options.cpus } : {}),
    url: `http://127.0.0.1:${port}`,
    probe: answersV2,
  });
}

/** `docker-registry --version`'s version, e.g. "2.8.2+ds1". */
export async function distributionVersion(): Promise<string> {
  const out = await runCommand("docker-registry", ["--version"], { timeoutMs: 10_000 });
  return /\s(v?\d+\.\d+\.\d+\S*)/.exec(out.stdout)?.[1] ?? out.stdout.trim();
}

/**
 * Copies one image from the fake registry into distribution with skopeo,
 * bytes and digests unchanged (`--all --preserve-digests`), so both serve the
 * same manifest.
 */
export async function copyImage(options: {
  from: string;
  to: string;
  image: string;
  credentials?: string;
}): Promise<void> {
  const host = (url: string) => url.replace(/^https?:\/\//, "");
  const result = await runCommand(
    "skopeo",
    [
      "copy",
      "--all",
      "--preserve-digests",
      "--src-tls-verify=false",
      "--dest-tls-verify=false",
      ...(options.credentials ? ["--src-creds", options.credentials] : []),
      `docker://${host(options.from)}/${options.image}`,
      `docker://${host(options.to)}/${options.image}`,
    ],
    { timeoutMs: 600_000 },
  );
  if (result.status !== 0)
    throw new Error(`skopeo copy ${options.image} failed: ${result.stderr.slice(-2_000)}`);
}

/** The bare node:http server (./bare-server.ts) answering every request with these bytes and headers. */
export function startBareServer(options: {
  bodyFile: string;
  headers: Record<string, string>;
  cpus?: string;
}): Promise<Server> {
  return startServer({
    name: "bare node:http",
    command: NODE,
    args: [
      join(ROOT, "bench/lib/bare-server.ts"),
      "--port",
      "0",
      "--body",
      options.bodyFile,
      "--headers",
      JSON.stringify(options.headers),
    ],
    ...(options.cpus ? { cpus: options.cpus } : {}),
    readyLine: /listening on (http:\/\/\S+)/,
  });
}

/** Where results go. */
export function resultsFile(name: string): string {
  const dir = join(ROOT, "bench/results");
  if (!existsSync(dir)) mkdirSync(dir, { recursive: true });
  return join(dir, `${name}.json`);
}
