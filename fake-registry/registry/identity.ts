/**
 * Who is asking, and the Bearer challenge when they may not: identity from a
 * verified token (else the client address), and the 401 with its
 * `WWW-Authenticate` header, as Docker Hub sends it.
 */
import { allows, type TokenSigner, type Verification } from "../auth/tokens.ts";
import type { Account } from "../auth/users.ts";
import { ociError } from "../core/errors.ts";
import type {
  ClientInfo,
  EndpointKind,
  Identity,
  RegistryRequest,
  RegistryResponse,
} from "../core/types.ts";
import type { Auth } from "./types.ts";

const HOST_RE = /^[A-Za-z0-9.-]+(?::\d{1,5})?$|^\[[0-9A-Fa-f:.]+\](?::\d{1,5})?$/;

/** The token of an `Authorization: Bearer ...` header, if any. */
export function bearerToken(req: RegistryRequest): string | undefined {
  const header = req.headers.authorization;
  const bearer = header?.startsWith("Bearer ") ? header.slice(7).trim() : undefined;
  return bearer || undefined;
}

/** The username of an `Authorization: Basic ...` header, if any. */
export function basicUser(header: string | undefined): string | undefined {
  if (!header?.toLowerCase().startsWith("basic ")) return undefined;
  const decoded = Buffer.from(header.slice(6).trim(), "base64").toString("utf8");
  const colon = decoded.indexOf(":");
  return colon > 0 ? decoded.slice(0, colon) : undefined;
}

export function anonymous(client: ClientInfo): Identity {
  return { type: "anonymous", key: client.ip, ip: client.ip };
}

export function identityFromAccount(account: Account | undefined, ip: string): Identity {
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

/** The bearer token's verification, from the signer's cache without waiting when it can. */
export function verifyToken(
  signer: TokenSigner,
  bearer: string,
  now: number,
): Verification | Promise<Verification> {
  return signer.verifyCached(bearer, now) ?? signer.verify(bearer, now);
}

/**
 * Who is asking, without enforcing anything yet: the (already verified)
 * token's account, else the client address.
 */
export function identify(
  auth: Auth | undefined,
  req: RegistryRequest,
  client: ClientInfo,
  kind: EndpointKind,
  verified: Verification | undefined,
): Identity {
  if (!auth) return anonymous(client);
  if (kind === "token") {
    const user = basicUser(req.headers.authorization);
    const account = user ? auth.tokens.account(user) : undefined;
    return account ? identityFromAccount(account, client.ip) : anonymous(client);
  }
  if (!verified?.ok) return anonymous(client);
  const { claims } = verified;
  if (!claims.subject) {
    const who = anonymous(client);
    if (claims.id) who.tokenId = claims.id;
    return who;
  }
  const account = auth.tokens.account(claims.subject);
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

/**
 * The bearer-token check, on the verification identify() used: undefined
 * when the request may proceed, else the 401 to send.
 */
export function authorize(
  auth: Auth | undefined,
  req: RegistryRequest,
  repository: string | undefined,
  bearer: string | undefined,
  verified: Verification | undefined,
): RegistryResponse | undefined {
  if (!auth) return undefined;
  const scope = () => (repository ? `repository:${repository}:pull` : undefined);
  if (!bearer || !verified)
    return challenge(auth, req, scope(), undefined, "authentication required");
  if (!verified.ok) return challenge(auth, req, scope(), "invalid_token", verified.reason);
  if (repository && !allows(verified.claims, repository, "pull")) {
    return challenge(auth, req, scope(), "insufficient_scope", "authentication required");
  }
  return undefined;
}

function challenge(
  auth: Auth,
  req: RegistryRequest,
  scope: string | undefined,
  error: string | undefined,
  message: string,
): RegistryResponse {
  const parts = [`Bearer realm="${realm(auth, req)}"`, `service="${auth.service}"`];
  if (scope) parts.push(`scope="${scope}"`);
  if (error) parts.push(`error="${error}"`);
  return ociError("UNAUTHORIZED", message, { headers: { "www-authenticate": parts.join(",") } });
}

function realm(auth: Auth, req: RegistryRequest): string {
  if (auth.realm) return auth.realm;
  const host = req.headers.host;
  return `http://${host && HOST_RE.test(host) ? host : "127.0.0.1"}/token`;
}
