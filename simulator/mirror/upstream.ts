import type { EventSink } from "../../vocabulary/events.ts";
import type { EndpointKind } from "../../vocabulary/oci/endpoints.ts";
import {
  type Challenge,
  type Credentials,
  parseBearerChallenge,
  readToken,
  tokenRequest,
  Wire,
} from "../client/wire.ts";
import type { Sim } from "../engine/sim.ts";
import { isNetworkError, type Outcome, type Transport } from "../engine/transport.ts";
import type { FlavourProfile } from "./flavours.ts";

/** How the mirror reaches the origin registry. */
export interface UpstreamTarget {
  transport: Transport;
  /** The origin's logical host in the transport ("registry"). */
  host: string;
  /** The mirror's source address: who the origin counts when the mirror is anonymous. */
  egressIp: string;
  /** Proxy credentials (distribution's proxy.username/password), sent as Basic to the token service. */
  credentials?: Credentials;
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
  private readonly wire: Wire;
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
    this.wire = new Wire({
      transport: options.target.transport,
      sim: options.sim,
      egressIp: options.target.egressIp,
      design: options.design,
      actor: "mirror",
      emit: options.emit,
    });
  }

  /** State for one client request on one repository. */
  session(repository: string | undefined): Session {
    return new Session(this, repository);
  }

  /** One request on the wire, recorded as an event: counted against the mirror's account when it authenticates as one. */
  raw(
    method: "GET" | "HEAD",
    path: string,
    headers: Record<string, string>,
    kind?: EndpointKind,
  ): Promise<Outcome> {
    const { credentials, egressIp, host } = this.target;
    const identity =
      headers.authorization !== undefined && credentials ? credentials.user : egressIp;
    return this.wire.exchange(host, method, path, headers, identity, kind);
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
    const request = tokenRequest(challenge, scope, this.target.credentials, "proxy") as {
      path: string;
      headers: Record<string, string>;
    };
    const outcome = await this.raw("GET", request.path, request.headers, "token");
    const got = readToken(outcome);
    if (!got) return { failed: answer("token", "GET", request.path, outcome) };
    if (this.profile.tokenReuse === "until-expiry" && scope)
      this.tokens.set(scope, {
        token: got.token,
        expiresAt: this.sim.now() + got.expiresInSeconds * 1000,
      });
    return { token: got.token };
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
