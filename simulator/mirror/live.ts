/**
 * Which mirror serves a design in a run, and the tap that records a real
 * mirror's upstream traffic as events. The model (model.ts) reports its own
 * upstream requests; a real mirror (docker-registry, a container, someone's
 * Harbor) is a black box, so pullstorm serves the embedded registry to it on a
 * listener of its own and records every request that arrives there as the
 * mirror's, exactly as the registry counted it.
 */

import type { ClientInfo, RegistryRequest } from "../../fake-registry/core/types.ts";
import { createHttpServer, type RequestHandler, urlOf } from "../../fake-registry/http/server.ts";
import type { Handled } from "../../fake-registry/registry/types.ts";
import type { MirrorBackendKind, MirrorDescription } from "../../vocabulary/events.ts";
import { type EventSink, rateLimitOf } from "../../vocabulary/events.ts";
import { errorCode, REFUSAL_HEADER } from "../../vocabulary/oci/errors.ts";
import type { Design } from "../scenario/schema.ts";
import { findDistribution, MirrorStartError, type StartedMirror, startMirror } from "./backends.ts";

type MirrorSpec = NonNullable<Design["mirror"]>;

export type BackendChoice =
  | { backend: "model"; reason?: string }
  | { backend: Exclude<MirrorBackendKind, "model">; binary?: string; version?: string };

/**
 * Picks the backend for a design's mirror. Virtual runs always get the model
 * (a real mirror cannot run in simulated time); `auto` gets CNCF distribution
 * when it is installed and the design asks for nothing only the model has.
 */
export async function chooseMirrorBackend(
  mirror: MirrorSpec,
  mode: "live" | "virtual",
  find: typeof findDistribution = findDistribution,
): Promise<BackendChoice> {
  const asked = mirror.backend;
  if (mode === "virtual")
    return asked === "auto" || asked === "model"
      ? { backend: "model" }
      : {
          backend: "model",
          reason: `virtual runs use the model: a ${asked} mirror cannot run in simulated time (run live for it)`,
        };
  if (asked === "model") return { backend: "model" };
  if (asked === "external" || asked === "container") return { backend: asked };
  const found = await find();
  if (asked === "process") {
    if (!found)
      throw new MirrorStartError(
        "process",
        "the design asks for a process mirror but CNCF distribution is not installed (apt-get install docker-registry), or use backend: auto to fall back to the model",
      );
    return { backend: "process", binary: found.binary, version: found.version };
  }
  // auto
  const modelOnly = [
    mirror.flavour === "harbor" ? "flavour harbor" : "",
    mirror.cacheSize !== undefined ? "cacheSize" : "",
    mirror.storageLatency !== undefined ? "storageLatency" : "",
    mirror.capacity !== undefined ? "capacity" : "",
  ].filter(Boolean);
  if (modelOnly.length > 0)
    return {
      backend: "model",
      reason: `${modelOnly.join(", ")}: only the model has ${modelOnly.length > 1 ? "these" : "this"}`,
    };
  if (!found)
    return {
      backend: "model",
      reason: "docker-registry is not installed (apt-get install docker-registry)",
    };
  const major = found.version.split(".")[0];
  const wanted = mirror.flavour === "distribution-3" ? "3" : "2";
  if (major !== wanted)
    return {
      backend: "model",
      reason: `the design asks for ${mirror.flavour} and ${found.binary} here is ${found.version}`,
    };
  return { backend: "process", binary: found.binary, version: found.version };
}

export interface TapListener {
  url: string;
  close(): Promise<void>;
}

/**
 * Serves `registry` on its own loopback listener and emits every request that
 * arrives there as a request event of actor "mirror" (what the real mirror sent upstream).
 */
export async function serveTappedRegistry(
  registry: { handle(req: RegistryRequest, client: ClientInfo): Promise<Handled> },
  options: { design: string; emit: EventSink; now: () => number; host?: string },
): Promise<TapListener> {
  const tap: RequestHandler = {
    async handle(req: RegistryRequest, client: ClientInfo) {
      const t = options.now() / 1000;
      const started = options.now();
      const handled = await registry.handle(req, client);
      const response = handled.response;
      const headers = response.headers;
      const body =
        typeof response.body === "string"
          ? Buffer.from(response.body)
          : (response.body ?? Buffer.alloc(0));
      const bytes = Number(headers["content-length"] ?? body.length);
      const code = errorCode(response.status, headers, body);
      const rateLimit = rateLimitOf(headers);
      options.emit({
        type: "request",
        t,
        design: options.design,
        actor: "mirror",
        identity: handled.identity.key,
        egressIp: client.ip,
        host: "registry",
        kind: handled.kind,
        method: req.method,
        status: response.status,
        bytes: req.method === "HEAD" ? 0 : bytes,
        latencyMs: Math.round((options.now() - started) * 10) / 10,
        ...(code ? { code } : {}),
        ...(rateLimit ? { rateLimit } : {}),
        ...(headers[REFUSAL_HEADER] ? { refusal: headers[REFUSAL_HEADER] } : {}),
        ...(handled.pulls !== undefined ? { pulls: handled.pulls } : {}),
      });
      return handled;
    },
  };
  const host = options.host ?? "127.0.0.1";
  const app = createHttpServer(tap);
  await app.listen({ host, port: 0 });
  const address = app.server.address();
  const port = typeof address === "object" && address ? address.port : 0;
  return { url: urlOf(host, port), close: () => app.close() };
}

/** Starts the real backend a choice names, pulling through from `upstream`. */
export async function startChosenMirror(
  choice: Exclude<BackendChoice, { backend: "model" }>,
  mirror: MirrorSpec,
  upstream: string,
  credentials?: { username: string; password: string },
): Promise<StartedMirror> {
  const common = { upstream, ...(credentials ? { credentials } : {}) };
  switch (choice.backend) {
    case "process":
      return startMirror({
        ...common,
        backend: "process",
        ...(choice.binary ? { binary: choice.binary } : {}),
        ...(choice.version ? { version: choice.version } : {}),
      });
    case "container":
      return startMirror({
        ...common,
        backend: "container",
        ...(mirror.image ? { image: mirror.image } : {}),
      });
    case "external":
      return startMirror({ ...common, backend: "external", url: mirror.url as string });
  }
}

/** What report.json says about a model-served mirror. */
export function modelDescription(mirror: MirrorSpec, reason?: string): MirrorDescription {
  return {
    backend: "model",
    flavour: mirror.flavour,
    ...(mirror.backend !== "model" && mirror.backend !== "auto" ? { asked: mirror.backend } : {}),
    ...(reason ? { reason } : {}),
  };
}
