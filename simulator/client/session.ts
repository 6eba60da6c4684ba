import type { EndpointKind } from "../../vocabulary/oci/endpoints.ts";
import type { Sim } from "../engine/sim.ts";
import { isNetworkError, type NetworkError, type Outcome } from "../engine/transport-types.ts";
import {
  type Challenge,
  type Credentials,
  parseBearerChallenge,
  readToken,
  type TokenRequestStyle,
  tokenRequest,
  Wire,
  type WireOptions,
} from "./wire.ts";

/**
 * "Send one authenticated registry request", once for every client in the
 * simulator: the pull client of each runtime (pull-client.ts) and the mirror's
 * upstream side (mirror/upstream.ts). Ping first or not, the Bearer challenge
 * and the token, how long a token is kept, the retry after a 401, immediate
 * retries and 429 back-off: one implementation here, each client's ways as
 * `SessionQuirks` (the sets are in runtimes.ts, next to the runtime models).
 */
export interface SessionQuirks {
  /**
   * GET /v2/ before requests, and a token from its challenge before the request:
   * "never": send, and get a token on a 401 challenge (containerd, dockerd, Harbor);
   * "once": `send` pings a host before its first request (per `AuthState`); the answer is
   *   remembered, and a ping answered with anything but 200/401 fails every request to that
   *   host after a GET /v1/_ping (containers/image's detectProperties);
   * "until-challenge": wherever the caller calls `establish` (distribution's
   *   tryEstablishChallenges), until a challenge is known, one ping at a time (a lock: a
   *   concurrent caller waits, then looks again); a 401's challenge counts as known; only a
   *   failure below HTTP stops the request.
   */
  ping: "never" | "once" | "until-challenge";
  tokenStyle: TokenRequestStyle;
  /**
   * Tokens kept between requests (per host and scope, in the `AuthState` the caller
   * gives), for this share of `expires_in`: clients refresh a little early (0.9), Harbor
   * keeps it until it expires (1); 0: none kept (distribution's per-request token handler).
   */
  keepTokens: number;
  /** A token got during a session is used for the rest of it, kept or not (the proxies: one per client request). */
  holdToken: boolean;
  /** A 401 drops the kept token for its scope before a new one is asked for. */
  forgetRefusedToken: boolean;
  /** A token request that fails fails the request (the proxies), or the request goes without one (the clients). */
  tokenFailure: "fails-request" | "send-without";
  /** Who a request is counted as: the account for every request, or only for those that carry authorization. */
  countedAs: "account" | "authorized";
  /** Immediate retries (containerd: 429/408 until 6 responses, a 401 challenge included) and 429 back-off (containers/image). */
  retry?: {
    immediateStatuses: number[];
    maxResponses: number;
    backoff429?: { attempts: number; firstMs: number; maxMs: number; honourRetryAfter: boolean };
  };
}

/**
 * What a request came back with. `stage` says which step: the request itself,
 * or the ping / token request that had to succeed first (then the request was
 * never sent). `status` 0 is a failure below HTTP.
 */
