/**
 * The loopback stand-ins for every host a node configuration names. The
 * registry itself (Docker Hub, quay.io, ...) is the fake registry on a listener
 * of its own per registry; each mirror host is a counting proxy in front of the
 * one real mirror (CNCF distribution, or the simulator's model), which pulls
 * through from the fake registry on yet another listener. Every request that
 * reaches any of them is recorded with the phase and image being pulled, so a
 * report can say which host each request reached.
 */
import { createServer, type IncomingMessage, request, type ServerResponse } from "node:http";
import type { Socket } from "node:net";
import type { ClientInfo, EndpointKind, RegistryRequest } from "../fake-registry/core/types.ts";
import { createHttpServer, type RequestHandler } from "../fake-registry/http/server.ts";
import type { Registry } from "../fake-registry/registry/registry.ts";
import { errorBody } from "../vocabulary/oci/errors.ts";
import { looksLikeDigest } from "../vocabulary/oci/names.ts";
import { decodePath, parseRoute } from "../vocabulary/oci/route.ts";

export type Phase = "setup" | "pull" | "fallback";
export type Reached = "upstream" | "mirror" | "mirror-upstream";

export interface RequestRecord {
  phase: Phase;
  /** The image being pulled (as the user named it). */
  image: string;
  at: Reached;
  /** The host as the configuration names it ("registry-1.docker.io", "mirror.corp:5000"). */
  host: string;
  method: string;
  /** Path as received (before any prefix rewrite), without the query. */
  path: string;
  /** containerd's `?ns=` parameter on requests to a mirror. */
  ns?: string;
  kind: EndpointKind;
  /** For manifests: by tag or by digest. */
  reference?: "tag" | "digest";
  /** HTTP status, or "unreachable" when the connection was cut (mirror stopped, unknown host). */
  status: number | "unreachable";
  /** Counted against the registry's pull limit by its policy (Docker Hub: manifest GET). */
  counted: boolean;
}

/** Collects the records of every stand-in; the caller says what is being pulled now. */
export class Recorder {
  phase: Phase = "setup";
  image = "";
  readonly records: RequestRecord[] = [];

  add(record: Omit<RequestRecord, "phase" | "image">): void {
    this.records.push({ phase: this.phase, image: this.image, ...record });
  }
}

/** A path prefix a host is configured with ("/v2/dockerhub" for a Harbor proxy project) mapped onto the plain API root. */
export interface PathRewrite {
  from: string;
  to: string;
}

/** Applies the longest matching rewrite; paths without a match are left alone. */
export function rewritePath(path: string, rewrites: readonly PathRewrite[]): string {
  let best: PathRewrite | undefined;
  for (const r of rewrites)
    if (
      (path === r.from || path.startsWith(`${r.from}/`)) &&
      (!best || r.from.length > best.from.length)
    )
      best = r;
  return best ? `${best.to}${path.slice(best.from.length)}` : path;
}

function classify(path: string): { kind: EndpointKind; reference?: "tag" | "digest" } {
  const decoded = decodePath(path) ?? path;
  if (decoded === "/token") return { kind: "token" };
  if (decoded !== "/v2" && !decoded.startsWith("/v2/")) return { kind: "other" };
  const route = parseRoute(decoded);
  if (route.kind === "manifest")
    return { kind: "manifest", reference: looksLikeDigest(route.reference) ? "digest" : "tag" };
  return { kind: route.kind };
}

export interface Listener {
  /** http://127.0.0.1:PORT */
  url: string;
  /** 127.0.0.1:PORT */
  host: string;
  close(): Promise<void>;
}

/**
 * The fake registry on a listener of its own, recording every request as
 * reaching `at` under the configured name `name`.
 */
export async function serveRegistryStandIn(
  registry: Registry,
  recorder: Recorder,
  options: {
    at: "upstream" | "mirror-upstream";
    name: string;
    rewrites?: PathRewrite[];
    /**
     * Whether `counted` means anything here (Docker Hub's pull limit): the
     * registry's own decision, which counts pulls as Docker Hub does (the
     * `unlimited` preset counts and never refuses). Absent: nothing is counted.
     */
    countsPulls?: boolean;
  },
): Promise<Listener> {
  const rewrites = options.rewrites ?? [];
  const handler: RequestHandler = {
    async handle(req: RegistryRequest, client: ClientInfo) {
      const mapped = { ...req, path: rewritePath(req.path, rewrites) };
      const handled = await registry.handle(mapped, client);
      const { kind, reference } = classify(mapped.path);
      recorder.add({
        at: options.at,
        host: options.name,
        method: req.method,
        path: req.path,
        ...(req.query.get("ns") !== null ? { ns: req.query.get("ns") as string } : {}),
        kind,
        ...(reference ? { reference } : {}),
        status: handled.response.status,
        counted:
          options.countsPulls === true && handled.response.status < 400 && (handled.pulls ?? 0) > 0,
      });
      return handled;
    },
  };
  const app = createHttpServer(handler);
  await app.listen({ host: "127.0.0.1", port: 0 });
  const address = app.server.address();
  const port = typeof address === "object" && address ? address.port : 0;
  return { url: `http://127.0.0.1:${port}`, host: `127.0.0.1:${port}`, close: () => app.close() };
}

