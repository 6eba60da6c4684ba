// Analysis on hand-built event streams with known answers.
import { describe, expect, it } from "vitest";
import { designCost, layerOf } from "../reports/analysis.ts";
import { foldEvents } from "../reports/fold.ts";
import { formatSeconds } from "../reports/time.ts";
import { parseScenario } from "../simulator/scenario/load.ts";
import type { PullEvent, RequestEvent, SimEvent } from "../vocabulary/events.ts";

const scenario = parseScenario(
  `
name: hand-built
description: two designs, known answers
duration: 10m
images: [{ name: web, ref: "library/nginx:1.25" }]
fleet: { nodes: 2, pods: [web] }
workload: [{ type: node-churn, at: 1m, nodes: 2 }]
faults: [{ id: down, type: outage, schedule: { start: 5m, duration: 2m } }]
designs:
  - name: nat
  - name: cached
    mirror: { enabled: true, upstreamAuth: true }
expectations:
  - { design: nat, verdict: breaks }
  - { design: cached, verdict: holds, maxFailedPulls: 0 }
`,
  "hand-built.yaml",
);

const req = (design: string, t: number, extra: Partial<RequestEvent>): RequestEvent => ({
  type: "request",
  t,
  design,
  actor: "node-1",
  identity: "127.1.0.2",
  egressIp: "127.1.0.2",
  host: "registry",
  kind: "manifest",
  method: "GET",
  status: 200,
  bytes: 100,
  latencyMs: 1,
  ...extra,
});
const pull = (design: string, t: number, extra: Partial<PullEvent>): PullEvent => ({
  type: "pull",
  t,
  design,
  actor: "node-1",
  identity: "127.1.0.2",
  image: "library/nginx:1.25",
  outcome: "ok",
  durationSeconds: 1,
  requests: 3,
  ...extra,
});

const rl = (remaining: number) => ({
  limit: 3,
  remaining,
  windowSeconds: 21600,
  source: "127.1.0.2",
});

const events: SimEvent[] = [
  // nat: three admitted GETs spend the quota, the fourth is refused at 2m10s
  req("nat", 60, { rateLimit: rl(2) }),
  req("nat", 61, { rateLimit: rl(1) }),
  pull("nat", 61.5, {}),
  req("nat", 62, { rateLimit: rl(0), actor: "node-2" }),
  req("nat", 130, {
    actor: "node-2",
    status: 429,
    code: "TOOMANYREQUESTS",
    refusal: "quota",
    rateLimit: rl(0),
  }),
  pull("nat", 130, {
    actor: "node-2",
    outcome: "failed",
    reason: "quota",
    status: 429,
    host: "registry",
  }),
  req("nat", 150, { actor: "node-2", status: 429, code: "TOOMANYREQUESTS", refusal: "quota" }),
  pull("nat", 150, {
    actor: "node-2",
    outcome: "failed",
    reason: "quota",
    status: 429,
    host: "registry",
  }),
  {
    type: "start",
    t: 61.5,
    design: "nat",
    actor: "node-1",
    what: "pod",
    id: "p1",
    ok: true,
    seconds: 1.5,
  },
  {
    type: "start",
    t: 600,
    design: "nat",
    actor: "node-2",
    what: "pod",
    id: "p2",
    ok: false,
    seconds: 540,
  },
  // cached: the mirror misses once, revalidates, and serves stale while the upstream is down
  req("cached", 60, { host: "mirror", identity: "127.1.0.2" }),
  req("cached", 60, { actor: "mirror", identity: "mirror-bot", egressIp: "127.0.0.250" }),
  {
    type: "mirror",
    t: 60,
    design: "cached",
    kind: "manifest",
    outcome: "miss",
    upstreamStatus: 200,
  },
  pull("cached", 61, {}),
  req("cached", 300, {
    actor: "mirror",
    identity: "mirror-bot",
    method: "HEAD",
    status: 503,
    refusal: "fault",
  }),
  {
    type: "mirror",
    t: 300,
    design: "cached",
    kind: "manifest",
    outcome: "stale",
    upstreamStatus: 503,
  },
  {
    type: "mirror",
    t: 301,
    design: "cached",
    kind: "manifest",
    outcome: "stale",
    upstreamStatus: 503,
  },
  pull("cached", 301, { actor: "node-2" }),
  {
    type: "start",
    t: 61,
    design: "cached",
    actor: "node-1",
    what: "pod",
    id: "p1",
    ok: true,
    seconds: 1,
  },
  {
    type: "start",
    t: 301,
    design: "cached",
    actor: "node-2",
    what: "pod",
    id: "p2",
    ok: true,
    seconds: 3,
  },
];

const { report, analysis } = foldEvents(scenario, events, {
  mode: "virtual",
  seed: 1,
  interrupted: false,
  designs: ["nat", "cached"],
});
const nat = analysis.designs.find((d) => d.name === "nat");
const cached = analysis.designs.find((d) => d.name === "cached");

