import { REFUSAL_HEADER } from "../../vocabulary/oci/errors.ts";
import { TokenService } from "../auth/token-service.ts";
import { allows, TokenSigner, type Verification } from "../auth/tokens.ts";
import type { Account } from "../auth/users.ts";
import type { Document } from "../catalog/build.ts";
import type { Catalog } from "../catalog/catalog.ts";
import { mergeEffects } from "../faults/index.ts";
import type { FaultContext } from "../faults/types.ts";
import {
  PolicyEnforcer,
  type RefusalReason,
  storeUnavailableResponse,
} from "../policy/enforcer.ts";
import { LoginLockouts } from "../policy/lockout.ts";
import { DEFAULT_PRESET, preset } from "../policy/presets.ts";
import { MemoryQuotaStore, type QuotaStore, QuotaStoreUnavailableError } from "../policy/store.ts";
import { ipSource } from "../policy/subject.ts";
import type { Layer, Policy } from "../policy/types.ts";
import type { Clock } from "./clock.ts";
import { handleControl } from "./control.ts";
import { ociError } from "./errors.ts";
import { RegistryMetrics } from "./metrics.ts";
import { negotiate } from "./negotiate.ts";
import { checkDigest, checkName, clip, isTag, looksLikeDigest } from "../../vocabulary/oci/names.ts";
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

/** The fault layer as the core sees it (implemented in ../faults/). */
export interface FaultLayer {
  evaluate(ctx: FaultContext): import("../faults/types.ts").FaultOutcome | undefined;
  /** How many faults are in force: 0 skips evaluate (absent: always evaluated). */
  readonly size?: number;
}

export interface RegistryOptions {
  catalog: Catalog;
  clock: Clock;
  /** false: no token service, every request anonymous by IP (`--no-auth`). */
  auth: AuthOptions | false;
  /** Throttling policy; the dockerhub-2020 preset by default. */
  policy?: Policy;
  /** Where quota counters live; memory by default. */
  store?: QuotaStore;
  faults?: FaultLayer;
  /** Lets control endpoints answer non-loopback clients that present it as a Bearer token. */
  controlToken?: string;
}

/** Facts about one handled request, for logs, metrics and events. */
export interface Handled {
  response: RegistryResponse;
  kind: EndpointKind;
  identity: Identity;
  repository?: string;
  /** Which layer said no, when one did. */
  refusal?: { reason: RefusalReason | "fault"; rule: string };
}

const API_VERSION = { "docker-distribution-api-version": "registry/2.0" };
/** Names the refusing layer on refused answers (quota, token-quota, abuse, edge, ban, ...). */
const HOST_RE = /^[A-Za-z0-9.-]+(?::\d{1,5})?$|^\[[0-9A-Fa-f:.]+\](?::\d{1,5})?$/;
const PRE_AUTH: Layer[] = ["edge", "abuse"];
const REGISTRY: Layer[] = ["registry"];
const TOKEN: Layer[] = ["token"];

type Classified =
  | { kind: "token" }
  | { kind: "control"; path: string }
  | { kind: EndpointKind; route: Route; repository?: string };

/**
 * The transport-free registry: `handle(request, client, now)` answers any
 * request the way a throttling registry would. Fastify and the simulator both
 * call this, so live and simulated runs obey the same rules. A request passes:
 * validation -> edge and abuse limits -> faults -> auth -> registry quotas
 * (or token-service limits) -> the catalog.
 */
export class Registry {
  readonly catalog: Catalog;
  readonly clock: Clock;
  readonly stats = new Stats();
  readonly metrics = new RegistryMetrics();
  readonly enforcer: PolicyEnforcer;
  readonly lockouts = new LoginLockouts();
  readonly controlToken: string | undefined;
  faults: FaultLayer | undefined;
  private readonly auth: (AuthOptions & { signer: TokenSigner; tokens: TokenService }) | undefined;

