import type { FastifyBaseLogger, FastifyInstance } from "fastify";
import { z } from "zod";
import { ConfigError, loadYamlFile } from "../vocabulary/config/yaml-file.ts";
import type { Account } from "./auth/users.ts";
import { Catalog, type CatalogOptions } from "./catalog/catalog.ts";
import { loadCatalogFile } from "./catalog/file.ts";
import { type Clock, ScaledClock, SystemClock } from "./core/clock.ts";
import { FaultSet } from "./faults/index.ts";
import { createHttpServer, type RequestHandler, urlOf } from "./http/server.ts";
import { loadPolicyFile } from "./policy/file.ts";
import { DEFAULT_PRESET, preset } from "./policy/presets.ts";
import {
  parseRedisUrl,
  REDIS_URL_HINT,
  type RedisAddress,
  RedisQuotaStore,
  type StoreLogger,
} from "./policy/redis-store.ts";
import { MemoryQuotaStore, type QuotaStore, type StoreFailureMode } from "./policy/store.ts";
import type { Policy } from "./policy/types.ts";
import { Registry } from "./registry/registry.ts";

export { Catalog } from "./catalog/catalog.ts";
export { ManualClock, ScaledClock, SystemClock } from "./core/clock.ts";
export { RedisQuotaStore } from "./policy/redis-store.ts";
export { MemoryQuotaStore, type QuotaStore } from "./policy/store.ts";
export { Registry } from "./registry/registry.ts";

export const DEFAULT_SERVICE = "registry.pullstorm.test";

export interface FakeRegistryOptions {
  seed?: number;
  /** false: no token service (`--no-auth`). */
  auth?: boolean;
  accounts?: Account[];
  service?: string;
  tokenSecret?: string;
  tokenLifetime?: number;
  catalogFile?: string;
  /** Images added to (or replacing) the built-ins, besides any catalog file. */
  images?: import("./catalog/builtin.ts").ImageDraft[];
  synthetic?: number;
  defaults?: CatalogOptions["defaults"];
  clock?: Clock;
  /** Registry seconds per wall second (ignored when `clock` is given). */
  timeScale?: number;
  /** A preset name (default dockerhub-2020). */
  preset?: string;
  /** A policy file (YAML) applied on top of the preset. */
  policyFile?: string;
  /** A ready policy (wins over preset and policyFile). */
  policy?: Policy;
  /** Where quota counters live: memory by default; `openQuotaStore("redis://...")` for a shared one. */
  store?: QuotaStore;
  controlToken?: string;
  /** A YAML file with a list of fault specs to load at start (docs/faults.md). */
  faultsFile?: string;
}

/** A registry core with its catalog, ready for in-process use or to be served. */
export function createRegistry(options: FakeRegistryOptions = {}): Registry {
  const file = options.catalogFile ? loadCatalogFile(options.catalogFile) : undefined;
  const catalog = new Catalog({
    seed: options.seed ?? 1,
    images: [...(file?.images ?? []), ...(options.images ?? [])],
    synthetic: options.synthetic ?? 0,
    defaults: { ...file?.defaults, ...options.defaults },
  });
  const presetName = options.preset ?? DEFAULT_PRESET;
  const policy =
    options.policy ??
    (options.policyFile ? loadPolicyFile(options.policyFile, presetName) : preset(presetName));
  if (!policy) throw new ConfigError([`--preset: unknown preset "${presetName}"`]);
  const clock =
    options.clock ??
    (options.timeScale && options.timeScale !== 1
      ? new ScaledClock(options.timeScale)
      : new SystemClock());
  const registry = new Registry({
    catalog,
    clock,
    policy,
    ...(options.store ? { store: options.store } : {}),
    ...(options.controlToken ? { controlToken: options.controlToken } : {}),
    auth:
      options.auth === false
        ? false
        : {
            service: options.service ?? DEFAULT_SERVICE,
            accounts: options.accounts ?? [],
            ...(options.tokenSecret ? { secret: options.tokenSecret } : {}),
            ...(options.tokenLifetime ? { tokenLifetime: options.tokenLifetime } : {}),
          },
  });
  const faults = new FaultSet({ seed: options.seed ?? 1, clock });
  if (options.faultsFile) {
    const file = options.faultsFile;
    const specs = loadYamlFile(
      file,
      z.array(z.unknown(), { error: "a faults file is a YAML list of fault specs" }),
    );
    const problems = specs.flatMap((spec, i) => {
      const added = faults.add(spec);
      return added.ok ? [] : added.errors.map((e) => `${file}: [${i}].${e}`);
    });
    if (problems.length > 0) throw new ConfigError(problems);
  }
  registry.faults = faults;
  return registry;
}

