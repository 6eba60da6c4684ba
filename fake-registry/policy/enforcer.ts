import { BoundedMap, type EvictionListener } from "../core/bounded.ts";
import type { Clock } from "../core/clock.ts";
import { own } from "../core/own.ts";
import type { EndpointKind, Identity, RegistryResponse } from "../core/types.ts";
import { PULL_MEMORY_MAX, PullMemory } from "./pull-memory.ts";
import { deniedResponse, refusalResponse } from "./refusal.ts";
import {
  type ImmediateQuotaStore,
  isImmediate,
  type QuotaState,
  type QuotaStore,
  QuotaStoreUnavailableError,
} from "./store.ts";
import { planOf, subjectKey } from "./subject.ts";
import {
  type CountSpec,
  DOCKER_PULL_WITHIN_MS,
  type Layer,
  type Limit,
  type ManifestFacts,
  type MisleadingErrors,
  type Policy,
  type QuotaRule,
} from "./types.ts";

export interface PolicyRequest {
  kind: EndpointKind;
  method: string;
  identity: Identity;
  now: number;
  /** For a manifest request: what the catalog says it asked for (index, platform or single-arch manifest). */
  manifest?: ManifestFacts;
}

/** Why a request was refused, for stats, metrics and (later) events. */
export type RefusalReason =
  | "quota"
  | "token-quota"
  | "abuse"
  | "edge"
  | "ban"
  | "misleading-denied"
  | "login-lockout"
  | "quota-store";

export interface PolicyDecision {
  refused?: { response: RegistryResponse; reason: RefusalReason; rule: string };
  /** ratelimit-* headers for a manifest response. */
  headers: Record<string, string>;
  /** The number in `ratelimit-remaining`, when the headers carry one. */
  remaining?: number;
  /**
   * What the first registry-layer rule counting this request (the pull limit)
   * charged it: 1 for a pull, 0 for a HEAD or a platform manifest
   * joining its index's pull. Absent: that rule did not count the request.
   */
  pulls?: number;
}

export interface QuotaView {
  rule: string;
  key: string;
  limit: number;
  windowSeconds: number;
  used: number;
  remaining: number;
}

const REASON_BY_LAYER: Record<Layer, RefusalReason> = {
  edge: "edge",
  abuse: "abuse",
  token: "token-quota",
  registry: "quota",
};

function limitFor(rule: QuotaRule, identity: Identity): Limit | undefined {
  const found = own(rule.limits, planOf(identity)) ?? own(rule.limits, "default");
  return found === "unlimited" ? undefined : found;
}

/**
 * The count spec of a rule that matches a request, if any. `kind: "*"` is
 * every endpoint but the repository list (`catalog`): listing repositories is
 * not a pull, and free under every preset; a rule counts it only by naming it.
 */
function countOf(rule: QuotaRule, kind: EndpointKind, method: string): CountSpec | undefined {
  for (const c of rule.counts) {
    const kindMatches = c.kind === kind || (c.kind === "*" && kind !== "catalog");
    if (kindMatches && (c.method === "*" || c.method === method)) return c;
  }
  return undefined;
}

/**
 * `RULE:SUBJECT` store keys, made once per rule and subject (see subjectKey):
 * a key the store has seen is a string whose hash is already known.
 */
const storeKeys = new WeakMap<QuotaRule, Map<string, string>>();

function storeKey(rule: QuotaRule, subject: string): string {
  let byRule = storeKeys.get(rule);
  if (!byRule) {
    byRule = new Map();
    storeKeys.set(rule, byRule);
  }
  let key = byRule.get(subject);
  if (key === undefined) {
    if (byRule.size >= 10_000) byRule.clear();
    key = `${rule.name}:${subject}`;
    byRule.set(subject, key);
  }
  return key;
}

/** `ratelimit-limit` and the window suffix of a limit's headers, made once per limit. */
const limitHeaders = new WeakMap<Limit, { limit: string; window: string }>();

function headersOf(limit: Limit): { limit: string; window: string } {
  let found = limitHeaders.get(limit);
  if (!found) {
    const window = `;w=${Math.round(limit.windowMs / 1000)}`;
    found = { limit: `${limit.limit}${window}`, window };
    limitHeaders.set(limit, found);
  }
  return found;
}

/**
 * Applies a policy's rules to requests. Each layer is checked where it sits in
 * the request path (edge and abuse before auth, registry quotas after it), and
 * a refusal takes the shape of the rule that refused.
 */
