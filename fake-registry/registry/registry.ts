import { ConfigError } from "../../vocabulary/config/yaml-file.ts";
import { PULLS_HEADER, REFUSAL_HEADER } from "../../vocabulary/oci/errors.ts";
import { clip } from "../../vocabulary/oci/names.ts";
import { decodePath, parseRoute, type Route } from "../../vocabulary/oci/route.ts";
import { TokenService } from "../auth/token-service.ts";
import { TokenSigner, type Verification } from "../auth/tokens.ts";
import { type Account, planNameProblem } from "../auth/users.ts";
import type { Catalog } from "../catalog/catalog.ts";
import type { EvictionListener } from "../core/bounded.ts";
import type { Clock } from "../core/clock.ts";
import { ociError } from "../core/errors.ts";
import { RegistryMetrics } from "../core/metrics.ts";
import { Stats } from "../core/stats.ts";
import type {
  ClientInfo,
  EndpointKind,
  Identity,
  RegistryRequest,
  RegistryResponse,
} from "../core/types.ts";
import { mergeEffects } from "../faults/fault-set.ts";
import {
  PolicyEnforcer,
  type RefusalReason,
  storeUnavailableResponse,
} from "../policy/enforcer.ts";
import { LoginLockouts } from "../policy/lockout.ts";
import { planProblem } from "../policy/plans.ts";
import { DEFAULT_PRESET, preset } from "../policy/presets.ts";
import { MemoryQuotaStore, type QuotaStore, QuotaStoreUnavailableError } from "../policy/store.ts";
import type { Layer, Policy } from "../policy/types.ts";
import { serveContent } from "./content.ts";
import {
  anonymous,
  authorize,
  bearerToken,
  identify,
  identityFromAccount,
  verifyToken,
} from "./identity.ts";
import { type FoundManifest, findManifest, manifestResponse } from "./manifests.ts";
import { countRequest, noteQuota } from "./metrics.ts";
import { serveToken } from "./token.ts";
import type { Answer, Auth, AuthOptions, FaultLayer, Handled } from "./types.ts";
import { validate } from "./validate.ts";

export type { Answer, AuthOptions, FaultLayer, Handled } from "./types.ts";

export interface RegistryOptions {
  catalog: Catalog;
  clock: Clock;
  /** false: no token service, every request anonymous by IP (`--no-auth`). */
  auth: AuthOptions | false;
  /** Throttling policy; the dockerhub-2020 preset by default. */
  policy?: Policy;
  /** Where quota counters live; memory by default. */
  store?: QuotaStore;
  faults?: FaultLayer;
  /** Required as a Bearer token by the control endpoints, from every caller (../http/control.ts). */
  controlToken?: string;
  /**
   * Per-client records kept at most, of each kind (quota counters per rule
   * window in the default memory store, lockouts, bans, remembered index GETs,
   * stats per identity); least recently used evicted first. Default: no limit
   * (remembered index GETs: 100,000), as the simulator needs; a served
   * registry facing unknown clients sets one (`registry serve --max-clients`,
   * `startFakeRegistry`: ../core/bounded.ts DEFAULT_MAX_CLIENTS).
   */
  maxClients?: number;
}

const API_VERSION = { "docker-distribution-api-version": "registry/2.0" };
const PRE_AUTH: Layer[] = ["edge", "abuse"];
const REGISTRY: Layer[] = ["registry"];

/**
 * The transport-free registry: `handle(request, client, now)` answers any
 * request the way a throttling registry would. Fastify and the simulator both
 * call this, so live and simulated runs obey the same rules. A request passes:
 * validation -> edge and abuse limits -> faults -> auth -> registry quotas
 * (or token-service limits) -> the catalog. One file per concern beside this
 * one: identity.ts (who asks, the Bearer challenge), token.ts (the token
 * endpoint and login lockout), content.ts with manifests.ts, blobs.ts and
 * tags.ts (what is served), metrics.ts (what each request counts). The
 * `/_pullstorm` control API is not here: it is a Fastify plugin (../http/control.ts).
 */
export class Registry {
  readonly catalog: Catalog;
  readonly clock: Clock;
  readonly metrics = new RegistryMetrics();
  readonly stats: Stats;
  readonly enforcer: PolicyEnforcer;
  readonly lockouts: LoginLockouts;
  readonly controlToken: string | undefined;
  faults: FaultLayer | undefined;
  private readonly auth: Auth | undefined;

