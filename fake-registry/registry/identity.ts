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

/**
 * The credentials of an `Authorization` header with the given scheme, if it
 * has that scheme: auth schemes are case-insensitive (RFC 9110 11.1), so
 * `bearer` and `BASIC` count too.
 */
export function credentialsOf(header: string | undefined, scheme: string): string | undefined {
  if (!header || header.length <= scheme.length) return undefined;
  const space = header.indexOf(" ");
  if (space !== scheme.length || header.slice(0, space).toLowerCase() !== scheme) return undefined;
  const value = header.slice(space + 1).trim();
  return value || undefined;
}

/** The token of an `Authorization: Bearer ...` header, if any. */
export function bearerToken(req: RegistryRequest): string | undefined {
  return credentialsOf(req.headers.authorization, "bearer");
}

/** The username of an `Authorization: Basic ...` header, if any (empty credentials are none). */
export function basicUser(header: string | undefined): string | undefined {
  const value = credentialsOf(header, "basic");
  if (!value) return undefined;
  const decoded = Buffer.from(value, "base64").toString("utf8");
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

/** The scope `GET /v2/_catalog` needs, as distribution names it. */
export const CATALOG_SCOPE = "registry:catalog:*";

/**
 * The bearer-token check, on the verification identify() used: undefined
 * when the request may proceed, else the 401 to send. A repository endpoint
 * needs `repository:<name>:pull`, the catalog `registry:catalog:*`, the
 * version check any valid token.
 */
export function authorize(
  auth: Auth | undefined,
  req: RegistryRequest,
  target: { repository?: string; catalog?: boolean },
  bearer: string | undefined,
  verified: Verification | undefined,
): RegistryResponse | undefined {
  if (!auth) return undefined;
  const { repository, catalog } = target;
  const scope = () =>
    repository ? `repository:${repository}:pull` : catalog ? CATALOG_SCOPE : undefined;
  if (!bearer || !verified)
    return challenge(auth, req, scope(), undefined, "authentication required");
  if (!verified.ok) return challenge(auth, req, scope(), "invalid_token", verified.reason);
  const granted = repository
    ? allows(verified.claims, repository, "pull", "repository")
    : catalog
      ? allows(verified.claims, "catalog", "*", "registry")
      : true;
  if (!granted)
    return challenge(auth, req, scope(), "insufficient_scope", "authentication required");
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

/**
 * The token endpoint on the host the client asked for; without a usable Host
 * header, on the address and port the request arrived at (never a realm
 * without the port: the client would ask port 80).
 */
function realm(auth: Auth, req: RegistryRequest): string {
  if (auth.realm) return auth.realm;
  const host = req.headers.host;
  return `http://${host && HOST_RE.test(host) ? host : (req.local ?? "127.0.0.1")}/token`;
}
