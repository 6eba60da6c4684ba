import { Counter, Gauge, Registry as PromRegistry } from "prom-client";

/**
 * Prometheus metrics (prom-client), one set per registry so several registries
 * in one process (tests, replicas) do not mix their numbers.
 */
export class RegistryMetrics {
  readonly registry = new PromRegistry();
  readonly requests = new Counter({
    name: "pullstorm_requests_total",
    help: "Requests answered, by endpoint kind, method and status",
    labelNames: ["kind", "method", "status"] as const,
    registers: [this.registry],
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

  /** Reports on `store` in pullstorm_quota_store_up, and lets it count its failures here. */
  watchQuotaStore(store: {
    readonly name?: string;
    readonly up?: boolean;
    instrument?(metrics: RegistryMetrics): void;
  }): void {
    this.quotaStore = store;
    store.instrument?.(this);
  }

  text(): Promise<string> {
    return this.registry.metrics();
  }

  reset(): void {
    this.registry.resetMetrics();
  }
}
