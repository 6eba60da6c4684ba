import type { FastifyBaseLogger, FastifyInstance } from "fastify";
import type { Account } from "./auth/users.ts";
import { Catalog, type CatalogOptions } from "./catalog/catalog.ts";
import { loadCatalogFile } from "./catalog/file.ts";
import { type Clock, SystemClock } from "./core/clock.ts";
import { Registry } from "./core/registry.ts";
import { createHttpServer, urlOf } from "./http/server.ts";

export { Catalog } from "./catalog/catalog.ts";
export { ManualClock, SystemClock } from "./core/clock.ts";
export { Registry } from "./core/registry.ts";

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
  synthetic?: number;
  defaults?: CatalogOptions["defaults"];
  clock?: Clock;
}

/** A registry core with its catalog, ready for in-process use or to be served. */
export function createRegistry(options: FakeRegistryOptions = {}): Registry {
  const file = options.catalogFile ? loadCatalogFile(options.catalogFile) : undefined;
  const catalog = new Catalog({
    seed: options.seed ?? 1,
    images: file?.images ?? [],
    synthetic: options.synthetic ?? 0,
    defaults: { ...file?.defaults, ...options.defaults },
  });
  return new Registry({
    catalog,
    clock: options.clock ?? new SystemClock(),
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
}

export interface RunningRegistry {
  url: string;
  registry: Registry;
  app: FastifyInstance;
  close(): Promise<void>;
}

/** Serves a registry over HTTP; port 0 picks a free port. */
export async function serveRegistry(
  registry: Registry,
  listen: { host?: string; port?: number; logger?: FastifyBaseLogger } = {},
): Promise<RunningRegistry> {
  const host = listen.host ?? "127.0.0.1";
  const app = createHttpServer(registry, listen.logger ? { logger: listen.logger } : {});
  await app.listen({ host, port: listen.port ?? 0 });
  const address = app.server.address();
  const port = typeof address === "object" && address ? address.port : (listen.port ?? 0);
  return { url: urlOf(host, port), registry, app, close: () => app.close() };
}
