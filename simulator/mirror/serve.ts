import type { FastifyBaseLogger } from "fastify";
import { createHttpServer, type RequestHandler, urlOf } from "../../fake-registry/http/server.ts";

export interface RunningMirror {
  url: string;
  close(): Promise<void>;
}

/** Serves a mirror model (or the model behind its link, network.ts `shaped`) over HTTP for live runs and real clients; port 0 picks a free port. */
export async function serveMirror(
  model: RequestHandler,
  listen: { host?: string; port?: number; logger?: FastifyBaseLogger } = {},
): Promise<RunningMirror> {
  const host = listen.host ?? "127.0.0.1";
  const app = createHttpServer(model, listen.logger ? { logger: listen.logger } : {});
  await app.listen({ host, port: listen.port ?? 0 });
  const address = app.server.address();
  const port = typeof address === "object" && address ? address.port : (listen.port ?? 0);
  return { url: urlOf(host, port), close: () => app.close() };
}
