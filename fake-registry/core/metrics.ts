import { LRUCache } from "lru-cache";
import { Counter, Gauge, Registry as PromRegistry } from "prom-client";

/** Identities (per rule) pullstorm_quota_remaining reports at most: the most recently counted. */
export const METRIC_IDENTITIES = 1000;

/**
 * Prometheus metrics (prom-client), one set per registry so several registries
 * in one process (tests, replicas) do not mix their numbers.
 *
 * The two that change on every request (requests answered, quota remaining)
 * are kept in plain maps by `countRequest` and `noteQuotaRemaining` and handed
 * to prom-client when it collects (a scrape): prom-client hashes the label set
 * on every inc or set, a measurable part of a manifest answer. A scrape reads
 * the same numbers either way.
 */
export class RegistryMetrics {
  readonly registry = new PromRegistry();
  /** Requests answered since the last collect: kind -> method -> status -> count. */
  private pendingRequests = new Map<string, Map<string, Map<number, number>>>();
  /** Latest quota remaining since the last collect: rule -> identity -> value. */
  private pendingRemaining = new Map<string, Map<string, number>>();
  /**
   * The identities pullstorm_quota_remaining reports, at most METRIC_IDENTITIES
   * (a label set per client would grow a scrape without bound): the least
   * recently updated is dropped from the gauge first.
   */
  private readonly remainingLabels = new LRUCache<string, { rule: string; identity: string }>({
    max: METRIC_IDENTITIES,
    dispose: (labels, _key, reason) => {
      if (reason === "evict") this.quotaRemaining.remove(labels);
    },
  });
  readonly requests = new Counter({
    name: "pullstorm_requests_total",
    help: "Requests answered, by endpoint kind, method and status",
    labelNames: ["kind", "method", "status"] as const,
    registers: [this.registry],
    collect: () => this.flushRequests(),
  });
  /** Pulls charged since the last collect (pullstorm_pulls_total). */
  private pendingPulls = 0;
  readonly pulls = new Counter({
    name: "pullstorm_pulls_total",
    help: "Pulls the pull limit charged, as the registry counts them (an index GET and its platform manifest GET are one pull; HEADs none)",
    registers: [this.registry],
    collect: () => {
      if (this.pendingPulls > 0) this.pulls.inc(this.pendingPulls);
      this.pendingPulls = 0;
    },
  });
  readonly refusals = new Counter({
    name: "pullstorm_refusals_total",
    help: "Requests refused, by reason (quota, token-quota, abuse, edge, ban, misleading-denied, login-lockout, quota-store, fault)",
    labelNames: ["reason", "rule"] as const,
    registers: [this.registry],
  });
  readonly quotaRemaining = new Gauge({
    name: "pullstorm_quota_remaining",
    help: "Quota remaining per identity and rule, as of that identity's last counted request",
    labelNames: ["rule", "identity"] as const,
    registers: [this.registry],
    collect: () => this.flushRemaining(),
  });
  readonly storeErrors = new Counter({
    name: "pullstorm_quota_store_errors_total",
    help: "Quota store operations that failed, by what the registry did instead (open: admitted unchecked, closed: answered 503)",
    labelNames: ["mode"] as const,
    registers: [this.registry],
  });
  /** The store the up gauge reports on (the registry sets it; memory when absent). */
  private quotaStore: { readonly name?: string; readonly up?: boolean } | undefined;
  readonly storeUp = new Gauge({
    name: "pullstorm_quota_store_up",
    help: "1 while the quota store answers, 0 while it cannot be reached",
    labelNames: ["store"] as const,
    registers: [this.registry],
    collect: () => {
      const store = this.quotaStore;
      this.storeUp.reset();
      this.storeUp.set({ store: store?.name ?? "memory" }, store?.up === false ? 0 : 1);
    },
  });

  readonly stateEvictions = new Counter({
    name: "pullstorm_state_evictions_total",
    help: "Per-client records evicted to stay under the cap (registry serve --max-clients), least recently used first, by kind: quota, lockout, ban, pull-memory, stats",
    labelNames: ["state"] as const,
    registers: [this.registry],
  });
  /** Where eviction log lines go (the served registry's logger); none in-process. */
  private evictionLog:
    | ((line: { state: string; evicted: number; sinceMs: number }) => void)
    | undefined;
  private readonly pendingEvictions = new Map<string, { count: number; since: number }>();

  /**
   * Counts evicted per-client records (pullstorm_state_evictions_total) and
   * logs them: the first eviction of a kind at once, then at most one line
   * per kind every 10 wall seconds with how many were evicted since.
   */
  noteEviction(state: string, count: number): void {
    this.stateEvictions.inc({ state }, count);
    if (!this.evictionLog) return;
    const now = Date.now();
    const pending = this.pendingEvictions.get(state);
    if (pending && now - pending.since < 10_000) {
      pending.count += count;
      return;
    }
    const evicted = (pending?.count ?? 0) + count;
    this.pendingEvictions.set(state, { count: 0, since: now });
    this.evictionLog({ state, evicted, sinceMs: pending ? now - pending.since : 0 });
  }

  /** Sends eviction lines to a log (the served registry's logger). */
  logEvictionsTo(log: (line: { state: string; evicted: number; sinceMs: number }) => void): void {
    this.evictionLog = log;
  }

  /** Reports on `store` in pullstorm_quota_store_up, and lets it count its failures here. */
  watchQuotaStore(store: {
    readonly name?: string;
    readonly up?: boolean;
    instrument?(metrics: RegistryMetrics): void;
  }): void {
    this.quotaStore = store;
    store.instrument?.(this);
  }

  /** Counts pulls the pull limit charged (pullstorm_pulls_total). */
  countPulls(n: number): void {
    this.pendingPulls += n;
  }

  /** Counts one answered request (pullstorm_requests_total). */
  countRequest(kind: string, method: string, status: number): void {
    let byMethod = this.pendingRequests.get(kind);
    if (!byMethod) {
      byMethod = new Map();
      this.pendingRequests.set(kind, byMethod);
    }
    let byStatus = byMethod.get(method);
    if (!byStatus) {
      byStatus = new Map();
      byMethod.set(method, byStatus);
    }
    byStatus.set(status, (byStatus.get(status) ?? 0) + 1);
  }

  /** Records an identity's quota remaining under a rule (pullstorm_quota_remaining). */
  noteQuotaRemaining(rule: string, identity: string, remaining: number): void {
    let byIdentity = this.pendingRemaining.get(rule);
    if (!byIdentity) {
      byIdentity = new Map();
      this.pendingRemaining.set(rule, byIdentity);
    }
    byIdentity.set(identity, remaining);
  }

  private flushRequests(): void {
    const pending = this.pendingRequests;
    this.pendingRequests = new Map();
    for (const [kind, byMethod] of pending)
      for (const [method, byStatus] of byMethod)
        for (const [status, n] of byStatus)
          this.requests.inc({ kind, method, status: String(status) }, n);
  }

  private flushRemaining(): void {
    const pending = this.pendingRemaining;
    this.pendingRemaining = new Map();
    for (const [rule, byIdentity] of pending)
      for (const [identity, value] of byIdentity) {
        this.quotaRemaining.set({ rule, identity }, value);
        this.remainingLabels.set(`${rule}\n${identity}`, { rule, identity });
      }
  }

  text(): Promise<string> {
    return this.registry.metrics();
  }

  reset(): void {
    this.pendingRequests = new Map();
    this.pendingRemaining = new Map();
    this.pendingPulls = 0;
    this.remainingLabels.clear();
    this.registry.resetMetrics();
  }
}
