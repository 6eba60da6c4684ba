/**
 * Connection hygiene for the served registry: how long a client may take to
 * send a request, how long and how often a keep-alive connection is reused,
 * and how many connections one client address (and everyone together) may
 * hold open. Slow and greedy clients are closed; everyone else is served.
 * Node's http server enforces the timeouts (`headersTimeout`, `requestTimeout`,
 * checked every `checkIntervalMs`); the per-address cap is counted here.
 */
import type { Server } from "node:http";
import type { Socket } from "node:net";
import type { FastifyBaseLogger } from "fastify";
import { Counter, Gauge, type Registry as PromRegistry } from "prom-client";
import { errorBody } from "../../vocabulary/oci/errors.ts";
import { clientIp } from "./client-ip.ts";

export interface ConnectionLimits {
  /** Time a client has to send a request's headers, ms; then it gets 408 and the connection is closed. */
  headersTimeoutMs: number;
  /** Time a client has to send a whole request, body included, ms (at least headersTimeoutMs). */
  requestTimeoutMs: number;
  /** How long an idle keep-alive connection stays open, ms. */
  keepAliveTimeoutMs: number;
  /** Requests one keep-alive connection may carry; the last is answered with `Connection: close` (0: no limit). */
  maxRequestsPerSocket: number;
  /** Connections one client address may hold open; more are answered 503 and closed at once. */
  maxConnectionsPerAddress: number;
  /** Connections open in all; more are closed at once, unanswered. */
  maxConnections: number;
  /** How often Node checks the header and request timeouts, ms. */
  checkIntervalMs: number;
}

/**
 * Defaults: far above what a real client or the simulator needs (a pull
 * client sends its headers in one write; a mirror holds tens of connections),
 * far below what exhausts the process (20,000 open files on the CI machine).
 * The keep-alive timeout is Fastify's (72 s, above load balancers' 60 s idle).
 */
export const DEFAULT_CONNECTION_LIMITS: ConnectionLimits = {
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 30_000,
  keepAliveTimeoutMs: 72_000,
  maxRequestsPerSocket: 1000,
  maxConnectionsPerAddress: 1024,
  maxConnections: 10_000,
  checkIntervalMs: 1000,
};

/** The limits with the given ones in place of the defaults; a bad value throws naming it. */
export function connectionLimits(given: Partial<ConnectionLimits> = {}): ConnectionLimits {
  const limits = { ...DEFAULT_CONNECTION_LIMITS };
  for (const [key, value] of Object.entries(given) as [keyof ConnectionLimits, number][]) {
    if (value === undefined) continue;
    if (!Number.isInteger(value) || value < 0)
      throw new RangeError(`connection limit ${key} must be a whole number >= 0, got ${value}`);
    limits[key] = value;
  }
  if (limits.requestTimeoutMs < limits.headersTimeoutMs)
    throw new RangeError(
      `connection limit requestTimeoutMs (${limits.requestTimeoutMs}) must be at least headersTimeoutMs (${limits.headersTimeoutMs})`,
    );
  if (limits.checkIntervalMs < 1)
    throw new RangeError("connection limit checkIntervalMs must be >= 1");
  return limits;
}

/** The options Fastify passes to node:http for these limits. */
export function serverOptions(limits: ConnectionLimits) {
  return {
    requestTimeout: limits.requestTimeoutMs,
    keepAliveTimeout: limits.keepAliveTimeoutMs,
    maxRequestsPerSocket: limits.maxRequestsPerSocket,
    http: {
      headersTimeout: limits.headersTimeoutMs,
      connectionsCheckingInterval: limits.checkIntervalMs,
      // A Host-less HTTP/1.1 request gets an OCI error body from the adapter, not Node's bare 400.
      requireHostHeader: false,
    },
  };
}

const SETTINGS: [keyof ConnectionLimits, string][] = [
  ["headersTimeoutMs", "headers_timeout_ms"],
  ["requestTimeoutMs", "request_timeout_ms"],
  ["keepAliveTimeoutMs", "keep_alive_timeout_ms"],
  ["maxRequestsPerSocket", "max_requests_per_socket"],
  ["maxConnectionsPerAddress", "max_connections_per_address"],
  ["maxConnections", "max_connections"],
  ["checkIntervalMs", "check_interval_ms"],
];

/** A raw answer on a socket that has no request object yet (or never will). */
export function rawAnswer(status: number, reason: string, message: string, extra = ""): string {
  const body = errorBody([{ code: status === 503 ? "UNAVAILABLE" : "UNSUPPORTED", message }]);
  return `HTTP/1.1 ${status} ${reason}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\n${extra}connection: close\r\n\r\n${body}`;
}

