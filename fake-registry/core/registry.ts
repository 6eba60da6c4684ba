import { TokenService } from "../auth/token-service.ts";
import { allows, type TokenClaims, TokenSigner } from "../auth/tokens.ts";
import type { Account } from "../auth/users.ts";
import type { Document } from "../catalog/build.ts";
import type { Catalog } from "../catalog/catalog.ts";
import type { Clock } from "./clock.ts";
import { ociError } from "./errors.ts";
import { negotiate } from "./negotiate.ts";
import { checkDigest, checkName, clip, isTag, looksLikeDigest } from "./references.ts";
import { decodePath, parseRoute, type Route } from "./route.ts";
import { Stats } from "./stats.ts";
import type {
  ClientInfo,
  EndpointKind,
  Identity,
  RegistryRequest,
  RegistryResponse,
} from "./types.ts";

export interface AuthOptions {
  /** The `service` named in challenges and tokens (Docker Hub: registry.docker.io). */
  service: string;
  accounts: Account[];
  /** HMAC secret for tokens; random per process when absent. */
  secret?: string;
  /** Token lifetime in seconds (Docker Hub: 300). */
  tokenLifetime?: number;
  /** Fixed realm URL; by default derived from the request's Host header. */
  realm?: string;
}

export interface RegistryOptions {
  catalog: Catalog;
  clock: Clock;
  /** false: no token service, every request anonymous by IP (`--no-auth`). */
  auth: AuthOptions | false;
}

/** Facts about one handled request, for logs and (later) events. */
export interface Handled {
  response: RegistryResponse;
  kind: EndpointKind;
  identity: Identity;
  repository?: string;
}

const API_VERSION = { "docker-distribution-api-version": "registry/2.0" };
const HOST_RE = /^[A-Za-z0-9.-]+(?::\d{1,5})?$|^\[[0-9A-Fa-f:.]+\](?::\d{1,5})?$/;

/**
 * The transport-free registry: `handle(request, client, now)` answers any
 * request the way a Docker-Hub-like registry would. Fastify and the simulator
 * both call this, so live and simulated runs obey the same rules.
 */
export class Registry {
  readonly catalog: Catalog;
  readonly clock: Clock;
  readonly stats = new Stats();
  private readonly auth: (AuthOptions & { signer: TokenSigner; tokens: TokenService }) | undefined;

  constructor(options: RegistryOptions) {
    this.catalog = options.catalog;
    this.clock = options.clock;
    if (options.auth) {
      const signer = new TokenSigner({
        issuer: "pullstorm-token-service",
        service: options.auth.service,
        lifetimeSeconds: options.auth.tokenLifetime ?? 300,
        ...(options.auth.secret ? { secret: options.auth.secret } : {}),
      });
      const accounts = new Map(options.auth.accounts.map((a) => [a.name, a]));
      const tokens = new TokenService({
        signer,
        accounts,
        canPull: (repository, account) => this.canPull(repository, account?.name),
      });
      this.auth = { ...options.auth, signer, tokens };
    }
  }

  get authEnabled(): boolean {
    return this.auth !== undefined;
  }

  /** The token signer, for tests and tools that need to mint or inspect tokens. */
  get signer(): TokenSigner | undefined {
    return this.auth?.signer;
  }

  async handle(req: RegistryRequest, client: ClientInfo, now = this.clock.now()): Promise<Handled> {
    let handled: Handled;
    try {
      handled = await this.dispatch(req, client, now);
    } catch {
      // Never leak internals: the adapter logs the request, the client gets an OCI body.
      handled = {
        response: ociError("UNKNOWN", "internal error"),
        kind: "other",
        identity: anonymous(client),
      };
    }
    Object.assign(handled.response.headers, API_VERSION);
    this.stats.record(handled.kind, req.method, handled.response.status, handled.identity);
    return handled;
  }

  private async dispatch(req: RegistryRequest, client: ClientInfo, now: number): Promise<Handled> {
    const path = decodePath(req.path);
    if (path === undefined) {
      return this.other(client, ociError("NAME_INVALID", "malformed percent-encoding in path"));
    }
    if (path === "/token") return this.token(req, client, now);
    if (path === "/_pullstorm/stats" && (req.method === "GET" || req.method === "HEAD")) {
      return this.other(client, json(200, this.stats.snapshot()));
    }
    if (path !== "/v2" && !path.startsWith("/v2/")) {
      return this.other(
        client,
        ociError("UNSUPPORTED", `no such endpoint: ${clip(path)}`, { status: 404 }),
      );
    }
    const route = parseRoute(path);
    const early = this.validate(route, req.method);
    if (early) return { response: early, kind: route.kind, identity: anonymous(client) };

    const repository = "name" in route ? route.name : undefined;
    const authed = await this.authorize(req, client, now, repository);
    if ("response" in authed)
      return {
        response: authed.response,
        kind: route.kind,
        identity: authed.identity,
        ...(repository ? { repository } : {}),
      };
    const { identity } = authed;
    const elapsed = now - this.clock.startedAt;
    const response = await this.serve(route, req, elapsed);
    return { response, kind: route.kind, identity, ...(repository ? { repository } : {}) };
  }

