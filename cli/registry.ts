import { randomBytes } from "node:crypto";
import { type Command, InvalidArgumentError, Option } from "commander";
import pino from "pino";
import { RegistryView } from "../dashboard/registry-view.ts";
import { type RunningDashboard, startDashboard } from "../dashboard/server.ts";
import { type Account, parseUser } from "../fake-registry/auth/users.ts";
import {
  createQuotaStore,
  createRegistry,
  DEFAULT_CONNECTION_LIMITS,
  DEFAULT_MAX_CLIENTS,
  DEFAULT_SERVICE,
  parseStoreSpec,
  type StoreSpec,
  serveRegistry,
} from "../fake-registry/index.ts";
import { PRESETS } from "../fake-registry/policy/presets.ts";
import type { QuotaStore, StoreFailureMode } from "../fake-registry/policy/store.ts";
import { formatDuration, parseSize } from "../vocabulary/config/units.ts";
import { ConfigError } from "../vocabulary/config/yaml-file.ts";
import { exitOnError, UsageError } from "./errors.ts";
import { parseListen } from "./run.ts";

function integer(name: string, min: number, max: number) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < min || n > max)
      throw new InvalidArgumentError(`${name} must be a whole number from ${min} to ${max}`);
    return n;
  };
}

function user(value: string, previous: Account[] = []): Account[] {
  const parsed = parseUser(value);
  if ("error" in parsed) throw new InvalidArgumentError(parsed.error);
  return [...previous, parsed];
}

function bytes(value: string): number {
  const n = parseSize(value);
  if (typeof n !== "number" || n <= 0)
    throw new InvalidArgumentError(typeof n === "number" ? "must be above 0" : n.error);
  return n;
}

interface ServeFlags {
  host: string;
  port: number;
  seed: number;
  auth: boolean;
  user?: Account[];
  catalog?: string;
  synthetic: number;
  layers?: number;
  layerSize?: number;
  service: string;
  tokenSecret?: string;
  tokenLifetime: number;
  logLevel: string;
  preset: string;
  policy?: string;
  timeScale: number;
  controlToken?: string;
  dashboard?: { host: string; port: number };
  faults?: string;
  store: StoreSpec;
  storeFailure: StoreFailureMode;
  storeTimeout: number;
  controlHost?: string[];
  headersTimeout: number;
  requestTimeout: number;
  keepAliveTimeout: number;
  maxRequestsPerConnection: number;
  maxConnectionsPerAddress: number;
  maxConnections: number;
  maxClients: number;
}

function hostName(value: string, previous: string[] = []): string[] {
  if (!/^[A-Za-z0-9]([A-Za-z0-9.-]{0,252})$/.test(value))
    throw new InvalidArgumentError(
      `--control-host "${value.slice(0, 80)}" must be a host name (letters, digits, '.', '-'), without port`,
    );
  return [...previous, value.toLowerCase()];
}

function storeSpec(value: string): StoreSpec {
  try {
    return parseStoreSpec(value);
  } catch (error) {
    if (error instanceof ConfigError) throw new InvalidArgumentError(error.message);
    throw error;
  }
}

function positive(name: string) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isFinite(n) || n <= 0)
      throw new InvalidArgumentError(`${name} must be a positive number`);
    return n;
  };
}

function describeLimit(
  limit: import("../fake-registry/policy/types.ts").Limit | "unlimited",
): string {
  if (limit === "unlimited") return "unlimited";
  const per =
    limit.algorithm === "gcra"
      ? `/${formatDuration(limit.windowMs)} (GCRA, burst ${limit.burst ?? 0})`
      : ` / ${formatDuration(limit.windowMs)} ${limit.algorithm}`;
  return `${limit.limit}${per}`;
}