export class PolicyEnforcer {
  private current: Policy;
  private readonly store: QuotaStore;
  /** The same store when it answers at once (memory), asked without awaiting. */
  private readonly immediate: ImmediateQuotaStore | undefined;
  private readonly clock: Clock & { scale?: number };
  /** Ban ends (registry time) per rule and subject, dropped once past, bounded. */
  private readonly bans: BoundedMap<number>;
  /** Recent index GETs per subject, for `docker-pull` counts (per process: docs/policy.md). */
  readonly pullMemory: PullMemory;
  private recentCounted: number[] = [];
  private random: () => number;

  constructor(
    policy: Policy,
    store: QuotaStore,
    clock: Clock & { scale?: number },
    random = Math.random,
    options: { maxClients?: number; onEvict?: EvictionListener } = {},
  ) {
    this.current = policy;
    this.store = store;
    this.immediate = isImmediate(store) ? store : undefined;
    this.clock = clock;
    this.random = random;
    this.bans = new BoundedMap<number>({
      state: "ban",
      ...(options.maxClients ? { max: options.maxClients } : {}),
      expiresAt: (until) => until,
      ...(options.onEvict ? { onEvict: options.onEvict } : {}),
    });
    this.pullMemory = new PullMemory(options.maxClients ?? PULL_MEMORY_MAX, options.onEvict);
  }

  get policy(): Policy {
    return this.current;
  }

  set policy(next: Policy) {
    this.current = next;
  }

  async reset(): Promise<void> {
    this.bans.clear();
    this.pullMemory.clear();
    this.recentCounted = [];
    await this.store.reset();
  }

  /** Registry ms to wall seconds for Retry-After: a scaled clock shortens the wait. */
  private wallSeconds(ms: number): number {
    return Math.max(1, Math.ceil(ms / (this.clock.scale ?? 1) / 1000));
  }

  async check(layers: Layer[], req: PolicyRequest): Promise<PolicyDecision> {
    const at = { rule: "" };
    try {
      return await this.evaluate(layers, req, at);
    } catch (error) {
      // A shared store that fails closed could not be asked: say so, do not guess.
      if (!(error instanceof QuotaStoreUnavailableError)) throw error;
      const response = storeUnavailableResponse(error);
      return { refused: { response, reason: "quota-store", rule: at.rule }, headers: {} };
    }
  }

  private async evaluate(
    layers: Layer[],
    req: PolicyRequest,
    at: { rule: string },
  ): Promise<PolicyDecision> {
    const headers: Record<string, string> = {};
    let remaining: number | undefined;
    let pulls: number | undefined;
    const misleading = this.current.misleading;
    for (const rule of this.current.rules) {
      if (!layers.includes(rule.layer)) continue;
      at.rule = rule.name;
      const count = countOf(rule, req.kind, req.method);
      if (count === undefined) continue;
      const { key, source } = subjectKey(req.identity, rule.anonymousBy, rule.authenticatedBy);
      // The store key of both the ban counter and the quota.
      const banKey = storeKey(rule, key);
      if (rule.ban) {
        const until = this.bans.get(banKey, req.now);
        if (until !== undefined && until > req.now) {
          return this.refuse(rule, req, "ban", until - req.now);
        }
        const hits = this.immediate
          ? this.immediate.hitNow(banKey, rule.ban.windowMs, req.now)
          : await this.store.hit(banKey, rule.ban.windowMs, req.now);
        if (hits > rule.ban.after) {
          this.bans.set(banKey, req.now + rule.ban.forMs, req.now);
          return this.refuse(rule, req, "ban", rule.ban.forMs);
        }
      }
      // A Docker pull: an index GET opens a pull its first platform-manifest GET joins for free.
      const facts = count.as === "docker-pull" ? req.manifest : undefined;
      const joins =
        facts?.role === "platform" &&
        this.pullMemory.join(banKey, facts.image, req.now, count.withinMs ?? DOCKER_PULL_WITHIN_MS);
      const cost = joins ? 0 : count.cost;
      if (rule.layer === "registry" && pulls === undefined) pulls = cost;
      const limit = limitFor(rule, req.identity);
      if (!limit) {
        if (facts?.role === "index")
          this.pullMemory.opened(banKey, facts.image, req.now, count.withinMs);
        continue;
      }
      const now = this.immediate;
      const state: QuotaState =
        cost > 0
          ? now
            ? now.consumeNow(banKey, limit, cost, req.now)
            : await this.store.consume(banKey, limit, cost, req.now)
          : now
            ? now.peekNow(banKey, limit, req.now)
            : await this.store.peek(banKey, limit, req.now);
      if (state.admitted && facts?.role === "index")
        this.pullMemory.opened(banKey, facts.image, req.now, count.withinMs);
      if (rule.headers && req.kind === "manifest" && !state.unchecked) {
        const h = headersOf(limit);
        headers["ratelimit-limit"] = h.limit;
        headers["ratelimit-remaining"] = `${state.remaining}${h.window}`;
        headers["docker-ratelimit-source"] = source;
        remaining = state.remaining;
      }
      // Under load, a registry may hide throttling behind DENIED (docker/hub-feedback #2246).
      const overloaded =
        rule.layer === "registry" &&
        misleading !== undefined &&
        cost > 0 &&
        this.noteCounted(req.now, misleading.aboveRps);
      if (!state.admitted) {
        if (overloaded) return this.denied(rule, misleading);
        const refused = this.refuse(
          rule,
          req,
          REASON_BY_LAYER[rule.layer],
          state.retryAfterMs,
          limit,
        );
        Object.assign(refused.refused?.response.headers ?? {}, headers);
        return refused;
      }
      if (overloaded && misleading.probability > 0 && this.random() < misleading.probability) {
        return this.denied(rule, misleading);
      }
    }
    const decision: PolicyDecision = { headers };
    if (remaining !== undefined) decision.remaining = remaining;
    if (pulls !== undefined) decision.pulls = pulls;
    return decision;
  }