  constructor(options: RegistryOptions) {
    this.catalog = options.catalog;
    this.clock = options.clock;
    this.faults = options.faults;
    this.controlToken = options.controlToken;
    const store = options.store ?? new MemoryQuotaStore();
    this.metrics.watchQuotaStore(store);
    this.enforcer = new PolicyEnforcer(
      options.policy ?? (preset(DEFAULT_PRESET) as Policy),
      store,
      options.clock,
    );
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
        accessParameters: (account, ip) =>
          this.enforcer.tokenParameters(identityFromAccount(account, ip)),
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

  get policy(): Policy {
    return this.enforcer.policy;
  }

  account(name: string): Account | undefined {
    return this.auth?.tokens.account(name);
  }

  /** Adds (or replaces) an account at run time: simulations create one per node or job. */
  addAccount(account: Account): void {
    this.auth?.tokens.addAccount(account);
  }

  set policy(next: Policy) {
    this.enforcer.policy = next;
  }

  /** Forgets counters, bans, lockouts and stats: a fresh start for the next game-day round. */
  async reset(): Promise<void> {
    await this.enforcer.reset();
    this.lockouts.reset();
    this.stats.reset();
    this.metrics.reset();
  }

  async handle(req: RegistryRequest, client: ClientInfo, now = this.clock.now()): Promise<Handled> {
    let handled: Handled;
    try {
      handled = await this.dispatch(req, client, now);
    } catch (error) {
      // Never leak internals: the adapter logs the request, the client gets an OCI body
      // (control endpoints reach a fail-closed store too: 503 naming it).
      handled = {
        response:
          error instanceof QuotaStoreUnavailableError
            ? storeUnavailableResponse(error)
            : ociError("UNKNOWN", "internal error"),
        kind: "other",
        identity: anonymous(client),
      };
    }
    // A fault's answer comes from whatever is in front (a load balancer), not the registry.
    if (handled.refusal?.reason !== "fault") Object.assign(handled.response.headers, API_VERSION);
    // Testbed instrumentation: which layer said no, for reports (real registries send nothing like it).
    if (handled.refusal) handled.response.headers[REFUSAL_HEADER] = handled.refusal.reason;
    this.stats.record(handled.kind, req.method, handled.response.status, handled.identity);
    this.metrics.countRequest(handled.kind, req.method, handled.response.status);
    if (handled.refusal) this.metrics.refusals.inc(handled.refusal);
    return handled;
  }

  private classify(path: string): Classified | RegistryResponse {
    if (path === "/token") return { kind: "token" };
    if (path.startsWith("/_pullstorm/") || path === "/metrics") return { kind: "control", path };
    if (path !== "/v2" && !path.startsWith("/v2/")) {
      return ociError("UNSUPPORTED", `no such endpoint: ${clip(path)}`, { status: 404 });
    }
    const route = parseRoute(path);
    return { kind: route.kind, route, ...("name" in route ? { repository: route.name } : {}) };
  }

  private async dispatch(req: RegistryRequest, client: ClientInfo, now: number): Promise<Handled> {
    const path = decodePath(req.path);
    if (path === undefined) {
      return other(client, ociError("NAME_INVALID", "malformed percent-encoding in path"));
    }
    const classified = this.classify(path);
    if ("status" in classified) return other(client, classified);
    if (classified.kind === "control" && "path" in classified) {
      return other(client, await handleControl(this, classified.path, req, client, now));
    }
    const kind = classified.kind;
    const route = "route" in classified ? classified.route : undefined;
    const repository = "repository" in classified ? classified.repository : undefined;
    const base = { kind, ...(repository ? { repository } : {}) };
    if (route) {
      const invalid = validate(route, req.method);
      if (invalid) return { ...base, response: invalid, identity: anonymous(client) };
    }

    const bearer = this.auth && kind !== "token" ? bearerToken(req) : undefined;
    // The token is checked once, here; authorize() reuses the answer after the quotas.
    const checking = bearer ? this.verifyToken(bearer) : undefined;
    const verified = checking instanceof Promise ? await checking : checking;
    const identity = this.identify(req, client, kind, verified);
    const edge = await this.enforcer.check(PRE_AUTH, { kind, method: req.method, identity, now });
    if (edge.refused) return this.refused(base, identity, edge.refused);

    const faults = this.faults;
    const fault =
      faults && faults.size !== 0
        ? faults.evaluate({
            kind,
            method: req.method,
            identity,
            now,
            elapsedMs: now - this.clock.startedAt,
            ...(repository ? { repository } : {}),
          })
        : undefined;
    if (fault?.response) {
      const response = { ...fault.response, ...(fault.effects ? { effects: fault.effects } : {}) };
      return { ...base, response, identity, refusal: { reason: "fault", rule: "fault" } };
    }
    const handled =
      kind === "token"
        ? await this.token(req, client, now, identity)
        : await this.pull(req, now, identity, route as Route, repository, bearer, verified);
    if (fault?.effects) {
      handled.response.effects = mergeEffects(handled.response.effects, fault.effects);
    }
    // { ...base, ...handled }, without the two spreads.
    const { response, identity: who } = handled;
    const out: Handled = repository
      ? { kind, repository, response, identity: who }
      : { kind, response, identity: who };
    if (handled.refusal) out.refusal = handled.refusal;
    return out;
  }

  /** The bearer token's verification, from the signer's cache without waiting when it can. */
  private verifyToken(bearer: string): Verification | Promise<Verification> {
    const signer = (this.auth as { signer: TokenSigner }).signer;
    const now = this.clock.tokenNow();
    return signer.verifyCached(bearer, now) ?? signer.verify(bearer, now);
  }

  /**
   * Who is asking, without enforcing anything yet: the (already verified)
   * token's account, else the client address.
   */
  private identify(
    req: RegistryRequest,
    client: ClientInfo,
    kind: EndpointKind,
    verified: Verification | undefined,
  ): Identity {
    if (!this.auth) return anonymous(client);
    if (kind === "token") {
      const user = basicUser(req.headers.authorization);
      const account = user ? this.auth.tokens.account(user) : undefined;
      return account ? identityFromAccount(account, client.ip) : anonymous(client);
    }
    if (!verified?.ok) return anonymous(client);
    const { claims } = verified;
    if (!claims.subject) {
      const who = anonymous(client);
      if (claims.id) who.tokenId = claims.id;
      return who;
    }
    const account = this.auth.tokens.account(claims.subject);
    const who: Identity = {
      type: "account",
      key: claims.subject,
      ip: client.ip,
      plan: account?.plan ?? claims.plan ?? "free",
    };
    if (account?.org) who.org = account.org;
    if (claims.id) who.tokenId = claims.id;
    return who;
  }

  private refused(
    base: { kind: EndpointKind; repository?: string },
    identity: Identity,
    refused: { response: RegistryResponse; reason: RefusalReason; rule: string },
  ): Handled {
    return {
      ...base,
      response: refused.response,
      identity,
      refusal: { reason: refused.reason, rule: refused.rule },
    };
  }

  private async pull(
    req: RegistryRequest,
    now: number,
    identity: Identity,
    route: Route,
    repository: string | undefined,
    bearer: string | undefined,
    verified: Verification | undefined,
  ): Promise<Omit<Handled, "kind">> {
    const denied = this.authorize(req, repository, bearer, verified);
    if (denied) return { response: denied, identity };
    const decision = await this.enforcer.check(REGISTRY, {
      kind: route.kind,
      method: req.method,
      identity,
      now,
    });
    if (decision.refused) {
      this.noteQuota(decision.refused.response.headers, decision.refused.rule, identity);
      return {
        response: decision.refused.response,
        identity,
        refusal: { reason: decision.refused.reason, rule: decision.refused.rule },
      };
    }
    const response = await this.serve(route, req, now - this.clock.startedAt);
    Object.assign(response.headers, decision.headers);
    this.noteQuota(decision.headers, "pulls", identity, decision.remaining);
    return { response, identity };
  }

  private noteQuota(
    headers: Record<string, string>,
    rule: string,
    identity: Identity,
    remaining?: number,
  ): void {
    if (remaining !== undefined) {
      this.metrics.noteQuotaRemaining(rule, identity.key, remaining);
      return;
    }
    const header = headers["ratelimit-remaining"];
    if (header) this.metrics.noteQuotaRemaining(rule, identity.key, Number.parseInt(header, 10));
  }

  /**
   * The bearer-token check, on the verification identify() used: undefined
   * when the request may proceed, else the 401 to send.
   */
  private authorize(
    req: RegistryRequest,
    repository: string | undefined,
    bearer: string | undefined,
    verified: Verification | undefined,
  ): RegistryResponse | undefined {
    if (!this.auth) return undefined;
    const scope = () => (repository ? `repository:${repository}:pull` : undefined);
    if (!bearer || !verified)
      return this.challenge(req, scope(), undefined, "authentication required");
    if (!verified.ok) return this.challenge(req, scope(), "invalid_token", verified.reason);
    if (repository && !allows(verified.claims, repository, "pull")) {
      return this.challenge(req, scope(), "insufficient_scope", "authentication required");
    }
    return undefined;
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

  private async token(
    req: RegistryRequest,
    client: ClientInfo,
    now: number,
    identity: Identity,
  ): Promise<Omit<Handled, "kind">> {
    if (!this.auth) {
      const response = ociError(
        "UNSUPPORTED",
        "this registry runs without auth (--no-auth): no token service",
        { status: 404 },
      );
      return { response, identity };
    }
    if (req.method !== "GET" && req.method !== "POST") {
      return {
        response: ociError("UNSUPPORTED", "the token service answers GET and POST"),
        identity,
      };
    }
    const form = req.method === "POST" ? new URLSearchParams(req.body ?? "") : undefined;
    const policy = this.enforcer.policy;
    const latency = policy.tokenLatencyMs ? { effects: { delayMs: policy.tokenLatencyMs } } : {};
    // Failed-login lockout: by the username tried and by the client address.
    const user = form ? (form.get("username") ?? undefined) : basicUser(req.headers.authorization);
    const lockKeys = [`ip:${ipSource(client.ip)}`, ...(user ? [`user:${user}`] : [])];
    if (policy.lockout) {
      const until = this.lockouts.lockedUntilFor(lockKeys, now);
      if (until !== undefined) {
        const seconds = Math.max(1, Math.ceil((until - now) / (this.clock.scale ?? 1) / 1000));
        const response = ociError(
          "TOOMANYREQUESTS",
          "too many failed login attempts for username or IP address",
          {
            headers: { "retry-after": String(seconds) },
          },
        );
        return {
          response: { ...response, ...latency },
          identity,
          refusal: { reason: "login-lockout", rule: "lockout" },
        };
      }
    }
    const limited = await this.enforcer.check(TOKEN, {
      kind: "token",
      method: req.method,
      identity,
      now,
    });
    if (limited.refused) {
      return {
        response: { ...limited.refused.response, ...latency },
        identity,
        refusal: { reason: limited.refused.reason, rule: limited.refused.rule },
      };
    }
    const { response, account } = await this.auth.tokens.handle(
      req,
      client,
      this.clock.tokenNow(),
      form,
    );
    if (response.status === 401 && user !== undefined && policy.lockout) {
      this.lockouts.recordFailure(lockKeys, now, policy.lockout);
    }
    return {
      response: { ...response, ...latency },
      identity: account ? identityFromAccount(account, client.ip) : identity,
    };
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
    const made = documentHeaders(doc);
    return {
      status: 200,
      headers: {
        "content-type": doc.mediaType,
        "content-length": made.length,
        "docker-content-digest": doc.digest,
        etag: made.etag,
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
}

/** A document's Content-Length and ETag values, made once per document (it never changes). */
const madeHeaders = new WeakMap<Document, { length: string; etag: string }>();

function documentHeaders(doc: Document): { length: string; etag: string } {
  let made = madeHeaders.get(doc);
  if (!made) {
    made = { length: String(doc.bytes.length), etag: `"${doc.digest}"` };
    madeHeaders.set(doc, made);
  }
  return made;
}

/** Method and input checks that need no credentials: bad input never reaches auth, limits or catalog. */
function validate(route: Route, method: string): RegistryResponse | undefined {
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

/** The token of an `Authorization: Bearer ...` header, if any. */
function bearerToken(req: RegistryRequest): string | undefined {
  const header = req.headers.authorization;
  const bearer = header?.startsWith("Bearer ") ? header.slice(7).trim() : undefined;
  return bearer || undefined;
}

function basicUser(header: string | undefined): string | undefined {
  if (!header?.toLowerCase().startsWith("basic ")) return undefined;
  const decoded = Buffer.from(header.slice(6).trim(), "base64").toString("utf8");
  const colon = decoded.indexOf(":");
  return colon > 0 ? decoded.slice(0, colon) : undefined;
}

function anonymous(client: ClientInfo): Identity {
  return { type: "anonymous", key: client.ip, ip: client.ip };
}

function identityFromAccount(account: Account | undefined, ip: string): Identity {
  return account
    ? {
        type: "account",
        key: account.name,
        ip,
        plan: account.plan,
        ...(account.org ? { org: account.org } : {}),
      }
    : { type: "anonymous", key: ip, ip };
}

function other(client: ClientInfo, response: RegistryResponse): Handled {
  return { response, kind: "other", identity: anonymous(client) };
}

function json(status: number, value: unknown): RegistryResponse {
  return { status, headers: { "content-type": "application/json" }, body: JSON.stringify(value) };
}
