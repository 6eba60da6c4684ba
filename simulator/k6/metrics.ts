import type { SimEvent } from "../../vocabulary/events.ts";

/**
 * The client's and actors' events as k6 samples, the ones the thresholds
 * (plan.ts `thresholdsOf`) are written on. Pure; ./k6-metrics.ts adds them to
 * k6's metrics.
 *
 * | event | metric | tags |
 * |---|---|---|
 * | request | pullstorm_requests (counter), pullstorm_response_bytes (counter) | host, kind, status, identity, egress, code, refusal, network |
 * | pull | pullstorm_pull_seconds (trend); failed: pullstorm_pulls_failed, pullstorm_breaks | identity, image, outcome, reason, host |
 * | start | pullstorm_start_seconds (trend), pullstorm_units_started (rate); not ok: pullstorm_breaks | what, ok |
 */

export interface MetricSample {
  metric:
    | "pullstorm_requests"
    | "pullstorm_response_bytes"
    | "pullstorm_pull_seconds"
    | "pullstorm_pulls_failed"
    | "pullstorm_breaks"
    | "pullstorm_start_seconds"
    | "pullstorm_units_started";
  value: number;
  tags: Record<string, string>;
}

/** The samples one event becomes (pure: test/k6-bundle.test.ts checks it without k6). */
export function metricsOf(event: SimEvent): MetricSample[] {
  const defined = (tags: Record<string, string | number | undefined>) => {
    const out: Record<string, string> = {};
    for (const [k, v] of Object.entries(tags)) if (v !== undefined) out[k] = String(v);
    return out;
  };
  switch (event.type) {
    case "request":
      return [
        {
          metric: "pullstorm_requests",
          value: 1,
          tags: defined({
            host: event.host,
            kind: event.kind,
            status: event.status,
            identity: event.identity,
            egress: event.egressIp,
            code: event.code,
            refusal: event.refusal,
            network: event.network,
          }),
        },
        {
          metric: "pullstorm_response_bytes",
          value: event.bytes,
          tags: { host: event.host, kind: event.kind },
        },
      ];
    case "pull": {
      const failed = event.outcome === "failed";
      return [
        {
          metric: "pullstorm_pull_seconds",
          value: event.durationSeconds,
          tags: defined({
            identity: event.identity,
            image: event.image,
            outcome: event.outcome,
            reason: event.reason,
            host: event.host,
          }),
        },
        ...(failed
          ? [
              { metric: "pullstorm_pulls_failed" as const, value: 1, tags: {} },
              { metric: "pullstorm_breaks" as const, value: 1, tags: {} },
            ]
          : []),
      ];
    }
    case "start":
      return [
        {
          metric: "pullstorm_start_seconds",
          value: event.seconds,
          tags: { what: event.what, ok: String(event.ok) },
        },
        { metric: "pullstorm_units_started", value: event.ok ? 1 : 0, tags: { what: event.what } },
        ...(event.ok ? [] : [{ metric: "pullstorm_breaks" as const, value: 1, tags: {} }]),
      ];
    default:
      return [];
  }
}