export interface Answer {
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

export function succeeded(answer: Answer): boolean {
  return answer.stage === "request" && answer.status >= 200 && answer.status < 300;
}

function answer(stage: Answer["stage"], method: string, path: string, outcome: Outcome): Answer {
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

/** The answer as the transport gave it. */
export function outcomeOf(answer: Answer): Outcome {
  if (answer.network !== undefined)
    return {
      status: 0,
      error: answer.network as NetworkError["error"],
      message: answer.message ?? "",
    };
  return { status: answer.status, headers: answer.headers, body: answer.body };
}

/** What a host's ping said: its Bearer challenge (if any), or the failed ping. */
interface Ping {
  challenge?: Challenge;
  failed?: Answer;
}

/**
 * Auth that outlives one request: tokens by host and scope, what each host's
 * ping said (or the challenge a 401 taught). How long it lives is the caller's
 * (a pull phase, a pull, a client's lifetime, a mirror's).
 */
export class AuthState {
  readonly tokens = new Map<string, { token: string; expiresAt: number }>();
  readonly pings = new Map<string, Ping>();
  readonly pingLocks = new Map<string, Promise<void>>();
}

export interface RegistryClientOptions extends WireOptions {
  quirks: SessionQuirks;
  credentials?: Credentials | undefined;
}

/** One client's requests: its wire, its credentials and its ways (`SessionQuirks`). */
export class RegistryClient {
  readonly wire: Wire;
  readonly quirks: SessionQuirks;
  readonly sim: Sim;
  readonly credentials: Credentials | undefined;
  private readonly egressIp: string;

  constructor(options: RegistryClientOptions) {
    this.quirks = options.quirks;
    this.sim = options.sim;
    this.credentials = options.credentials;
    this.egressIp = options.egressIp;
    this.wire = new Wire(options);
  }

  /** One request on the wire, recorded as an event, counted as `countedAs` says. */
  exchange(
    host: string,
    method: "GET" | "HEAD",
    path: string,
    headers: Record<string, string>,
    kind?: EndpointKind,
  ): Promise<Outcome> {
    const { credentials, egressIp } = this;
    const identity =
      credentials && (this.quirks.countedAs === "account" || headers.authorization !== undefined)
        ? credentials.user
        : egressIp;
    return this.wire.exchange(host, method, path, headers, identity, kind);
  }
}

/**
 * Requests to one host for one scope that share a token (a mirror's client
 * request; one request of a pull), with the `AuthState` they keep auth in.
 */
export class Session {
  private readonly client: RegistryClient;
  private readonly auth: AuthState;
  private readonly host: string;
  private readonly scope: string | undefined;
  /** The token got during this session (`holdToken`). */
  private held: string | undefined;

  constructor(client: RegistryClient, auth: AuthState, host: string, scope: string | undefined) {
    this.client = client;
    this.auth = auth;
    this.host = host;
    this.scope = scope;
  }

  /** The ping step, as the quirks do it: the failed ping, or nothing when requests may go on. */
  async establish(): Promise<Answer | undefined> {
    switch (this.client.quirks.ping) {
      case "never":
        return undefined;
      case "once":
        return this.pingOnce();
      case "until-challenge":
        return this.pingUntilChallenge();
    }
  }

  /** Sends one request: ping and token first where the quirks say so, one retry after a 401 challenge, then the quirks' retries. */
  async send(
    method: "GET" | "HEAD",
    path: string,
    headers: Record<string, string> = {},
  ): Promise<Answer> {
    const { quirks } = this.client;
    if (quirks.ping === "once") {
      const failed = await this.pingOnce();
      if (failed) return failed;
    }
    if (quirks.ping !== "never") {
      const challenge = this.auth.pings.get(this.host)?.challenge;
      if (challenge && !this.token()) {
        const got = await this.fetchToken(challenge, this.scope);
        if (got.failed && quirks.tokenFailure === "fails-request") return got.failed;
      }
    }
    return this.retrying(() => this.attempt(method, path, headers));
  }

  /** The request, and again with a token after a 401 challenge (containerd counts the challenge among the responses it retries within). */
  private async attempt(
    method: "GET" | "HEAD",
    path: string,
    headers: Record<string, string>,
  ): Promise<{ answer: Answer; responses: number }> {
    const { quirks } = this.client;
    const token = this.token();
    const res = await this.client.exchange(
      this.host,
      method,
      path,
      token ? { ...headers, authorization: `Bearer ${token}` } : headers,
    );
    if (res.status === 401 && !isNetworkError(res)) {
      const challenge = parseBearerChallenge(res.headers["www-authenticate"]);
      const scope = challenge?.scope ?? this.scope;
      if (challenge) {
        if (quirks.ping === "until-challenge")
          this.auth.pings.set(this.host, {
            challenge: {
              realm: challenge.realm,
              ...(challenge.service !== undefined ? { service: challenge.service } : {}),
            },
          });
        if (quirks.forgetRefusedToken && scope) this.auth.tokens.delete(this.key(scope));
      }
      const got = await this.fetchToken(challenge, scope);
      if (got.token) {
        const again = await this.client.exchange(this.host, method, path, {
          ...headers,
          authorization: `Bearer ${got.token}`,
        });
        return { answer: answer("request", method, path, again), responses: 2 };
      }
      if (got.failed && quirks.tokenFailure === "fails-request")
        return { answer: got.failed, responses: 1 };
    }
    return { answer: answer("request", method, path, res), responses: 1 };
  }

  /** containers/image's detectProperties: GET /v2/ once per host and auth state; a failure is remembered. */
  private async pingOnce(): Promise<Answer | undefined> {
    const known = this.auth.pings.get(this.host);
    if (known) return known.failed;
    const res = await this.retrying(async () => ({
      answer: answer(
        "ping",
        "GET",
        "/v2/",
        await this.client.exchange(this.host, "GET", "/v2/", {}),
      ),
      responses: 1,
    }));
    let result: Ping;
    if (res.network === undefined && (res.status === 200 || res.status === 401)) {
      result = { challenge: parseBearerChallenge(res.headers["www-authenticate"]) };
    } else {
      // Best effort to tell a v1 registry apart before giving up on the host.
      await this.client.exchange(this.host, "GET", "/v1/_ping", {});
      result = { failed: res };
    }
    this.auth.pings.set(this.host, result);
    return result.failed;
  }

  /**
   * distribution's tryEstablishChallenges: ping unless a challenge is known; a failure below
   * HTTP stops the request. It holds a lock while it pings: a concurrent caller waits, then
   * looks again (with an upstream that never challenges, it pings too).
   */
  private async pingUntilChallenge(): Promise<Answer | undefined> {
    const { auth, host } = this;
    if (auth.pings.get(host)?.challenge) return undefined;
    const previous = auth.pingLocks.get(host) ?? Promise.resolve();
    const sim = this.client.sim;
    const turn = (async () => {
      // Waiting for the lock is waiting on another request's work: the scheduler must know.
      await sim.wait(previous);
      if (auth.pings.get(host)?.challenge) return undefined;
      const outcome = await this.client.exchange(host, "GET", "/v2/", {}, "ping");
      if (isNetworkError(outcome)) return answer("ping", "GET", "/v2/", outcome);
      auth.pings.set(host, {
        challenge: parseBearerChallenge(outcome.headers["www-authenticate"]),
      });
      return undefined;
    })();
    auth.pingLocks.set(
      host,
      turn.then(
        () => undefined,
        () => undefined,
      ),
    );
    return turn;
  }

  /** Immediate retries and 429 back-off, as `quirks.retry` says; without it, one attempt. */
  private async retrying(
    attempt: () => Promise<{ answer: Answer; responses: number }>,
  ): Promise<Answer> {
    const { quirks, sim } = this.client;
    const retry = quirks.retry;
    let responses = 0;
    let backoffAttempt = 0;
    for (;;) {
      const answered = await attempt();
      const res = answered.answer;
      responses += answered.responses;
      if (!retry) return res;
      if (retry.immediateStatuses.includes(res.status) && responses < retry.maxResponses) continue;
      const b = retry.backoff429;
      if (b && res.status === 429 && backoffAttempt < b.attempts - 1 && !sim.stopped) {
        const retryAfter = Number(res.headers["retry-after"]);
        const wait =
          b.honourRetryAfter && retryAfter > 0
            ? retryAfter * 1000
            : Math.min(b.maxMs, b.firstMs * 2 ** backoffAttempt);
        backoffAttempt++;
        await sim.sleep(wait);
        continue;
      }
      return res;
    }
  }

  private key(scope: string): string {
    return `${this.host}|${scope}`;
  }

  /** The token this session holds, else one kept for its scope and not yet expired. */
  private token(): string | undefined {
    if (this.held) return this.held;
    if (!this.scope || this.client.quirks.keepTokens === 0) return undefined;
    const key = this.key(this.scope);
    const cached = this.auth.tokens.get(key);
    if (!cached) return undefined;
    if (this.client.sim.now() >= cached.expiresAt) {
      this.auth.tokens.delete(key);
      return undefined;
    }
    return cached.token;
  }

  /** Asks the realm of a Bearer challenge for a token (Basic with credentials); nothing without a challenge. */
  private async fetchToken(
    challenge: Challenge | undefined,
    scope: string | undefined,
  ): Promise<{ token?: string; failed?: Answer }> {
    const { quirks, sim } = this.client;
    const request =
      challenge && tokenRequest(challenge, scope, this.client.credentials, quirks.tokenStyle);
    if (!request) return {};
    const outcome = await this.client.exchange(
      this.host,
      "GET",
      request.path,
      request.headers,
      "token",
    );
    const got = readToken(outcome);
    if (!got) return { failed: answer("token", "GET", request.path, outcome) };
    if (quirks.keepTokens > 0 && scope)
      this.auth.tokens.set(this.key(scope), {
        token: got.token,
        expiresAt: sim.now() + got.expiresInSeconds * 1000 * quirks.keepTokens,
      });
    if (quirks.holdToken) this.held = got.token;
    return { token: got.token };
  }
}
