import type { Socket } from "node:net";
import Fastify, {
  type FastifyBaseLogger,
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
  LogController,
} from "fastify";
import { Registry as PromRegistry } from "prom-client";
import { errorBody } from "../../vocabulary/oci/errors.ts";
import { clip } from "../../vocabulary/oci/names.ts";
import { NO_QUERY } from "../core/no-query.ts";
import type { RegistryRequest, RegistryResponse, TransportEffects } from "../core/types.ts";
import { liveBody, openLive } from "../faults/effects/index.ts";
import type { Handled, Registry } from "../registry/registry.ts";
import { clientIp } from "./client-ip.ts";
import {
  ConnectionGuard,
  type ConnectionLimits,
  connectionLimits,
  rawAnswer,
  serverOptions,
} from "./connections.ts";
import { type ControlOptions, controlPlugin } from "./control.ts";

export interface HttpOptions {
  /** pino logger for one line per request; omit for silence. */
  logger?: FastifyBaseLogger;
  /** Largest request body accepted (only the token POST and control bodies read one). */
  bodyLimit?: number;
  /** The registry whose `/_pullstorm/*` control API and `/metrics` to serve (./control.ts). */
  control?: Registry;
  /** Control API options beyond the registry (./control.ts). */
  controlOptions?: Omit<ControlOptions, "registry">;
  /** Timeouts and connection caps (./connections.ts); defaults for what is left out. */
  connections?: Partial<ConnectionLimits>;
}

declare module "fastify" {
  interface FastifyRequest {
    handled?: Partial<Handled> & Pick<Handled, "response">;
  }
}

function toRegistryRequest(request: FastifyRequest): RegistryRequest {
  const url = request.raw.url ?? "/";
  const q = url.indexOf("?");
  const headers: Record<string, string | undefined> = {};
  const raw = request.headers;
  for (const k in raw) {
    const v = raw[k];
    headers[k] = Array.isArray(v) ? v.join(", ") : v;
  }
  const req: RegistryRequest = {
    method: request.method,
    path: q < 0 ? url : url.slice(0, q),
    query: q < 0 ? NO_QUERY : new URLSearchParams(url.slice(q + 1)),
    headers,
  };
  if (typeof request.body === "string") req.body = request.body;
  const { localAddress, localPort } = request.socket;
  if (localAddress && localPort) req.local = hostPort(clientIp(localAddress), localPort);
  return req;
}

function hostPort(host: string, port: number): string {
  return `${host.includes(":") ? `[${host}]` : host}:${port}`;
}

/** Whether a request announces a body (a length above 0, or chunks). */
function hasBody(request: FastifyRequest): boolean {
  const length = request.headers["content-length"];
  return (
    request.headers["transfer-encoding"] !== undefined || (length !== undefined && length !== "0")
  );
}

/**
 * The Fastify adapter: every request goes to the registry core unchanged; this
 * layer only translates HTTP to plain values and back, logs, and turns
 * transport-level errors (bad framing, oversized headers) into OCI error bodies.
 */
/** Anything that answers registry requests: the registry core, or a mirror model. */
export interface RequestHandler {
  handle(
    req: RegistryRequest,
    client: { ip: string },
  ): Promise<Partial<Handled> & Pick<Handled, "response">>;
}

/** Whether a logger writes info lines (the per-request ones). */
function logsInfo(logger: FastifyBaseLogger): boolean {
  const withCheck = logger as FastifyBaseLogger & { isLevelEnabled?(level: string): boolean };
  if (withCheck.isLevelEnabled) return withCheck.isLevelEnabled("info");
  return ["trace", "debug", "info"].includes(logger.level);
}

