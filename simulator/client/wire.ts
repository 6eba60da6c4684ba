import { type EventSink, rateLimitOf } from "../../vocabulary/events.ts";
import type { EndpointKind } from "../../vocabulary/oci/endpoints.ts";
import { errorCode, PULLS_HEADER, REFUSAL_HEADER } from "../../vocabulary/oci/errors.ts";
import { decodePath, parseRoute } from "../../vocabulary/oci/route.ts";
import type { Sim } from "../engine/sim.ts";
import { isNetworkError, type Outcome, type Transport } from "../engine/transport-types.ts";

/**
 * The wire half of every registry client in the simulator: the pull client of
 * each runtime (pull-client.ts) and the mirror's upstream side
 * (mirror/upstream.ts) send through one `Wire`, by way of one authenticated
 * sender (session.ts). One request goes out, one RequestEvent comes out, the
 * same way for both; the Docker token dance
 * (challenge, token request, token answer) is read and written here once, with
 * the clients' differences as options.
 */

/** A Bearer challenge: `Bearer realm="...",service="...",scope="..."`. */
export interface Challenge {
  realm: string;
  service?: string;
  scope?: string;
}

/**
 * A cache for pure readings of strings that repeat on every request (a path, a
 * challenge, a token request): emptied when full, so it stays small whatever
 * the run's size.
 */
class Memo<T> {
  private readonly cache = new Map<string, T>();
  private readonly max: number;
  constructor(max = 4096) {
    this.max = max;
  }

  /** The value for `key`, read by `read(key)` the first time. */
  get(key: string, read: (key: string) => T): T {
    const hit = this.cache.get(key);
    if (hit !== undefined || this.cache.has(key)) return hit as T;
    const value = read(key);
    if (this.cache.size >= this.max) this.cache.clear();
    this.cache.set(key, value);
    return value;
  }
}

const challenges = new Memo<Challenge | undefined>();

/** Parses a Bearer challenge; undefined for other schemes or without a realm. The answer is shared: do not change it. */
export function parseBearerChallenge(header: string | undefined): Challenge | undefined {
  return header ? challenges.get(header, readBearerChallenge) : undefined;
}

