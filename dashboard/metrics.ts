/**
 * The runner's own Prometheus metrics (`/metrics` on the dashboard), beside
 * the registry's (`/metrics` on each served registry): what the fleet saw,
 * where the registry's are what it answered. docs/examples/grafana has a
 * dashboard for both.
 */
import { Counter, Gauge, Registry } from "prom-client";
import { isOriginHost, type SimEvent } from "../vocabulary/events.ts";
import { layerOf, type Snapshot } from "./view.ts";

const VERDICTS = ["holds", "breaks", "incomplete"] as const;

export class RunnerMetrics {
  readonly registry = new Registry();
  private readonly pulls = new Counter({
    name: "pullstorm_runner_pulls_total",
    help: "Image pulls the simulated fleet finished, by design and outcome (ok, failed, cached)",
    labelNames: ["design", "outcome"] as const,
    registers: [this.registry],
  });
  private readonly requests = new Counter({
    name: "pullstorm_runner_requests_total",
    help: "Requests the fleet sent to the origin registry, by design and the layer that answered (ok: not refused, 401 challenges included; quota, token-quota, abuse, edge, fault: refused by that layer; other: any other error)",
    labelNames: ["design", "layer"] as const,
    registers: [this.registry],
  });
  private readonly backoff = new Gauge({
    name: "pullstorm_runner_units_in_backoff",
    help: "Units (pods, jobs, desktops) whose last pull failed and wait to retry (ImagePullBackOff), by design",
    labelNames: ["design"] as const,
    registers: [this.registry],
  });
  private readonly waiting = new Gauge({
    name: "pullstorm_runner_units_waiting",
    help: "Units created but not yet started, by design",
    labelNames: ["design"] as const,
    registers: [this.registry],
  });
  private readonly lag = new Gauge({
    name: "pullstorm_runner_clock_lag_seconds",
    help: "Live runs: p99 of how late the scaled clock's timers fired in the last second (the whole run's once a design has ended), simulated seconds, by design",
    labelNames: ["design"] as const,
    registers: [this.registry],
  });
  private readonly simulated = new Gauge({
    name: "pullstorm_runner_simulated_seconds",
    help: "Simulated time of each design's run so far",
    labelNames: ["design"] as const,
    registers: [this.registry],
  });
  private readonly verdict = new Gauge({
    name: "pullstorm_runner_verdict",
    help: "1 for each design's verdict so far (holds, breaks, incomplete), 0 for the others",
    labelNames: ["design", "verdict"] as const,
    registers: [this.registry],
  });
  private readonly hitRatio = new Gauge({
    name: "pullstorm_runner_mirror_hit_ratio",
    help: "Designs with a mirror: the share of client requests the mirror answered alone so far",
    labelNames: ["design"] as const,
    registers: [this.registry],
  });

  constructor(designs: string[]) {
    // Every series exists from the start, at zero: a dashboard shows a flat line, not "no data".
    for (const design of designs) {
      for (const outcome of ["ok", "failed", "cached"]) this.pulls.inc({ design, outcome }, 0);
      for (const v of VERDICTS) this.verdict.set({ design, verdict: v }, v === "holds" ? 1 : 0);
      this.backoff.set({ design }, 0);
      this.waiting.set({ design }, 0);
      this.simulated.set({ design }, 0);
    }
  }

  add(e: SimEvent): void {
    if (e.type === "pull") this.pulls.inc({ design: e.design, outcome: e.outcome });
    else if (e.type === "request" && isOriginHost(e.host))
      this.requests.inc({ design: e.design, layer: layerOf(e.status, e.refusal) });
  }

  /** The gauges, from the console's latest snapshot. */
  update(snapshot: Snapshot): void {
    for (const d of snapshot.designs) {
      const design = d.name;
      this.backoff.set({ design }, d.units.inBackoff);
      this.waiting.set({ design }, d.units.waiting);
      this.simulated.set({ design }, d.t);
      for (const v of VERDICTS) this.verdict.set({ design, verdict: v }, v === d.verdict ? 1 : 0);
      if (d.clock?.lagP99SimSeconds !== null && d.clock?.lagP99SimSeconds !== undefined)
        this.lag.set({ design }, d.clock.lagP99SimSeconds);
      if (d.mirror) this.hitRatio.set({ design }, d.mirror.hitRatio);
    }
  }

  text(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}
