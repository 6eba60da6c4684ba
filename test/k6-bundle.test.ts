// The exported k6 script is built from the project's own TypeScript (simulator/k6/bundle.ts):
// the bundle reaches no Node built-in, the k6 entry keeps k6's options and scenarios, and the
// SAME bundled plan player, actors and pull client, run in Node on a VirtualSim with the
// in-process transport, tell the native engine's story for the same scenario and design.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { registryLinks, shaped } from "../simulator/engine/network.ts";
import { VirtualSim } from "../simulator/engine/sim.ts";
import { networkModel } from "../simulator/engine/timing.ts";
import { InProcessTransport } from "../simulator/engine/transport.ts";
import { bundle, bundleScript, K6_ENTRY, PLAYER_ENTRY } from "../simulator/k6/bundle.ts";
import { MinimalURL, SearchParams } from "../simulator/k6/k6-platform.ts";
import { addressOfVu, localIpsArg } from "../simulator/k6/local-ips.ts";
import { metricsOf } from "../simulator/k6/metrics.ts";
import { derivePlan, type K6Plan, primeCatalog } from "../simulator/k6/plan.ts";
import type * as Player from "../simulator/k6/player.ts";
import { MIRROR_EGRESS } from "../simulator/mirror/for-design.ts";
import { SimClock, scenarioRegistry } from "../simulator/registry-setup.ts";
import { playScenario } from "../simulator/run.ts";
import { loadScenario } from "../simulator/scenario/load.ts";
import type { Design, Scenario } from "../simulator/scenario/schema.ts";
import type { SimEvent } from "../vocabulary/events.ts";