  /** Method and input checks that need no credentials: bad input never reaches auth or catalog. */
  private validate(route: Route, method: string): RegistryResponse | undefined {
    const read = method === "GET" || method === "HEAD";
    if (route.kind === "other") return ociError("UNSUPPORTED", route.reason, { status: 404 });
    if (route.kind === "push")
      return ociError("UNSUPPORTED", "this registry is read-only: push is not supported");
    if (!read)
      return ociError(
        "UNSUPPORTED",
        `${clip(method, 20)} is not supported on this endpoint; pulls use GET and HEAD`,
      );
    if (route.kind === "ping") return undefined;
    const name = checkName(route.name);
    if (!name.ok)
      return ociError("NAME_INVALID", "invalid repository name", {
        detail: { name: clip(route.name), reason: name.reason },
      });
    if (route.kind === "tags" && method !== "GET")
      return ociError("UNSUPPORTED", "tags/list answers GET only");
    if (route.kind === "blob") {
      const digest = checkDigest(route.digest);
      if (!digest.ok)
        return ociError("DIGEST_INVALID", "invalid digest", {
          detail: { digest: clip(route.digest), reason: digest.reason },
        });
    }
    if (route.kind === "manifest") {
      if (looksLikeDigest(route.reference)) {
        const digest = checkDigest(route.reference);
        if (!digest.ok)
          return ociError("DIGEST_INVALID", "invalid digest", {
            detail: { digest: clip(route.reference), reason: digest.reason },
          });
      } else if (!isTag(route.reference)) {
        return ociError("MANIFEST_UNKNOWN", "invalid tag", {
          detail: {
            tag: clip(route.reference),
            reason: "tags match [a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}",
          },
        });
      }
    }
    return undefined;
  }

  private async authorize(
    req: RegistryRequest,
    client: ClientInfo,
    now: number,
    repository: string | undefined,
  ): Promise<{ identity: Identity } | { identity: Identity; response: RegistryResponse }> {
    if (!this.auth) return { identity: anonymous(client) };
    const header = req.headers.authorization;
    const bearer = header?.startsWith("Bearer ") ? header.slice(7).trim() : undefined;
    const scope = repository ? `repository:${repository}:pull` : undefined;
    if (!bearer) {
      return {
        identity: anonymous(client),
        response: this.challenge(req, scope, undefined, "authentication required"),
      };
    }
    const verified = await this.auth.signer.verify(bearer, now);
    if (!verified.ok) {
      return {
        identity: anonymous(client),
        response: this.challenge(req, scope, "invalid_token", verified.reason),
      };
    }
    const identity = identityOf(verified.claims, client);
    if (repository && !allows(verified.claims, repository, "pull")) {
      return {
        identity,
        response: this.challenge(req, scope, "insufficient_scope", "authentication required"),
      };
    }
    return { identity };
  }

  private challenge(
    req: RegistryRequest,
    scope: string | undefined,
    error: string | undefined,
    message: string,
  ): RegistryResponse {
    const parts = [`Bearer realm="${this.realm(req)}"`, `service="${this.auth?.service}"`];
    if (scope) parts.push(`scope="${scope}"`);
    if (error) parts.push(`error="${error}"`);
    return ociError("UNAUTHORIZED", message, { headers: { "www-authenticate": parts.join(",") } });
  }

  private realm(req: RegistryRequest): string {
    if (this.auth?.realm) return this.auth.realm;
    const host = req.headers.host;
    return `http://${host && HOST_RE.test(host) ? host : "127.0.0.1"}/token`;
  }

  private async token(req: RegistryRequest, client: ClientInfo, now: number): Promise<Handled> {
    if (!this.auth) {
      return this.other(
        client,
        ociError("UNSUPPORTED", "this registry runs without auth (--no-auth): no token service", {
          status: 404,
        }),
        "token",
      );
    }
    let form: URLSearchParams | undefined;
    if (req.method === "POST") form = new URLSearchParams(req.body ?? "");
    else if (req.method !== "GET") {
      return this.other(
        client,
        ociError("UNSUPPORTED", "the token service answers GET and POST"),
        "token",
      );
    }
    const { response, account } = await this.auth.tokens.handle(req, client, now, form);
    const identity: Identity = account
      ? { type: "account", key: account.name, ip: client.ip, plan: account.plan }
      : anonymous(client);
    return { response, kind: "token", identity };
  }

  private canPull(repository: string, account: string | undefined): boolean {
    const users = this.catalog.spec(repository)?.users;
    return users === undefined || (account !== undefined && users.includes(account));
  }

  private async serve(
    route: Route,
    req: RegistryRequest,
    elapsed: number,
  ): Promise<RegistryResponse> {
    const head = req.method === "HEAD";
    switch (route.kind) {
      case "ping":
        return json(200, {});
      case "tags":
        return this.tags(route.name, req.query);
      case "manifest":
        return this.manifest(route.name, route.reference, req.headers.accept, head, elapsed);
      case "blob":
        return this.blob(route.name, route.digest, req.headers.range, head, elapsed);
      default:
        return ociError("UNSUPPORTED", "not an OCI distribution endpoint", { status: 404 });
    }
  }

