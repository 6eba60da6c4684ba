import { randomBytes, randomUUID } from "node:crypto";
import { errors, jwtVerify, SignJWT } from "jose";
import { LRUCache } from "lru-cache";
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
 * Signs and verifies bearer tokens as HS256 JWTs (jose). Verified tokens are
 * cached by their exact string, so a pull storm does not pay for an HMAC per
 * request; expiry is still checked on every use.
 */
export class TokenSigner {
  readonly service: string;
  readonly issuer: string;
  readonly lifetimeSeconds: number;
  private readonly key: Uint8Array;
  private readonly verified = new LRUCache<string, TokenClaims>({ max: 50_000 });

  constructor(options: TokenSignerOptions) {
    this.service = options.service;
    this.issuer = options.issuer;
    this.lifetimeSeconds = options.lifetimeSeconds;
    this.key = options.secret ? new TextEncoder().encode(options.secret) : randomBytes(32);
  }

  async sign(
    subject: string,
    access: Access[],
    nowMs: number,
    extra: Record<string, unknown> = {},
  ): Promise<{ token: string; issuedAt: Date; expiresIn: number }> {
    const iat = Math.floor(nowMs / 1000);
    const token = await new SignJWT({ access, ...extra })
      .setProtectedHeader({ alg: "HS256", typ: "JWT" })
      .setIssuer(this.issuer)
      .setSubject(subject)
      .setAudience(this.service)
      .setIssuedAt(iat)
      .setNotBefore(iat)
      .setExpirationTime(iat + this.lifetimeSeconds)
      .setJti(randomUUID())
      .sign(this.key);
    return { token, issuedAt: new Date(iat * 1000), expiresIn: this.lifetimeSeconds };
  }

  /** Checks signature, issuer, audience (the service) and expiry against the registry's clock. */
  async verify(token: string, nowMs: number): Promise<Verification> {
    const cached = this.verified.get(token);
    if (cached) {
      return cached.expiresAt > nowMs
        ? { ok: true, claims: cached }
        : { ok: false, reason: "token expired" };
    }
    try {
      const { payload } = await jwtVerify(token, this.key, {
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
      this.verified.set(token, claims);
      return { ok: true, claims };
    } catch (error) {
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

export function allows(claims: TokenClaims, name: string, action: string): boolean {
  return claims.access.some(
    (a) => a.type === "repository" && a.name === name && a.actions.includes(action),
  );
}
