/**
 * Mirrors under test, one interface, four backends:
 * - process:   CNCF distribution (`docker-registry`, the Debian/Ubuntu package) started by
 *              pullstorm as a pull-through cache, from a generated config;
 * - container: the same through testcontainers (`registry:2` by default) where a container
 *              engine answers (Docker, or podman's Docker-API service);
 * - external:  any running mirror by URL (a team's Harbor or zot);
 * - model:     the simulator's own mirror model (see model.ts), the fallback.
 * Whichever serves, `describe` is what report.json records for the design.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { MirrorBackendKind, MirrorDescription } from "../../vocabulary/events.ts";
import {
  answersV2,
  type ContainerNetwork,
  type StartedRegistryContainer,
  startRegistryContainer,
  waitForOwnRegistry,
} from "../containers.ts";
import { isLoopbackHost } from "../target.ts";
import { type Managed, onFreePort, runCommand, startProcess } from "../util/processes.ts";

export interface StartedMirror {
  /** Base URL clients use, e.g. http://127.0.0.1:5001 */
  url: string;
  /** host:port, for docker:// references and hosts.toml. */
  host: string;
  describe: MirrorDescription;
  /** Backend container: the engine's id of the container (gone once stopped). */
  containerId?: string;
  /** The program's output so far (process and container backends). */
  output(): string;
  stop(): Promise<void>;
}

export interface MirrorStartOptions {
  /** The upstream registry the mirror pulls through from (the fake registry's URL). */
  upstream: string;
  /** The mirror's own upstream account, when it pulls authenticated. */
  credentials?: { username: string; password: string };
  /** Storage root; default: a fresh temporary directory, removed on stop. */
  storageDir?: string;
  /** Listen port on 127.0.0.1; default: a free one. */
  port?: number;
  /** How long to wait for it to answer /v2/ (default 20 s). */
  startTimeoutMs?: number;
}

export class MirrorStartError extends Error {
  readonly backend: MirrorBackendKind;
  constructor(backend: MirrorBackendKind, message: string) {
    super(message);
    this.name = "MirrorStartError";
    this.backend = backend;
  }
}

/** The distribution binaries pullstorm knows how to start, in the order it looks for them. */
const DISTRIBUTION_BINARIES = ["docker-registry", "registry"];

/** The installed CNCF distribution binary and its version, or undefined. Never throws. */
export async function findDistribution(): Promise<{ binary: string; version: string } | undefined> {
  for (const binary of DISTRIBUTION_BINARIES) {
    try {
      const r = await runCommand(binary, ["--version"], { timeoutMs: 5_000 });
      // "docker-registry github.com/docker/distribution 2.8.2+ds1"
      const version = /(\d+\.\d+\.\d+)/.exec(r.stdout)?.[1];
      if (r.status === 0 && version && /distribution/.test(r.stdout)) return { binary, version };
    } catch {
      // not installed
    }
  }
  return undefined;
}

/** A distribution config.yml for a pull-through cache of `upstream` (YAML; every value JSON-quoted). */
export function distributionConfig(options: {
  upstream: string;
  rootDirectory: string;
  addr: string;
  credentials?: { username: string; password: string };
}): string {
  const lines = [
    "version: 0.1",
    "log:",
    "  level: info",
    "  accesslog:",
    "    disabled: false",
    "storage:",
    "  filesystem:",
    `    rootdirectory: ${JSON.stringify(options.rootDirectory)}`,
    "  delete:",
    "    enabled: true",
    "http:",
    `  addr: ${JSON.stringify(options.addr)}`,
    "proxy:",
    `  remoteurl: ${JSON.stringify(options.upstream)}`,
  ];
  if (options.credentials) {
    lines.push(`  username: ${JSON.stringify(options.credentials.username)}`);
    lines.push(`  password: ${JSON.stringify(options.credentials.password)}`);
  }
  return `${lines.join("\n")}\n`;
}

/**
 * Starts CNCF distribution as a pull-through cache of `options.upstream` on
 * 127.0.0.1, waits until /v2/ answers (bounded), and returns it. Throws a
 * MirrorStartError naming the reason (binary missing, exited, never answered).
 */
export async function startProcessMirror(
  options: MirrorStartOptions & { binary?: string; version?: string },
): Promise<StartedMirror> {
  const found = options.binary
    ? { binary: options.binary, version: options.version ?? "unknown" }
    : await findDistribution();
  if (!found)
    throw new MirrorStartError(
      "process",
      "CNCF distribution is not installed (apt-get install docker-registry)",
    );
  const ownDir = options.storageDir === undefined;
  const dir = options.storageDir ?? mkdtempSync(join(tmpdir(), "pullstorm-mirror-"));
  mkdirSync(join(dir, "storage"), { recursive: true });
  // Ready only when its own output says it listens on the port (another program that
  // took the port in the meantime answers /v2/ there too, while distribution exits
  // "address already in use"); a lost port is tried again with another (onFreePort).
  let started: { proc: Managed; host: string };
  try {
    started = await onFreePort(options.port, async (port) => {
      const host = `127.0.0.1:${port}`;
      const config = join(dir, "config.yml");
      writeFileSync(
        config,
        distributionConfig({
          upstream: options.upstream,
          rootDirectory: join(dir, "storage"),
          addr: host,
          ...(options.credentials ? { credentials: options.credentials } : {}),
        }),
      );
      let proc: Managed;
      try {
        proc = startProcess(found.binary, ["serve", config]);
      } catch (error) {
        throw new Error(`could not start ${found.binary}: ${String(error)}`);
      }
      try {
        await waitForOwnRegistry({
          what: found.binary,
          url: `http://${host}`,
          line: `listening on ${host}`,
          output: () => proc.output(),
          exited: () =>
            proc.child.exitCode !== null ? `exited (${proc.child.exitCode})` : undefined,
          timeoutMs: options.startTimeoutMs ?? 20_000,
        });
        return { proc, host };
      } catch (error) {
        await proc.stop("SIGTERM");
        throw error;
      }
    });
  } catch (error) {
    if (ownDir) rmSync(dir, { recursive: true, force: true });
    throw new MirrorStartError("process", (error as Error).message);
  }
  const { proc, host } = started;
  const url = `http://${host}`;
  const cleanup = async () => {
    await proc.stop("SIGTERM");
    if (ownDir) rmSync(dir, { recursive: true, force: true });
  };
  return {
    url,
    host,
    describe: {
      backend: "process",
      url,
      program: found.binary,
      version: found.version,
      upstreamAuth: options.credentials !== undefined,
    },
    output: () => proc.output(),
    stop: cleanup,
  };
}

