import { errorCode } from "../../vocabulary/oci/errors.ts";
import { decodePath, parseRoute } from "../../fake-registry/core/route.ts";
import type { EndpointKind } from "../../fake-registry/core/types.ts";
import type { EventSink } from "../../vocabulary/events.ts";
import { rateLimitOf } from "../../vocabulary/events.ts";
import type { Sim } from "../engine/sim.ts";
import type { NetworkError, Outcome, Transport } from "../engine/transport.ts";
import type { FlavourProfile } from "./flavours.ts";

/** How the mirror reaches the origin registry. */
export interface UpstreamTarget {
  transport: Transport;
  /** The origin's logical host in the transport ("registry"). */
  host: string;
  /** The mirror's source address: who the origin counts when the mirror is anonymous. */
  egressIp: string;
  /** Proxy credentials (distribution's proxy.username/password), sent as Basic to the token service. */
  credentials?: { user: string; password: string };
}

/**
 * What an upstream step came back with. `stage` says which step: the request
 * itself, or the ping / token request that had to succeed first (then the
 * request was never sent). `status` 0 is a failure below HTTP.
 */
export interface UpstreamAnswer {
  stage: "request" | "ping" | "token";
  status: number;
  headers: Record<string, string>;
  body: Buffer;
  /** reset, refused, timeout, error */
  network?: string;
  message?: string;
  method: string;
  path: string;
}

export function succeeded(answer: UpstreamAnswer): boolean {
  return answer.stage === "request" && answer.status >= 200 && answer.status < 300;
}

interface Challenge {
  realm: string;
  service?: string;
  scope?: string;
}

/** Parses `Bearer realm="...",service="...",scope="..."`; undefined for other schemes. */
export function parseBearerChallenge(header: string | undefined): Challenge | undefined {
  if (!header || !/^bearer\s/i.test(header.trim())) return undefined;
  const params: Record<string, string> = {};
  for (const m of header.matchAll(/([a-zA-Z_]+)="([^"]*)"/g))
    params[(m[1] as string).toLowerCase()] = m[2] as string;
  if (!params.realm) return undefined;
  return {
    realm: params.realm,
    ...(params.service !== undefined ? { service: params.service } : {}),
    ...(params.scope !== undefined ? { scope: params.scope } : {}),
  };
}


export function isNetworkError(outcome: Outcome): outcome is NetworkError {
  return "error" in outcome;
}

/**
 * Waits for work another request started (a ping under distribution's lock, a Harbor
 * singleflight). Awaited plainly, a wait on work that sleeps in virtual time (a latency
 * fault) stalls the scheduler, which counts the waiter as busy. So the waiter also sleeps
 * 0 ms: that timer is due at once and changes nothing when the work settles first; when
 * the scheduler gets to it, the work is asleep, and the waiter polls in 1 ms sleeps
 * the scheduler knows about until it settles.
 */
export async function awaitShared<T>(sim: Sim, work: Promise<T>): Promise<T> {
  let settled = false;
  const done = work.then(
    () => {
      settled = true;
    },
    () => {
      settled = true;
    },
  );
  if (sim.stopped) return work;
  await Promise.race([done, sim.sleep(0)]);
  while (!settled && !sim.stopped) await sim.sleep(1);
  return work;
}

function kindOf(path: string): EndpointKind {
  const decoded = decodePath(path.split("?")[0] ?? "/");
  return decoded === undefined ? "other" : parseRoute(decoded).kind;
}

interface CachedToken {
  token: string;
  /** sim ms */
  expiresAt: number;
}

/**
 * The mirror's HTTP client for the origin: Docker token auth, one RequestEvent
 * per request, every request wrapped in `sim.track`. Auth state that outlives
 * a client request (the challenge, cached tokens) lives here; a `Session` holds
 * what lives for one client request.
 */
export class Upstream {
  readonly target: UpstreamTarget;
  private readonly sim: Sim;
  private readonly profile: FlavourProfile;
  private readonly emit: EventSink | undefined;
  private readonly design: string;
  private challenge: Challenge | undefined;
  private pingLock: Promise<void> = Promise.resolve();
  private readonly tokens = new Map<string, CachedToken>();

