/**
 * Containers through testcontainers (an optional dependency), against whatever engine
 * DOCKER_HOST names: Docker, or podman's Docker-API service (`podman system service`).
 *
 * Host networking is the default: a fake registry in a container must see its clients'
 * own 127.0.0.x source addresses (per-IP quotas are the point; through a bridge's port
 * mapping every client arrives from the gateway), and a mirror in a container must reach
 * an upstream on the host's loopback. `network: "bridge"` maps a port instead, for
 * engines where host networking is not the host's (Docker Desktop).
 */
import type { StartedTestContainer } from "testcontainers";
import { onFreePort, waitFor } from "./util/processes.ts";

export type ContainerNetwork = "host" | "bridge";

/** testcontainers is an optional dependency: loaded when a container is asked for. */
export async function loadTestcontainers(): Promise<typeof import("testcontainers")> {
  try {
    return await import("testcontainers");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ERR_MODULE_NOT_FOUND")
      throw new Error(
        "testcontainers is not installed (an optional dependency of pullstorm: npm i testcontainers)",
      );
    throw error;
  }
}

/** Testcontainers' own words for why no container can run here, or undefined when one can. */
export async function containerRuntimeProblem(): Promise<string | undefined> {
  try {
    const { getContainerRuntimeClient } = await loadTestcontainers();
    await getContainerRuntimeClient();
    return undefined;
  } catch (error) {
    return (error as Error).message;
  }
}

/** /v2/ answers like a registry: 200 open, 401 with a token service in front. */
export async function answersV2(url: string): Promise<boolean> {
  const res = await fetch(`${url}/v2/`, { signal: AbortSignal.timeout(2_000) });
  await res.arrayBuffer();
  return res.status === 200 || res.status === 401;
}

/**
 * Waits (bounded) until a registry program this process started answers as itself:
 * its own output has `line` (when given) and /v2/ answers at `url`. Another program that
 * took the port answers /v2/ too, so the line is what tells them apart; an exit ends
 * the wait at once. Throws naming `what`, with the program's last output.
 */
export async function waitForOwnRegistry(program: {
  what: string;
  url: string;
  line?: string;
  output: () => string;
  /** How it ended ("exited (1)"), or undefined while it runs. */
  exited: () => string | undefined;
  timeoutMs: number;
}): Promise<void> {
  const address = new URL(program.url).host;
  const last = () => program.output().slice(-2_000);
  await waitFor(
    async () =>
      program.exited() !== undefined ||
      ((program.line === undefined || program.output().includes(program.line)) &&
        (await answersV2(program.url))),
    program.timeoutMs,
    () => `${program.what} did not answer on ${address}:\n${last()}`,
  );
  const ended = program.exited();
  if (ended !== undefined)
    throw new Error(`${program.what} ${ended} before answering on ${address}:\n${last()}`);
}

export interface StartedRegistryContainer {
  /** Base URL clients use, e.g. http://127.0.0.1:40123 */
  url: string;
  /** host:port, for docker:// references. */
  host: string;
  image: string;
  network: ContainerNetwork;
  container: StartedTestContainer;
  /** The container's output so far (collected as it runs). */
  output(): string;
  /** Stops and removes the container. Idempotent. */
  stop(): Promise<void>;
}

export interface RegistryContainerOptions {
  image: string;
  network: ContainerNetwork;
  /** The port the program listens on inside a bridge network. */
  containerPort: number;
  /** The command and environment, given the host:port it must listen on. */
  command?: (listen: { host: string; port: number }) => string[];
  environment?: (listen: { host: string; port: number }) => Record<string, string>;
  /** Host port under host networking (default: a free one). */
  port?: number;
  /**
   * Under host networking, what the program prints once it listens on `listen`: ready
   * only with that line in its own output and /v2/ answering (another program may
   * answer on a port this one lost).
   */
  listening?: (listen: { host: string; port: number }) => string;
  startTimeoutMs: number;
  /** What the error says the container is, e.g. "the fake registry". */
  what: string;
}