function readBearerChallenge(header: string | undefined): Challenge | undefined {
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

/** What a request path is for (the query, if any, is ignored). */
export function kindOf(path: string): EndpointKind {
  return kinds.get(path, readKind);
}

const kinds = new Memo<EndpointKind>();

function readKind(path: string): EndpointKind {
  const p = decodePath(path.split("?")[0] ?? "/");
  if (p === undefined) return "other";
  if (p === "/token") return "token";
  return p.startsWith("/v2") ? parseRoute(p).kind : "other";
}

export interface Credentials {
  user: string;
  password: string;
}

/**
 * How a client asks a token realm:
 *  - "client": containerd, dockerd and containers/image: service and scope, nothing else;
 *  - "proxy": distribution's proxy: the realm's own query kept, `account` named, the
 *    query sorted (Go's url.Values.Encode).
 */
export type TokenRequestStyle = "client" | "proxy";

/**
 * The token request for a challenge: the realm's path on the same host, its
 * query, Basic auth with credentials. The answer is shared (the same request
 * is asked for again on every token fetch): do not change it.
 */
export function tokenRequest(
  challenge: Challenge,
  scope: string | undefined,
  credentials: Credentials | undefined,
  style: TokenRequestStyle,
): { path: string; headers: Record<string, string> } | undefined {
  const key = `${style}\n${challenge.realm}\n${challenge.service ?? "\0"}\n${challenge.scope ?? "\0"}\n${scope ?? "\0"}\n${credentials ? `${credentials.user}\n${credentials.password}` : "\0"}`;
  return tokenRequests.get(key, () => readTokenRequest(challenge, scope, credentials, style));
}

/** Larger: one entry per account (an account per node is a design). */
const tokenRequests = new Memo<ReturnType<typeof readTokenRequest>>(16_384);

function readTokenRequest(
  challenge: Challenge,
  scope: string | undefined,
  credentials: Credentials | undefined,
  style: TokenRequestStyle,
): { path: string; headers: Record<string, string> } | undefined {
  let realm: URL;
  try {
    realm =
      style === "proxy"
        ? new URL(challenge.realm, "http://upstream.invalid")
        : new URL(challenge.realm);
  } catch {
    return undefined;
  }
  const query = new URLSearchParams(style === "proxy" ? realm.search : "");
  if (style === "proxy") {
    if (credentials) query.set("account", credentials.user);
    if (scope) query.set("scope", scope);
    if (challenge.service !== undefined) query.set("service", challenge.service);
    query.sort();
  } else {
    if (challenge.service) query.set("service", challenge.service);
    const wanted = challenge.scope ?? scope;
    if (wanted) query.set("scope", wanted);
  }
  const headers: Record<string, string> = credentials
    ? {
        authorization: `Basic ${Buffer.from(`${credentials.user}:${credentials.password}`).toString("base64")}`,
      }
    : {};
  return { path: `${realm.pathname}?${query.toString()}`, headers };
}

/** The token a token answer carries (`token` or `access_token`), and its lifetime (docker assumes 60 s when unsaid). */
export function readToken(
  outcome: Outcome,
): { token: string; expiresInSeconds: number } | undefined {
  if (isNetworkError(outcome) || outcome.status !== 200) return undefined;
  let parsed: { token?: unknown; access_token?: unknown; expires_in?: unknown };
  try {
    parsed = JSON.parse(outcome.body.toString("utf8"));
  } catch {
    return undefined;
  }
  const token =
    typeof parsed.token === "string"
      ? parsed.token
      : typeof parsed.access_token === "string"
        ? parsed.access_token
        : undefined;
  if (!token) return undefined;
  const expiresIn =
    typeof parsed.expires_in === "number" && parsed.expires_in > 0 ? parsed.expires_in : 60;
  return { token, expiresInSeconds: expiresIn };
}

export interface WireOptions {
  transport: Transport;
  sim: Sim;
  /** Requests leave from this source address. */
  egressIp: string;
  design: string;
  /** Who sends, as events name it (node-3, job-7, mirror). */
  actor: string;
  emit: EventSink | undefined;
}

/** One client's connection to its hosts: every request it sends, recorded as it is answered. */
export class Wire {
  readonly options: WireOptions;
  /** Requests sent since the last reset (a pull's request count). */
  sent = 0;

  constructor(options: WireOptions) {
    this.options = options;
  }

  /**
   * Sends one request and records it. `identity` is who the registry counts (the
   * account when the request is authenticated as one, else the source address);
   * `kind` defaults to what the path is for.
   */
  async exchange(
    host: string,
    method: "GET" | "HEAD",
    path: string,
    headers: Record<string, string>,
    identity: string,
    kind: EndpointKind = kindOf(path),
  ): Promise<Outcome> {
    const { sim, transport, egressIp, emit } = this.options;
    const started = sim.now();
    // trackCall: a delay the host answers with (a latency fault) is a sleep the virtual
    // scheduler knows about.
    const res = await sim.trackCall(() =>
      transport.send({ host, method, path, headers }, egressIp),
    );
    this.sent++;
    if (!emit) return res;
    const failed = isNetworkError(res);
    const code = failed ? undefined : errorCode(res.status, res.headers, res.body);
    const rateLimit = failed ? undefined : rateLimitOf(res.headers);
    const refusal = failed ? undefined : res.headers[REFUSAL_HEADER];
    const pulls = failed ? undefined : res.headers[PULLS_HEADER];
    emit({
      type: "request",
      t: sim.now() / 1000,
      design: this.options.design,
      actor: this.options.actor,
      identity,
      egressIp,
      host,
      kind,
      method,
      status: res.status,
      bytes: failed ? 0 : res.body.length,
      // Simulated ms (live: wall x time scale), so virtual runs repeat byte for byte.
      latencyMs: Math.round((sim.now() - started) * 10) / 10,
      ...(failed ? { network: res.error } : {}),
      ...(code ? { code } : {}),
      ...(rateLimit ? { rateLimit } : {}),
      ...(refusal ? { refusal } : {}),
      ...(pulls !== undefined ? { pulls: Number(pulls) } : {}),
    });
    return res;
  }
}
