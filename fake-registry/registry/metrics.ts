/** What each handled request adds to the registry's stats and Prometheus metrics. */
import type { RegistryMetrics } from "../core/metrics.ts";
import type { Stats } from "../core/stats.ts";
import type { EndpointKind, Identity } from "../core/types.ts";
import type { Handled } from "./types.ts";

export interface Tallies {
  readonly stats: Stats;
  readonly metrics: RegistryMetrics;
}

/** Counts one answered request (control requests too, as kind `other`). */
export function countRequest(
  tallies: Tallies,
  kind: EndpointKind,
  method: string,
  status: number,
  identity: Identity,
  refusal?: Handled["refusal"],
  pulls?: number,
): void {
  tallies.stats.record(kind, method, status, identity, pulls);
  tallies.metrics.countRequest(kind, method, status);
  if (refusal) tallies.metrics.refusals.inc(refusal);
  if (pulls) tallies.metrics.countPulls(pulls);
}

/** The quota left for an identity under a rule: from the decision, else from its RateLimit header. */
export function noteQuota(
  metrics: RegistryMetrics,
  headers: Record<string, string>,
  rule: string,
  identity: Identity,
  remaining?: number,
): void {
  if (remaining !== undefined) {
    metrics.noteQuotaRemaining(rule, identity.key, remaining);
    return;
  }
  const header = headers["ratelimit-remaining"];
  if (header) metrics.noteQuotaRemaining(rule, identity.key, Number.parseInt(header, 10));
}