const root = join(import.meta.dirname, "..");
const dir = mkdtempSync(join(tmpdir(), "pullstorm-k6-bundle-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let player: typeof Player;
let playerInputs: string[] = [];
beforeAll(async () => {
  const built = await bundle(PLAYER_ENTRY);
  playerInputs = built.inputs;
  const file = join(dir, "player.mjs");
  writeFileSync(file, built.code);
  player = (await import(pathToFileURL(file).href)) as typeof Player;
});

describe("the bundle", () => {
  it("is the player, the actors and the pull client, and nothing of Node", async () => {
    for (const file of [
      "simulator/k6/player.ts",
      "simulator/actors/kubelet.ts",
      "simulator/actors/ci.ts",
      "simulator/client/pull-client.ts",
      "simulator/client/wire.ts",
    ])
      expect(playerInputs).toContain(file);
    const s = loadScenario(join(root, "scenarios", "ci-fan-out.yaml"));
    const plan = await derivePlan(s, s.designs[0] as Design);
    const script = await bundleScript(plan);
    // k6's modules stay imports; every other import was bundled.
    const imports = [...script.code.matchAll(/^import .* from "([^"]+)";$/gm)].map((m) => m[1]);
    expect(new Set(imports)).toEqual(
      new Set(["k6/execution", "k6/http", "k6/metrics", "k6/timers"]),
    );
    expect(script.code).not.toMatch(/from "node:|require\("node:/);
    expect(script.inputs).toContain("simulator/k6/k6-transport.ts");
    expect(script.code).toMatch(/export \{[^}]*\bciJob\b[^}]*\boptions\b[^}]*\bsetup\b/s);
  });

  it("refuses any Node built-in on the import path, naming who imports it", async () => {
    const cases = {
      "scheme.ts": 'import { readFileSync } from "node:fs";\nexport const f = readFileSync;\n',
      "bare.ts": 'import { EventEmitter } from "events";\nexport const e = EventEmitter;\n',
      // The Node transports: node:http, two imports down.
      "indirect.ts": `export { InProcessTransport } from ${JSON.stringify(join(root, "simulator/engine/transport.ts"))};\n`,
    };
    for (const [name, source] of Object.entries(cases)) {
      const file = join(dir, name);
      writeFileSync(file, source);
      await expect(bundle(file), name).rejects.toThrow(/is a Node built-in, imported by/);
    }
  });

  it("makes events into the metrics the thresholds read", () => {
    expect(
      metricsOf({
        type: "request",
        t: 1,
        design: "d",
        actor: "node-1",
        identity: "127.1.0.2",
        egressIp: "127.1.0.2",
        host: "registry",
        kind: "manifest",
        method: "GET",
        status: 429,
        bytes: 120,
        latencyMs: 1,
        code: "TOOMANYREQUESTS",
      }),
    ).toEqual([
      {
        metric: "pullstorm_requests",
        value: 1,
        tags: {
          host: "registry",
          kind: "manifest",
          status: "429",
          identity: "127.1.0.2",
          egress: "127.1.0.2",
          code: "TOOMANYREQUESTS",
        },
      },
      {
        metric: "pullstorm_response_bytes",
        value: 120,
        tags: { host: "registry", kind: "manifest" },
      },
    ]);
    const failedStart = metricsOf({
      type: "start",
      t: 1,
      design: "d",
      actor: "queue",
      what: "job",
      id: "job-1",
      ok: false,
      seconds: 3,
    }).map((m) => m.metric);
    expect(failedStart).toEqual([
      "pullstorm_start_seconds",
      "pullstorm_units_started",
      "pullstorm_breaks",
    ]);
  });

  it("brings the URL parts the client needs where k6 has none, as Node's", () => {
    for (const realm of ["http://127.0.0.1:5000/token", "https://auth.docker.io/token?x=1"]) {
      const ours = new MinimalURL(realm);
      const node = new URL(realm);
      expect([ours.pathname, ours.search, ours.origin]).toEqual([
        node.pathname,
        node.search,
        node.origin,
      ]);
    }
    expect(new MinimalURL("/token?a=b", "http://upstream.invalid").search).toBe("?a=b");
    const ours = new SearchParams("z=1&account=x");
    const node = new URLSearchParams("z=1&account=x");
    for (const q of [ours, node]) {
      q.set("scope", "repository:library/nginx:pull push!(x) y");
      q.set("service", "registry.docker.io");
      q.sort();
    }
    expect(ours.toString()).toBe(node.toString());
  });

  it("gives each VU the address k6 would from --local-ips", () => {
    const ips = ["127.1.0.2", "127.1.0.3", "127.1.0.4", "127.1.0.9"];
    const arg = localIpsArg(ips);
    expect(arg).toBe("127.1.0.2-127.1.0.4,127.1.0.9");
    expect([1, 2, 3, 4, 5].map((vu) => addressOfVu(arg, vu))).toEqual([...ips, "127.1.0.2"]);
  });

  it("keeps k6's options and scenarios in the script", async () => {
    const s = loadScenario(join(root, "scenarios", "ci-fan-out.yaml"));
    const plan = await derivePlan(s, s.designs[0] as Design);
    const { code } = await bundle(K6_ENTRY, { PULLSTORM_PLAN: JSON.stringify(plan) });
    expect(code).toContain('"s1-ci-fan-out"');
    expect(code).toContain('"shared-iterations"');
    expect(code).toContain("pullstorm_breaks");
  });
});

/** The same scenario and design in the native engine and in the bundled player, both virtual. */
async function bothEngines(scenario: Scenario, design: Design) {
  const native: SimEvent[] = [];
  await playScenario(scenario, {
    mode: "virtual",
    designs: [design.name],
    onEvent: (e) => native.push(e),
  });

  const plan: K6Plan = await derivePlan(scenario, design);
  const sim = new VirtualSim(plan.seed, scenario.duration);
  const registry = scenarioRegistry(scenario, new SimClock(sim), plan.seed);
  for (const name of plan.accounts)
    registry.addAccount({ name, password: plan.auth.password, plan: plan.accountPlan });
  await primeCatalog(scenario, design, plan, registry.catalog);
  const bundled: SimEvent[] = [];
  const played = player.playPlan(plan, {
    sim,
    // The registry behind its links, as the native engine and `k6 serve` have it.
    transport: new InProcessTransport(
      { registry: shaped(registry, registryLinks(networkModel(scenario), MIRROR_EGRESS)) },
      sim,
    ),
    emit: (e) => bundled.push(e),
  });
  await sim.run();
  played.finish();
  return { native, bundled };
}