export type MirrorState = "up" | "stopped" | "unknown-host";

/**
 * A mirror host from the configuration: a counting proxy in front of the real
 * mirror. While the mirror is stopped, and for hosts that are not a mirror you
 * run (a typo), every connection is cut after its request is recorded: what a
 * node sees from a dead or unresolvable host is an error, and the runtime's
 * reaction to that error is what the check is about.
 */
export class MirrorStandIn {
  readonly name: string;
  state: MirrorState;
  /** "digests": answers 404 to manifests by tag, like a mirror that only serves content by digest. */
  serves: "all" | "digests";
  readonly rewrites: PathRewrite[] = [];
  private backend: URL | undefined;
  private readonly recorder: Recorder;
  private readonly sockets = new Set<Socket>();
  private server: ReturnType<typeof createServer> | undefined;
  url = "";
  host = "";

  constructor(options: {
    name: string;
    recorder: Recorder;
    state: MirrorState;
    serves: "all" | "digests";
    backend?: string;
  }) {
    this.name = options.name;
    this.recorder = options.recorder;
    this.state = options.state;
    this.serves = options.serves;
    this.backend = options.backend ? new URL(options.backend) : undefined;
  }

  setBackend(url: string | undefined): void {
    this.backend = url ? new URL(url) : undefined;
  }

  async listen(): Promise<void> {
    const server = createServer((req, res) => this.serve(req, res));
    server.keepAliveTimeout = 2_000;
    server.on("connection", (socket: Socket) => {
      this.sockets.add(socket);
      socket.on("close", () => this.sockets.delete(socket));
    });
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(0, "127.0.0.1", () => resolve());
    });
    const address = server.address();
    const port = typeof address === "object" && address ? address.port : 0;
    this.server = server;
    this.host = `127.0.0.1:${port}`;
    this.url = `http://${this.host}`;
  }

  async close(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  private record(req: IncomingMessage, path: string, status: number | "unreachable"): void {
    const url = new URL(req.url ?? "/", "http://stand-in");
    const { kind, reference } = classify(path);
    this.recorder.add({
      at: "mirror",
      host: this.name,
      method: req.method ?? "GET",
      path: url.pathname,
      ...(url.searchParams.get("ns") !== null ? { ns: url.searchParams.get("ns") as string } : {}),
      kind,
      ...(reference ? { reference } : {}),
      status,
      counted: false,
    });
  }

  private serve(req: IncomingMessage, res: ServerResponse): void {
    const url = new URL(req.url ?? "/", "http://stand-in");
    const path = rewritePath(url.pathname, this.rewrites);
    const backend = this.backend;
    if (this.state !== "up" || !backend) {
      this.record(req, path, "unreachable");
      req.socket.destroy();
      return;
    }
    if (this.serves === "digests") {
      const { kind, reference } = classify(path);
      if (kind === "manifest" && reference === "tag") {
        const body = errorBody([{ code: "MANIFEST_UNKNOWN", message: "manifest unknown" }]);
        this.record(req, path, 404);
        res.writeHead(404, {
          "content-type": "application/json",
          "content-length": Buffer.byteLength(body),
          "docker-distribution-api-version": "registry/2.0",
        });
        res.end(req.method === "HEAD" ? undefined : body);
        return;
      }
    }
    const headers = { ...req.headers, host: backend.host };
    const upstream = request(
      {
        host: backend.hostname,
        port: backend.port,
        method: req.method,
        path: `${path}${url.search}`,
        headers,
      },
      (answer) => {
        this.record(req, path, answer.statusCode ?? 0);
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
        answer.on("error", () => res.destroy());
      },
    );
    upstream.setTimeout(60_000, () => upstream.destroy(new Error("mirror did not answer")));
    upstream.on("error", () => {
      // The mirror behind the stand-in is gone (stopped): the node sees a dead host.
      if (!res.headersSent) {
        this.record(req, path, "unreachable");
        req.socket.destroy();
      } else res.destroy();
    });
    req.pipe(upstream);
  }
}