  private unknownName(name: string): RegistryResponse {
    return ociError("NAME_UNKNOWN", "repository name not known to registry", { detail: { name } });
  }

  private tags(name: string, query: URLSearchParams): RegistryResponse {
    const tags = this.catalog.tags(name);
    if (!tags) return this.unknownName(name);
    const nRaw = query.get("n");
    const last = query.get("last");
    let page = last ? tags.filter((t) => t > last) : tags;
    const headers: Record<string, string> = { "content-type": "application/json" };
    if (nRaw !== null) {
      const n = Number(nRaw);
      if (!Number.isInteger(n) || n < 0 || n > 10_000)
        return ociError("UNSUPPORTED", "n must be an integer from 0 to 10000", { status: 400 });
      if (page.length > n) {
        const lastShown = page[n - 1];
        if (lastShown !== undefined)
          headers.link = `</v2/${name}/tags/list?n=${n}&last=${encodeURIComponent(lastShown)}>; rel="next"`;
        page = page.slice(0, n);
      }
    }
    return { status: 200, headers, body: JSON.stringify({ name, tags: page }) };
  }

  private async manifest(
    name: string,
    reference: string,
    accept: string | undefined,
    head: boolean,
    elapsed: number,
  ): Promise<RegistryResponse> {
    if (!this.catalog.spec(name)) return this.unknownName(name);
    let doc: Document | undefined;
    if (looksLikeDigest(reference)) {
      doc = await this.catalog.manifestByDigest(name, reference, elapsed);
      if (!doc)
        return ociError("MANIFEST_UNKNOWN", "manifest unknown", { detail: { digest: reference } });
    } else {
      const build = await this.catalog.resolveTag(name, reference, elapsed);
      if (!build)
        return ociError("MANIFEST_UNKNOWN", "manifest unknown", { detail: { tag: reference } });
      doc = negotiate(build, accept);
      if (!doc)
        return ociError("MANIFEST_UNKNOWN", "no manifest matches the Accept header", {
          detail: { tag: reference, accept: clip(accept ?? "", 200) },
        });
    }
    return {
      status: 200,
      headers: {
        "content-type": doc.mediaType,
        "content-length": String(doc.bytes.length),
        "docker-content-digest": doc.digest,
        etag: `"${doc.digest}"`,
      },
      body: head ? undefined : doc.bytes,
    };
  }

  private async blob(
    name: string,
    digest: string,
    range: string | undefined,
    head: boolean,
    elapsed: number,
  ): Promise<RegistryResponse> {
    if (!this.catalog.spec(name)) return this.unknownName(name);
    const blob = await this.catalog.blob(name, digest, elapsed);
    if (!blob) return ociError("BLOB_UNKNOWN", "blob unknown to registry", { detail: { digest } });
    const headers: Record<string, string> = {
      "content-type": "application/octet-stream",
      "docker-content-digest": digest,
      etag: `"${digest}"`,
      "accept-ranges": "bytes",
      "cache-control": "max-age=31536000",
    };
    if (head) return { status: 200, headers: { ...headers, "content-length": String(blob.size) } };
    const bytes = await blob.load();
    if (range) {
      const m = /^bytes=(\d*)-(\d*)$/.exec(range.trim());
      const start = m?.[1] ? Number(m[1]) : m?.[2] ? bytes.length - Number(m[2]) : 0;
      const end = m?.[1] && m[2] ? Math.min(Number(m[2]), bytes.length - 1) : bytes.length - 1;
      if (!m || (!m[1] && !m[2]) || start < 0 || start > end || start >= bytes.length) {
        return ociError("SIZE_INVALID", "requested range not satisfiable", {
          status: 416,
          headers: { "content-range": `bytes */${bytes.length}` },
        });
      }
      const part = bytes.subarray(start, end + 1);
      return {
        status: 206,
        headers: {
          ...headers,
          "content-length": String(part.length),
          "content-range": `bytes ${start}-${end}/${bytes.length}`,
        },
        body: part,
      };
    }
    return {
      status: 200,
      headers: { ...headers, "content-length": String(bytes.length) },
      body: bytes,
    };
  }

  private other(
    client: ClientInfo,
    response: RegistryResponse,
    kind: EndpointKind = "other",
  ): Handled {
    return { response, kind, identity: anonymous(client) };
  }
}

function anonymous(client: ClientInfo): Identity {
  return { type: "anonymous", key: client.ip, ip: client.ip };
}

function identityOf(claims: TokenClaims, client: ClientInfo): Identity {
  return claims.subject
    ? { type: "account", key: claims.subject, ip: client.ip, plan: claims.plan ?? "free" }
    : anonymous(client);
}

function json(status: number, value: unknown): RegistryResponse {
  return { status, headers: { "content-type": "application/json" }, body: JSON.stringify(value) };
}