/** Per identity: requests by host, kind, method, status and code; pulls by image and outcome; unit starts. */
function story(events: SimEvent[]) {
  const count = (m: Map<string, number>, k: string) => m.set(k, (m.get(k) ?? 0) + 1);
  const requests = new Map<string, number>();
  const pulls = new Map<string, number>();
  const starts = new Map<string, number>();
  for (const e of events) {
    if (e.type === "request")
      count(requests, `${e.identity} ${e.host} ${e.kind} ${e.method} ${e.status} ${e.code ?? ""}`);
    else if (e.type === "pull")
      count(pulls, `${e.identity} ${e.image} ${e.outcome} ${e.reason ?? ""}`);
    else if (e.type === "start") count(starts, `${e.what} ${e.ok}`);
  }
  const sorted = (m: Map<string, number>) => Object.fromEntries([...m].sort());
  return { requests: sorted(requests), pulls: sorted(pulls), starts: sorted(starts) };
}

/** Every event but its wall-clock latency, in order. */
function exact(events: SimEvent[]) {
  return events.map((e) => (e.type === "request" ? { ...e, latencyMs: 0 } : e));
}

/**
 * "exact": the same events in the same order (simulated times, actors, requests,
 * statuses, codes, pull outcomes, starts), all but the wall-clock latency.
 *
 * "story": per identity, the same requests (host, kind, method, status, code) and
 * the same pull outcomes and unit starts, but not which actor had which. Where a
 * director turn starts several actors at one simulated instant (a rolling restart
 * of every node, a fault window opening on a wave), the native engine lets each
 * run a few microtasks before the next one starts (`await act(item)` in the
 * waves, `await refOf()` between pods), and who reaches a shared quota or fault
 * first depends on those ticks. The plan carries times, order and turns, not
 * microtasks, and k6 has none of them (its VUs run in real time), so there the
 * comparison is of what the registry saw from each identity.
 */
const CASES: Array<[file: string, design: string, level: "exact" | "story"]> = [
  // node churn: waves of cold nodes and a scale-up, a throttled NAT, kubelet backoff, a restart
  ["node-churn.yaml", "anonymous-one-nat", "exact"],
  ["node-churn.yaml", "account-per-node", "exact"],
  // CI fan-out: queued jobs on ephemeral runners, the runners' limit, one NAT, split egress
  ["ci-fan-out.yaml", "ephemeral-one-nat", "exact"],
  ["ci-fan-out.yaml", "fewer-at-once", "exact"],
  ["ci-fan-out.yaml", "split-egress", "exact"],
  ["ci-fan-out.yaml", "shared-free-account", "exact"],
  // arrivals with warm desktop caches; prune; pinned digests with pre-pulls
  ["monday-morning.yaml", "login-per-developer", "exact"],
  ["prune-backfire.yaml", "prune-shared-account", "exact"],
  ["prepull-and-pin.yaml", "pinned-prepulled", "exact"],
  ["upstream-outage.yaml", "pinned-direct", "exact"],
  // every node restarted in one turn, against the quota
  ["rolling-restart-latest.yaml", "latest-always", "story"],
];

describe("the bundled player agrees with the native engine", () => {
  for (const [file, name, level] of CASES)
    it(`${file} / ${name} (${level})`, { timeout: 120_000 }, async () => {
      const scenario = loadScenario(join(root, "scenarios", file));
      const design = scenario.designs.find((d) => d.name === name) as Design;
      const { native, bundled } = await bothEngines(scenario, design);
      expect(native.length).toBeGreaterThan(0);
      expect(story(bundled)).toEqual(story(native));
      if (level === "exact") expect(exact(bundled)).toEqual(exact(native));
    });
});

