import { timingSafeEqual } from "node:crypto";
import { ociError } from "../core/errors.ts";
import type { ClientInfo, RegistryRequest, RegistryResponse } from "../core/types.ts";
import { type Access, parseScope } from "./scope.ts";
import type { TokenSigner } from "./tokens.ts";
import type { Account } from "./users.ts";

export interface TokenServiceOptions {
  signer: TokenSigner;
  accounts: Map<string, Account>;
  /** Whether a repository may be pulled by this account (undefined: anonymous). */
  canPull(repository: string, account: Account | undefined): boolean;
  /** Extra `parameters` for each granted access entry (Docker Hub: pull_limit, pull_limit_interval). */
  accessParameters?(account: Account | undefined, ip: string): Record<string, string> | undefined;
}

type Credentials = { user: string; password: string } | undefined | { malformed: true };

function basicCredentials(header: string | undefined): Credentials {
  if (!header) return undefined;
  const [scheme, value] = header.split(" ", 2);
  if (scheme?.toLowerCase() !== "basic" || !value) return undefined;
  const decoded = Buffer.from(value, "base64").toString("utf8");
  const colon = decoded.indexOf(":");
  if (colon < 0) return { malformed: true };
  // `Basic Og==` (":", no user, no password) is what clients without credentials send: anonymous.
  if (decoded === ":") return undefined;
  return { user: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}

function samePassword(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/**
 * Docker-style token service (distribution docs/spec/auth/token.md):
 * `GET /token?service=..&scope=..` anonymously or with HTTP Basic, and the
 * OAuth2 password grant `POST /token` that containerd uses when it has
 * credentials. Grants only `pull`; a scope it cannot grant is left out of the
 * token, which is not an error (a partial grant).
 */
export class TokenService {
  private readonly options: TokenServiceOptions;

  constructor(options: TokenServiceOptions) {
    this.options = options;
  }

  addAccount(account: Account): void {
    this.options.accounts.set(account.name, account);
  }

  account(name: string): Account | undefined {
    return this.options.accounts.get(name);
  }

  /** Every account the service knows. */
  accounts(): Account[] {
    return [...this.options.accounts.values()];
  }

  get service(): string {
    return this.options.signer.service;
  }

  /** Authenticates the caller; the account, null for anonymous, or the 401 to answer. */
  authenticate(
    user: string | undefined,
    password: string | undefined,
  ): Account | null | RegistryResponse {
    if (user === undefined) return null;
    const account = this.options.accounts.get(user);
    if (!account || !samePassword(account.password, password ?? "")) {
      return ociError("UNAUTHORIZED", "incorrect username or password", {
        headers: { "www-authenticate": 'Basic realm="pullstorm"' },
      });
    }
    return account;
  }

  async handle(
    req: RegistryRequest,
    client: ClientInfo,
    now: number,
    form?: URLSearchParams,
  ): Promise<{ response: RegistryResponse; account: Account | null }> {
    const params = form ?? req.query;
    const service = params.get("service");
    if (service !== null && service !== this.service) {
      return {
        response: ociError(
          "UNSUPPORTED",
          `unknown service "${service.slice(0, 80)}"; this token service issues tokens for "${this.service}"`,
          { status: 400 },
        ),
        account: null,
      };
    }
    let user: string | undefined;
    let password: string | undefined;
    if (form) {
      const grant = form.get("grant_type");
      if (grant !== "password") {
        return {
          response: ociError(
            "UNSUPPORTED",
            `grant_type "${(grant ?? "").slice(0, 40)}" is not supported; use "password"`,
            { status: 400 },
          ),
          account: null,
        };
      }
      user = form.get("username") ?? undefined;
      password = form.get("password") ?? undefined;
    } else {
      const creds = basicCredentials(req.headers.authorization);
      if (creds && "malformed" in creds)
        return { response: ociError("UNAUTHORIZED", "malformed basic credentials"), account: null };
      user = creds?.user;
      password = creds?.password;
    }
    const auth = this.authenticate(user, password);
    if (auth !== null && !("name" in auth)) return { response: auth, account: null };
    const account = auth;
    const parameters = this.options.accessParameters?.(account ?? undefined, client.ip);
    const granted: Access[] = [];
    for (const raw of params.getAll("scope").flatMap((s) => s.split(" "))) {
      if (!raw) continue;
      const access = parseScope(raw);
      // The repository list (`GET /v2/_catalog`) is open to everyone; it lists private repositories to their users only.
      if (
        access?.type === "registry" &&
        access.name === "catalog" &&
        access.actions.includes("*")
      ) {
        granted.push({ type: "registry", name: "catalog", actions: ["*"] });
        continue;
      }
      if (access?.type !== "repository") continue;
      if (
        access.actions.includes("pull") &&
        this.options.canPull(access.name, account ?? undefined)
      ) {
        granted.push({
          type: "repository",
          name: access.name,
          actions: ["pull"],
          ...(parameters ? { parameters } : {}),
        });
      }
    }
    const { token, issuedAt, expiresIn } = await this.options.signer.sign(
      account?.name ?? "",
      granted,
      now,
      account ? { plan: account.plan } : {},
    );
    const body = form
      ? {
          access_token: token,
          expires_in: expiresIn,
          issued_at: issuedAt.toISOString(),
          scope: granted.map((g) => `${g.type}:${g.name}:${g.actions.join(",")}`).join(" "),
        }
      : { token, access_token: token, expires_in: expiresIn, issued_at: issuedAt.toISOString() };
    return {
      response: {
        status: 200,
        headers: { "content-type": "application/json" },
        body: JSON.stringify(body),
      },
      account,
    };
  }
}
