import { Counter, Rate, Trend } from "k6/metrics";
import type { EventSink, SimEvent } from "../../vocabulary/events.ts";
import { metricsOf } from "./metrics.ts";

/**
 * The events as k6 custom metrics (./metrics.ts says which). k6 creates
 * metrics only in the init context: call this at the script's top level.
 */
export function k6Metrics(): EventSink {
  const requests = new Counter("pullstorm_requests");
  const responseBytes = new Counter("pullstorm_response_bytes");
  const pullSeconds = new Trend("pullstorm_pull_seconds");
  const pullsFailed = new Counter("pullstorm_pulls_failed");
  const breaks = new Counter("pullstorm_breaks");
  const startSeconds = new Trend("pullstorm_start_seconds");
  const unitsStarted = new Rate("pullstorm_units_started");
  return (event: SimEvent) => {
    for (const m of metricsOf(event)) {
      const tags = m.tags;
      switch (m.metric) {
        case "pullstorm_requests":
          requests.add(m.value, tags);
          break;
        case "pullstorm_response_bytes":
          responseBytes.add(m.value, tags);
          break;
        case "pullstorm_pull_seconds":
          pullSeconds.add(m.value, tags);
          break;
        case "pullstorm_pulls_failed":
          pullsFailed.add(m.value, tags);
          break;
        case "pullstorm_breaks":
          breaks.add(m.value, tags);
          break;
        case "pullstorm_start_seconds":
          startSeconds.add(m.value, tags);
          break;
        case "pullstorm_units_started":
          unitsStarted.add(m.value, tags);
          break;
      }
    }
  };
}