describe("the k6 entry", () => {
  it("plays a CI job through k6's HTTP and metrics (k6's modules stood in for by Node)", async () => {
    const stubs = join(dir, "k6-stubs.mjs");
    writeFileSync(
      stubs,
      `globalThis.__ENV ??= {};
export const samples = [];
class Metric { constructor(name) { this.name = name; } add(value, tags) { samples.push({ metric: this.name, value, tags: tags ?? {} }); } }
export class Counter extends Metric {} export class Trend extends Metric {} export class Rate extends Metric {} export class Gauge extends Metric {}
export const exec = { vu: { idInTest: 1, idInInstance: 1 }, scenario: { name: "", iterationInTest: 0 }, test: { options: { localIPs: null } } };
export const http = {
  async asyncRequest(method, url, body, params) {
    const res = await fetch(url, { method, headers: params.headers, redirect: "manual" });
    const buf = method === "HEAD" ? null : await res.arrayBuffer();
    return { status: res.status, headers: Object.fromEntries(res.headers), body: buf, error: "", error_code: 0 };
  },
  post() { throw new Error("no sync in this test"); },
};
export const setTimeout = globalThis.setTimeout;
`,
    );
    const k6Stubs: import("esbuild").Plugin = {
      name: "k6-stubs",
      setup(b) {
        b.onResolve({ filter: /^k6(\/|$)/ }, (args) => ({ path: args.path, namespace: "k6" }));
        // One instance of the stand-ins, shared by the script and this test.
        b.onResolve({ filter: /k6-stubs\.mjs$/ }, (args) => ({ path: args.path, external: true }));
        b.onLoad({ filter: /.*/, namespace: "k6" }, (args) => {
          const s = JSON.stringify(stubs);
          const body: Record<string, string> = {
            "k6/http": `import { http } from ${s}; export default http;`,
            "k6/execution": `import { exec } from ${s}; export default exec;`,
            "k6/metrics": `export { Counter, Trend, Rate, Gauge } from ${s};`,
            "k6/timers": `export { setTimeout } from ${s};`,
          };
          return { contents: body[args.path] ?? "", loader: "js", resolveDir: dir };
        });
      },
    };
    const { build } = await import("esbuild");
    const s = loadScenario(join(root, "scenarios", "ci-fan-out.yaml"));
    const design = s.designs.find((d) => d.name === "split-egress") as Design;
    const { ManualClock } = await import("../fake-registry/core/clock.ts");
    const { serveRegistry } = await import("../fake-registry/index.ts");
    const served = await serveRegistry(scenarioRegistry(s, new ManualClock(), s.seed), {
      host: "127.0.0.1",
      port: 0,
    });
    try {
      const plan = await derivePlan(s, design, { hosts: { registry: served.url } });
      const out = await build({
        entryPoints: [K6_ENTRY],
        bundle: true,
        write: false,
        platform: "neutral",
        mainFields: ["module", "main"],
        format: "esm",
        define: { PULLSTORM_PLAN: JSON.stringify(plan) },
        plugins: [k6Stubs],
        logLevel: "silent",
      });
      const file = join(dir, "script-stubbed.mjs");
      writeFileSync(file, out.outputFiles[0]?.text ?? "");
      const script = await import(pathToFileURL(file).href);
      const k6 = await import(pathToFileURL(stubs).href);
      k6.exec.scenario.name = "s1-ci-fan-out";
      const group = plan.groups["s1-ci-fan-out"];
      const queuedAt = group?.kind === "ci" ? (group.jobs[0]?.atMs ?? 0) : 0;
      // t=0 so that the first job is due now
      await script.ciJob({ t0: Date.now() - queuedAt / plan.timeScale });
      const metrics = k6.samples as Array<{
        metric: string;
        value: number;
        tags: Record<string, string>;
      }>;
      const requests = metrics.filter((m) => m.metric === "pullstorm_requests");
      expect(requests.length).toBeGreaterThan(3);
      expect(new Set(requests.map((r) => r.tags.identity))).toEqual(new Set(["127.0.0.1"]));
      expect(
        metrics.filter((m) => m.metric === "pullstorm_pull_seconds").map((m) => m.tags.outcome),
      ).toEqual(["ok", "ok", "ok"]); // node, postgres, redis
      expect(metrics.find((m) => m.metric === "pullstorm_start_seconds")?.tags).toEqual({
        what: "job",
        ok: "true",
      });
    } finally {
      await served.close();
    }
  });
});
