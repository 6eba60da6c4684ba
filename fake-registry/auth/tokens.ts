import { createHmac, createSecretKey, type KeyObject, randomBytes, randomUUID } from "node:crypto";
import type * as Jose from "jose";
import { LRUCache } from "lru-cache";
import { nextTurn } from "../../vocabulary/turns.ts";
import type { Access } from "./scope.ts";

/** What a verified token says about its bearer. */
export interface TokenClaims {
  /** The account name, or "" for an anonymous token (as Docker Hub issues them). */
  subject: string;
  access: Access[];
  expiresAt: number;
  plan?: string;
  /** The token's jti, for per-token quotas. */
  id?: string;
}

export type Verification = { ok: true; claims: TokenClaims } | { ok: false; reason: string };

export interface TokenSignerOptions {
  issuer: string;
  service: string;
  /** Shared HMAC secret; replicas that share one can verify each other's tokens. */
  secret?: string;
  /** Token lifetime in seconds; Docker Hub uses 300. */
  lifetimeSeconds: number;
}

/**
 * Signs and verifies bearer tokens as HS256 JWTs. Verified tokens are cached by
 * their exact string, so a pull storm does not pay for an HMAC per request;
 * expiry is still checked on every use. A token this signer issues enters that
 * cache as it is signed (its claims are known), so only foreign, evicted or
 * not-yet-valid tokens are verified by jose.
 *
 * Signing is the JWS compact serialization (RFC 7515 section 7.1) of the same
 * header and claims jose's SignJWT writes (byte for byte), with node:crypto's
 * HMAC-SHA256: WebCrypto (jose) sends every HMAC to the thread pool at about
 * 50 us each, the largest cost of a simulated pull storm. Signing a token and
 * the first check of one still answer on the next turn of the event loop, as
 * those thread-pool jobs did: simulated runs order simultaneous requests as
 * before (same seed, same report), now without depending on thread timing.
 */
export class TokenSigner {
  readonly service: string;
  readonly issuer: string;
  readonly lifetimeSeconds: number;
  private readonly key: Uint8Array;
  private readonly hmacKey: KeyObject;
  /**
   * Claims by the token's signature segment (43 characters: hashing the whole
   * token, several hundred, on every lookup was the largest cost of a cached
   * check); a hit counts only if the whole `token` matches too. `notBefore`
   * (ms) and `unchecked` for tokens entered as they were signed.
   */
  private readonly verified = new LRUCache<string, CachedToken>({ max: 50_000 });
  /** The last token found or verified: requests come in runs from one client. */
  private last: CachedToken | undefined;

  constructor(options: TokenSignerOptions) {
    this.service = options.service;
    this.issuer = options.issuer;
    this.lifetimeSeconds = options.lifetimeSeconds;
    this.key = options.secret ? new TextEncoder().encode(options.secret) : randomBytes(32);
    this.hmacKey = createSecretKey(this.key);
  }

  async sign(
    subject: string,
    access: Access[],
    nowMs: number,
    extra: Record<string, unknown> = {},
  ): Promise<{ token: string; issuedAt: Date; expiresIn: number }> {
    const iat = Math.floor(nowMs / 1000);
    const exp = iat + this.lifetimeSeconds;
    const jti = randomUUID();
    // The claims in the order SignJWT writes them: the payload, then iss, sub, aud, iat, nbf, exp, jti.
    const payload = {
      access,
      ...extra,
      iss: this.issuer,
      sub: subject,
      aud: this.service,
      iat,
      nbf: iat,
      exp,
      jti,
    };
    const input = `${HEADER}.${Buffer.from(JSON.stringify(payload)).toString("base64url")}`;
    const signature = createHmac("sha256", this.hmacKey).update(input).digest("base64url");
    const token = `${input}.${signature}`;
    // What verify would read back from the token (a JSON round trip of the same values).
    const claims: TokenClaims = {
      subject,
      access: JSON.parse(JSON.stringify(access)) as Access[],
      expiresAt: exp * 1000,
      ...(typeof extra.plan === "string" ? { plan: extra.plan } : {}),
      id: jti,
    };
    this.remember({ token, claims, notBefore: iat * 1000, unchecked: true });
    await nextTurn();
    return { token, issuedAt: new Date(iat * 1000), expiresIn: this.lifetimeSeconds };
  }

