/**
 * The token endpoint (`GET|POST /token`), behind the token-service limits and
 * the failed-login lockout: by the username tried and by the client address.
 */
import type { Clock } from "../core/clock.ts";
import { ociError } from "../core/errors.ts";
import type { ClientInfo, Identity, RegistryRequest } from "../core/types.ts";
import type { PolicyEnforcer } from "../policy/enforcer.ts";
import type { LoginLockouts } from "../policy/lockout.ts";
import { ipSource } from "../policy/subject.ts";
import type { Layer } from "../policy/types.ts";
import { basicUser, identityFromAccount } from "./identity.ts";
import type { Answer, Auth } from "./types.ts";
import { methodNotAllowed } from "./validate.ts";

const TOKEN: Layer[] = ["token"];

/** What the token endpoint needs of the registry. */
export interface TokenEndpoint {
  readonly enforcer: PolicyEnforcer;
  readonly lockouts: LoginLockouts;
  readonly clock: Clock;
}

export async function serveToken(
  registry: TokenEndpoint,
  auth: Auth | undefined,
  req: RegistryRequest,
  client: ClientInfo,
  now: number,
  identity: Identity,
): Promise<Answer> {
  if (!auth) {
    const response = ociError(
      "UNSUPPORTED",
      "this registry runs without auth (--no-auth): no token service",
      { status: 404 },
    );
    return { response, identity };
  }
  if (req.method !== "GET" && req.method !== "POST") {
    return {
      response: methodNotAllowed("token", "the token service answers GET and POST"),
      identity,
    };
  }
  const form = req.method === "POST" ? new URLSearchParams(req.body ?? "") : undefined;
  const policy = registry.enforcer.policy;
  const latency = policy.tokenLatencyMs ? { effects: { delayMs: policy.tokenLatencyMs } } : {};
  const user = form ? (form.get("username") ?? undefined) : basicUser(req.headers.authorization);
  const lockKeys = [`ip:${ipSource(client.ip)}`, ...(user ? [`user:${user}`] : [])];
  if (policy.lockout) {
    const until = registry.lockouts.lockedUntilFor(lockKeys, now);
    if (until !== undefined) {
      const seconds = Math.max(1, Math.ceil((until - now) / (registry.clock.scale ?? 1) / 1000));
      const response = ociError(
        "TOOMANYREQUESTS",
        "too many failed login attempts for username or IP address",
        { headers: { "retry-after": String(seconds) } },
      );
      return {
        response: { ...response, ...latency },
        identity,
        refusal: { reason: "login-lockout", rule: "lockout" },
      };
    }
  }
  const limited = await registry.enforcer.check(TOKEN, {
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
  const { response, account } = await auth.tokens.handle(
    req,
    client,
    registry.clock.tokenNow(),
    form,
  );
  if (response.status === 401 && user !== undefined && policy.lockout) {
    registry.lockouts.recordFailure(lockKeys, now, policy.lockout);
  }
  return {
    response: { ...response, ...latency },
    identity: account ? identityFromAccount(account, client.ip) : identity,
  };
}