export function createHttpServer(
  registry: RequestHandler,
  options: HttpOptions = {},
): FastifyInstance {
  // One line per request at info level. Above it (--log-level warn) a request
  // needs no logger of its own: the rare warning or error is logged by the
  // server's logger, without a reqId (there are no request lines to match it
  // to), and a pino child per request was a tenth of a manifest answer.
  const requestLines = options.logger !== undefined && logsInfo(options.logger);
  const limits = connectionLimits(options.connections);
  const guard = new ConnectionGuard(
    limits,
    options.control?.metrics.registry ?? new PromRegistry(),
    options.logger,
  );
  const app = Fastify({
    ...serverOptions(limits),
    ...(options.logger ? { loggerInstance: options.logger } : { logger: false }),
    ...(options.logger && !requestLines
      ? { childLoggerFactory: (logger: FastifyBaseLogger) => logger }
      : {}),
    // One line per request comes from the onResponse hook below, not Fastify's two.
    logController: new LogController({ disableRequestLogging: true }),
    exposeHeadRoutes: false,
    forceCloseConnections: true,
    bodyLimit: options.bodyLimit ?? 64 * 1024,
    routerOptions: { maxParamLength: 8192 },
    return503OnClosing: true,
    // Fastify refuses some URLs (bad percent-encoding) before routing; answer them in OCI shape too.
    frameworkErrors(error, _request, reply: FastifyReply) {
      const badUrl = error.code === "FST_ERR_BAD_URL";
      reply
        .code(400)
        .type("application/json")
        .send(
          errorBody([
            badUrl
              ? { code: "NAME_INVALID", message: "malformed percent-encoding in path" }
              : { code: "UNSUPPORTED", message: "bad request" },
          ]),
        );
    },
    clientErrorHandler(error: NodeJS.ErrnoException, socket: Socket) {
      const timedOut = error.code === "ERR_HTTP_REQUEST_TIMEOUT";
      if (timedOut) guard.timedOut();
      if (!socket.writable) return socket.destroy();
      socket.end(
        timedOut
          ? rawAnswer(408, "Request Timeout", "the request did not arrive in time")
          : error.code === "HPE_HEADER_OVERFLOW"
            ? rawAnswer(
                431,
                "Request Header Fields Too Large",
                "request headers are larger than this registry accepts",
              )
            : rawAnswer(400, "Bad Request", "malformed HTTP request"),
      );
      // A client that does not read its answer must not hold the socket either.
      setTimeout(() => socket.destroy(), 1000).unref();
    },
  });
  guard.attach(app.server);

  // CONNECT never reaches routes: Node hands the socket over; answer it like any other unsupported method.
  app.server.on("connect", (_req, socket: Socket) => {
    socket.end(
      rawAnswer(
        405,
        "Method Not Allowed",
        "CONNECT is not supported",
        "allow: GET, HEAD, POST\r\n",
      ),
    );
  });

  // Before any route (the control API's too): requests the registry cannot make sense of.
  app.addHook("onRequest", async (request, reply) => {
    if (request.raw.httpVersion === "1.1" && !request.headers.host) {
      reply.header("connection", "close");
      return reply
        .code(400)
        .type("application/json")
        .send(
          errorBody([{ code: "UNSUPPORTED", message: "an HTTP/1.1 request needs a Host header" }]),
        );
    }
    // GET and HEAD take no body: one is never read (Node would drain it after the
    // answer to keep the connection), the connection closes after the answer instead.
    if ((request.method === "GET" || request.method === "HEAD") && hasBody(request)) {
      reply.header("connection", "close");
    }
  });

  // Declared up front, so every request object has the same shape (set by the handler below).
  app.decorateRequest("handled", undefined);
  app.removeAllContentTypeParsers();
  app.addContentTypeParser("*", { parseAs: "string" }, (_req, body, done) => done(null, body));

  if (options.control)
    app.register(controlPlugin, { ...options.controlOptions, registry: options.control });

  app.route({
    method: ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"],
    url: "/*",
    handler: async (request, reply) => {
      const handled = await registry.handle(toRegistryRequest(request), {
        ip: clientIp(request.socket.remoteAddress),
      });
      request.handled = handled;
      // The cause of a 500 goes to the log, never to the client.
      if (handled.error !== undefined) request.log.error({ err: handled.error }, "request failed");
      const { response } = handled;
      if (response.effects) return sendWithEffects(request, reply, response, response.effects);
      if (!requestLines && writesDirectly(response)) return sendDirectly(reply, request, response);
      reply.code(response.status).headers(response.headers);
      return reply.send(request.method === "HEAD" ? undefined : response.body);
    },
  });

  // Anything Fastify itself refuses (unknown method, body too large, bad URL) still gets an OCI body.
  app.setNotFoundHandler((request, reply) => {
    reply
      .code(405)
      .header("allow", "GET, HEAD, POST")
      .type("application/json")
      .send(
        errorBody([
          { code: "UNSUPPORTED", message: `${clip(request.method, 20)} is not supported` },
        ]),
      );
  });
  app.setErrorHandler((error: { statusCode?: number; code?: string }, request, reply) => {
    const status =
      error.statusCode && error.statusCode >= 400 && error.statusCode < 500
        ? error.statusCode
        : 500;
    if (status === 500) request.log.error({ err: error }, "request failed");
    const message =
      error.code === "FST_ERR_CTP_BODY_TOO_LARGE"
        ? "request body too large"
        : status === 500
          ? "internal error"
          : "bad request";
    reply
      .code(status)
      .type("application/json")
      .send(errorBody([{ code: status === 500 ? "UNKNOWN" : "UNSUPPORTED", message }]));
  });

  if (requestLines) {
    app.addHook("onResponse", async (request, reply) => {
      const h = request.handled;
      request.log.info(
        {
          method: request.method,
          path: clip((request.raw.url ?? "").split("?")[0] ?? "", 200),
          status: reply.statusCode,
          kind: h?.kind,
          client: clientIp(request.socket.remoteAddress),
          identity: h?.identity?.key,
          ms: Math.round(reply.elapsedTime * 10) / 10,
        },
        "request",
      );
    });
  }
  return app;
}

