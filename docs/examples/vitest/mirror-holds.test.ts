// An example of pullstorm in your own vitest suite (docs/testing.md), run by
// pullstorm's own CI. It shows the three helpers: a Docker Hub-like registry,
// a pull-through mirror in front of it, and a storm scenario whose expectations
// must hold.

import {
  loadScenario,
  type RunningRegistry,
  runScenario,
  type StartedMirror,
  startFakeRegistry,
  startMirror,
} from "pullstorm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

describe("our mirror design", () => {
  let registry: RunningRegistry;
  let mirror: StartedMirror;

  beforeAll(async () => {
    // Docker Hub's limits: 100 manifest GETs per anonymous IP per 6 hours, HEADs free.
    registry = await startFakeRegistry({ preset: "dockerhub-2020" });
    // CNCF distribution when installed (apt-get install docker-registry), else pullstorm's model.
    mirror = await startMirror({ upstream: registry.url });
  });

  afterAll(async () => {
    await mirror?.stop();
    await registry?.close();
  });

  it("30 pulls through the mirror cost the registry's pull limit at most 2 pulls, not 30", async () => {
    for (let i = 0; i < 30; i++) {
      const res = await fetch(`${mirror.url}/v2/library/nginx/manifests/1.25`, {
        headers: { accept: "application/vnd.oci.image.index.v1+json" },
        signal: AbortSignal.timeout(10_000),
      });
      expect(res.status).toBe(200);
    }
    // What the registry charged, per identity: the mirror's, never the clients'. The cold
    // pull costs the mirror's GETs (distribution 2.8: 2, each of an index); every warm one
    // a free HEAD. `pulls` is the registry's own count, as Docker Hub counts pulls.
    const counted = Object.values(registry.registry.stats.snapshot().byIdentity).map(
      (s) => s.pulls,
    );
    expect(counted.reduce((a, b) => a + b, 0)).toBeLessThanOrEqual(2);
  });

  it("the CI fan-out story holds with the designs we chose", async () => {
    const { report } = await runScenario(loadScenario("scenarios/ci-fan-out.yaml"), {
      mode: "virtual",
    });
    expect(report.expectations.filter((e) => !e.passed)).toEqual([]);
  });
});