export interface RunningRegistry {
  url: string;
  registry: Registry;
  app: FastifyInstance;
  close(): Promise<void>;
}

/** Serves a registry over HTTP, with its control API (`/_pullstorm/*`, `/metrics`); port 0 picks a free port. */
export async function serveRegistry(
  registry: Registry,
  listen: {
    host?: string;
    port?: number;
    logger?: FastifyBaseLogger;
    /** Answers the registry API in the registry's place (the registry behind a modelled network link); the control API stays the registry's. */
    handler?: RequestHandler;
  } = {},
): Promise<RunningRegistry> {
  const host = listen.host ?? "127.0.0.1";
  const app = createHttpServer(listen.handler ?? registry, {
    control: registry,
    ...(listen.logger ? { logger: listen.logger } : {}),
  });
  await app.listen({ host, port: listen.port ?? 0 });
  const address = app.server.address();
  const port = typeof address === "object" && address ? address.port : (listen.port ?? 0);
  return { url: urlOf(host, port), registry, app, close: () => app.close() };
}

/** A `--store` value: `memory`, or Redis at `redis://HOST:PORT[/DB]`. */
export type StoreSpec = { kind: "memory" } | ({ kind: "redis" } & RedisAddress);

/** Parses `--store`; throws a ConfigError (exit 2) naming what is expected. */
export function parseStoreSpec(spec: string): StoreSpec {
  if (spec === "memory") return { kind: "memory" };
  const redis = parseRedisUrl(spec);
  if (!redis) {
    const shown = spec.length > 80 ? `${spec.slice(0, 80)}...` : spec;
    throw new ConfigError([
      `--store: expected memory or ${REDIS_URL_HINT}, got ${JSON.stringify(shown)}`,
    ]);
  }
  return { kind: "redis", ...redis };
}

export interface OpenStoreOptions {
  /** While a shared store is unreachable: admit unchecked (open, default) or answer 503 (closed). */
  failure?: StoreFailureMode;
  /** The registry's `--time-scale`: a shared store scales its own clock (Redis TIME) by it. */
  timeScale?: number;
  logger?: StoreLogger;
  /** Key prefix in a shared store (default `pullstorm:`). */
  prefix?: string;
  /** Per-command timeout for a shared store (default 1000 ms). */
  commandTimeoutMs?: number;
  /** How long connecting and the start-up check may take (default 3000 ms). */
  connectTimeoutMs?: number;
}

/**
 * The store `--store` names, not connected yet: build the registry with it,
 * then `await start()` (a no-op for memory), so bad flags and files are
 * reported before the network is tried. Close it with `store.close?.()` after
 * the registry stops.
 */
export function createQuotaStore(
  spec: string | StoreSpec,
  options: OpenStoreOptions = {},
): { store: QuotaStore; start(): Promise<void> } {
  const parsed = typeof spec === "string" ? parseStoreSpec(spec) : spec;
  if (parsed.kind === "memory") return { store: new MemoryQuotaStore(), start: async () => {} };
  const store = new RedisQuotaStore({
    url: parsed.url,
    time: "redis",
    ...(options.failure ? { failure: options.failure } : {}),
    ...(options.timeScale ? { timeScale: options.timeScale } : {}),
    ...(options.logger ? { logger: options.logger } : {}),
    ...(options.prefix ? { prefix: options.prefix } : {}),
    ...(options.commandTimeoutMs ? { commandTimeoutMs: options.commandTimeoutMs } : {}),
    ...(options.connectTimeoutMs ? { connectTimeoutMs: options.connectTimeoutMs } : {}),
  });
  return { store, start: () => store.start() };
}

/**
 * Opens the store `--store` names: memory, or Redis (connected and checked
 * before this resolves; an unreachable Redis throws an error naming the URL).
 */
export async function openQuotaStore(
  spec: string | StoreSpec,
  options: OpenStoreOptions = {},
): Promise<QuotaStore> {
  const { store, start } = createQuotaStore(spec, options);
  await start();
  return store;
}