  constructor(options: {
    target: UpstreamTarget;
    sim: Sim;
    profile: FlavourProfile;
    emit?: EventSink;
    design: string;
  }) {
    this.target = options.target;
    this.sim = options.sim;
    this.profile = options.profile;
    this.emit = options.emit;
    this.design = options.design;
  }

  /** State for one client request on one repository. */
  session(repository: string | undefined): Session {
    return new Session(this, repository);
  }

  /** One request on the wire, recorded as an event. */
  async raw(
    method: "GET" | "HEAD",
    path: string,
    headers: Record<string, string>,
    kind: EndpointKind = kindOf(path),
  ): Promise<Outcome> {
    const t = this.sim.now() / 1000;
    // trackCall: a delay the upstream answers with (a latency fault) is a sleep the
    // virtual scheduler knows about, even for requests outside a client's (the start-up ping).
    const outcome = await this.sim.trackCall(() =>
      this.target.transport.send(
        { host: this.target.host, method, path, headers },
        this.target.egressIp,
      ),
    );
    if (this.emit) {
      const authenticated = headers.authorization !== undefined && this.target.credentials;
      const failed = isNetworkError(outcome);
      const code = failed ? undefined : errorCode(outcome.status, outcome.headers, outcome.body);
      this.emit({
        type: "request",
        t,
        design: this.design,
        actor: "mirror",
        identity: authenticated ? (this.target.credentials?.user ?? "") : this.target.egressIp,
        egressIp: this.target.egressIp,
        host: this.target.host,
        kind,
        method,
        status: outcome.status,
        bytes: failed ? 0 : outcome.body.length,
        latencyMs: 0,
        ...(failed ? { network: outcome.error } : {}),
        ...(code ? { code } : {}),
        ...(!failed && rateLimitOf(outcome.headers)
          ? { rateLimit: rateLimitOf(outcome.headers) }
          : {}),
        ...(!failed && outcome.headers["pullstorm-refusal"]
          ? { refusal: outcome.headers["pullstorm-refusal"] }
          : {}),
      });
    }
    return outcome;
  }

  /**
   * distribution's tryEstablishChallenges: ping unless a challenge is known; a failure below
   * HTTP stops the request. It holds a lock while it pings: a concurrent caller waits, then
   * looks again (with an upstream that never challenges, it pings too).
   */
  async establishChallenge(): Promise<UpstreamAnswer | undefined> {
    if (this.challenge) return undefined;
    const turn = this.pingLock.then(async () => {
      if (this.challenge) return undefined;
      const outcome = await this.raw("GET", "/v2/", {}, "ping");
      if (isNetworkError(outcome)) return answer("ping", "GET", "/v2/", outcome);
      this.challenge = parseBearerChallenge(outcome.headers["www-authenticate"]);
      return undefined;
    });
    this.pingLock = turn.then(
      () => undefined,
      () => undefined,
    );
    return awaitShared(this.sim, turn);
  }

  /** The start-up ping distribution does before serving (it does not keep the challenge it sees). */
  async ping(): Promise<Outcome> {
    return this.raw("GET", "/v2/", {}, "ping");
  }

  knownChallenge(): Challenge | undefined {
    return this.challenge;
  }

  learnChallenge(challenge: Challenge): void {
    this.challenge = challenge;
  }

  cachedToken(scope: string): string | undefined {
    if (this.profile.tokenReuse !== "until-expiry") return undefined;
    const cached = this.tokens.get(scope);
    if (!cached) return undefined;
    if (this.sim.now() >= cached.expiresAt) {
      this.tokens.delete(scope);
      return undefined;
    }
    return cached.token;
  }

  forgetToken(scope: string): void {
    this.tokens.delete(scope);
  }