/** Log lines about refused connections, at most one per this many ms. */
const LOG_EVERY_MS = 10_000;

/**
 * Counts open connections per client address on a server and closes those over
 * the cap; reports connections, refusals and timeouts as Prometheus metrics.
 */
export class ConnectionGuard {
  readonly limits: ConnectionLimits;
  private readonly open = new Map<string, number>();
  private total = 0;
  private readonly logger: FastifyBaseLogger | undefined;
  private readonly refused: Counter<"reason">;
  private readonly closed: Counter<"reason">;
  private pendingLog = new Map<string, number>();
  private lastLog = 0;

  constructor(limits: ConnectionLimits, metrics: PromRegistry, logger?: FastifyBaseLogger) {
    this.limits = limits;
    this.logger = logger;
    const guard = this;
    new Gauge({
      name: "pullstorm_connections_open",
      help: "Client connections open now",
      registers: [metrics],
      collect: function (this: Gauge) {
        this.set(guard.total);
      },
    });
    new Gauge({
      name: "pullstorm_connection_addresses",
      help: "Client addresses with a connection open now",
      registers: [metrics],
      collect: function (this: Gauge) {
        this.set(guard.open.size);
      },
    });
    new Gauge({
      name: "pullstorm_connection_limit",
      help: "Connection limits in force (registry serve --headers-timeout, --request-timeout, --keep-alive-timeout, --max-requests-per-connection, --max-connections-per-address, --max-connections)",
      labelNames: ["setting"] as const,
      registers: [metrics],
      collect: function (this: Gauge<"setting">) {
        for (const [key, setting] of SETTINGS) this.set({ setting }, guard.limits[key]);
      },
    });
    this.refused = new Counter({
      name: "pullstorm_connections_refused_total",
      help: "Connections closed on arrival: per-address (over --max-connections-per-address, answered 503), max-connections (over --max-connections)",
      labelNames: ["reason"] as const,
      registers: [metrics],
    });
    this.closed = new Counter({
      name: "pullstorm_connections_timed_out_total",
      help: "Connections closed with 408 because the request did not arrive in time (--headers-timeout, --request-timeout)",
      labelNames: ["reason"] as const,
      registers: [metrics],
    });
  }

  /** Watches a server's connections (call before it listens). */
  attach(server: Server): void {
    server.maxConnections = this.limits.maxConnections;
    server.on("drop", () => this.refuse("max-connections", "(all)"));
    server.on("connection", (socket: Socket) => this.accept(socket));
  }

  /** A request that timed out (Node's ERR_HTTP_REQUEST_TIMEOUT). */
  timedOut(): void {
    this.closed.inc({ reason: "timeout" });
  }

  private accept(socket: Socket): void {
    const ip = clientIp(socket.remoteAddress);
    const held = this.open.get(ip) ?? 0;
    const cap = this.limits.maxConnectionsPerAddress;
    if (cap > 0 && held >= cap) {
      this.refuse("per-address", ip);
      socket.end(
        rawAnswer(
          503,
          "Service Unavailable",
          `too many connections from ${ip} (at most ${cap} at once)`,
          "retry-after: 1\r\n",
        ),
      );
      // A client that does not read its answer must not hold the socket either.
      setTimeout(() => socket.destroy(), 1000).unref();
      return;
    }
    this.open.set(ip, held + 1);
    this.total++;
    socket.once("close", () => {
      this.total--;
      const left = (this.open.get(ip) ?? 1) - 1;
      if (left <= 0) this.open.delete(ip);
      else this.open.set(ip, left);
    });
  }

  private refuse(reason: "per-address" | "max-connections", ip: string): void {
    this.refused.inc({ reason });
    if (!this.logger) return;
    const key = `${reason} ${ip}`;
    this.pendingLog.set(key, (this.pendingLog.get(key) ?? 0) + 1);
    const now = Date.now();
    if (now - this.lastLog < LOG_EVERY_MS) return;
    this.lastLog = now;
    const refused = [...this.pendingLog].slice(0, 20).map(([k, n]) => {
      const [why, from] = k.split(" ");
      return { reason: why, client: from, connections: n };
    });
    this.pendingLog = new Map();
    this.logger.warn(
      {
        refused,
        maxConnectionsPerAddress: this.limits.maxConnectionsPerAddress,
        maxConnections: this.limits.maxConnections,
      },
      "connections refused",
    );
  }
}