  private refuse(
    rule: QuotaRule,
    req: PolicyRequest,
    reason: RefusalReason,
    retryAfterMs: number,
    limit?: Limit,
  ): PolicyDecision {
    const response = refusalResponse({
      identity: req.identity,
      rule,
      retryAfterSeconds: rule.retryAfterSeconds ?? this.wallSeconds(retryAfterMs),
      wallNow: Date.now(),
      ...(limit ? { limit: limit.limit, windowSeconds: Math.round(limit.windowMs / 1000) } : {}),
    });
    return { refused: { response, reason, rule: rule.name }, headers: {} };
  }

  private denied(rule: QuotaRule, misleading: MisleadingErrors): PolicyDecision {
    return {
      refused: {
        response: deniedResponse(misleading.status),
        reason: "misleading-denied",
        rule: rule.name,
      },
      headers: {},
    };
  }

  /** Records a counted request; true when more than `rps` were counted in the last second of registry time. */
  private noteCounted(now: number, rps: number): boolean {
    this.recentCounted.push(now);
    if (this.recentCounted.length > 100_000) this.recentCounted = this.recentCounted.slice(-50_000);
    let i = this.recentCounted.length - 1;
    let n = 0;
    while (i >= 0 && (this.recentCounted[i] as number) > now - 1000 && n <= rps) {
      n++;
      i--;
    }
    return n > rps;
  }

  /** Used and remaining quota of the registry-layer rules for one identity, for stats. */
  async quotaOf(identity: Identity, now: number): Promise<QuotaView[]> {
    const views: QuotaView[] = [];
    for (const rule of this.current.rules) {
      if (rule.layer !== "registry") continue;
      const limit = limitFor(rule, identity);
      if (!limit) continue;
      const { key } = subjectKey(identity, rule.anonymousBy, rule.authenticatedBy);
      const state = await this.store.peek(`${rule.name}:${key}`, limit, now);
      views.push({
        rule: rule.name,
        key,
        limit: limit.limit,
        windowSeconds: Math.round(limit.windowMs / 1000),
        used: state.used,
        remaining: state.remaining,
      });
    }
    return views;
  }

  /** The `pull_limit` / `pull_limit_interval` access parameters Docker Hub puts in tokens. */
  tokenParameters(identity: Identity): Record<string, string> | undefined {
    if (!this.current.tokenLimitParameters) return undefined;
    const rule = this.current.rules.find((r) => r.layer === "registry" && r.headers);
    const limit = rule ? limitFor(rule, identity) : undefined;
    if (!limit) return undefined;
    return {
      pull_limit: String(limit.limit),
      pull_limit_interval: String(Math.round(limit.windowMs / 1000)),
    };
  }
}

/** 503 UNAVAILABLE (distribution's errcode for "service unavailable") naming the unreachable store. */
export function storeUnavailableResponse(error: QuotaStoreUnavailableError): RegistryResponse {
  const errors = [
    {
      code: "UNAVAILABLE",
      message: `quota store ${error.store} unreachable: ${error.consequence}`,
    },
  ];
  return {
    status: 503,
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ errors }),
  };
}