/**
 * Manifests and blobs (200 and 206 with bytes, their type and length already
 * set) go straight to node:http: Fastify's reply would only copy their headers
 * one by one and run its send hooks (none are registered), about a tenth of a
 * manifest answer. Not when request lines are logged: those come from the
 * onResponse hook, which a reply taken over from Fastify does not run.
 */
function writesDirectly(response: RegistryResponse): boolean {
  return (
    (response.status === 200 || response.status === 206) &&
    (response.body === undefined || Buffer.isBuffer(response.body)) &&
    response.headers["content-type"] !== undefined &&
    response.headers["content-length"] !== undefined
  );
}

function sendDirectly(
  reply: FastifyReply,
  request: FastifyRequest,
  response: RegistryResponse,
): undefined {
  reply.hijack();
  const res = reply.raw;
  try {
    res.writeHead(response.status, response.headers);
  } catch (error) {
    // A header Node refuses (it never should be): answer as Fastify's error handler would.
    request.log.error({ err: error }, "request failed");
    if (!res.headersSent) {
      res.writeHead(500, { "content-type": "application/json" });
      res.end(errorBody([{ code: "UNKNOWN", message: "internal error" }]));
    } else res.destroy();
    return undefined;
  }
  res.end(request.method === "HEAD" ? undefined : response.body);
  return undefined;
}

/**
 * Carries out a fault's transport effects on the real socket, by dispatching
 * to their live executors (../faults/effects/): the gates (delay, reset, hang)
 * may end the request, then the body goes out, paced if bandwidth says so.
 * An ended request was taken away from Fastify (`hijack`), so nothing else
 * writes to the socket.
 */
async function sendWithEffects(
  request: FastifyRequest,
  reply: FastifyReply,
  response: RegistryResponse,
  effects: TransportEffects,
): Promise<FastifyReply | undefined> {
  const answering = await openLive(effects, {
    res: reply.raw,
    socket: request.raw.socket,
    takeOver: () => reply.hijack(),
    unanswered: (outcome) => logUnanswered(request, reply, outcome),
  });
  if (!answering) return undefined;
  reply.code(response.status).headers(response.headers);
  const body = request.method === "HEAD" ? undefined : response.body;
  if (body !== undefined) {
    const bytes = typeof body === "string" ? Buffer.from(body) : body;
    const paced = liveBody(effects, bytes);
    if (paced) {
      if (!response.headers["content-length"]) reply.header("content-length", bytes.length);
      return reply.send(paced);
    }
  }
  return reply.send(body);
}

/** Requests that never got an answer still get their log line (onResponse does not fire for them). */
function logUnanswered(
  request: FastifyRequest,
  reply: FastifyReply,
  outcome: "reset" | "hang" | "client gone",
): void {
  const h = request.handled;
  request.log.info(
    {
      method: request.method,
      path: clip((request.raw.url ?? "").split("?")[0] ?? "", 200),
      status: null,
      outcome,
      kind: h?.kind,
      client: clientIp(request.socket.remoteAddress),
      identity: h?.identity?.key,
      ms: Math.round(reply.elapsedTime * 10) / 10,
    },
    "request",
  );
}

/** The URL a listening server is reachable at (IPv6 hosts in brackets). */
export function urlOf(host: string, port: number): string {
  return `http://${host.includes(":") ? `[${host}]` : host}:${port}`;
}