export function registryCommand(program: Command): void {
  const registry = program.command("registry").description("the fake OCI registry");
  registry
    .command("presets")
    .description("list the throttling presets with their numbers and sources")
    .option("--json", "print the presets as JSON")
    .action((flags: { json?: boolean }) => {
      if (flags.json) {
        process.stdout.write(`${JSON.stringify(PRESETS, null, 2)}\n`);
        return;
      }
      for (const policy of Object.values(PRESETS)) {
        const lines = [`${policy.preset}: ${policy.description}`];
        for (const rule of policy.rules) {
          const counts = rule.counts
            .filter((c) => c.cost > 0)
            .map((c) =>
              c.as === "docker-pull"
                ? `${c.method} ${c.kind} as Docker pulls (an index GET and its platform manifest GET within ${formatDuration(c.withinMs ?? 0)} are one pull; each further architecture one more)`
                : `${c.method} ${c.kind}`,
            )
            .join(", ");
          const limits = Object.entries(rule.limits)
            .map(([plan, l]) => `${plan} ${describeLimit(l)}`)
            .join("; ");
          lines.push(
            `  ${rule.layer}/${rule.name}: counts ${counts || "nothing"}; per ${rule.anonymousBy} (anonymous), ${rule.authenticatedBy} (accounts); ${limits || "never refuses"}`,
          );
          if (rule.ban)
            lines.push(
              `    ban past ${rule.ban.after} / ${formatDuration(rule.ban.windowMs)} for ${formatDuration(rule.ban.forMs)}`,
            );
          const shape = rule.refusal;
          lines.push(
            `    refuses with ${shape.status} ${shape.type === "oci" ? `${shape.code} "${shape.anonymous}"` : `${shape.type} body`}${rule.retryAfter ? `, Retry-After${rule.retryAfterSeconds ? ` ${rule.retryAfterSeconds}` : ""}` : ""}${rule.headers ? ", RateLimit headers" : ""}`,
          );
        }
        if (policy.lockout)
          lines.push(
            `  token/lockout: ${policy.lockout.attempts} failed logins in ${formatDuration(policy.lockout.windowMs)} lock ${formatDuration(policy.lockout.lockMs)}`,
          );
        lines.push(...policy.sources.map((s) => `  source: ${s}`));
        process.stdout.write(`${lines.join("\n")}\n\n`);
      }
    });
  registry
    .command("serve")
    .description(
      "serve deterministic synthetic images over the OCI distribution API with a Docker-style token service",
    )
    .option("--host <host>", "address to listen on", "127.0.0.1")
    .option(
      "--port <port>",
      "port to listen on (0 picks a free one)",
      integer("--port", 0, 65535),
      5000,
    )
    .option(
      "--seed <n>",
      "seed for the synthetic catalog: same seed, same digests",
      integer("--seed", 0, 2 ** 31 - 1),
      1,
    )
    .option("--no-auth", "no token service: every request is anonymous, counted by client IP")
    .option("--user <name:password[:plan]>", "an account for the token service (repeatable)", user)
    .option("--catalog <file>", "YAML catalog file adding images, tags and tag moves")
    .option(
      "--synthetic <n>",
      "add N faker-named images (large catalogs)",
      integer("--synthetic", 0, 1_000_000),
      0,
    )
    .option(
      "--layers <n>",
      "layers per image, where the catalog does not say",
      integer("--layers", 1, 128),
    )
    .option(
      "--layer-size <bytes>",
      "approximate layer size, e.g. 64KiB or 10MB, where the catalog does not say",
      bytes,
    )
    .option("--service <name>", "service name in challenges and tokens", DEFAULT_SERVICE)
    .option(
      "--token-secret <secret>",
      "HMAC secret for tokens (share it between replicas); random by default",
    )
    .option(
      "--token-lifetime <seconds>",
      "token lifetime (Docker Hub: 300)",
      integer("--token-lifetime", 1, 86_400),
      300,
    )
    .addOption(
      new Option("--preset <name>", "throttling preset (see `pullstorm registry presets`)")
        .choices(Object.keys(PRESETS))
        .default("dockerhub-2020"),
    )
    .option("--policy <file>", "YAML policy file applied on top of the preset (docs/policy.md)")
    .option(
      "--time-scale <n>",
      "registry seconds per wall second: 360 makes a 6 h window pass in 60 s",
      positive("--time-scale"),
      1,
    )
    .option("--faults <file>", "YAML list of faults to inject from the start (docs/faults.md)")
    .addOption(
      new Option(
        "--store <memory|redis://HOST:PORT[/DB]>",
        "where quota counters live: this process's memory, or Redis shared by replicas (docs/redis.md)",
      )
        .argParser(storeSpec)
        .default({ kind: "memory" }, "memory"),
    )
    .addOption(
      new Option(
        "--store-failure <mode>",
        "while Redis is unreachable: open admits requests uncounted, closed answers 503",
      )
        .choices(["open", "closed"])
        .default("open"),
    )
    .option(
      "--store-timeout <ms>",
      "how long one Redis command may take before it counts as unreachable (connecting: at least 3000)",
      integer("--store-timeout", 1, 600_000),
      1000,
    )
    .option(
      "--control-token <token>",
      "require this Bearer token on /_pullstorm/* and /metrics from every caller (without it: loopback callers only)",
    )
    .option(
      "--control-host <name>",
      "a host name the control API answers besides the registry's own addresses and localhost (repeatable; DNS-rebinding guard)",
      hostName,
    )
    .option(
      "--headers-timeout <ms>",
      "time a client has to send a request's headers; then 408 and the connection is closed",
      integer("--headers-timeout", 1, 3_600_000),
      DEFAULT_CONNECTION_LIMITS.headersTimeoutMs,
    )
    .option(
      "--request-timeout <ms>",
      "time a client has to send a whole request, body included (at least --headers-timeout)",
      integer("--request-timeout", 1, 3_600_000),
      DEFAULT_CONNECTION_LIMITS.requestTimeoutMs,
    )
    .option(
      "--keep-alive-timeout <ms>",
      "how long an idle keep-alive connection stays open",
      integer("--keep-alive-timeout", 1, 3_600_000),
      DEFAULT_CONNECTION_LIMITS.keepAliveTimeoutMs,
    )
    .option(
      "--max-requests-per-connection <n>",
      "requests one keep-alive connection may carry (0: no limit)",
      integer("--max-requests-per-connection", 0, 1_000_000_000),
      DEFAULT_CONNECTION_LIMITS.maxRequestsPerSocket,
    )
    .option(
      "--max-connections-per-address <n>",
      "connections one client address may hold open; more are answered 503 and closed (0: no limit)",
      integer("--max-connections-per-address", 0, 1_000_000),
      DEFAULT_CONNECTION_LIMITS.maxConnectionsPerAddress,
    )
    .option(
      "--max-clients <n>",
      "per-client records kept at most, of each kind (quota counters, lockouts, bans, stats); least recently used evicted first",
      integer("--max-clients", 1, 100_000_000),
      DEFAULT_MAX_CLIENTS,
    )
    .option(
      "--max-connections <n>",
      "connections open in all; more are closed at once",
      integer("--max-connections", 1, 1_000_000),
      DEFAULT_CONNECTION_LIMITS.maxConnections,
    )
    .option(
      "--dashboard <[host:]port>",
      "serve the live game-day console for this registry (answers and refusals per second, quota headroom per identity, fault and policy controls with the control token) on this address; loopback unless a host is named",
      parseListen,
    )
    .addOption(
      new Option("--log-level <level>", "request log level (logs go to stderr as JSON)")
        .choices(["trace", "debug", "info", "warn", "error", "silent"])
        .default("info"),
    )
    .action(async (flags: ServeFlags) => {
      let store: QuotaStore | undefined;
      try {
        if (flags.requestTimeout < flags.headersTimeout)
          throw new ConfigError([
            `--request-timeout (${flags.requestTimeout}) must be at least --headers-timeout (${flags.headersTimeout})`,
          ]);
        const logger = pino({ level: flags.logLevel }, pino.destination(2));
        const controlToken =
          flags.controlToken ??
          (flags.dashboard ? randomBytes(24).toString("base64url") : undefined);
        const quotas = createQuotaStore(flags.store, {
          failure: flags.storeFailure,
          timeScale: flags.timeScale,
          logger,
          commandTimeoutMs: flags.storeTimeout,
          connectTimeoutMs: Math.max(3000, flags.storeTimeout),
          maxKeys: flags.maxClients,
        });
        store = quotas.store;
        const core = createRegistry({
          store,
          seed: flags.seed,
          auth: flags.auth,
          accounts: flags.user ?? [],
          service: flags.service,
          tokenLifetime: flags.tokenLifetime,
          synthetic: flags.synthetic,
          defaults: {
            ...(flags.layers ? { layers: flags.layers } : {}),
            ...(flags.layerSize ? { layerSize: flags.layerSize } : {}),
          },
          ...(flags.catalog ? { catalogFile: flags.catalog } : {}),
          ...(flags.tokenSecret ? { tokenSecret: flags.tokenSecret } : {}),
          preset: flags.preset,
          timeScale: flags.timeScale,
          ...(flags.policy ? { policyFile: flags.policy } : {}),
          // The console's controls go through the control API with a token: one is made when none is given.
          ...(controlToken ? { controlToken } : {}),
          ...(flags.faults ? { faultsFile: flags.faults } : {}),
          maxClients: flags.maxClients,
        });
        // Flags, catalog and policy are checked; now Redis, before listening.
        await quotas.start();
        const watch = flags.dashboard ? new RegistryView(core.clock) : undefined;
        const running = await serveRegistry(core, {
          ...(watch ? { handler: watch.handler(core) } : {}),
          host: flags.host,
          port: flags.port,
          logger,
          connections: {
            headersTimeoutMs: flags.headersTimeout,
            requestTimeoutMs: flags.requestTimeout,
            keepAliveTimeoutMs: flags.keepAliveTimeout,
            maxRequestsPerSocket: flags.maxRequestsPerConnection,
            maxConnectionsPerAddress: flags.maxConnectionsPerAddress,
            maxConnections: flags.maxConnections,
          },
          ...(flags.controlHost ? { controlHosts: flags.controlHost } : {}),
        });
        process.stdout.write(
          `pullstorm registry listening on ${running.url} (seed ${flags.seed}, ${core.catalog.size} images, auth ${flags.auth ? `on, service ${flags.service}` : "off"}, policy ${core.policy.preset}${flags.timeScale !== 1 ? `, time x${flags.timeScale}` : ""}${flags.store.kind === "redis" ? `, quotas in ${flags.store.url} fail-${flags.storeFailure}` : ""})\n`,
        );
        let dashboard: RunningDashboard | undefined;
        if (watch && flags.dashboard && controlToken) {
          dashboard = await startDashboard({
            ...flags.dashboard,
            token: controlToken,
            view: watch,
          }).catch(async (error: NodeJS.ErrnoException) => {
            await running.close();
            throw new UsageError(
              `--dashboard ${flags.dashboard?.host}:${flags.dashboard?.port}: ${error.code === "EADDRINUSE" ? "address in use" : error.code === "EADDRNOTAVAIL" ? "no such address on this machine" : error.message}`,
            );
          });
          dashboard.addDesign(
            watch.control(running.url, (mark) => logger.info({ mark }, "marked from the console")),
          );
          process.stdout.write(
            `pullstorm: live console at ${dashboard.url}#token=${controlToken}\n`,
          );
        }
        // SIGTERM (docker stop, npm run serve: the scripts `exec` node so npm's forwarded
        // signal reaches it) or SIGINT: close the listener and every connection, then the
        // store. Should that stall (an unreachable Redis), exit anyway after 5 s. A
        // repeated signal changes nothing: Ctrl-C under `npm run serve` arrives twice,
        // from the terminal and forwarded by npm.
        let stopping = false;
        const stop = (signal: string) => {
          if (stopping) return;
          stopping = true;
          logger.info({ signal }, "stopping");
          setTimeout(() => {
            logger.warn("still stopping after 5 s: exiting now");
            process.exit(1);
          }, 5000).unref();
          (dashboard?.close() ?? Promise.resolve())
            .then(() => running.close())
            .then(() => store?.close?.())
            .then(
              () => process.exit(0),
              () => process.exit(1),
            );
        };
        process.on("SIGINT", () => stop("SIGINT"));
        process.on("SIGTERM", () => stop("SIGTERM"));
      } catch (error) {
        await store?.close?.();
        exitOnError(error);
      }
    });
}