  constructor(options: RegistryOptions) {
    this.catalog = options.catalog;
    this.clock = options.clock;
    this.faults = options.faults;
    this.controlToken = options.controlToken;
    const max = options.maxClients;
    const onEvict: EvictionListener = (state, n) => this.metrics.noteEviction(state, n);
    this.stats = new Stats({ ...(max ? { maxIdentities: max } : {}), onEvict });
    this.lockouts = new LoginLockouts({ ...(max ? { maxKeys: max } : {}), onEvict });
    const store = options.store ?? new MemoryQuotaStore(max ? { maxKeys: max } : {});
    this.metrics.watchQuotaStore(store);
    this.enforcer = new PolicyEnforcer(
      options.policy ?? (preset(DEFAULT_PRESET) as Policy),
      store,
      options.clock,
      Math.random,
      { ...(max ? { maxClients: max } : {}), onEvict },
    );
    if (options.auth) {
      const signer = new TokenSigner({
        issuer: "pullstorm-token-service",
        service: options.auth.service,
        lifetimeSeconds: options.auth.tokenLifetime ?? 300,
        ...(options.auth.secret ? { secret: options.auth.secret } : {}),
      });
      checkAccounts(options.auth.accounts, "accounts");
      const accounts = new Map(options.auth.accounts.map((a) => [a.name, a]));
      const tokens = new TokenService({
        signer,
        accounts,
        canPull: (repository, account) => this.canPull(repository, account?.name),
        accessParameters: (account, ip) =>
          this.enforcer.tokenParameters(identityFromAccount(account, ip)),
      });
      this.auth = { ...options.auth, signer, tokens };
      const unknown = this.unknownPlans(this.policy);
      if (unknown.length > 0) throw new ConfigError(unknown);
    }
  }

  get authEnabled(): boolean {
    return this.auth !== undefined;
  }

  /** The token signer, for tests and tools that need to mint or inspect tokens. */
  get signer(): TokenSigner | undefined {
    return this.auth?.signer;
  }

  get policy(): Policy {
    return this.enforcer.policy;
  }

  set policy(next: Policy) {
    this.enforcer.policy = next;
  }

  account(name: string): Account | undefined {
    return this.auth?.tokens.account(name);
  }

  /**
   * Adds (or replaces) an account at run time: simulations create one per node or
   * job. A plan the policy does not name is refused (it would be unlimited).
   */
  addAccount(account: Account): void {
    checkAccounts([account], "addAccount");
    const problem = planProblem(this.policy, account.plan);
    if (problem) throw new ConfigError([`account ${account.name}: ${problem}`]);
    this.auth?.tokens.addAccount(account);
  }

  /** The accounts whose plan `policy` does not name, one problem each (none: every account is limited as its plan says). */
  unknownPlans(policy: Policy): string[] {
    const out: string[] = [];
    for (const account of this.auth?.tokens.accounts() ?? []) {
      const problem = planProblem(policy, account.plan);
      if (problem) out.push(`account ${account.name}: ${problem}`);
    }
    return out;
  }

  /** Forgets counters, bans, lockouts and stats: a fresh start for the next game-day round. */
  async reset(): Promise<void> {
    await this.enforcer.reset();
    this.lockouts.reset();
    this.stats.reset();
    this.metrics.reset();
  }

  /** Counts a request answered beside the pipeline (the control API), as kind `other`. */
  countOther(method: string, status: number, client: ClientInfo): void {
    countRequest(this, "other", method, status, anonymous(client));
  }

  async handle(req: RegistryRequest, client: ClientInfo, now = this.clock.now()): Promise<Handled> {
    let handled: Handled;
    try {
      handled = await this.dispatch(req, client, now);
    } catch (error) {
      // Never leak internals: the adapter logs the request, the client gets an OCI body.
      handled = {
        response:
          error instanceof QuotaStoreUnavailableError
            ? storeUnavailableResponse(error)
            : ociError("UNKNOWN", "internal error"),
        kind: "other",
        identity: anonymous(client),
      };
      // An unreachable store is logged by the store itself; anything else is a bug to log.
      if (!(error instanceof QuotaStoreUnavailableError)) handled.error = error;
    }
    // A fault's answer comes from whatever is in front (a load balancer), not the registry.
    if (handled.refusal?.reason !== "fault") Object.assign(handled.response.headers, API_VERSION);
    // Testbed instrumentation: which layer said no, for reports (real registries send nothing like it).
    if (handled.refusal) handled.response.headers[REFUSAL_HEADER] = handled.refusal.reason;
    if (handled.pulls !== undefined) handled.response.headers[PULLS_HEADER] = String(handled.pulls);
    countRequest(
      this,
      handled.kind,
      req.method,
      handled.response.status,
      handled.identity,
      handled.refusal,
      handled.pulls,
    );
    return handled;
  }

