import type { ServerResponse } from "node:http";
import type { Socket } from "node:net";
import { Readable } from "node:stream";
import Fastify, {
  type FastifyBaseLogger,
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
  LogController,
} from "fastify";
import { errorBody } from "../../vocabulary/oci/errors.ts";
import { NO_QUERY } from "../core/no-query.ts";
import { clip } from "../../vocabulary/oci/names.ts";
import type { Handled } from "../core/registry.ts";
import type { RegistryRequest, RegistryResponse } from "../core/types.ts";
import type { TransportEffects } from "../faults/types.ts";

export interface HttpOptions {
  /** pino logger for one line per request; omit for silence. */
  logger?: FastifyBaseLogger;
  /** Largest request body accepted (only the token POST reads one). */
  bodyLimit?: number;
}

declare module "fastify" {
  interface FastifyRequest {
    handled?: Partial<Handled> & Pick<Handled, "response">;
  }
}

/** IPv4-mapped IPv6 addresses are reported as the IPv4 address the client used. */
export function clientIp(address: string | undefined): string {
  if (!address) return "unknown";
  return address.startsWith("::ffff:") && address.includes(".") ? address.slice(7) : address;
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
  return req;
}

function rawError(status: 400 | 405 | 431, code: string, message: string): string {
  const body = errorBody([{ code: code as "UNSUPPORTED", message }]);
  const reason =
    { 400: "Bad Request", 405: "Method Not Allowed", 431: "Request Header Fields Too Large" }[
      status
    ] ?? "Error";
  return `HTTP/1.1 ${status} ${reason}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`;
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
  const app = Fastify({
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
      if (!socket.writable) return socket.destroy();
      const tooLarge = error.code === "HPE_HEADER_OVERFLOW";
      socket.end(
        tooLarge
          ? rawError(431, "UNSUPPORTED", "request headers are larger than this registry accepts")
          : rawError(400, "UNSUPPORTED", "malformed HTTP request"),
      );
    },
  });

  // CONNECT never reaches routes: Node hands the socket over; answer it like any other unsupported method.
  app.server.on("connect", (_req, socket: Socket) => {
    socket.end(rawError(405, "UNSUPPORTED", "CONNECT is not supported"));
  });

  // Declared up front, so every request object has the same shape (set by the handler below).
  app.decorateRequest("handled", undefined);
  app.removeAllContentTypeParsers();
  app.addContentTypeParser("*", { parseAs: "string" }, (_req, body, done) => done(null, body));

  app.route({
    method: ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"],
    url: "/*",
    handler: async (request, reply) => {
      const handled = await registry.handle(toRegistryRequest(request), {
        ip: clientIp(request.socket.remoteAddress),
      });
      request.handled = handled;
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

/** However long a fault asks, a hung connection is closed after this (wall ms). */
const HANG_LIMIT_MS = 60 * 60 * 1000;

/**
 * Carries out a fault's transport effects on the real socket: wait (giving up
 * if the client leaves), then reset the connection, hold it unanswered, or
 * answer with the body paced to a rate. Reset and hang take the reply away from
 * Fastify (`hijack`), so nothing else writes to the socket.
 */
async function sendWithEffects(
  request: FastifyRequest,
  reply: FastifyReply,
  response: RegistryResponse,
  effects: TransportEffects,
): Promise<FastifyReply | undefined> {
  const socket = request.raw.socket;
  if (effects.delayMs && effects.delayMs > 0) {
    if (!(await waitWhileConnected(reply.raw, socket, effects.delayMs))) {
      reply.hijack();
      logUnanswered(request, reply, "client gone");
      return undefined;
    }
  }
  if (effects.reset) {
    reply.hijack();
    // RST instead of FIN: the client reads ECONNRESET ("connection reset by peer").
    if (!socket.destroyed) socket.resetAndDestroy();
    logUnanswered(request, reply, "reset");
    return undefined;
  }
  if (effects.hang) {
    reply.hijack();
    // forceCloseConnections destroys this socket on app.close(), so a hang never holds up shutdown.
    const timer = setTimeout(
      () => socket.destroy(),
      Math.min(effects.hangMs ?? HANG_LIMIT_MS, HANG_LIMIT_MS),
    );
    timer.unref();
    socket.once("close", () => {
      clearTimeout(timer);
      logUnanswered(request, reply, "hang");
    });
    return undefined;
  }
  reply.code(response.status).headers(response.headers);
  const body = request.method === "HEAD" ? undefined : response.body;
  if (effects.bytesPerSecond && effects.bytesPerSecond > 0 && body !== undefined) {
    const bytes = typeof body === "string" ? Buffer.from(body) : body;
    if (bytes.length > 0) {
      if (!response.headers["content-length"]) reply.header("content-length", bytes.length);
      return reply.send(pacedBody(bytes, effects.bytesPerSecond));
    }
  }
  return reply.send(body);
}

/** Resolves true after `ms`, or false as soon as the connection closes (the client gave up). */
function waitWhileConnected(res: ServerResponse, socket: Socket, ms: number): Promise<boolean> {
  if (socket.destroyed) return Promise.resolve(false);
  return new Promise((resolve) => {
    const onClose = () => {
      clearTimeout(timer);
      resolve(false);
    };
    const timer = setTimeout(() => {
      res.removeListener("close", onClose);
      resolve(true);
    }, ms);
    res.once("close", onClose);
  });
}

/**
 * The body as a stream that releases each chunk when the rate allows: byte n
 * leaves no earlier than n / bytesPerSecond after the first. About 20 chunks
 * a second; destroyed with the response if the client leaves.
 */
function pacedBody(bytes: Buffer, bytesPerSecond: number): Readable {
  const chunk = Math.max(1, Math.min(64 * 1024, Math.floor(bytesPerSecond / 20)));
  const started = performance.now();
  let offset = 0;
  let timer: NodeJS.Timeout | undefined;
  return new Readable({
    read() {
      if (timer || offset >= bytes.length) return;
      const end = Math.min(offset + chunk, bytes.length);
      const due = started + (end / bytesPerSecond) * 1000;
      timer = setTimeout(
        () => {
          timer = undefined;
          const piece = bytes.subarray(offset, end);
          offset = end;
          this.push(piece);
          if (offset >= bytes.length) this.push(null);
        },
        Math.max(0, due - performance.now()),
      );
    },
    destroy(error, callback) {
      clearTimeout(timer);
      callback(error);
    },
  });
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