  /**
   * The answer for a token already checked, without waiting for a turn of the
   * event loop; undefined when `verify` has to do the work (not cached, not
   * valid yet, or issued here and never checked).
   */
  verifyCached(token: string, nowMs: number): Verification | undefined {
    const cached = this.lookup(token);
    if (!cached || cached.unchecked || nowMs < cached.notBefore) return undefined;
    return cached.claims.expiresAt > nowMs
      ? { ok: true, claims: cached.claims }
      : { ok: false, reason: "token expired" };
  }

  private lookup(token: string): CachedToken | undefined {
    if (this.last?.token === token) return this.last;
    const found = this.verified.get(signatureOf(token));
    if (found?.token !== token) return undefined;
    this.last = found;
    return found;
  }

  private remember(entry: CachedToken): void {
    this.verified.set(signatureOf(entry.token), entry);
    this.last = entry;
  }

  /** Checks signature, issuer, audience (the service) and expiry against the registry's clock. */
  async verify(token: string, nowMs: number): Promise<Verification> {
    const cached = this.lookup(token);
    if (cached && nowMs >= cached.notBefore) {
      if (cached.unchecked) {
        cached.unchecked = false;
        await nextTurn();
      }
      return cached.claims.expiresAt > nowMs
        ? { ok: true, claims: cached.claims }
        : { ok: false, reason: "token expired" };
    }
    try {
      const { payload } = await (await jose()).jwtVerify(token, this.key, {
        issuer: this.issuer,
        audience: this.service,
        algorithms: ["HS256"],
        currentDate: new Date(nowMs),
      });
      const claims: TokenClaims = {
        subject: typeof payload.sub === "string" ? payload.sub : "",
        access: Array.isArray(payload.access) ? (payload.access as Access[]) : [],
        expiresAt: (payload.exp ?? 0) * 1000,
        ...(typeof payload.plan === "string" ? { plan: payload.plan } : {}),
        ...(typeof payload.jti === "string" ? { id: payload.jti } : {}),
      };
      this.remember({ token, claims, notBefore: Number.NEGATIVE_INFINITY });
      return { ok: true, claims };
    } catch (error) {
      const { errors } = await jose();
      if (error instanceof errors.JWTExpired) return { ok: false, reason: "token expired" };
      if (error instanceof errors.JWTClaimValidationFailed) {
        return error.claim === "aud"
          ? { ok: false, reason: `token is for another service, not "${this.service}"` }
          : { ok: false, reason: `token claim "${error.claim}" is invalid` };
      }
      if (error instanceof errors.JWSSignatureVerificationFailed)
        return { ok: false, reason: "token signature does not verify" };
      return { ok: false, reason: "token is malformed" };
    }
  }
}

let joseModule: Promise<typeof Jose> | undefined;

/**
 * jose, loaded for the first token this process did not issue itself (or
 * forgot): a registry verifying only its own tokens never loads it (a few
 * MB resident).
 */
function jose(): Promise<typeof Jose> {
  joseModule ??= import("jose");
  return joseModule;
}

/** A verified (or self-issued) token in the cache, with the exact string it was checked as. */
interface CachedToken {
  token: string;
  claims: TokenClaims;
  notBefore: number;
  unchecked?: boolean;
}

/** A JWS's signature segment: everything after the last dot. */
function signatureOf(token: string): string {
  return token.slice(token.lastIndexOf(".") + 1);
}

/** base64url of `{"alg":"HS256","typ":"JWT"}`, the protected header of every token. */
const HEADER = Buffer.from(JSON.stringify({ alg: "HS256", typ: "JWT" })).toString("base64url");

export function allows(
  claims: TokenClaims,
  name: string,
  action: string,
  type = "repository",
): boolean {
  return claims.access.some(
    (a) => a.type === type && a.name === name && a.actions.includes(action),
  );
}