/**
 * Starts a registry-like container, waits until /v2/ answers from the host (bounded),
 * and returns its URL. On a start that fails, the container is stopped and the error
 * carries its last output. Under host networking a free port can be taken by another
 * program between freePort() and the container's bind: the program then exits "address
 * already in use" while the other answers /v2/ there. So the container is ready only
 * when its own output says it listens (`listening`), an exit ends the wait at once, and
 * a lost port is tried again with another (3 tries, unless a port was given).
 */
export async function startRegistryContainer(
  options: RegistryContainerOptions,
): Promise<StartedRegistryContainer> {
  const problem = await containerRuntimeProblem();
  if (problem) throw new Error(`testcontainers cannot run ${options.image}: ${problem}`);
  return options.network === "host"
    ? onFreePort(options.port, (port) => startContainerOn(options, { host: "127.0.0.1", port }))
    : startContainerOn(options, { host: "0.0.0.0", port: options.containerPort });
}

/** One try of startRegistryContainer: the container listening on `listen`. */
async function startContainerOn(
  options: RegistryContainerOptions,
  listen: { host: string; port: number },
): Promise<StartedRegistryContainer> {
  const { GenericContainer } = await loadTestcontainers();
  const host = options.network === "host";
  let container = new GenericContainer(options.image)
    .withEnvironment(options.environment?.(listen) ?? {})
    .withStartupTimeout(options.startTimeoutMs);
  const command = options.command?.(listen);
  if (command) container = container.withCommand(command);
  container = host
    ? container.withNetworkMode("host")
    : container.withExposedPorts(options.containerPort);
  let logs = "";
  // The log stream ends when the container exits.
  let exited = false;
  const started = await container
    .withLogConsumer((stream) => {
      stream.on("data", (d: Buffer | string) => {
        logs = (logs + d.toString()).slice(-64_000);
      });
      stream.on("end", () => {
        exited = true;
      });
    })
    .start();
  const address = host
    ? `127.0.0.1:${listen.port}`
    : `${started.getHost()}:${started.getMappedPort(options.containerPort)}`;
  const url = `http://${address}`;
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    await started.stop({ remove: true, timeout: 10_000 });
  };
  const line = host ? options.listening?.(listen) : undefined;
  try {
    await waitForOwnRegistry({
      what: `${options.what} (${options.image})`,
      url,
      ...(line !== undefined ? { line } : {}),
      output: () => logs,
      exited: () => (exited ? "exited" : undefined),
      timeoutMs: options.startTimeoutMs,
    });
  } catch (error) {
    await stop().catch(() => {});
    throw error;
  }
  return {
    url,
    host: address,
    image: options.image,
    network: options.network,
    container: started,
    output: () => logs,
    stop,
  };
}

export interface FakeRegistryContainerOptions {
  /** Default: $PULLSTORM_IMAGE, else pullstorm:local (`docker build -t pullstorm:local .`). */
  image?: string;
  /** More `pullstorm registry serve` flags, e.g. ["--preset", "dockerhub-2020"]. */
  args?: string[];
  /** Default host (the registry sees clients' own addresses). */
  network?: ContainerNetwork;
  /** Host port under host networking (default: a free one). */
  port?: number;
  /** How long to wait for /v2/ (default 60 s). */
  startTimeoutMs?: number;
}

/**
 * pullstorm's fake registry in a container (`pullstorm registry serve` in pullstorm's
 * image), for users who keep pullstorm out of their test process: the same registry
 * `startFakeRegistry` runs in-process, reached over HTTP.
 */
export function startFakeRegistryContainer(
  options: FakeRegistryContainerOptions = {},
): Promise<StartedRegistryContainer> {
  const image = options.image ?? process.env.PULLSTORM_IMAGE ?? "pullstorm:local";
  return startRegistryContainer({
    image,
    network: options.network ?? "host",
    containerPort: 5000,
    ...(options.port !== undefined ? { port: options.port } : {}),
    command: (listen) => [
      "registry",
      "serve",
      "--host",
      listen.host,
      "--port",
      String(listen.port),
      ...(options.args ?? []),
    ],
    // `pullstorm registry serve` says so once it listens
    listening: (listen) => `pullstorm registry listening on http://${listen.host}:${listen.port}`,
    startTimeoutMs: options.startTimeoutMs ?? 60_000,
    what: "the fake registry",
  });
}
