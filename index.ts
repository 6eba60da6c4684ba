/**
 * pullstorm as a library, for your own test suites (docs/testing.md):
 *
 *   const registry = await startFakeRegistry({ preset: "dockerhub-2020" });
 *   const mirror = await startMirror({ upstream: registry.url });
 *   const inBox = await startFakeRegistryContainer({ args: ["--preset", "dockerhub-2020"] });
 *   const { report } = await runScenario(loadScenario("scenarios/ci-fan-out.yaml"), { mode: "virtual" });
 *   const { yaml } = importScenario([{ text: kubectlJson, source: "cluster.json" }]);
 *
 * Everything started here listens on loopback only and must be stopped
 * (`close()` / `stop()`), typically in afterAll.
 */
import {
  createRegistry,
  DEFAULT_MAX_CLIENTS,
  type FakeRegistryOptions,
  type RunningRegistry,
  type ServeOptions,
  serveRegistry,
} from "./fake-registry/index.ts";
import type { ContainerNetwork } from "./simulator/containers.ts";
import { LiveSim } from "./simulator/engine/sim.ts";
import { HttpTransport } from "./simulator/engine/transport.ts";
import {
  findDistribution,
  MirrorStartError,
  type MirrorStartOptions,
  type StartedMirror,
  startMirror as startRealMirror,
} from "./simulator/mirror/backends.ts";
import { type MirrorFlavour, MirrorModel } from "./simulator/mirror/model.ts";
import { serveMirror } from "./simulator/mirror/serve.ts";
import type { MirrorBackendKind } from "./vocabulary/events.ts";

export type { Account } from "./fake-registry/auth/users.ts";
export {
  type ConnectionLimits,
  createRegistry,
  DEFAULT_CONNECTION_LIMITS,
  DEFAULT_MAX_CLIENTS,
  type FakeRegistryOptions,
  type RunningRegistry,
  type ServeOptions,
  serveRegistry,
} from "./fake-registry/index.ts";
export { type HarnessOptions as RunOptions, runScenario } from "./harness/run.ts";
export { foldEvents, RunFold } from "./reports/fold.ts";
export type { Report } from "./reports/summary.ts";
export { writeRunReports } from "./reports/write.ts";
export {
  type ContainerNetwork,
  containerRuntimeProblem,
  type FakeRegistryContainerOptions,
  type StartedRegistryContainer,
  startFakeRegistryContainer,
} from "./simulator/containers.ts";
export {
  findDistribution,
  MirrorStartError,
  type StartedMirror,
} from "./simulator/mirror/backends.ts";
export {
  type ImportInput,
  type ImportResult,
  importScenario,
} from "./simulator/scenario/import.ts";
export { KubernetesInputError } from "./simulator/scenario/kubernetes.ts";
export { loadScenario, parseScenario } from "./simulator/scenario/load.ts";
export type { Scenario } from "./simulator/scenario/schema.ts";
export { checkTarget } from "./simulator/target.ts";
export type { MirrorBackendKind, MirrorDescription, SimEvent } from "./vocabulary/events.ts";

/**
 * Starts the fake registry on 127.0.0.1 (a free port unless `port` is given):
 * the same registry `pullstorm registry serve` runs, with the same options
 * (preset, policy, accounts, catalog, faults, time scale). Returns its URL, the
 * registry core (live control: `registry.policy = ...`, `registry.faults`,
 * `registry.stats`) and `close()`.
 */
export async function startFakeRegistry(
  options: FakeRegistryOptions & Omit<ServeOptions, "logger"> = {},
): Promise<RunningRegistry> {
  const { host, port, connections, controlHosts, ...rest } = options;
  // A registry served to clients it does not know keeps bounded per-client state.
  const registry = createRegistry({ maxClients: DEFAULT_MAX_CLIENTS, ...rest });
  return serveRegistry(registry, {
    host: host ?? "127.0.0.1",
    port: port ?? 0,
    ...(connections ? { connections } : {}),
    ...(controlHosts ? { controlHosts } : {}),
  });
}

export type StartMirrorOptions = MirrorStartOptions &
  (
    | {
        /**
         * auto (default): CNCF distribution when installed, else the model;
         * process: docker-registry, required; container: registry:2 (or `image`)
         * through testcontainers; external: `url`; model: the simulator's mirror model.
         */
        backend?: "auto" | "process" | "model";
        /** The model's flavour (default distribution-2.8). */
        flavour?: MirrorFlavour;
      }
    | { backend: "container"; image?: string; network?: ContainerNetwork }
    | { backend: "external"; url: string; waitMs?: number }
  );

/**
 * Starts a pull-through mirror of `upstream` on loopback and returns its URL,
 * which backend serves (`describe`), and `stop()`.
 */
export async function startMirror(options: StartMirrorOptions): Promise<StartedMirror> {
  const backend = options.backend ?? "auto";
  if (backend === "container" || backend === "external" || backend === "process")
    return startRealMirror(options as Parameters<typeof startRealMirror>[0]);
  if (backend === "auto") {
    const found = await findDistribution();
    if (found)
      return startRealMirror({
        ...options,
        backend: "process",
        binary: found.binary,
        version: found.version,
      });
  }
  return startModelMirror(
    options,
    backend === "auto" ? "docker-registry is not installed" : undefined,
  );
}

async function startModelMirror(
  options: MirrorStartOptions & { flavour?: MirrorFlavour },
  reason?: string,
): Promise<StartedMirror> {
  let upstream: URL;
  try {
    upstream = new URL(options.upstream);
  } catch {
    throw new MirrorStartError("model", `upstream "${options.upstream}" is not a URL`);
  }
  const flavour = options.flavour ?? "distribution-2.8";
  const sim = new LiveSim(1, 1);
  const model = new MirrorModel({
    upstream: {
      transport: new HttpTransport({ registry: upstream.toString() }),
      host: "registry",
      egressIp: "127.0.0.1",
      ...(options.credentials
        ? {
            credentials: {
              user: options.credentials.username,
              password: options.credentials.password,
            },
          }
        : {}),
    },
    flavour,
    sim,
  });
  const served = await serveMirror(model, { host: "127.0.0.1", port: options.port ?? 0 });
  const kind: MirrorBackendKind = "model";
  return {
    url: served.url,
    host: new URL(served.url).host,
    describe: { backend: kind, url: served.url, flavour, ...(reason ? { reason } : {}) },
    output: () => "",
    stop: async () => {
      sim.stop();
      await served.close();
    },
  };
}
