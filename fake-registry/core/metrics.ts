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
    help: "Requests refused, by reason (quota, token-quota, abuse, edge, ban, misleading-denied, login-lockout, fault)",
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
    help: "Quota store operations that failed",
    registers: [this.registry],
  });

  text(): Promise<string> {
    return this.registry.metrics();
  }

  reset(): void {
    this.registry.resetMetrics();
  }
}