describe("analysis", () => {
  it("report.json and the analysis name the same first break (one definition)", () => {
    for (const d of analysis.designs) {
      const summary = report.designs.find((s) => s.name === d.name);
      expect(summary?.firstBreakSeconds ?? null).toBe(d.firstBreak?.t ?? null);
      expect(summary?.firstBreak?.actor).toBe(d.firstBreak?.actor);
      expect(summary?.firstBreak?.reason).toBe(d.firstBreak?.reason);
    }
    expect(nat?.firstBreak).not.toBeNull();
  });

  it("finds the first break, who and which layer", () => {
    expect(nat?.firstBreak).toEqual({
      t: 130,
      actor: "node-2",
      identity: "127.1.0.2",
      image: "library/nginx:1.25",
      layer: "registry-quota",
      reason: "quota",
      status: 429,
    });
    expect(cached?.firstBreak).toBeNull();
  });

  it("tracks quota headroom per identity until it is exhausted", () => {
    expect(nat?.headroom).toEqual([
      {
        identity: "127.1.0.2",
        limit: 3,
        windowSeconds: 21600,
        points: [
          [60, 2],
          [61, 1],
          [62, 0],
          [130, 0],
        ],
        minRemaining: 0,
        minAt: 62,
        exhaustedAt: 62,
        firstRefusedAt: 130,
        refused: 1,
      },
    ]);
  });

  it("measures blast radius, retry amplification and start latency", () => {
    expect(nat?.blastRadius.units).toBe(2);
    expect(nat?.blastRadius.peakWaiting).toBe(2); // both pods wait from 60 s; one starts at 61.5 s
    expect(nat?.blastRadius.peakAt).toBe(60);
    expect(nat?.blastRadius.peakInBackoff).toBe(1);
    // 5 client requests for 1 successful pull; node-2 tried library/nginx:1.25 twice: 1 retry for 2 pulled (actor, image)
    expect(nat?.requestsPerPull).toBe(5);
    expect(nat?.retryAmplification).toBe(0.5);
    expect(nat?.timeline.reduce((n, b) => n + b.status429, 0)).toBe(2);
    expect(nat?.timeline.reduce((n, b) => n + b.pullsFailed, 0)).toBe(2);
    expect(cached?.startCdf.at(-1)).toEqual([3, 1]);
  });

  it("measures the mirror: hit ratio and what it did while the upstream failed", () => {
    expect(cached?.mirror).toMatchObject({
      clientRequests: 1,
      misses: 1,
      stale: 2,
      hitRatio: 0.667,
      duringUpstreamFailure: { stale: 2, errors: 0 },
    });
    expect(cached?.heavyHitters[0]).toEqual({
      identity: "mirror-bot",
      upstreamRequests: 2,
      share: 1,
    });
  });

  it("names the cheapest design that holds and states the quota finding with the headroom table's times", () => {
    expect(analysis.cheapestHolding).toBe("cached");
    const natFinding = analysis.findings.find((f) => f.design === "nat");
    expect(natFinding?.code).toBe("quota-exhausted");
    // The headroom table says 0 left at 62 s (1m2s) and the first 429 at 130 s (2m10s): so does the finding.
    expect(natFinding?.cause).toBe(
      "The anonymous quota of 3 pulls per 6h ran out on 1 of 1 egress address (127.1.0.2): 0 left at 1m2s, first 429 at 2m10s (127.1.0.2).",
    );
    // events.jsonl lines (1-based): the 4th event said 0 left, the 5th was the first 429.
    expect(natFinding?.evidence[0]?.events.map((e) => e.seq)).toEqual([4, 5]);
    expect(natFinding?.fix.code).toBe("add-mirror");
    expect(analysis.faults).toEqual([{ id: "down", type: "outage", start: 300, end: 420 }]);
  });

  it("classifies layers from the registry's word, then from the status", () => {
    const p = pull("x", 1, { outcome: "failed", reason: "abuse-limit", status: 429 });
    expect(layerOf(req("x", 1, { status: 429, code: "HAP429" }), p)).toBe("abuse-limit");
    expect(layerOf(req("x", 1, { status: 429, refusal: "token-quota", kind: "token" }), p)).toBe(
      "token-service",
    );
    expect(layerOf(req("x", 1, { status: 403, code: "DENIED" }), p)).toBe("misleading-denied");
    expect(layerOf(undefined, { ...p, reason: "qps" })).toBe("client-qps");
    expect(layerOf(req("x", 1, { status: 500, host: "mirror" }), { ...p, host: "mirror" })).toBe(
      "mirror",
    );
    expect(designCost(scenario.designs[0] as never)).toBeLessThan(
      designCost(scenario.designs[1] as never),
    );
    expect(formatSeconds(130)).toBe("2m10s");
    expect(formatSeconds(7200)).toBe("2h");
  });
});