  /** GET the realm (path and query only, to the same upstream host) with service and scope, Basic when configured. */
  async fetchToken(
    challenge: Challenge,
    scope: string | undefined,
  ): Promise<{ token: string } | { failed: UpstreamAnswer }> {
    let realm: URL;
    try {
      realm = new URL(challenge.realm);
    } catch {
      realm = new URL(challenge.realm, "http://upstream.invalid");
    }
    const query = new URLSearchParams(realm.search);
    const credentials = this.target.credentials;
    if (credentials) query.set("account", credentials.user);
    if (scope) query.set("scope", scope);
    if (challenge.service !== undefined) query.set("service", challenge.service);
    query.sort();
    const path = `${realm.pathname}?${query.toString()}`;
    const headers: Record<string, string> = {};
    if (credentials)
      headers.authorization = `Basic ${Buffer.from(`${credentials.user}:${credentials.password}`).toString("base64")}`;
    const outcome = await this.raw("GET", path, headers, "token");
    if (outcome.status !== 200) return { failed: answer("token", "GET", path, outcome) };
    let parsed: { token?: unknown; access_token?: unknown; expires_in?: unknown };
    try {
      parsed = JSON.parse(outcome.body.toString("utf8"));
    } catch {
      return { failed: answer("token", "GET", path, outcome) };
    }
    const token =
      typeof parsed.token === "string"
        ? parsed.token
        : typeof parsed.access_token === "string"
          ? parsed.access_token
          : undefined;
    if (!token) return { failed: answer("token", "GET", path, outcome) };
    // docker's token handler assumes 60 s when the service does not say.
    const expiresIn =
      typeof parsed.expires_in === "number" && parsed.expires_in > 0 ? parsed.expires_in : 60;
    if (this.profile.tokenReuse === "until-expiry" && scope)
      this.tokens.set(scope, { token, expiresAt: this.sim.now() + expiresIn * 1000 });
    return { token };
  }

  get authStyle(): FlavourProfile["auth"] {
    return this.profile.auth;
  }
}

function answer(
  stage: UpstreamAnswer["stage"],
  method: string,
  path: string,
  outcome: Outcome,
): UpstreamAnswer {
  if (isNetworkError(outcome))
    return {
      stage,
      status: 0,
      headers: {},
      body: Buffer.alloc(0),
      network: outcome.error,
      message: outcome.message,
      method,
      path,
    };
  return {
    stage,
    status: outcome.status,
    headers: outcome.headers,
    body: outcome.body,
    method,
    path,
  };
}

/**
 * One client request's view of the upstream. With "per-request" tokens the
 * token lives here and dies with the request, as distribution's per-request
 * token handler does.
 */
export class Session {
  private readonly upstream: Upstream;
  private readonly scope: string | undefined;
  private token: string | undefined;

  constructor(upstream: Upstream, repository: string | undefined) {
    this.upstream = upstream;
    this.scope = repository ? `repository:${repository}:pull` : undefined;
  }

  /**
   * Where distribution calls tryEstablishChallenges (before a tag check, a manifest fetch,
   * a blob Stat, the blob stream and the storage copy): a ping unless a challenge is known.
   * Returns the failed ping; nothing for "on-challenge" flavours.
   */
  async establish(): Promise<UpstreamAnswer | undefined> {
    if (this.upstream.authStyle !== "ping-first") return undefined;
    return this.upstream.establishChallenge();
  }

  /** Sends one request with whatever auth the flavour does first, and one retry after a 401 challenge. */
  async send(
    method: "GET" | "HEAD",
    path: string,
    headers: Record<string, string> = {},
  ): Promise<UpstreamAnswer> {
    const up = this.upstream;
    if (up.authStyle === "ping-first") {
      const challenge = up.knownChallenge();
      if (challenge && !this.currentToken()) {
        const got = await up.fetchToken(challenge, this.scope);
        if ("failed" in got) return got.failed;
        this.token = got.token;
      }
    }
    let outcome = await up.raw(method, path, this.withAuth(headers));
    if (outcome.status === 401) {
      const challenge = parseBearerChallenge(outcome.headers["www-authenticate"]);
      if (challenge) {
        up.learnChallenge({
          realm: challenge.realm,
          ...(challenge.service !== undefined ? { service: challenge.service } : {}),
        });
        const scope = challenge.scope ?? this.scope;
        if (scope) up.forgetToken(scope);
        const got = await up.fetchToken(challenge, scope);
        if ("failed" in got) return got.failed;
        this.token = got.token;
        outcome = await up.raw(method, path, this.withAuth(headers));
      }
    }
    return answer("request", method, path, outcome);
  }

  private currentToken(): string | undefined {
    if (this.token) return this.token;
    return this.scope ? this.upstream.cachedToken(this.scope) : undefined;
  }

  private withAuth(headers: Record<string, string>): Record<string, string> {
    const token = this.currentToken();
    return token ? { ...headers, authorization: `Bearer ${token}` } : headers;
  }
}