  private async dispatch(req: RegistryRequest, client: ClientInfo, now: number): Promise<Handled> {
    const path = decodePath(req.path);
    if (path === undefined) {
      return other(client, ociError("NAME_INVALID", "malformed percent-encoding in path"));
    }
    let kind: EndpointKind = "token";
    let route: Route | undefined;
    let repository: string | undefined;
    if (path !== "/token") {
      if (path !== "/v2" && !path.startsWith("/v2/")) {
        return other(
          client,
          ociError("UNSUPPORTED", `no such endpoint: ${clip(path)}`, { status: 404 }),
        );
      }
      route = parseRoute(path);
      kind = route.kind;
      if ("name" in route) repository = route.name;
    }
    const base = { kind, ...(repository ? { repository } : {}) };
    if (route) {
      const invalid = validate(route, req.method);
      if (invalid) return { ...base, response: invalid, identity: anonymous(client) };
    }

    const auth = this.auth;
    const bearer = auth && kind !== "token" ? bearerToken(req) : undefined;
    // The token is checked once, here; authorize() reuses the answer after the quotas.
    const checking =
      auth && bearer ? verifyToken(auth.signer, bearer, this.clock.tokenNow()) : undefined;
    const verified = checking instanceof Promise ? await checking : checking;
    const identity = identify(auth, req, client, kind, verified);
    const edge = await this.enforcer.check(PRE_AUTH, { kind, method: req.method, identity, now });
    if (edge.refused) return refused(base, identity, edge.refused);

    const faults = this.faults;
    const fault =
      faults && faults.size !== 0
        ? faults.evaluate({
            kind,
            method: req.method,
            identity,
            now,
            elapsedMs: now - this.clock.startedAt,
            ...(repository ? { repository } : {}),
          })
        : undefined;
    if (fault?.response) {
      const response = { ...fault.response, ...(fault.effects ? { effects: fault.effects } : {}) };
      return { ...base, response, identity, refusal: { reason: "fault", rule: "fault" } };
    }
    const handled =
      kind === "token"
        ? await serveToken(this, auth, req, client, now, identity)
        : await this.pull(req, now, identity, route as Route, repository, bearer, verified);
    if (fault?.effects) {
      handled.response.effects = mergeEffects(handled.response.effects, fault.effects);
    }
    // { ...base, ...handled }, without the two spreads.
    const { response, identity: who } = handled;
    const out: Handled = repository
      ? { kind, repository, response, identity: who }
      : { kind, response, identity: who };
    if (handled.refusal) out.refusal = handled.refusal;
    if (handled.pulls !== undefined) out.pulls = handled.pulls;
    return out;
  }

  /** A pull endpoint (ping, tags, manifest, blob): auth, then the registry quotas, then the catalog. */
  private async pull(
    req: RegistryRequest,
    now: number,
    identity: Identity,
    route: Route,
    repository: string | undefined,
    bearer: string | undefined,
    verified: Verification | undefined,
  ): Promise<Answer> {
    const denied = authorize(
      this.auth,
      req,
      route.kind === "catalog" ? { catalog: true } : repository ? { repository } : {},
      bearer,
      verified,
    );
    if (denied) return { response: denied, identity };
    const elapsed = now - this.clock.startedAt;
    // What a manifest request names (an index, a platform manifest, a single-arch
    // one) decides what it costs, so the catalog is asked before the quotas.
    let found: FoundManifest | RegistryResponse | undefined;
    if (route.kind === "manifest")
      found = await findManifest(
        this.catalog,
        route.name,
        route.reference,
        req.headers.accept,
        elapsed,
      );
    const decision = await this.enforcer.check(
      REGISTRY,
      found && "doc" in found
        ? { kind: route.kind, method: req.method, identity, now, manifest: found.facts }
        : { kind: route.kind, method: req.method, identity, now },
    );
    if (decision.refused) {
      noteQuota(this.metrics, decision.refused.response.headers, decision.refused.rule, identity);
      return {
        response: decision.refused.response,
        identity,
        refusal: { reason: decision.refused.reason, rule: decision.refused.rule },
      };
    }
    const response = found
      ? "doc" in found
        ? manifestResponse(found.doc, req.method === "HEAD")
        : found
      : await serveContent(this.catalog, route, req, elapsed, (name) =>
          this.canPull(name, identity.type === "account" ? identity.key : undefined),
        );
    Object.assign(response.headers, decision.headers);
    noteQuota(this.metrics, decision.headers, "pulls", identity, decision.remaining);
    return decision.pulls === undefined
      ? { response, identity }
      : { response, identity, pulls: decision.pulls };
  }

  private canPull(repository: string, account: string | undefined): boolean {
    const users = this.catalog.spec(repository)?.users;
    return users === undefined || (account !== undefined && users.includes(account));
  }
}

/** Account plans are checked when accounts arrive: a bad one is a ConfigError naming it. */
function checkAccounts(accounts: Account[], where: string): void {
  const problems = accounts.flatMap((a, i) => {
    const problem = planNameProblem(a.plan);
    return problem ? [`${where}[${i}] (${a.name}): ${problem}`] : [];
  });
  if (problems.length > 0) throw new ConfigError(problems);
}

function refused(
  base: { kind: EndpointKind; repository?: string },
  identity: Identity,
  refused: { response: RegistryResponse; reason: RefusalReason; rule: string },
): Handled {
  return {
    ...base,
    response: refused.response,
    identity,
    refusal: { reason: refused.reason, rule: refused.rule },
  };
}

function other(client: ClientInfo, response: RegistryResponse): Handled {
  return { response, kind: "other", identity: anonymous(client) };
}