/**
 * The same pull-through cache in a container through testcontainers: CNCF
 * distribution's image (`registry:2` by default, or $PULLSTORM_MIRROR_IMAGE, or any
 * distribution-compatible image), configured by REGISTRY_* variables. An upstream on
 * this machine's loopback is reached with host networking (the container listens on a
 * free loopback port); any other upstream through a bridge network and a mapped port.
 * Throws a MirrorStartError with testcontainers' own reason when no container engine
 * answers (as on machines without Docker or podman's service).
 */
export async function startContainerMirror(
  options: MirrorStartOptions & { image?: string; network?: ContainerNetwork },
): Promise<StartedMirror> {
  const image = options.image ?? process.env.PULLSTORM_MIRROR_IMAGE ?? "registry:2";
  const upstream = options.upstream.replace(/\/$/, "");
  const network =
    options.network ?? (isLoopbackHost(new URL(upstream).hostname) ? "host" : "bridge");
  let started: StartedRegistryContainer;
  try {
    started = await startRegistryContainer({
      image,
      network,
      containerPort: 5000,
      ...(options.port !== undefined ? { port: options.port } : {}),
      environment: (listen) => ({
        REGISTRY_HTTP_ADDR: `${listen.host}:${listen.port}`,
        REGISTRY_PROXY_REMOTEURL: upstream,
        ...(options.credentials
          ? {
              REGISTRY_PROXY_USERNAME: options.credentials.username,
              REGISTRY_PROXY_PASSWORD: options.credentials.password,
            }
          : {}),
      }),
      // distribution's own line once it listens on REGISTRY_HTTP_ADDR
      listening: (listen) => `listening on ${listen.host}:${listen.port}`,
      startTimeoutMs: options.startTimeoutMs ?? 60_000,
      what: "the mirror",
    });
  } catch (error) {
    throw new MirrorStartError("container", (error as Error).message);
  }
  return {
    url: started.url,
    host: started.host,
    describe: {
      backend: "container",
      url: started.url,
      program: image,
      upstreamAuth: options.credentials !== undefined,
    },
    containerId: started.container.getId(),
    output: () => started.output(),
    stop: () => started.stop(),
  };
}

/**
 * A mirror someone else runs (a team's Harbor or zot). pullstorm neither starts
 * nor stops it; the caller vets the URL with the target guard first.
 */
export async function externalMirror(
  url: string,
  options: { waitMs?: number } = {},
): Promise<StartedMirror> {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new MirrorStartError(
      "external",
      `mirror URL "${url}" is not a URL; write e.g. http://127.0.0.1:5001`,
    );
  }
  const base = parsed.toString().replace(/\/$/, "");
  // A mirror started beside the run (compose starts the runner as soon as the mirror's
  // process is up) may not listen yet: refused connections are retried for a bounded
  // while; an answer that is not a registry's fails at once.
  const deadline = Date.now() + (options.waitMs ?? 10_000);
  for (;;) {
    try {
      if (!(await answersV2(base)))
        throw new MirrorStartError("external", `${base}/v2/ does not answer like a registry`);
      break;
    } catch (error) {
      if (error instanceof MirrorStartError) throw error;
      if (Date.now() >= deadline)
        throw new MirrorStartError(
          "external",
          `${base} is not reachable: ${(error as Error).message}${(error as { cause?: Error }).cause ? ` (${(error as { cause: Error }).cause.message})` : ""}`,
        );
      await new Promise((r) => setTimeout(r, 250));
    }
  }
  return {
    url: base,
    host: parsed.host,
    describe: { backend: "external", url: base },
    output: () => "",
    stop: async () => {},
  };
}

/** Starts the named real backend (process, container or external). */
export function startMirror(
  options: MirrorStartOptions &
    (
      | { backend: "process"; binary?: string; version?: string }
      | { backend: "container"; image?: string; network?: ContainerNetwork }
      | { backend: "external"; url: string; waitMs?: number }
    ),
): Promise<StartedMirror> {
  switch (options.backend) {
    case "process":
      return startProcessMirror(options);
    case "container":
      return startContainerMirror(options);
    case "external":
      return externalMirror(
        options.url,
        options.waitMs !== undefined ? { waitMs: options.waitMs } : {},
      );
  }
}
